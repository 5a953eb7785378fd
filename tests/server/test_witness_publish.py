"""The log side of witnessing: a witness policy, real witness subprocesses, both backends.

Publication waits for the quorum; a quorum that is not met keeps the last cosigned checkpoint
published; a publisher that does not know a witness's size learns it from the 409.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest
import requests

from ledger.core import builders
from ledger.core.checkpoint import open_checkpoint
from ledger.core.errors import InvalidKey, LogIdentityMismatch, MalformedPolicy
from ledger.core.keys import SigningKey
from ledger.core.note import NoteSigner
from ledger.core.policy import parse_policy, verify_cosigned_checkpoint
from ledger.server.app import create_app
from ledger.server.config import Config
from ledger.server.publisher import WitnessPublisher
from tests.support.factories import seeded_key
from tests.support.live import LiveServer
from tests.support.tlog_helpers import (
    ORIGIN,
    Witnessed,
    log_signer,
    make_witness,
    witnesses,
    write_policy,
)


def _size(note: str, log: NoteSigner) -> int:
    return open_checkpoint(note, log.verifier())[0].tree_size


def test_publication_waits_for_the_quorum(witnessed: Witnessed) -> None:
    app = witnessed.make_app("group both all w1 w2\nquorum both\n")
    client = app.test_client()
    witnessed.append(2)
    assert client.get("/tlog/checkpoint").status_code == 404  # nothing cosigned yet
    result = witnessed.publisher.run_once()
    assert result is not None
    assert (result.tree_size, result.cosigned_by, result.published) == (2, ("w1", "w2"), True)
    note = witnessed.published()
    policy = parse_policy((witnessed.tmp_path / "policy.txt").read_text())
    cosigned = verify_cosigned_checkpoint(note, policy)
    assert cosigned.checkpoint.tree_size == 2
    assert list(cosigned.witness_times) == ["w1", "w2"]
    assert all(abs(ts - time.time()) < 600 for ts in cosigned.witness_times.values())
    # The log's own checkpoint is unchanged underneath the cosignatures.
    assert note.startswith(client.get("/v1/checkpoint").get_data(as_text=True))
    assert witnessed.publisher.run_once() is None  # nothing new
    # A proof file now carries the cosigned checkpoint.
    proof = client.get("/v1/entries/1/proof").get_data(as_text=True)
    assert proof.endswith(note)


def test_an_unmet_quorum_keeps_the_last_cosigned_checkpoint(witnessed: Witnessed) -> None:
    witnessed.make_app("group both all w1 w2\nquorum both\n")
    witnessed.append()
    assert witnessed.publisher.run_once().published  # type: ignore[union-attr]
    first = witnessed.published()
    witnessed.ws[1].stop()  # w2 goes away
    witnessed.append(2)
    result = witnessed.publisher.run_once()
    assert result is not None
    assert (result.tree_size, result.cosigned_by, result.published) == (3, ("w1",), False)
    assert witnessed.published() == first  # still size 1
    assert _size(first, witnessed.log) == 1
    witnessed.ws[1].start()  # back, same port and state: it is still at size 1
    result = witnessed.publisher.run_once()
    assert result is not None
    assert result.published
    assert _size(witnessed.published(), witnessed.log) == 3


def test_a_publisher_that_does_not_know_the_sizes_learns_them_from_409(
    witnessed: Witnessed,
) -> None:
    app = witnessed.make_app("quorum w1\n")
    witnessed.append(3)
    assert witnessed.publisher.run_once().published  # type: ignore[union-attr]
    witnessed.append(2)
    # Another worker's publisher: it starts from old size 0 for every witness.
    other = WitnessPublisher(app.extensions["ledger"].db, witnessed.publisher.policy)
    result = other.run_once()
    assert result is not None
    assert result.published
    assert result.tree_size == 5
    assert '"POST /add-checkpoint HTTP/1.1" 409' in witnessed.ws[0].stderr_path.read_text()
    # w2 (not in the quorum) cosigned too: its line is kept as evidence.
    assert "— witness.test/w2 " in witnessed.published()


def test_bad_policies_refuse_to_start(witnessed: Witnessed, config: Config) -> None:
    bad = witnessed.tmp_path / "bad.txt"
    bad.write_text("quorum w9\n")
    with pytest.raises(MalformedPolicy):
        create_app(dataclasses.replace(config, witness_policy_file=bad))
    other_log = SigningKey.generate()
    foreign = NoteSigner.from_private_key(ORIGIN, other_log.private_key)
    bad.write_text(f"log {foreign.verifier().to_vkey()}\nquorum none\n")
    with pytest.raises(InvalidKey):
        create_app(dataclasses.replace(config, witness_policy_file=bad))
    with pytest.raises(MalformedPolicy):
        create_app(dataclasses.replace(config, witness_policy_file=bad.with_name("missing")))


@pytest.mark.slow
def test_the_background_publisher_under_gunicorn(database_url: str, tmp_path: Path) -> None:
    log = log_signer(tmp_path / "log-key.pem")
    ws = [make_witness(tmp_path, 1, log)]
    with witnesses(*ws):
        policy = write_policy(tmp_path / "policy.txt", log, ws, "quorum w1\n")
        env = {"LEDGER_WITNESS_POLICY": str(policy), "LEDGER_WITNESS_INTERVAL": "0.2"}
        server = LiveServer(
            database_url, tmp_path / "log-key.pem", tmp_path / "g", workers=2, env=env
        )
        with server:
            for n in range(3):
                envelope = builders.party_register(seeded_key(50 + n), f"p{n}").to_json()
                assert requests.post(f"{server.url}/v1/entries", json=envelope, timeout=30).ok
            note = _wait_for_size(server.url, log, 3)
    cosigned = verify_cosigned_checkpoint(note, parse_policy(policy.read_text()))
    assert list(cosigned.witness_times) == ["w1"]


def _wait_for_size(url: str, log: NoteSigner, size: int) -> str:
    deadline = time.monotonic() + 60
    while True:
        resp = requests.get(f"{url}/tlog/checkpoint", timeout=10)
        if resp.status_code == 200 and _size(resp.text, log) == size:
            return resp.text
        assert time.monotonic() < deadline, f"not published: {resp.status_code} {resp.text}"
        time.sleep(0.1)


def test_the_background_publisher_waits_for_the_database_gate(witnessed: Witnessed) -> None:
    """Its rounds pass the app's database gate first: while the gate refuses (the database away,
    or another log's), no round reads or writes; once it opens, rounds publish."""
    app = witnessed.make_app("group both all w1 w2\nquorum both\n")
    witnessed.append(2)
    publisher = WitnessPublisher(witnessed.publisher.db, witnessed.publisher.policy)
    gate_open = False
    asked: list[float] = []

    def ready() -> None:
        asked.append(time.monotonic())
        if not gate_open:
            raise LogIdentityMismatch("another log")

    publisher.start(0.05, ready)
    try:
        time.sleep(0.5)
        assert len(asked) >= 3  # rounds came, and stopped at the gate; the thread lives on
        assert app.test_client().get("/tlog/checkpoint").status_code == 404  # none published
        gate_open = True
        deadline = time.monotonic() + 30
        while app.test_client().get("/tlog/checkpoint").status_code != 200:
            assert time.monotonic() < deadline, "not published once the gate opened"
            time.sleep(0.05)
    finally:
        publisher.stop()
