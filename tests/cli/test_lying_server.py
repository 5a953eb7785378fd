"""The client catches a server that lies: tampered entries, bad proofs, forked or rolled-back
checkpoints, another signing key, licence answers with an entry left out. A real HTTP proxy sits
in front of the real server and rewrites its answers; the forged checkpoints are correctly signed
with the log's own key (the test owns the key file), so only the client's consistency and
inclusion checks can catch them. Each lie must end the command with exit code 1, one line saying
why, and the client state left as it was; a licence answer that leaves an entry out ends it with
exit code 1 and the verifier's report naming ``entry_omitted``.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ledger.client import LogClient
from ledger.core import builders
from ledger.core.checkpoint import Checkpoint, sign_checkpoint
from ledger.core.encoding import sha256
from ledger.core.keys import SigningKey
from ledger.core.leaf import LEAF_MAGIC, leaf_hash, parse_leaf
from ledger.core.licensing import LicenceState, parse_instant
from ledger.core.note import NoteSigner
from tests.cli.clitools import assert_one_line_failure, mp4, run_ledger, value
from tests.support.live import LiveServer
from tests.support.proxy import LyingProxy

ORIGIN = "test.example/log"  # LiveServer's default
STATEMENT_AT = len(LEAF_MAGIC) + 8 + 8 + 32 + 4  # after magic, seq, time, prev hash, length


@pytest.fixture
def proxy(live: LiveServer) -> Iterator[LyingProxy]:
    with LyingProxy(live.url) as p:
        yield p


def rewrite_json(prefix: str, mutate: Callable[[dict[str, Any]], None]) -> Callable[..., bytes]:
    """A lie that edits the JSON of successful GETs under ``prefix``."""

    def lie(method: str, path: str, status: int, body: bytes) -> bytes:
        if method != "GET" or not path.startswith(prefix) or status != 200:
            return body
        doc = json.loads(body)
        mutate(doc)
        return json.dumps(doc).encode()

    return lie


def edit_leaf(
    entry: dict[str, Any], at: int | Callable[[bytes], int], *, fix_hash: bool = True
) -> None:
    """Flip one byte of the entry's leaf; a careful liar also fixes the advertised leaf hash."""
    leaf = bytearray(base64.b64decode(entry["leaf"]))
    index = at if isinstance(at, int) else at(bytes(leaf))
    leaf[index] ^= 0x01
    entry["leaf"] = base64.b64encode(bytes(leaf)).decode()
    if fix_hash:
        entry["leaf_hash"] = leaf_hash(bytes(leaf)).hex()


def flip_first_hash(doc: dict[str, Any]) -> None:
    first = doc["hashes"][0]
    doc["hashes"][0] = ("0" if first[0] != "0" else "1") + first[1:]


def resigned_checkpoint(
    key: SigningKey, change: Callable[[Checkpoint], Checkpoint]
) -> Callable[..., bytes]:
    """A lie that replaces the latest checkpoint by ``change(checkpoint)``, signed with ``key``."""
    signer = NoteSigner.from_private_key(ORIGIN, key.private_key)

    def lie(method: str, path: str, status: int, body: bytes) -> bytes:
        if path != "/v1/checkpoint" or status != 200:
            return body
        real = Checkpoint.parse(body.decode().split("\n\n")[0] + "\n")
        return sign_checkpoint(change(real), signer).encode()

    return lie


def fork(cp: Checkpoint) -> Checkpoint:
    """Same size, another root: a split view of the log."""
    return Checkpoint(cp.origin, cp.tree_size, sha256(b"fork" + cp.root_hash))


