"""Offline proof files (c2sp.org/tlog-proof@v1): format, parse, verify. ``core.tlogproof``."""

from __future__ import annotations

import pytest

from ledger.core.errors import (
    BadSignature,
    InvalidParameter,
    MalformedProof,
    ProofError,
    QuorumNotMet,
    UnverifiedNote,
)
from ledger.core.note import NoteVerifier
from ledger.core.policy import parse_policy
from ledger.core.tlogproof import PROOF_HEADER, format_proof, parse_proof, verify_proof
from tests.core.tlog_vectors import GEN

LOG = NoteVerifier.from_vkey(GEN["log_vkey"])
PROOF: str = GEN["proof_file"]


def test_the_vector_proof_file_verifies_with_its_quorum() -> None:
    report = verify_proof(PROOF, LOG, policy=parse_policy(GEN["policy"]))
    assert report.index == 1
    assert report.leaf == bytes.fromhex(GEN["leaves_hex"][1])
    assert report.checkpoint.tree_size == 3
    assert report.witness_times == {"w1": GEN["timestamp"]}
    assert PROOF.startswith(f"{PROOF_HEADER}\nextra ")


def test_format_and_parse_round_trip() -> None:
    proof = parse_proof(PROOF)
    assert format_proof(proof.index, proof.hashes, proof.note, proof.extra) == PROOF
    without_extra = format_proof(proof.index, proof.hashes, proof.note)
    assert without_extra.split("\n")[1] == "index 1"
    leaf = bytes.fromhex(GEN["leaves_hex"][1])
    assert verify_proof(without_extra, LOG, leaf=leaf).index == 1
    with pytest.raises(MalformedProof):
        verify_proof(without_extra, LOG)  # no leaf at all


def _lines() -> list[str]:
    return PROOF.split("\n")


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (PROOF.replace(PROOF_HEADER, "c2sp.org/tlog-proof@v2"), MalformedProof),
        (PROOF.replace("index 1", "index 01"), MalformedProof),
        (PROOF.replace("index 1", "index 0"), ProofError),
        (PROOF.replace("index 1", "index 3"), InvalidParameter),  # beyond the tree
        (PROOF.replace("\n\n", "\n", 1), MalformedProof),
        ("\n".join(_lines()[:1] + _lines()[2:]), MalformedProof),  # extra line dropped: no leaf
        (PROOF.replace(_lines()[3], _lines()[3][:-2] + "B="), MalformedProof),  # not canonical
        (PROOF.replace(_lines()[1], "extra " + "bGVhZiA5"), ProofError),  # another leaf
        (PROOF.replace("\n3\n", "\n4\n"), BadSignature),
        (PROOF.replace("— ledger.example/log", "— other.example/log"), UnverifiedNote),
        (PROOF.replace("ledger.example/log\n3", "ledger.example/log\n3\n"), BadSignature),
    ],
    ids=[
        "header",
        "index spelling",
        "wrong index",
        "index beyond tree",
        "no blank line",
        "no leaf",
        "non-canonical hash",
        "other leaf",
        "tree size changed",
        "log signature gone",
        "blank line in checkpoint",
    ],
)
def test_tampered_proof_files_are_refused(text: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        verify_proof(text, LOG)


def test_a_proof_without_the_quorum_is_refused_under_a_stricter_policy() -> None:
    strict = GEN["policy"].replace("group one-of-two any w1 w2", "group one-of-two all w1 w2")
    with pytest.raises(QuorumNotMet):
        verify_proof(PROOF, LOG, policy=parse_policy(strict))
