"""Witness policies (c2sp.org/tlog-policy) and the quorum check. ``core.policy``."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.core.cosignature import Cosigner
from ledger.core.errors import (
    BadSignature,
    MalformedPolicy,
    QuorumNotMet,
    UnverifiedNote,
)
from ledger.core.note import NoteSigner, parse_note
from ledger.core.policy import parse_policy, verify_cosigned_checkpoint, witness_times
from tests.core.tlog_vectors import GEN


def _cosigner(n: int, name: str) -> Cosigner:
    return Cosigner(name, Ed25519PrivateKey.from_private_bytes(bytes([n]) * 32))


W = {f"w{i}": _cosigner(0x20 + i, f"witness.example/w{i}") for i in range(1, 7)}


def _policy(quorum_lines: str) -> str:
    lines = [f"log {GEN['log_vkey']}"]
    lines += [f"witness {n} {c.verifier().to_vkey()}" for n, c in W.items()]
    return "\n".join(lines) + "\n" + quorum_lines


def _note(*names: str, timestamp: int = 1772366400) -> str:
    body = parse_note(GEN["checkpoint_note"])[0]
    return GEN["checkpoint_note"] + "".join(W[n].cosign(body, timestamp).line() for n in names)


SPEC_QUORUM = """group X 2 w1 w2 w3
group Y any w4 w5 w6
group X-and-Y all X Y
quorum X-and-Y
"""


@pytest.mark.parametrize(
    ("signers", "met"),
    [
        ((), False),
        (("w1", "w2"), False),  # X yes, Y no
        (("w1", "w4"), False),  # X needs 2
        (("w1", "w2", "w4"), True),
        (("w2", "w3", "w6"), True),
        (("w1", "w2", "w3", "w4", "w5", "w6"), True),
    ],
)
def test_the_spec_example_quorum(signers: tuple[str, ...], met: bool) -> None:
    policy = parse_policy(_policy(SPEC_QUORUM))
    if met:
        times = witness_times(_note(*signers), policy)
        assert [name for name, _ in times] == sorted(signers)
        assert all(ts == 1772366400 for _, ts in times)
    else:
        with pytest.raises(QuorumNotMet):
            verify_cosigned_checkpoint(_note(*signers), policy)


def test_quorum_none_needs_only_the_log() -> None:
    result = verify_cosigned_checkpoint(
        GEN["checkpoint_note"], parse_policy(_policy("quorum none\n"))
    )
    assert result.checkpoint.tree_size == 3
    assert result.witness_times == {}


def test_the_generated_policy_and_cosigned_note() -> None:
    policy = parse_policy(GEN["policy"])
    assert policy.witnesses["w1"].url == "http://127.0.0.1:8101"
    assert witness_times(GEN["cosigned_note"], policy) == [("w1", GEN["timestamp"])]


def test_a_bad_cosignature_by_a_known_witness_is_refused() -> None:
    note = _note("w1")
    line = note.split("\n")[-2]
    name, blob64 = line[2:].split(" ")
    blob = bytearray(base64.b64decode(blob64))
    blob[-1] ^= 1  # the last byte of the Ed25519 signature
    bad = f"— {name} {base64.b64encode(bytes(blob)).decode()}"
    with pytest.raises(BadSignature):
        verify_cosigned_checkpoint(note.replace(line, bad), parse_policy(_policy("quorum w1\n")))


def test_unknown_cosigners_are_ignored_and_do_not_count() -> None:
    stranger = _cosigner(0x7F, "witness.example/w1")  # same name, other key
    body = parse_note(GEN["checkpoint_note"])[0]
    note = GEN["checkpoint_note"] + stranger.cosign(body, 5).line()
    with pytest.raises(QuorumNotMet):
        verify_cosigned_checkpoint(note, parse_policy(_policy("quorum w1\n")))


def test_a_checkpoint_of_a_log_not_in_the_policy_is_unverified() -> None:
    other = NoteSigner.from_private_key(
        "ledger.example/log", Ed25519PrivateKey.from_private_bytes(b"\x55" * 32)
    )
    text = f"log {other.verifier().to_vkey()}\nquorum none\n"
    with pytest.raises(UnverifiedNote):
        verify_cosigned_checkpoint(GEN["checkpoint_note"], parse_policy(text))


@pytest.mark.parametrize(
    "text",
    [
        "",  # no quorum
        "quorum none\nquorum none\n",
        "quorum w1\n",  # undefined
        "witness w1 {w1}\nquorum w2\n",
        "witness w1 {w1}\nwitness w2 {w1}\nquorum w1\n",  # duplicate key
        "witness w1 {w1}\nwitness w1 {w2}\nquorum w1\n",  # duplicate name
        "witness none {w1}\nquorum none\n",  # reserved name
        "witness w1 {w1}\ngroup g 2 w1\nquorum g\n",  # k > n
        "witness w1 {w1}\ngroup g 0 w1\nquorum g\n",
        "witness w1 {w1}\ngroup g 01 w1\nquorum g\n",
        "witness w1 {w1}\ngroup g any w1 w1\nquorum g\n",  # a member twice
        "witness w1 {w1}\ngroup g any w1 w9\nquorum g\n",  # undefined member
        "group g any w1\nwitness w1 {w1}\nquorum g\n",  # used before defined
        "witness w1 {log}\nquorum w1\n",  # a 0x01 key as a witness key
        "log {w1}\nquorum none\n",  # a 0x04 key as a log key
        "witness w1\nquorum none\n",
        "frobnicate x\nquorum none\n",
        "quorum\tnone\x0b\n",  # control character
        "log {log}\nlog {log}\nquorum none\n",  # duplicate log
    ],
)
def test_malformed_policies_are_refused(text: str) -> None:
    filled = text.format(
        w1=W["w1"].verifier().to_vkey(), w2=W["w2"].verifier().to_vkey(), log=GEN["log_vkey"]
    )
    with pytest.raises(MalformedPolicy):
        parse_policy(filled)


def test_comments_blank_lines_and_tabs_are_allowed() -> None:
    text = f"# a comment\n\n  \tlog\t{GEN['log_vkey']}  \n   # indented comment\nquorum none"
    assert parse_policy(text).quorum == "none"
