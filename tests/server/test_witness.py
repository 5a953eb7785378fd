"""The witness (c2sp.org/tlog-witness) as a real ``ledger witness serve`` subprocess over HTTP."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from ledger.core import merkle
from ledger.core.checkpoint import Checkpoint, sign_checkpoint
from ledger.core.cosignature import CosignatureVerifier
from ledger.core.keys import SigningKey
from ledger.core.note import NoteSigner, parse_note
from tests.support.tlog_helpers import WitnessProcess

ORIGIN = "test.example/log"


class FakeLog:
    """A log built with the core only: leaves, stored hashes, signed checkpoints, proofs."""

    def __init__(self, key: SigningKey, prefix: bytes = b"leaf") -> None:
        self.signer = NoteSigner.from_private_key(ORIGIN, key.private_key)
        self.store = merkle.MemoryHashStore()
        self.prefix = prefix

    def grow(self, size: int) -> str:
        start = self.store.size
        leaves = [
            merkle.leaf_hash(self.prefix + bytes([i % 256, i // 256])) for i in range(start, size)
        ]
        self.store.append_leaf_hashes(leaves)
        return self.note(size)

    def note(self, size: int) -> str:
        cp = Checkpoint(ORIGIN, size, merkle.tree_hash(size, self.store))
        return sign_checkpoint(cp, self.signer)

    def body(self, old: int, note: str, proof: list[bytes] | None = None) -> bytes:
        size = int(note.split("\n")[1])
        if proof is None:
            proof = merkle.consistency_proof(old, size, self.store) if 0 < old < size else []
        lines = [f"old {old}", *(base64.b64encode(h).decode() for h in proof)]
        return ("\n".join(lines) + "\n\n" + note).encode()


LOG_KEY = SigningKey.from_seed(b"\x41" * 32)


@pytest.fixture
def witness(tmp_path: Path) -> Iterator[WitnessProcess]:
    key_file = tmp_path / "witness.pem"
    SigningKey.from_seed(b"\x42" * 32).save(key_file)
    log_vkey = NoteSigner.from_private_key(ORIGIN, LOG_KEY.private_key).verifier().to_vkey()
    proc = WitnessProcess(key_file, tmp_path / "state", "witness.test/w1", [log_vkey])
    proc.state_dir.mkdir()
    proc.start()
    yield proc
    proc.stop()


def post(w: WitnessProcess, body: bytes) -> requests.Response:
    return requests.post(f"{w.url}/add-checkpoint", data=body, timeout=30)


def _cosigned(w: WitnessProcess, note: str, resp: requests.Response) -> int:
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"] == "text/plain; charset=utf-8"
    verifier = CosignatureVerifier.from_vkey(w.vkey)
    _, sigs = parse_note(note + resp.text)
    return verifier.verify(parse_note(note)[0], sigs[-1]).timestamp


def _size_conflict(resp: requests.Response, size: int) -> None:
    assert resp.status_code == 409
    assert resp.headers["Content-Type"] == "text/x.tlog.size"
    assert resp.text == f"{size}\n"


def test_a_good_chain_is_cosigned_and_survives_a_restart(witness: WitnessProcess) -> None:
    log = FakeLog(LOG_KEY)
    n3 = log.grow(3)
    _cosigned(witness, n3, post(witness, log.body(0, n3)))
    n5 = log.grow(5)
    _cosigned(witness, n5, post(witness, log.body(3, n5)))
    _cosigned(witness, n5, post(witness, log.body(5, n5)))  # the same checkpoint again
    n300 = log.grow(300)
    _cosigned(witness, n300, post(witness, log.body(5, n300)))
    witness.stop()
    witness.start()
    _size_conflict(post(witness, log.body(0, n300)), 300)  # the state was persisted
    n301 = log.grow(301)
    _cosigned(witness, n301, post(witness, log.body(300, n301)))


def test_stale_rolled_back_and_forked_checkpoints_are_refused(witness: WitnessProcess) -> None:
    log = FakeLog(LOG_KEY)
    n3 = log.grow(3)
    n5 = log.grow(5)
    _cosigned(witness, n5, post(witness, log.body(0, n5)))
    _size_conflict(post(witness, log.body(0, n3)), 5)  # stale old size
    _size_conflict(post(witness, log.body(3, n5)), 5)
    assert post(witness, log.body(5, n3, [])).status_code == 400  # rolled back: old > size
    fork = FakeLog(LOG_KEY, prefix=b"fork")
    f5 = fork.grow(5)
    resp = post(witness, fork.body(5, f5))  # same size, another root
    assert resp.status_code == 409
    assert resp.headers["Content-Type"] != "text/x.tlog.size"
    f8 = fork.grow(8)
    assert post(witness, fork.body(5, f8)).status_code == 422  # proof from the fork's 5
    n8 = log.grow(8)
    bad_proof = merkle.consistency_proof(5, 8, log.store)[:-1]
    assert post(witness, log.body(5, n8, bad_proof)).status_code == 422
    _cosigned(witness, n8, post(witness, log.body(5, n8)))  # the honest one still goes through


@pytest.mark.parametrize(
    ("make", "status"),
    [
        (lambda log: log.body(0, log.grow(3), [b"\x00" * 32]), 422),  # proof with old 0
        (lambda log: log.body(0, FakeLog(SigningKey.generate()).grow(3)), 403),  # other key
        (lambda log: log.body(0, log.grow(3)).replace(b"test.example/log\n3", b"x/y\n3"), 404),
        (lambda log: log.body(0, log.grow(3)).replace(b"old 0", b"old 00"), 400),
        (lambda log: log.body(0, log.grow(3)).replace(b"old 0\n", b"old 0\nnot base64\n"), 400),
        (lambda log: log.body(0, log.grow(3)).replace(b"\n\n", b"\n", 1), 400),
        (lambda log: log.body(0, log.grow(3), [b"\x00" * 32] * 64), 400),
        (lambda log: log.body(0, log.grow(3))[:-20], 400),
        (lambda log: b"\xff\xfe", 400),
    ],
    ids=[
        "proof with old 0",
        "signed by an unknown key",
        "unknown origin",
        "old size spelling",
        "proof line not base64",
        "no blank line",
        "64 proof lines",
        "truncated note",
        "not UTF-8",
    ],
)
def test_bad_requests_get_the_spec_status(witness: WitnessProcess, make, status: int) -> None:  # type: ignore[no-untyped-def]
    resp = post(witness, make(FakeLog(LOG_KEY)))
    assert resp.status_code == status, resp.text


def test_concurrent_submissions_cannot_roll_back(witness: WitnessProcess) -> None:
    log = FakeLog(LOG_KEY)
    n3 = log.grow(3)
    _cosigned(witness, n3, post(witness, log.body(0, n3)))
    bodies = []
    for size in range(4, 12):
        bodies.append(log.body(3, log.grow(size)))
    with ThreadPoolExecutor(8) as pool:
        statuses = [r.status_code for r in pool.map(lambda b: post(witness, b), bodies)]
    assert statuses.count(200) == 1  # every request came from size 3: only the first can win
    assert statuses.count(409) == 7
    winner = 4 + statuses.index(200)
    _size_conflict(post(witness, log.body(0, log.note(11))), winner)