def arm(proxy: LyingProxy, live: LiveServer, lie: str) -> None:
    log_key = SigningKey.load(live.log_key_file)
    lies: dict[str, Callable[[], None]] = {
        "entry statement altered": lambda: setattr(
            proxy, "lie", rewrite_json("/v1/entries/", lambda e: edit_leaf(e, STATEMENT_AT + 30))
        ),
        "entry signature altered": lambda: setattr(
            proxy, "lie", rewrite_json("/v1/entries/", lambda e: edit_leaf(e, -1))
        ),
        "entry log time altered": lambda: setattr(
            proxy, "lie", rewrite_json("/v1/entries/", lambda e: edit_leaf(e, len(LEAF_MAGIC) + 15))
        ),
        "leaf hash not the leaf's": lambda: setattr(
            proxy,
            "lie",
            rewrite_json("/v1/entries/", lambda e: edit_leaf(e, -1, fix_hash=False)),
        ),
        "another entry served": lambda: setattr(
            proxy,
            "rewrite_path",
            lambda p: "/v1/entries/0" if p.startswith("/v1/entries/") else p,
        ),
        "inclusion proof altered": lambda: setattr(
            proxy, "lie", rewrite_json("/v1/proofs/inclusion", flip_first_hash)
        ),
        "consistency proof altered": lambda: setattr(
            proxy, "lie", rewrite_json("/v1/proofs/consistency", flip_first_hash)
        ),
        "forked checkpoint": lambda: setattr(proxy, "lie", resigned_checkpoint(log_key, fork)),
        "rolled-back checkpoint": lambda: setattr(
            proxy,
            "rewrite_path",
            lambda p: "/v1/checkpoint?tree_size=1" if p == "/v1/checkpoint" else p,
        ),
        "checkpoint signed by another key": lambda: setattr(
            proxy, "lie", resigned_checkpoint(SigningKey.generate(), lambda cp: cp)
        ),
    }
    lies[lie]()


LIES = [
    ("entry statement altered", "does not hold the statement you signed"),
    ("entry signature altered", "does not hold the statement you signed"),
    ("entry log time altered", "is not proven to be in the checkpoint"),
    ("leaf hash not the leaf's", "leaf_hash is not the hash of its leaf"),
    ("another entry served", "the leaf says it is entry 0"),
    ("inclusion proof altered", "is not proven to be in the checkpoint"),
    ("consistency proof altered", "is not consistent with the one of size"),
    ("forked checkpoint", "is not consistent with the one of size"),
    ("rolled-back checkpoint", "fewer than the"),
    ("checkpoint signed by another key", "is not signed by the log key"),
]


def honest_start(tmp_path: Path, proxy: LyingProxy) -> tuple[dict[str, str], Path]:
    """A user who registered through the (still honest) proxy: key pinned, checkpoint saved."""
    env = {"LEDGER_URL": proxy.url, "XDG_CONFIG_HOME": str(tmp_path / "config")}
    run_ledger("keygen", "--out", tmp_path / "creator.pem")
    first = run_ledger("register", "--key", tmp_path / "creator.pem", "--name", "First", env=env)
    assert first.returncode == 0, first.stderr
    assert "pinned log key test.example/log+" in first.stderr
    [state] = (tmp_path / "config").glob("consent-ledger/*/checkpoint")
    return env, state


@pytest.mark.parametrize(("lie", "fragment"), LIES, ids=[lie for lie, _ in LIES])
def test_a_lie_after_submitting_is_caught(
    live: LiveServer, proxy: LyingProxy, tmp_path: Path, lie: str, fragment: str
) -> None:
    env, state = honest_start(tmp_path, proxy)
    before = state.read_bytes()
    run_ledger("keygen", "--out", tmp_path / "buyer.pem")
    arm(proxy, live, lie)
    result = run_ledger("register", "--key", tmp_path / "buyer.pem", "--name", "Second", env=env)
    assert_one_line_failure(result, 1, "verification failed", fragment)
    assert result.stdout == ""  # nothing is reported as done
    assert state.read_bytes() == before  # the state did not move


def test_accept_verifies_the_grant_before_signing(
    live: LiveServer, proxy: LyingProxy, tmp_path: Path
) -> None:
    env, state = honest_start(tmp_path, proxy)
    buyer = value(run_ledger("keygen", "--out", tmp_path / "buyer.pem").stdout, "key_id")
    assert run_ledger("register", "--key", tmp_path / "buyer.pem", "--name", "B", env=env).stdout
    (tmp_path / "clip.mp4").write_bytes(mp4())
    granted = run_ledger(
        "grant", "--key", tmp_path / "creator.pem", "--buyer", buyer, "--use", "ai_training",
        "--price", "2.50", "--currency", "USD", "--per", "minute", "--end", "2030-01-01",
        tmp_path / "clip.mp4", env=env,
    )  # fmt: skip
    grant_id = value(granted.stdout, "grant_id")
    before = state.read_bytes()

    def cheaper(doc: dict[str, Any]) -> None:
        price = doc["entry"]["statement"]["terms"]["consideration"]["amount"].encode()
        edit_leaf(doc["entry"], lambda leaf: leaf.index(b'"amount":"' + price) + 10)

    proxy.lie = rewrite_json("/v1/grants/", cheaper)
    result = run_ledger("accept", "--yes", "--key", tmp_path / "buyer.pem", grant_id, env=env)
    assert_one_line_failure(result, 1, f"grant {grant_id} does not verify")
    assert LogClient(live.url).grant(grant_id)["accepted_seq"] is None  # nothing was signed
    assert state.read_bytes() == before


