"""One trust decision (``ledger.client.trust.resolve_log_key``) for every command that verifies:
``--log-key`` (text or file), else the key pinned for the log's origin, else trust on first use;
a ``--log-key`` that differs from the pinned key is refused. Each command says which on stderr."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from ledger.cli import main
from ledger.client import LogClient
from ledger.client.trust import KEY_FILE, KeySource, origin_dir, resolve_log_key
from ledger.core import builders
from ledger.core.canonical import canonicalize
from ledger.core.keys import SigningKey
from ledger.core.note import NoteSigner
from tests.support.live import LiveServer


@dataclass
class World:
    url: str
    origin: str
    vkey: str
    buyer: str
    clip: str
    bundle: Path
    proof: Path
    folder: Path

    @property
    def name_id(self) -> str:
        """``name+id`` of the log key, as the trust line names it."""
        return "+".join(self.vkey.split("+")[:2])


@pytest.fixture(scope="module")
def world(live: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> World:
    folder = tmp_path_factory.mktemp("trust")
    log = LogClient(live.url)
    creator, buyer = SigningKey.generate(), SigningKey.generate()
    log.append(builders.party_register(creator, "creator").to_json())
    log.append(builders.party_register(buyer, "buyer").to_json())
    clip = uuid.uuid4().hex * 2
    g = builders.grant(
        creator, buyer.key_id, str(uuid.uuid4()), [builders.Item(clip, 5, 1)],
        builders.TermsSpec(),
    )  # fmt: skip
    seq = log.append(g.to_json())["seq"]
    log.append(builders.grant_accept(buyer, g.statement_hash).to_json())
    bundle = folder / "bundle.json"
    bundle.write_bytes(canonicalize(log.evidence(buyer.key_id, "ai_training", [clip])))
    proof = folder / "entry.tlog-proof"
    proof.write_text(log.entry_proof(seq))
    info = log.log_info()
    return World(
        live.url, info["origin"], info["verifier_key"], buyer.key_id, clip, bundle, proof, folder
    )


def _status(w: World, out: Path) -> list[str]:
    return ["status", w.clip, "--buyer", w.buyer, "--url", w.url]


def _prove(w: World, out: Path) -> list[str]:
    q = ["--buyer", w.buyer, "--use", "ai_training", "--content", w.clip]
    return ["prove", *q, "--out", str(out), "--url", w.url]


def _prove_entry(w: World, out: Path) -> list[str]:
    return ["prove", "--entry", "0", "--out", str(out), "--url", w.url]


def _audit(w: World, out: Path) -> list[str]:
    return ["audit", "--url", w.url, "--workers", "0"]


def _register(w: World, out: Path) -> list[str]:
    key = out.with_suffix(".pem")
    SigningKey.generate().save(key)
    return ["register", "--key", str(key), "--name", "someone", "--url", w.url]


def _log(w: World, out: Path) -> list[str]:
    return ["log", "--url", w.url]


def _verify(w: World, out: Path) -> list[str]:
    return ["verify", str(w.bundle)]


def _report(w: World, out: Path) -> list[str]:
    return ["report", str(w.bundle), "--out", str(out.with_suffix(".html"))]


def _verify_proof(w: World, out: Path) -> list[str]:
    return ["verify-proof", str(w.proof)]


Command = Callable[[World, Path], list[str]]
ONLINE: dict[str, Command] = {
    "status": _status,
    "prove": _prove,
    "prove --entry": _prove_entry,
    "audit": _audit,
    "register": _register,
    "log": _log,
}
OFFLINE: dict[str, Command] = {"verify": _verify, "report": _report, "verify-proof": _verify_proof}
ALL = {**ONLINE, **OFFLINE}


def run(
    capsys: pytest.CaptureFixture[str], argv: list[str], state: Path, *extra: str
) -> tuple[int, str]:
    capsys.readouterr()
    code = main([*argv, "--state", str(state), *extra])
    return code, capsys.readouterr().err


def pin(state: Path, origin: str, vkey: str) -> Path:
    path = origin_dir(state, origin) / KEY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(vkey + "\n")
    return path


def other_key(origin: str) -> str:
    return (
        NoteSigner.from_private_key(origin, SigningKey.generate().private_key).verifier().to_vkey()
    )


@pytest.mark.parametrize("name", ALL)
def test_given_as_text_or_file(
    name: str, world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key_file = tmp_path / "log.vkey"
    key_file.write_text(world.vkey + "\n")
    for i, value in enumerate((world.vkey, str(key_file))):
        argv = ALL[name](world, tmp_path / f"out{i}")
        code, err = run(capsys, argv, tmp_path / f"state{i}", "--log-key", value)
        assert code == 0, err
        assert f"ledger: log key {world.name_id}: given with --log-key" in err
    pinned = (origin_dir(tmp_path / "state0", world.origin) / KEY_FILE).exists()
    assert pinned == (name in ONLINE)  # online: pinned once it verified; a file pins nothing


@pytest.mark.parametrize("name", ALL)
def test_pinned_key_is_used(
    name: str, world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = pin(tmp_path / "state", world.origin, world.vkey)
    code, err = run(capsys, ALL[name](world, tmp_path / "out"), tmp_path / "state")
    assert code == 0, err
    assert f"ledger: log key {world.name_id}: pinned in {path}" in err
    assert "WARNING" not in err


@pytest.mark.parametrize("name", ALL)
def test_a_pinned_key_that_does_not_verify_fails(
    name: str, world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The pinned key is really used: pin another key of the same origin and verification fails
    (``ledger status`` and ``prove`` used to fetch the server's key and ignore the pin)."""
    pin(tmp_path / "state", world.origin, other_key(world.origin))
    code, err = run(capsys, ALL[name](world, tmp_path / "out"), tmp_path / "state")
    assert code == 1, err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ALL)
