"""The offline verifier: an honest bundle verifies; every tampered bundle fails with its exact code,
with ``cryptography`` alone and with the PyNaCl accelerator; every entry left out of a bundle, and
every lie about the licence map, is caught (FORMAT §13.3 step 6), also over random histories."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.core import cbor
from ledger.core.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
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
from ledger.core.leaf import leaf_hash, micros_from_datetime
from ledger.core.licensing import LicenceState
from ledger.core.licmap import content_key, grant_key
from ledger.core.memlog import MemoryLog
from ledger.core.merkle import consistency_proof, inclusion_proof, tree_hash
from ledger.core.note import NoteSigner
from ledger.core.receipts import ReceiptSigner, receipt_protected_header
from tests.support.evidence_helpers import (
    AT,
    BUNDLE,
    CHECKS,
    FOREIGN,
    LICENSED,
    LOG,
    LOG_,
    ORIGIN,
    R_BUNDLE,
    R_LOG,
    REFUSED,
    UNKNOWN,
    B,
    build_log,
)
from tests.support.histories import ACTIONS, CONTENT, KEYS, history
from tests.support.histories import T0 as HISTORY_T0
from tests.support.scripts import load_script


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
    assert "receipts" not in BUNDLE  # not asked for: the member is absent
    assert EvidenceBundle.from_json(R_BUNDLE).to_json() == R_BUNDLE


def test_bundle_with_receipts_verifies_each_one() -> None:
    report = verify_bundle(R_BUNDLE, R_LOG.verifier_key)
    assert report, report.failures
    assert [r["seq"] for r in R_BUNDLE["receipts"]] == [e["seq"] for e in R_BUNDLE["entries"]]
    assert report.receipts_verified == len(R_BUNDLE["entries"])
    assert verify_bundle(BUNDLE, LOG_.verifier_key).receipts_verified is None
    # The same entries, proofs and verdicts as without receipts: only the member is added.
    without = {k: v for k, v in R_BUNDLE.items() if k != "receipts"}
    query = EvidenceQuery(B.key_id, "ai_training", AT)
    assert without == R_LOG.bundle(query, [LICENSED, REFUSED, UNKNOWN]).to_json()


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
    b["format"] = "consent-ledger/evidence/v1"  # a v1 bundle cannot show completeness


def _entries_reordered(b: dict[str, Any]) -> None:
    b["entries"][0], b["entries"][1] = b["entries"][1], b["entries"][0]


def _item_duplicated(b: dict[str, Any]) -> None:
    b["items"].append(copy.deepcopy(b["items"][0]))


def _query_use_changed(b: dict[str, Any]) -> None:
    b["query"]["use"] = "ai_inference"


def _query_time_moved(b: dict[str, Any]) -> None:
    b["query"]["at"] = "2026-03-01T11:00:00.000000Z"  # before the grants were logged


# --- tampering with COSE receipts (a bundle that carries them: R_BUNDLE, FORMAT §13.3 step 8) ---

R_SIZE = len(R_LOG.leaves)
R_ROOT = tree_hash(R_SIZE, R_LOG.store)


def _receipt(seq: int, signer: ReceiptSigner | None = None, size: int = R_SIZE) -> str:
    """Entry ``seq``'s receipt over R_LOG's tree of ``size`` (R_LOG's key unless ``signer``)."""
    signer = signer or ReceiptSigner(LOG.private_key, ORIGIN)
    path = inclusion_proof(size, seq, R_LOG.store)
    return b64_encode(signer.inclusion(size, seq, path, tree_hash(size, R_LOG.store)))


def _edit_receipt(b: dict[str, Any], i: int, edit: Callable[[list[Any]], None]) -> None:
    """Decode receipt ``i``'s COSE_Sign1 (``[protected, unprotected, payload, signature]``, the
    proof decoded in place of its byte string), ``edit`` it, and encode it back."""
    tag = cbor.decode(b64_decode(b["receipts"][i]["receipt"]))
    sign1 = tag.value
    proofs = sign1[1][396][-1]
    proofs[0] = cbor.decode(proofs[0])
    edit(sign1)
    proofs[0] = cbor.encode(proofs[0])
    b["receipts"][i]["receipt"] = b64_encode(cbor.encode(cbor.Tag(18, sign1)))


def _receipt_signature(b: dict[str, Any]) -> None:
    def flip(sign1: list[Any]) -> None:
        sign1[3] = bytes([sign1[3][0] ^ 1]) + sign1[3][1:]

    _edit_receipt(b, 2, flip)


def _receipt_path_node(b: dict[str, Any]) -> None:
    def flip(sign1: list[Any]) -> None:
        path = sign1[1][396][-1][0][2]
        path[0] = bytes([path[0][0] ^ 1]) + path[0][1:]

    _edit_receipt(b, 2, flip)


def _receipt_older_tree(b: dict[str, Any]) -> None:
    b["receipts"][2]["receipt"] = _receipt(2, size=R_SIZE - 1)  # a genuine receipt, of size 6


def _receipt_foreign_key(b: dict[str, Any]) -> None:
    b["receipts"][2]["receipt"] = _receipt(2, ReceiptSigner(FOREIGN.private_key, ORIGIN))


def _receipt_foreign_key_log_kid(b: dict[str, Any]) -> None:
    # Signed by another key under the log key's kid: only the signature can tell.
    impostor = ReceiptSigner(FOREIGN.private_key, ORIGIN)
    impostor.protected = receipt_protected_header(LOG.public_key.raw, ORIGIN)
    b["receipts"][2]["receipt"] = _receipt(2, impostor)


def _receipt_of_other_entry(b: dict[str, Any]) -> None:
    b["receipts"][2]["receipt"] = b["receipts"][1]["receipt"]


def _receipt_for_entry_not_in_bundle(b: dict[str, Any]) -> None:
    b["receipts"].append({"seq": 6, "receipt": _receipt(6)})  # genuine: R_LOG holds entry 6


def _receipt_removed(b: dict[str, Any]) -> None:
    del b["receipts"][1]


def _receipt_not_cose(b: dict[str, Any]) -> None:
    b["receipts"][2]["receipt"] = b64_encode(b"not a receipt")


def _receipt_consistency(b: dict[str, Any]) -> None:
    signer = ReceiptSigner(LOG.private_key, ORIGIN)
    path = consistency_proof(3, R_SIZE, R_LOG.store)
    b["receipts"][2]["receipt"] = b64_encode(signer.consistency(3, R_SIZE, path, R_ROOT))


def _receipt_other_issuer(b: dict[str, Any]) -> None:
    b["receipts"][2]["receipt"] = _receipt(2, ReceiptSigner(LOG.private_key, "other.example/log"))


def _receipts_reordered(b: dict[str, Any]) -> None:
    b["receipts"][0], b["receipts"][1] = b["receipts"][1], b["receipts"][0]


def _receipt_member_unknown(b: dict[str, Any]) -> None:
    b["receipts"][0]["tree_size"] = R_SIZE


def _entry_removed_receipt_kept(b: dict[str, Any]) -> None:
    del b["entries"][3]
    b["items"][0]["entries"].remove(3)


RECEIPT_TAMPERS: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("receipt-signature", _receipt_signature, "receipt_invalid"),
    ("receipt-path-node", _receipt_path_node, "receipt_root_mismatch"),
    ("receipt-older-tree", _receipt_older_tree, "receipt_root_mismatch"),
    ("receipt-foreign-key", _receipt_foreign_key, "receipt_invalid"),
    ("receipt-foreign-key-log-kid", _receipt_foreign_key_log_kid, "receipt_invalid"),
    ("receipt-of-other-entry", _receipt_of_other_entry, "receipt_invalid"),
    ("receipt-entry-not-in-bundle", _receipt_for_entry_not_in_bundle, "receipt_unmatched"),
    ("receipt-entry-removed", _entry_removed_receipt_kept, "receipt_unmatched"),
    ("receipt-removed", _receipt_removed, "receipt_missing"),
    ("receipt-not-cose", _receipt_not_cose, "receipt_invalid"),
    ("receipt-consistency", _receipt_consistency, "receipt_invalid"),
    ("receipt-other-issuer", _receipt_other_issuer, "receipt_invalid"),
    ("receipts-reordered", _receipts_reordered, "bundle_malformed"),
    ("receipt-member-unknown", _receipt_member_unknown, "bundle_malformed"),
    # The tampers above, done to a bundle with receipts, fail as before (entries come first).
    ("receipts-leaf-byte", _leaf_byte, "leaf_hash_mismatch"),
    ("receipts-checkpoint-signature", _checkpoint_signature, "checkpoint_invalid"),
]


