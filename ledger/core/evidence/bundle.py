"""The evidence bundle's model (docs/FORMAT.md §13), its failure codes, and ``make_bundle``.

An ``EvidenceBundle`` is the log's checkpoint, the entries its verdicts rest on (leaf bytes and
inclusion proofs), the licence-map proofs showing that no other entry is listed under the keys
they rest on (``map``), and a verdict per content item; ``parse.py`` reads its JSON shape,
``complete.py`` says which map keys are required and ``verify.py`` checks it. No I/O here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from ..canonical import canonicalize
from ..encoding import b64_encode
from ..errors import (
    EntryOmitted,
    InvalidParameter,
    MapKeyAbsent,
    MapKeyPresent,
    MapProofInvalid,
    MapRootMissing,
    MapValueMismatch,
    ReceiptRootMismatch,
)
from ..leaf import Leaf, leaf_hash
from ..licensing import LicenceState, Verdict, format_instant
from ..receipts import ReceiptSigner
from ..vmap import MapProof

BUNDLE_FORMAT: Final = "consent-ledger/evidence/v2"

# Failure codes of the offline verifier (stable; docs/FORMAT.md §13.3).
BUNDLE_MALFORMED: Final = "bundle_malformed"
LOG_KEY_MISMATCH: Final = "log_key_mismatch"
CHECKPOINT_INVALID: Final = "checkpoint_invalid"
LEAF_HASH_MISMATCH: Final = "leaf_hash_mismatch"
SEQ_MISMATCH: Final = "seq_mismatch"
LEAF_INVALID: Final = "leaf_invalid"
BAD_SIGNATURE: Final = "bad_signature"
INCLUSION_PROOF_INVALID: Final = "inclusion_proof_invalid"
CHAIN_BROKEN: Final = "chain_broken"
ENTRY_MISSING: Final = "entry_missing"
VERDICT_MISMATCH: Final = "verdict_mismatch"
QUERY_MISMATCH: Final = "query_mismatch"
QUORUM_NOT_MET: Final = "quorum_not_met"
COSIGNATURE_INVALID: Final = "cosignature_invalid"
# The licence map (docs/FORMAT.md §13.3 step 6, §14.5): the errors' own codes.
MAP_ROOT_MISSING: Final = MapRootMissing.code
MAP_PROOF_INVALID: Final = MapProofInvalid.code
MAP_KEY_ABSENT: Final = MapKeyAbsent.code
MAP_KEY_PRESENT: Final = MapKeyPresent.code
MAP_VALUE_MISMATCH: Final = MapValueMismatch.code
MAP_PROOF_MISSING: Final = "map_proof_missing"
ENTRY_OMITTED: Final = EntryOmitted.code
# COSE receipts (docs/FORMAT.md §13.3 step 8), checked only in a bundle that carries them.
RECEIPT_INVALID: Final = "receipt_invalid"
RECEIPT_ROOT_MISMATCH: Final = ReceiptRootMismatch.code
RECEIPT_MISSING: Final = "receipt_missing"
RECEIPT_UNMATCHED: Final = "receipt_unmatched"
#: The codes of the receipts step (FORMAT §13.3 step 8).
RECEIPT_CODES: Final = (RECEIPT_INVALID, RECEIPT_ROOT_MISMATCH, RECEIPT_MISSING, RECEIPT_UNMATCHED)
#: The codes of the licence-map step (FORMAT §13.3 step 6).
MAP_CODES: Final = (
    MAP_ROOT_MISSING,
    MAP_PROOF_INVALID,
    MAP_KEY_ABSENT,
    MAP_KEY_PRESENT,
    MAP_VALUE_MISMATCH,
    MAP_PROOF_MISSING,
    ENTRY_OMITTED,
)
FAILURE_CODES: Final = (
    BUNDLE_MALFORMED,
    LOG_KEY_MISMATCH,
    CHECKPOINT_INVALID,
    LEAF_HASH_MISMATCH,
    SEQ_MISMATCH,
    LEAF_INVALID,
    BAD_SIGNATURE,
    INCLUSION_PROOF_INVALID,
    CHAIN_BROKEN,
    ENTRY_MISSING,
    VERDICT_MISMATCH,
    QUERY_MISMATCH,
    QUORUM_NOT_MET,
    COSIGNATURE_INVALID,
    *MAP_CODES,
    *RECEIPT_CODES,
)


# --- the bundle ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvidenceQuery:
    buyer: str  # key id (64 hex)
    use: str
    at: int  # microseconds since the epoch

    def to_json(self) -> dict[str, Any]:
        return {"buyer": self.buyer, "use": self.use, "at": format_instant(self.at)}


@dataclass(frozen=True)
class EvidenceEntry:
    """One log entry: exact leaf bytes, leaf hash and inclusion proof against the checkpoint."""

    seq: int
    leaf: bytes
    leaf_hash: bytes
    inclusion_proof: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "leaf_hash": self.leaf_hash.hex(),
            "leaf": b64_encode(self.leaf),
            "inclusion_proof": [h.hex() for h in self.inclusion_proof],
        }


@dataclass(frozen=True)
class MapMember:
    """One required licence-map key: its value (the seqs it lists; ``()`` for a key the map does
    not hold) and its map proof (written as the FORMAT §14.4 bytes, which are canonical, so a
    parsed proof is written back byte for byte) against the checkpoint's map root."""

    key: bytes
    seqs: tuple[int, ...]
    proof: MapProof

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key.hex(),
            "seqs": list(self.seqs),
            "proof": b64_encode(self.proof.to_bytes()),
        }