def only_pending_statements(state: Path) -> bool:
    """Nothing pinned, no checkpoint, no server bound in ``state``: the one file there is the
    envelope kept for a re-run (it was posted; its fate is not verified)."""
    files = [p for p in state.rglob("*") if p.is_file()]
    return len(files) == 1 and files[0].parent.name == "pending"


def test_an_explicit_log_key_is_pinned_and_enforced(live: LiveServer, tmp_path: Path) -> None:
    run_ledger("keygen", "--out", tmp_path / "k.pem")
    run_ledger("keygen", "--out", tmp_path / "k2.pem")
    real = LogClient(live.url).log_info()["verifier_key"]
    other = NoteSigner.from_private_key(ORIGIN, SigningKey.generate().private_key)
    wrong = run_ledger(
        "register", "--key", tmp_path / "k.pem", "--name", "Careful", "--url", live.url,
        "--state", tmp_path / "wrong", "--log-key", other.verifier().to_vkey(),
    )  # fmt: skip
    assert_one_line_failure(wrong, 1, "is not signed by the log key")
    assert only_pending_statements(tmp_path / "wrong")  # nothing pinned, nothing saved
    right = run_ledger(
        "register", "--key", tmp_path / "k2.pem", "--name", "Careful", "--url", live.url,
        "--state", tmp_path / "right", "--log-key", real,
    )  # fmt: skip
    assert right.returncode == 0, right.stderr
    assert f"pinned log key {real} (given with --log-key)" in right.stderr
    pinned = next((tmp_path / "right").glob("*/log-key.vkey")).read_text().strip()
    assert pinned == real


def test_a_lie_at_first_contact_pins_nothing(
    live: LiveServer, proxy: LyingProxy, tmp_path: Path
) -> None:
    run_ledger("keygen", "--out", tmp_path / "k.pem")
    arm(proxy, live, "entry statement altered")
    env = {"LEDGER_URL": proxy.url, "XDG_CONFIG_HOME": str(tmp_path / "config")}
    result = run_ledger("register", "--key", tmp_path / "k.pem", "--name", "New", env=env)
    assert_one_line_failure(result, 1, "does not hold the statement you signed")
    assert "pinned log key" not in result.stderr
    assert only_pending_statements(tmp_path / "config")


def test_answers_that_are_not_the_api_exit_3(proxy: LyingProxy, tmp_path: Path) -> None:
    env, state = honest_start(tmp_path, proxy)
    before = state.read_bytes()
    run_ledger("keygen", "--out", tmp_path / "k.pem")
    proxy.lie = lambda method, path, status, body: (
        b"[1, 2]" if path.startswith("/v1/entries/") else body
    )
    result = run_ledger("register", "--key", tmp_path / "k.pem", "--name", "Odd", env=env)
    assert_one_line_failure(result, 3, "not a JSON object")
    assert state.read_bytes() == before


def test_an_origin_cannot_steer_the_state_out_of_its_folder(
    live: LiveServer, proxy: LyingProxy, tmp_path: Path
) -> None:
    """A log that calls itself ".." (and signs consistently under that name) is kept in a
    subfolder of the state folder like any other."""
    evil = NoteSigner.from_private_key("..", SigningKey.generate().private_key)

    def lie(method: str, path: str, status: int, body: bytes) -> bytes:
        if path == "/v1/log":
            info = {**json.loads(body), "verifier_key": evil.verifier().to_vkey()}
            return json.dumps(info).encode()
        if path == "/v1/checkpoint":
            real = Checkpoint.parse(body.decode().split("\n\n")[0] + "\n")
            return sign_checkpoint(Checkpoint("..", real.tree_size, real.root_hash), evil).encode()
        return body

    proxy.lie = lie
    run_ledger("keygen", "--out", tmp_path / "k.pem")
    state = tmp_path / "home" / "state"
    result = run_ledger(
        "register", "--key", tmp_path / "k.pem", "--name", "Dots", "--url", proxy.url,
        "--state", state,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "home").iterdir()) == ["state"]
    assert (state / "%2E." / "checkpoint").is_file()