TAMPERS: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("leaf-byte", _leaf_byte, "leaf_hash_mismatch"),
    ("statement-signature", _statement_signature, "bad_signature"),
    ("proof-hash", _proof_hash, "inclusion_proof_invalid"),
    ("checkpoint-signature", _checkpoint_signature, "checkpoint_invalid"),
    ("checkpoint-body", _checkpoint_body, "checkpoint_invalid"),
    ("verdict-no-to-yes", _verdict_no_to_yes, "verdict_mismatch"),
    ("grant-seq-changed", _grant_seq_changed, "verdict_mismatch"),
    ("entry-removed", _entry_removed, "entry_omitted"),
    ("entry-removed-uncited", _entry_removed_and_uncited, "entry_omitted"),
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
    ("base", "tamper", "code"),
    [pytest.param(BUNDLE, f, c, id=name) for name, f, c in TAMPERS]
    + [pytest.param(R_BUNDLE, f, c, id=name) for name, f, c in RECEIPT_TAMPERS],
)
def test_tampered_bundle_fails_with_its_code(
    base: dict[str, Any], tamper: Callable[[dict[str, Any]], None], code: str, check: SignatureCheck
) -> None:
    bundle = copy.deepcopy(base)
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


# --- omissions and the licence map (the §13.4 example: one entry of each kind) ----------------