@dataclass(frozen=True)
class EntryReceipt:
    """The COSE receipt (RFC 9942, docs/FORMAT.md §15.3) of the bundle's entry ``seq`` at the
    checkpoint's tree size: the same inclusion proof, signed by the log key over the root."""

    seq: int
    receipt: bytes

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "receipt": b64_encode(self.receipt)}


@dataclass(frozen=True)
class EvidenceBundle:
    """A self-contained answer for one buyer, use and time over many content items."""

    origin: str
    verifier_key: str
    checkpoint: str
    query: EvidenceQuery
    entries: tuple[EvidenceEntry, ...]
    items: tuple[Verdict, ...]
    #: The required map keys (``complete.py``), in ascending key order, each once.
    map: tuple[MapMember, ...] = ()
    #: COSE receipts, one per entry in seq order, when the bundle was asked for with them; None
    #: (the member absent: the bundle is byte for byte what it was before receipts) otherwise.
    receipts: tuple[EntryReceipt, ...] | None = None

    def to_json(self) -> dict[str, Any]:
        out = {
            "format": BUNDLE_FORMAT,
            "log": {"origin": self.origin, "verifier_key": self.verifier_key},
            "checkpoint": self.checkpoint,
            "query": self.query.to_json(),
            "entries": [e.to_json() for e in self.entries],
            "map": [m.to_json() for m in self.map],
            "items": [v.to_json() for v in self.items],
        }
        if self.receipts is not None:
            out["receipts"] = [r.to_json() for r in self.receipts]
        return out

    def to_bytes(self) -> bytes:
        """The RFC 8785 canonical JSON of the bundle (what ``ledger prove`` writes)."""
        return canonicalize(self.to_json())

    @classmethod
    def from_json(cls, obj: object) -> EvidenceBundle:
        """Parse the v1 shape strictly; raises MalformedBundle. Verifies nothing."""
        from .parse import parse_bundle  # noqa: PLC0415 - parse.py builds this class

        return parse_bundle(obj)


# --- building ------------------------------------------------------------------------------------


def make_bundle(
    *,
    origin: str,
    verifier_key: str,
    checkpoint: str,
    query: EvidenceQuery,
    contents: Iterable[str],
    leaves: Sequence[tuple[bytes, Leaf]],
    proofs: Mapping[int, Sequence[bytes]],
    map_entries: Iterable[MapMember] = (),
) -> EvidenceBundle:
    """Assemble a bundle: verdicts computed with ``licensing`` over exactly ``leaves``.

    ``leaves`` are (stored bytes, parsed leaf) pairs, each once; ``proofs`` maps each seq to its
    inclusion proof against ``checkpoint``; ``map_entries`` are put in key order (use
    ``complete.complete_bundle`` to get a bundle with every required key and entry). Duplicate
    content hashes collapse to their first occurrence. The verifier recomputes the verdicts over
    the same entries, so a server that uses this function and an honest verifier always agree.
    No I/O.
    """
    state = LicenceState.replay((leaf for _, leaf in leaves), query.at)
    unique = list(dict.fromkeys(contents))
    items = tuple(state.verdict(sha256, query.buyer, query.use) for sha256 in unique)
    entries = tuple(
        EvidenceEntry(leaf.seq, data, leaf_hash(data), tuple(proofs[leaf.seq]))
        for data, leaf in sorted(leaves, key=lambda pair: pair[1].seq)
    )
    ordered_map = tuple(sorted(map_entries, key=lambda m: m.key))
    return EvidenceBundle(origin, verifier_key, checkpoint, query, entries, items, ordered_map)


def with_receipts(
    bundle: EvidenceBundle, signer: ReceiptSigner, tree_size: int, root: bytes
) -> EvidenceBundle:
    """``bundle`` with the receipt of each of its entries at ``tree_size`` (the checkpoint's size)
    and ``root`` (the root it signs), made from the entries' own inclusion proofs: the receipts
    add one signature per root (``ReceiptSigner`` signs each root once), no read.

    Raises InvalidParameter for a tree of one entry (no receipt has an empty path, FORMAT §15.3)
    and MalformedProof for a proof of the wrong length. No I/O.
    """
    if tree_size < 2:
        raise InvalidParameter(
            "receipts need a published tree of at least 2 entries: ask again after the next entry"
        )
    receipts = tuple(
        EntryReceipt(e.seq, signer.inclusion(tree_size, e.seq, e.inclusion_proof, root))
        for e in bundle.entries
    )
    return replace(bundle, receipts=receipts)
