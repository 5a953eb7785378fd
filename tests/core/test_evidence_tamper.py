"""The offline verifier: an honest bundle verifies; every tampered bundle fails with its exact code,
with ``cryptography`` alone and with the PyNaCl accelerator."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from ledger.core.encoding import b64_decode, b64_encode
from ledger.core.errors import VerificationError
from ledger.core.evidence import (
    EvidenceBundle,
    EvidenceInvalid,
    EvidenceQuery,
    SignatureCheck,
    check_bundle,
    verify_bundle,
)
from ledger.core.leaf import leaf_hash
from ledger.core.memlog import MemoryLog
from ledger.core.note import NoteSigner
from tests.support.evidence_helpers import (
    AT,
    BUNDLE,
    CHECKS,
    FOREIGN,
    LICENSED,
    LOG_,
    ORIGIN,
    B,
    build_log,
)


def test_honest_bundle_verifies_and_recomputes_each_verdict() -> None:
    report = verify_bundle(BUNDLE, LOG_.verifier_key)
    assert report, report.failures
    assert [(v.licensed, v.reason) for v in report.verdicts] == [
        (True, "licensed"),
        (False, "expired"),
        (False, "no_grant"),
    ]  # the duplicate LICENSED collapsed; "not licensed" is a result, not a failure
    assert report.entries_verified == 6
    assert check_bundle(BUNDLE, LOG_.verifier_key) is not None


def test_bundle_round_trips_through_its_parser() -> None:
    assert EvidenceBundle.from_json(BUNDLE).to_json() == BUNDLE


# --- tampering ---------------------------------------------------------------------------------


def _flip(b64: str, offset: int) -> str:
    data = bytearray(b64_decode(b64))
    data[offset] ^= 0x01
    return b64_encode(bytes(data))


def _leaf_byte(b: dict[str, Any]) -> None:
    b["entries"][2]["leaf"] = _flip(b["entries"][2]["leaf"], 120)


def _statement_signature(b: dict[str, Any]) -> None:
    entry = b["entries"][3]
    entry["leaf"] = _flip(entry["leaf"], len(b64_decode(entry["leaf"])) - 5)
    entry["leaf_hash"] = leaf_hash(b64_decode(entry["leaf"])).hex()  # a consistent forgery


def _proof_hash(b: dict[str, Any]) -> None:
    proof = b["entries"][2]["inclusion_proof"]
    proof[0] = ("0" if proof[0][0] != "0" else "1") + proof[0][1:]


def _checkpoint_signature(b: dict[str, Any]) -> None:
    body, sig_line = b["checkpoint"].split("\n\n")
    name, sig = sig_line.rstrip("\n").rsplit(" ", 1)
    b["checkpoint"] = f"{body}\n\n{name} {_flip(sig, 10)}\n"


def _checkpoint_body(b: dict[str, Any]) -> None:
    origin, size, rest = b["checkpoint"].split("\n", 2)
    b["checkpoint"] = f"{origin}\n{int(size) + 1}\n{rest}"


def _verdict_no_to_yes(b: dict[str, Any]) -> None:
    b["items"][1].update(licensed=True, reason="licensed")


def _grant_seq_changed(b: dict[str, Any]) -> None:
    b["items"][0]["grant_seq"] = 4


def _entry_removed(b: dict[str, Any]) -> None:
    del b["entries"][3]  # the acceptance of the licensed clip's grant


def _entry_removed_and_uncited(b: dict[str, Any]) -> None:
    del b["entries"][3]
    b["items"][0]["entries"].remove(3)


def _foreign_checkpoint(b: dict[str, Any]) -> None:
    impostor = MemoryLog(NoteSigner.from_private_key(ORIGIN, FOREIGN.private_key))
    for data in LOG_.parsed:
        impostor.add(data.signed, data.integrated_at)
    b["checkpoint"] = impostor.checkpoint()


def _foreign_log_in_bundle(b: dict[str, Any]) -> None:
    b["log"]["verifier_key"] = (
        NoteSigner.from_private_key(ORIGIN, FOREIGN.private_key).verifier().to_vkey()
    )


def _seq_changed(b: dict[str, Any]) -> None:
    b["entries"][5]["seq"] = 9


def _format_changed(b: dict[str, Any]) -> None:
    b["format"] = "consent-ledger/evidence/v2"


def _entries_reordered(b: dict[str, Any]) -> None:
    b["entries"][0], b["entries"][1] = b["entries"][1], b["entries"][0]


def _item_duplicated(b: dict[str, Any]) -> None:
    b["items"].append(copy.deepcopy(b["items"][0]))


def _query_use_changed(b: dict[str, Any]) -> None:
    b["query"]["use"] = "ai_inference"


def _query_time_moved(b: dict[str, Any]) -> None:
    b["query"]["at"] = "2026-03-01T11:00:00.000000Z"  # before the grants were logged


TAMPERS: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("leaf-byte", _leaf_byte, "leaf_hash_mismatch"),
    ("statement-signature", _statement_signature, "bad_signature"),
    ("proof-hash", _proof_hash, "inclusion_proof_invalid"),
    ("checkpoint-signature", _checkpoint_signature, "checkpoint_invalid"),
    ("checkpoint-body", _checkpoint_body, "checkpoint_invalid"),
    ("verdict-no-to-yes", _verdict_no_to_yes, "verdict_mismatch"),
    ("grant-seq-changed", _grant_seq_changed, "verdict_mismatch"),
    ("entry-removed", _entry_removed, "entry_missing"),
    ("entry-removed-uncited", _entry_removed_and_uncited, "verdict_mismatch"),
    ("foreign-checkpoint", _foreign_checkpoint, "checkpoint_invalid"),
    ("foreign-log-key-in-bundle", _foreign_log_in_bundle, "log_key_mismatch"),
    ("seq-changed", _seq_changed, "seq_mismatch"),
    ("format-changed", _format_changed, "bundle_malformed"),
    ("entries-reordered", _entries_reordered, "bundle_malformed"),
    ("item-duplicated", _item_duplicated, "bundle_malformed"),
    ("query-use-changed", _query_use_changed, "verdict_mismatch"),
    ("query-time-moved", _query_time_moved, "verdict_mismatch"),
]


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize(
    ("tamper", "code"), [pytest.param(f, c, id=name) for name, f, c in TAMPERS]
)
def test_tampered_bundle_fails_with_its_code(
    tamper: Callable[[dict[str, Any]], None], code: str, check: SignatureCheck
) -> None:
    bundle = copy.deepcopy(BUNDLE)
    tamper(bundle)
    report = verify_bundle(bundle, LOG_.verifier_key, check=check)
    assert not report
    assert report.failures[0].code == code, report.failures
    with pytest.raises(EvidenceInvalid) as raised:
        check_bundle(bundle, LOG_.verifier_key, check=check)
    assert isinstance(raised.value, VerificationError)
    assert raised.value.details["failures"][0]["code"] == code


def test_wrong_log_key_given_by_the_verifier() -> None:
    other = NoteSigner.from_private_key(ORIGIN, FOREIGN.private_key).verifier().to_vkey()
    report = verify_bundle(BUNDLE, other)
    assert report.codes[:2] == ["log_key_mismatch", "checkpoint_invalid"]


@pytest.mark.parametrize("vkey", ["not a key", "", "a+b+c"])
def test_malformed_log_key(vkey: str) -> None:
    assert verify_bundle(BUNDLE, vkey).codes == ["log_key_mismatch"]


@pytest.mark.parametrize("bundle", [None, [], {"format": 1}, "x"])
def test_not_a_bundle(bundle: object) -> None:
    assert verify_bundle(bundle, LOG_.verifier_key).codes == ["bundle_malformed"]


@pytest.mark.parametrize("forged_seq", [3, 0], ids=["link-3", "genesis"])
def test_a_broken_chain_link_is_reported(forged_seq: int) -> None:
    # The log itself is forged: entry 3 names a wrong predecessor, or entry 0 a predecessor other
    # than the genesis value (docs/FORMAT.md §4.2), yet the log signed the tree.
    log = build_log()
    forged = MemoryLog(log.signer)
    for leaf in log.parsed:
        forged.add(leaf.signed, leaf.integrated_at)
    data = bytearray(forged.leaves[forged_seq])
    data[39] ^= 0x01  # first byte of prev_leaf_hash (docs/FORMAT.md §4.1)
    rebuilt = MemoryLog(log.signer)
    for i, leaf in enumerate(forged.parsed):
        if i == forged_seq:
            rebuilt.leaves.append(bytes(data))
            rebuilt.parsed.append(leaf)
            rebuilt.store.append_leaf_hash(leaf_hash(bytes(data)))
        else:
            rebuilt.leaves.append(forged.leaves[i])
            rebuilt.parsed.append(leaf)
            rebuilt.store.append_leaf_hash(leaf_hash(forged.leaves[i]))
    rebuilt.licence_map = forged.licence_map  # the same statements: the same map
    bundle = rebuilt.bundle(EvidenceQuery(B.key_id, "ai_training", AT), [LICENSED]).to_json()
    assert any(e["seq"] == forged_seq for e in bundle["entries"])
    report = verify_bundle(bundle, log.verifier_key)
    assert report.codes[0] == "chain_broken"
    assert report.failures[0].seq == forged_seq