EXAMPLE = load_script("make_evidence_example")
EXAMPLE_LOG = EXAMPLE.example_log()
EXAMPLE_KEY, EXAMPLE_BUNDLE = EXAMPLE.build()
CLIP1 = EXAMPLE_BUNDLE["items"][0]["sha256"]
UNGRANTED = EXAMPLE_BUNDLE["items"][2]["sha256"]


def _member(b: dict[str, Any], key: bytes) -> dict[str, Any]:
    return next(m for m in b["map"] if m["key"] == key.hex())


def _drop_entry(seq: int) -> Callable[[dict[str, Any]], None]:
    """Leave entry ``seq`` out, and take it out of every verdict citing it: a careful liar."""

    def tamper(b: dict[str, Any]) -> None:
        b["entries"] = [e for e in b["entries"] if e["seq"] != seq]
        for item in b["items"]:
            if seq in item["entries"]:
                item["entries"].remove(seq)

    return tamper


def _map_proof_altered(b: dict[str, Any]) -> None:
    member = _member(b, content_key(CLIP1))
    member["proof"] = _flip(member["proof"], len(b64_decode(member["proof"])) - 1)  # value hash


def _proof_for_another_key(b: dict[str, Any]) -> None:
    clip2 = b["items"][1]["sha256"]  # listed under the same grant: same seqs, other key
    _member(b, content_key(CLIP1))["proof"] = _member(b, content_key(clip2))["proof"]


def _absence_claimed_for_a_present_key(b: dict[str, Any]) -> None:
    _drop_entry(2)(b)  # hide the grant, and say no grant ever covered the clip
    _member(b, content_key(CLIP1))["seqs"] = []


def _absence_proof_of_another_key(b: dict[str, Any]) -> None:
    _drop_entry(2)(b)
    member = _member(b, content_key(CLIP1))
    member["seqs"], member["proof"] = [], _member(b, content_key(UNGRANTED))["proof"]


def _value_shortened(b: dict[str, Any]) -> None:
    grant = EXAMPLE_LOG.parsed[2].signed.statement_hash
    _drop_entry(4)(b)  # the revocation, and the map's word that it exists
    _member(b, grant_key(grant))["seqs"] = [2, 3]


def _map_member_removed(b: dict[str, Any]) -> None:
    grant = EXAMPLE_LOG.parsed[2].signed.statement_hash
    b["map"].remove(_member(b, grant_key(grant)))
    _drop_entry(4)(b)


def _checkpoint_without_map_line(b: dict[str, Any]) -> None:
    cp = open_checkpoint(b["checkpoint"], EXAMPLE_LOG.signer.verifier())[0]
    plain = Checkpoint(cp.origin, cp.tree_size, cp.root_hash)
    b["checkpoint"] = sign_checkpoint(plain, EXAMPLE_LOG.signer)


def _map_unsorted(b: dict[str, Any]) -> None:
    b["map"].reverse()


def _map_key_uppercase(b: dict[str, Any]) -> None:
    b["map"][0]["key"] = b["map"][0]["key"].upper()


def _map_key_unknown_tag(b: dict[str, Any]) -> None:
    b["map"][0]["key"] = "09" + b["map"][0]["key"][2:]


def _map_seqs_descending(b: dict[str, Any]) -> None:
    member = next(m for m in b["map"] if len(m["seqs"]) > 1)
    member["seqs"].reverse()


def _map_proof_trailing_byte(b: dict[str, Any]) -> None:
    b["map"][0]["proof"] = b64_encode(b64_decode(b["map"][0]["proof"]) + b"\x00")