def test_first_use(
    name: str, world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    code, err = run(capsys, ALL[name](world, tmp_path / "out"), state)
    pin_file = origin_dir(state, world.origin) / KEY_FILE
    if name == "verify-proof":  # a proof file names no key: nothing to trust on first use
        assert code == 2
        assert "--log-key is required" in err
        return
    assert code == 0, err
    line = f"ledger: WARNING: log key {world.name_id}: trusted on first use"
    assert line in err
    assert world.vkey in err  # the key to pin next time
    if name in ONLINE:
        assert "the server's /v1/log" in err
        assert pin_file.read_text().strip() == world.vkey
        assert f"ledger: pinned log key {world.vkey} (trust on first use)" in err
    else:
        assert "the bundle itself" in err
        assert not pin_file.exists()  # a key read from a file is never pinned


@pytest.mark.parametrize("name", ALL)
def test_a_given_key_that_differs_from_the_pinned_one_is_refused(
    name: str, world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = pin(tmp_path / "state", world.origin, world.vkey)
    other = other_key(world.origin)
    argv = ALL[name](world, tmp_path / "out")
    code, err = run(capsys, argv, tmp_path / "state", "--log-key", other)
    assert code == 1, err
    assert f"--log-key differs from the key pinned for {world.origin!r} in {path}" in err
    assert path.read_text().strip() == world.vkey  # the pin is never replaced
    assert not (tmp_path / "out").exists()


def test_resolve_log_key_order(tmp_path: Path) -> None:
    origin = "example.com/log"
    vkey, other = other_key(origin), other_key(origin)
    first = resolve_log_key(tmp_path, origin, None, lambda: vkey)
    assert (first.source, first.verifier.to_vkey(), first.pinned) == (
        KeySource.FIRST_USE, vkey, False
    )  # fmt: skip
    assert resolve_log_key(tmp_path, origin, other, lambda: vkey).source is KeySource.GIVEN
    pin(tmp_path, origin, vkey)
    pinned = resolve_log_key(tmp_path, origin, None, lambda: other)  # the server's word ignored
    assert (pinned.source, pinned.verifier.to_vkey()) == (KeySource.PINNED, vkey)
    given = resolve_log_key(tmp_path, origin, vkey, None)
    assert (given.source, given.pinned) == (KeySource.GIVEN, True)
    with pytest.raises(Exception, match="differs from the key pinned"):
        resolve_log_key(tmp_path, origin, other, None)