# --- a server that leaves entries out of its licence answers (issue 18) ------------------------


def _licence_history(url: str) -> tuple[str, str]:
    """C and B registered; a grant of one clip to B, accepted, then revoked with no notice (so
    the clip is not licensed now). Returns (buyer key id, clip)."""
    creator, buyer = SigningKey.generate(), SigningKey.generate()
    log = LogClient(url)
    clip = sha256(b"a clip the server would rather call licensed").hex()
    log.append(builders.party_register(creator, "creator").to_json())
    log.append(builders.party_register(buyer, "buyer").to_json())
    terms = builders.TermsSpec(revocable=True, notice_days=0)
    g = builders.grant(creator, buyer.key_id, str(uuid.uuid4()), [builders.Item(clip, 1, 1)], terms)
    log.append(g.to_json())
    log.append(builders.grant_accept(buyer, g.statement_hash).to_json())
    # Effective in whole seconds (FORMAT §1.2) at or after the log's clock when it arrives, even
    # on a loaded machine (an earlier second would breach the notice period), then waited for.
    effective = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    log.append(builders.grant_revoke(creator, g.statement_hash, effective).to_json())
    time.sleep(max(0.0, (effective - datetime.now(UTC)).total_seconds()) + 0.1)
    return buyer.key_id, clip


def omit(bundle: dict[str, Any], kind: str) -> None:
    """A careful liar: leave out every entry of type ``kind`` and restate every verdict as the
    remaining entries give it, so that only the map can tell."""
    kept = [
        (entry, leaf)
        for entry in bundle["entries"]
        if (leaf := parse_leaf(base64.b64decode(entry["leaf"]))).signed.type_name != kind
    ]
    assert len(kept) < len(bundle["entries"]), f"no {kind} to leave out"
    bundle["entries"] = [entry for entry, _ in kept]
    q = bundle["query"]
    state = LicenceState.replay([leaf for _, leaf in kept], parse_instant(q["at"]))
    bundle["items"] = [
        state.verdict(item["sha256"], q["buyer"], q["use"]).to_json() for item in bundle["items"]
    ]


def omitting(kind: str) -> Callable[..., bytes]:
    """A lie that leaves ``kind`` out of every status answer and evidence bundle."""

    def lie(method: str, path: str, status: int, body: bytes) -> bytes:
        if status != 200 or not (path.startswith("/v1/evidence") or "/status" in path):
            return body
        doc = json.loads(body)
        bundle = doc.get("evidence", doc)
        omit(bundle, kind)
        if bundle is not doc:  # the status restates its own evidence's verdict
            doc.update(bundle["items"][0])
        return json.dumps(doc).encode()

    return lie


@pytest.mark.parametrize("kind", ["grant.revoke", "grant"])
def test_an_omitting_server_is_caught_by_status_prove_and_verify(
    live: LiveServer, proxy: LyingProxy, tmp_path: Path, kind: str
) -> None:
    buyer, clip = _licence_history(live.url)
    vkey = LogClient(live.url).log_info()["verifier_key"]
    common = ["--buyer", buyer, "--url", proxy.url, "--log-key", vkey, "--state", tmp_path / "s"]
    honest = run_ledger("status", clip, *common)
    assert honest.returncode == 0, honest.stdout + honest.stderr
    assert "NOT licensed (revoked)" in honest.stdout

    proxy.lie = omitting(kind)
    status = run_ledger("status", clip, *common)
    assert status.returncode == 1, status.stdout + status.stderr
    assert "entry_omitted" in status.stdout
    assert f"{clip}  LICENSED" not in status.stdout
    out = tmp_path / "bundle.json"
    prove = run_ledger("prove", "--content", clip, "--use", "ai_training", "--out", out, *common)
    assert prove.returncode == 1, prove.stdout + prove.stderr
    assert "entry_omitted" in prove.stdout
    assert not out.exists()  # a bundle that does not verify is not written

    # The same lie, saved by someone who did not check it, is caught offline.
    bundle = LogClient(proxy.url).evidence(buyer, "ai_training", [clip], None)
    assert bundle["items"][0]["reason"] == {"grant.revoke": "licensed", "grant": "no_grant"}[kind]
    saved = tmp_path / "lie.json"
    saved.write_text(json.dumps(bundle))
    verify = run_ledger("verify", saved, "--log-key", vkey)
    assert verify.returncode == 1, verify.stdout + verify.stderr
    assert "entry_omitted" in verify.stdout