OMISSIONS: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("registration-removed", _drop_entry(1), "entry_omitted"),  # the buyer's
    ("creator-registration-removed", _drop_entry(0), "entry_omitted"),
    ("grant-removed", _drop_entry(2), "entry_omitted"),
    ("acceptance-removed", _drop_entry(3), "entry_omitted"),
    ("revocation-removed", _drop_entry(4), "entry_omitted"),
    ("key-rotation-removed", _drop_entry(5), "entry_omitted"),
    ("key-revocation-removed", _drop_entry(6), "entry_omitted"),
    ("map-proof-altered", _map_proof_altered, "map_proof_invalid"),
    ("map-proof-for-another-key", _proof_for_another_key, "map_proof_invalid"),
    ("absence-claimed-for-present-key", _absence_claimed_for_a_present_key, "map_key_present"),
    # The ungranted clip's absence proof (an empty subtree beside clip 1's, FORMAT §14.8) does
    # not lead to the root along clip 1's path.
    ("absence-proof-of-another-key", _absence_proof_of_another_key, "map_proof_invalid"),
    ("map-value-shortened", _value_shortened, "map_value_mismatch"),
    ("map-member-removed", _map_member_removed, "map_proof_missing"),
    ("checkpoint-without-map-line", _checkpoint_without_map_line, "map_root_missing"),
    ("map-unsorted", _map_unsorted, "bundle_malformed"),
    ("map-key-uppercase", _map_key_uppercase, "bundle_malformed"),
    ("map-key-unknown-tag", _map_key_unknown_tag, "bundle_malformed"),
    ("map-seqs-descending", _map_seqs_descending, "bundle_malformed"),
    ("map-proof-trailing-byte", _map_proof_trailing_byte, "bundle_malformed"),
]


def test_the_example_bundle_carries_every_kind_of_entry_and_verifies() -> None:
    kinds = [leaf.signed.type_name for leaf in EXAMPLE_LOG.parsed]
    assert kinds == [
        "party.register", "party.register", "grant", "grant.accept", "grant.revoke",
        "key.rotate", "key.revoke",
    ]  # fmt: skip
    assert [e["seq"] for e in EXAMPLE_BUNDLE["entries"]] == list(range(7))
    assert verify_bundle(EXAMPLE_BUNDLE, EXAMPLE_KEY)


@pytest.mark.parametrize(
    ("tamper", "code"), [pytest.param(f, c, id=name) for name, f, c in OMISSIONS]
)
def test_an_omission_or_a_map_lie_fails_with_its_code(
    tamper: Callable[[dict[str, Any]], None], code: str
) -> None:
    bundle = copy.deepcopy(EXAMPLE_BUNDLE)
    tamper(bundle)
    report = verify_bundle(bundle, EXAMPLE_KEY)
    assert not report
    assert report.failures[0].code == code, report.failures
    if code == "entry_omitted":  # it names the entry left out and the key listing it
        assert report.failures[0].seq is not None
        assert "under " in report.failures[0].message


def test_an_entry_omitted_is_named_with_the_key_that_lists_it() -> None:
    bundle = copy.deepcopy(EXAMPLE_BUNDLE)
    _drop_entry(4)(bundle)
    [failure] = verify_bundle(bundle, EXAMPLE_KEY).failures
    grant = EXAMPLE_LOG.parsed[2].signed.statement_hash.hex()
    assert (failure.code, failure.seq) == ("entry_omitted", 4)
    assert f"lists entry 4 under grant {grant}" in failure.message


# --- property: over random histories, every bundle verifies and every omission is caught ------


@settings(max_examples=60, deadline=None)
@given(ACTIONS, st.integers(0, len(KEYS) - 1), st.integers(0, 20))
def test_random_histories_complete_bundles_and_every_omission(
    actions: list[tuple[str, int, int, int]], buyer: int, minutes: int
) -> None:
    log = history(actions)
    at = micros_from_datetime(HISTORY_T0 + timedelta(minutes=minutes, seconds=30))
    query = EvidenceQuery(KEYS[buyer].key_id, "ai_training", at)
    bundle = log.bundle(query, CONTENT).to_json()
    report = verify_bundle(bundle, log.verifier_key)
    assert report, report.failures
    # Complete: each verdict is the one the whole log gives, not only the bundle's entries.
    whole = LicenceState.replay(log.parsed, at)
    assert list(report.verdicts) == [whole.verdict(c, query.buyer, query.use) for c in CONTENT]
    for entry in bundle["entries"]:
        partial = copy.deepcopy(bundle)
        _drop_entry(entry["seq"])(partial)
        codes = verify_bundle(partial, log.verifier_key).codes
        assert "entry_omitted" in codes, (entry["seq"], codes)
