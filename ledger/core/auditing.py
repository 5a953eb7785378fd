"""What an auditor needs to check a whole log as a stream, in constant memory.

* ``CompactRange``: the RFC 9162 Merkle tree head of a growing list of leaf hashes, kept as the
  stack of complete-subtree roots that make up the tree (at most log2(n) + 1 hashes). Appending a
  leaf and reading the root are both O(log n); nothing else is remembered. It can also serve the
  border hashes that ``merkle.stored_hashes_for_leaves`` reads, so an auditor can recompute every
  stored subtree hash of a log (tlog layout) without holding the tree.
* ``check_leaf_signatures``: the fast per-entry check for a full audit: split the leaf, verify
  every Ed25519 signature over its statement bytes, and bind the signing keys to the signers the
  statement names (the same rule as ``Statement.required_signers``). It does *not* validate the
  statement's schema or that its bytes are canonical: ``leaf.parse_leaf`` does all of that at
  about a third of the speed (the audit's ``strict`` mode). Signatures are verified with
  ``cryptography`` unless a faster primitive is passed in (the audit passes PyNaCl's when it is
  installed; see ``ledger/sigverify.py``).
* What both audits share, the one over HTTP (``ledger.client.audit``) and the one over the
  database tables (``ledger.server.dbaudit``): the failure codes (``FailureCode``, ``Failure``,
  ``AuditStop``), the per-entry checks (``check_leaf``; ``check_entry`` for an entry as
  ``GET /v1/entries`` lists it) and the in-order fold of the chain and the tree (``ChainState``).

Pure: no I/O.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .encoding import b64_decode, b64_encode
from .errors import BadSignature, InvalidParameter, InvalidStatement, LedgerError, MalformedLeaf
from .keys import PublicKey, key_id
from .leaf import (
    GENESIS_PREV_HASH,
    LeafParts,
    format_log_time,
    leaf_hash,
    parse_leaf,
    split_leaf,
)
from .logstate import AcceptanceReplay
from .mapaudit import MapDifference
from .merkle import EMPTY_ROOT, HASH_SIZE, NODE_PREFIX, stored_hash_index
from .sigcheck import SignatureCheck, cryptography_check
from .statements import STATEMENT_SIGNING_CONTEXT, Statement, statement_hash

__all__ = [
    "AuditStop",
    "ChainState",
    "CompactRange",
    "EntryProblem",
    "Failure",
    "FailureCode",
    "LeafFacts",
    "SignatureCheck",
    "check_entry",
    "check_leaf",
    "check_leaf_signatures",
    "check_part_signatures",
    "map_missing_failure",
    "map_root_failure",
    "map_version_failure",
    "required_signer_ids",
]


class CompactRange:
    """The Merkle tree over leaves [0, size) as its complete subtrees, largest (leftmost) first.

    The subtrees are those of RFC 9162 §2.1.1's split of [0, size): one per set bit of ``size``,
    so ``len(self.roots) == size.bit_count()``. Implements ``merkle.HashReader`` for exactly
    those subtrees (the border a new leaf joins), which is what ``stored_hashes_for_leaves``
    reads. No I/O.
    """

    __slots__ = ("roots", "size")

    def __init__(self) -> None:
        self.size = 0
        self.roots: list[bytes] = []

    def append(self, leaf_hash: bytes) -> None:
        """Add the next leaf; merges the subtrees it completes (one per trailing 1 bit of size)."""
        if len(leaf_hash) != HASH_SIZE:
            raise InvalidParameter(f"leaf hash must be {HASH_SIZE} bytes")
        h, n, roots = leaf_hash, self.size, self.roots
        while n & 1:
            h = _node(roots.pop(), h)
            n >>= 1
        roots.append(h)
        self.size += 1

    def root(self) -> bytes:
        """MTH(D[size]) (RFC 9162 §2.1.1): the subtree roots folded right to left."""
        if not self.roots:
            return EMPTY_ROOT
        h = self.roots[-1]
        for left in reversed(self.roots[:-1]):
            h = _node(left, h)
        return h

    def border_indexes(self) -> list[int]:
        """The tlog storage index of each subtree root, in the order of ``roots``."""
        out, start = [], 0
        for level in range((self.size).bit_length() - 1, -1, -1):
            if self.size >> level & 1:
                out.append(stored_hash_index(level, start >> level))
                start += 1 << level
        return out

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        """``merkle.HashReader``: only the border subtrees are known (InvalidParameter else)."""
        known = dict(zip(self.border_indexes(), self.roots, strict=True))
        try:
            return [known[i] for i in indexes]
        except KeyError as e:
            raise InvalidParameter(f"hash index {e.args[0]} is not on the border") from None


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def required_signer_ids(body: Any) -> tuple[str, ...]:
    """The key ids that must sign ``body``, in order (``Statement.required_signers``).

    ``key.rotate`` is signed by the old key (the signer) and then the new one; every other type by
    its signer alone. Raises InvalidStatement if ``signer`` (or ``new_public_key``) is missing.
    """
    if not isinstance(body, dict) or not isinstance(body.get("signer"), str):
        raise InvalidStatement("statement has no signer")
    if body.get("type") != "key.rotate":
        return (body["signer"],)
    try:
        new_key = b64_decode(body.get("new_public_key"), size=32, what="new_public_key")
    except LedgerError as e:
        raise InvalidStatement(f"key.rotate: {e.message}") from e
    return (body["signer"], key_id(new_key))


def check_leaf_signatures(
    data: bytes, check: SignatureCheck = cryptography_check
) -> tuple[LeafParts, dict[str, Any]]:
    """Split ``data`` and verify its signatures and their signers; returns the parts and body.

    Signatures are verified with ``cryptography`` unless another primitive ``check`` is given.
    Raises MalformedLeaf (framing, or a public key that is not a valid Ed25519 key),
    InvalidStatement (statement bytes that are not a JSON object with a signer) or BadSignature
    (a signature that does not verify, or keys other than the required signers, in order).
    """
    parts = split_leaf(data)
    return parts, check_part_signatures(parts, check)


def check_part_signatures(
    parts: LeafParts, check: SignatureCheck = cryptography_check
) -> dict[str, Any]:
    """``check_leaf_signatures`` for a leaf already split; returns the statement body."""
    try:
        body = json.loads(parts.statement_bytes)
    except ValueError as e:  # UnicodeDecodeError is a ValueError too
        raise InvalidStatement("statement bytes are not JSON") from e
    expected = required_signer_ids(body)
    key_ids = [_key_id(raw) for raw, _ in parts.signatures]
    if tuple(key_ids) != expected:
        raise BadSignature(
            f"{body.get('type')} must be signed by {len(expected)} key(s) in this order: "
            + ", ".join(e[:16] + "…" for e in expected)
        )
    message = STATEMENT_SIGNING_CONTEXT + parts.statement_bytes
    for kid, (raw, signature) in zip(key_ids, parts.signatures, strict=True):
        if not check(raw, message, signature):
            raise BadSignature(f"signature by key {kid[:16]}… does not verify")
    return dict(body)


@functools.lru_cache(maxsize=4096)
def _key_id(raw: bytes) -> str:
    """The key id of a raw key that ``PublicKey`` accepts (small-order and non-canonical keys
    are refused). Cached: a party signs many entries with one key, and loading a key costs about
    a tenth of a verification; the cache is bounded."""
    try:
        return PublicKey(raw).key_id
    except LedgerError as e:
        raise MalformedLeaf(f"leaf holds an invalid public key: {e.message}") from e


# --- what an audit found: shared by the HTTP audit and the database audit -----------------------


class FailureCode(StrEnum):
    """Stable names of what an audit found wrong (README §Auditing lists them)."""

    ENTRY_MISSING = "entry_missing"
    SEQ_MISMATCH = "seq_mismatch"
    LEAF_MALFORMED = "leaf_malformed"
    CHAIN_BROKEN = "chain_broken"
    TIME_REGRESSION = "time_regression"
    SIGNATURE_INVALID = "signature_invalid"
    STATEMENT_INVALID = "statement_invalid"
    LEAF_HASH_MISMATCH = "leaf_hash_mismatch"
    STATEMENT_HASH_MISMATCH = "statement_hash_mismatch"
    LISTING_MISMATCH = "listing_mismatch"
    RULE_VIOLATED = "rule_violated"
    CHECKPOINT_INVALID = "checkpoint_invalid"
    CHECKPOINT_MISSING = "checkpoint_missing"
    ROOT_MISMATCH = "root_mismatch"
    CONSISTENCY_INVALID = "consistency_invalid"
    ROLLBACK = "rollback"
    FORK = "fork"
    # the licence map (FORMAT §14.7): both audits recompute it from the entries
    MAP_ROOT_MISMATCH = "map_root_mismatch"
    MAP_ROOT_MISSING = "map_root_missing"
    MAP_NODE_MISMATCH = "map_node_mismatch"
    # the database audit only (ledger.server.dbaudit)
    LOG_KEY_MISMATCH = "log_key_mismatch"
    TREE_HASH_MISMATCH = "tree_hash_mismatch"
    TREE_HASH_MISSING = "tree_hash_missing"
    TREE_HASH_EXTRA = "tree_hash_extra"
    CHECKPOINT_ROW_MISMATCH = "checkpoint_row_mismatch"
    CHECKPOINT_BEYOND_LOG = "checkpoint_beyond_log"


@dataclass(frozen=True)
class Failure:
    """One thing found wrong: its code, where (seq or tree size; table and row for a database
    audit; the licence map key, as ``licmap.describe_key`` names it, for the map), and a sentence
    saying what differs."""

    code: FailureCode
    message: str
    seq: int | None = None
    tree_size: int | None = None
    table: str | None = None
    row: str | None = None
    key: str | None = None

    def where(self) -> str:
        if self.table is not None:
            return f"table {self.table}, {self.row}"
        if self.seq is not None:
            return f"seq {self.seq}"
        return "" if self.tree_size is None else f"tree size {self.tree_size}"

    def __str__(self) -> str:
        where = self.where()
        return f"[{self.code}] {where + ': ' if where else ''}{self.message}"

    def to_json(self) -> dict[str, Any]:
        fields = ("code", "seq", "tree_size", "table", "row", "key")
        return {k: getattr(self, k) for k in fields} | {"message": self.message}


class AuditStop(Exception):
    """Internal: carries the first failure out of the streaming loops."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(str(failure))
        self.failure = failure


# --- per entry: everything that needs only the entry itself (runs in worker processes) ---------


@dataclass(frozen=True)
class LeafFacts:
    """What one checked leaf says, for the in-order checks and for comparing listed fields."""

    seq: int
    integrated_at: int
    prev_hash: bytes
    leaf_hash: bytes
    statement_hash: bytes
    body: Any
    signatures: tuple[tuple[bytes, bytes], ...]


class EntryProblem(Exception):
    """A per-entry check failed; ``header`` is (prev_hash, integrated_at) when the leaf split."""

    def __init__(
        self, code: FailureCode, message: str, header: tuple[bytes, int] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.header = header


def check_leaf(
    position: int, leaf: bytes, *, strict: bool = False, check: SignatureCheck = cryptography_check
) -> LeafFacts:
    """Check one leaf on its own (framing, seq, signatures; ``strict``: the statement too).

    Signatures are verified with ``check`` (``sigcheck``; the audit passes ``ledger.sigverify``'s
    choice). The chain link and time order need the previous entry: ``ChainState.link`` checks
    them. Raises ``EntryProblem``. No I/O.
    """
    try:
        parts = split_leaf(leaf)
    except LedgerError as e:
        raise EntryProblem(FailureCode.LEAF_MALFORMED, e.message) from e
    header = (parts.prev_hash, parts.integrated_at)
    if parts.seq != position:
        raise EntryProblem(FailureCode.SEQ_MISMATCH, f"the leaf says seq {parts.seq}", header)
    try:
        if strict:
            body = dict(parse_leaf(leaf, check=check).signed.body)
        else:
            body = check_part_signatures(parts, check)
    except (BadSignature, MalformedLeaf) as e:
        raise EntryProblem(FailureCode.SIGNATURE_INVALID, e.message, header) from e
    except LedgerError as e:
        raise EntryProblem(FailureCode.STATEMENT_INVALID, e.message, header) from e
    return LeafFacts(
        parts.seq,
        parts.integrated_at,
        parts.prev_hash,
        leaf_hash(leaf),
        statement_hash(parts.statement_bytes),
        body,
        parts.signatures,
    )


def _check_listing(facts: LeafFacts, entry: dict[str, Any]) -> None:
    """The fields the API lists beside the leaf must be the leaf's own (clients read them)."""
    header = (facts.prev_hash, facts.integrated_at)
    for name, code, actual in (
        ("leaf_hash", FailureCode.LEAF_HASH_MISMATCH, facts.leaf_hash.hex()),
        ("statement_hash", FailureCode.STATEMENT_HASH_MISMATCH, facts.statement_hash.hex()),
    ):
        if entry.get(name) != actual:
            message = f"listed {name} {entry.get(name)} is not the leaf's ({actual})"
            raise EntryProblem(code, message, header)
    signatures = [
        {"public_key": b64_encode(k), "signature": b64_encode(s)} for k, s in facts.signatures
    ]
    for name, value in (
        ("type", facts.body.get("type")),
        ("integrated_at", _log_time(facts.integrated_at)),
        ("statement", facts.body),
        ("signatures", signatures),
    ):
        if entry.get(name) != value:
            raise EntryProblem(
                FailureCode.LISTING_MISMATCH, f"listed {name} differs from the leaf's", header
            )


# Entries appended together share their log time: format each time once.
_log_time = functools.lru_cache(maxsize=1024)(format_log_time)


def check_entry(
    position: int, entry: Any, *, strict: bool = False, check: SignatureCheck = cryptography_check
) -> LeafFacts:
    """Check one entry as ``GET /v1/entries`` lists it. Raises ``EntryProblem``."""
    if not isinstance(entry, dict):
        raise EntryProblem(FailureCode.LEAF_MALFORMED, "the listed entry is not an object")
    listed = entry.get("seq")
    if listed != position:
        if isinstance(listed, int) and listed > position:
            raise EntryProblem(
                FailureCode.ENTRY_MISSING, f"not served: seq {listed} is listed in its place"
            )
        raise EntryProblem(FailureCode.SEQ_MISMATCH, f"listed with seq {listed!r}")
    try:
        leaf = b64_decode(entry.get("leaf"), what="leaf")
    except LedgerError as e:
        raise EntryProblem(FailureCode.LEAF_MALFORMED, e.message) from e
    facts = check_leaf(position, leaf, strict=strict, check=check)
    _check_listing(facts, entry)
    return facts


# --- in order: the chain and the tree ------------------------------------------------------------


@dataclass
class ChainState:
    """The audited prefix: its size, last leaf hash and time, and its compact Merkle range."""

    size: int = 0
    prev_hash: bytes = GENESIS_PREV_HASH
    prev_time: int = 0
    tree: CompactRange = field(default_factory=CompactRange)

    def link(self, prev_hash: bytes, integrated_at: int) -> None:
        """Check that the next entry (seq ``size``) chains on; raises ``AuditStop``."""
        seq = self.size
        if prev_hash != self.prev_hash:
            what = "the genesis value" if seq == 0 else f"the leaf hash of entry {seq - 1}"
            message = f"prev_leaf_hash is not {what}"
            raise AuditStop(Failure(FailureCode.CHAIN_BROKEN, message, seq=seq))
        if integrated_at < self.prev_time:
            raise AuditStop(
                Failure(
                    FailureCode.TIME_REGRESSION,
                    f"integrated at {format_log_time(integrated_at)}, before entry {seq - 1} "
                    f"({format_log_time(self.prev_time)})",
                    seq=seq,
                )
            )

    def push(self, leaf_hash_: bytes, integrated_at: int) -> None:
        self.tree.append(leaf_hash_)
        self.prev_hash, self.prev_time = leaf_hash_, integrated_at
        self.size += 1


def check_rules(
    rules: AcceptanceReplay, seq: int, stmt: Statement, h: bytes, integrated_at: int
) -> None:
    """Replay the append rules for entry ``seq`` (its statement already verified and parsed);
    raises ``AuditStop`` (``rule_violated``) if the log should have refused it. No I/O."""
    refusal = rules.step(stmt, h, integrated_at)
    if refusal is not None:
        message = f"the log should have refused this {stmt.type_name}: {refusal}"
        raise AuditStop(Failure(FailureCode.RULE_VIOLATED, message, seq=seq))


# --- the licence map: what both audits say when a checkpoint's map root is wrong -----------------


def map_root_failure(
    size: int,
    root: bytes,
    claimed: bytes,
    diff: MapDifference | None,
    unknown: str | None,
    **where: Any,
) -> Failure:
    """``map_root_mismatch`` for the checkpoint of ``size``: it commits ``claimed``, the map of
    its entries has ``root``; ``diff`` is the first key that differs (``mapaudit``), or
    ``unknown`` says why it could not be found. ``where`` adds the table and row."""
    if diff is not None:
        first = f"the first key that differs is {diff.describe()}"
    else:
        first = f"the first key that differs could not be found ({unknown})"
    message = (
        f"the checkpoint commits licence map root {claimed.hex()}, the map of its {size} entries "
        f"has root {root.hex()}; {first}. The log signed a licence map its entries do not give: "
        "map proofs and evidence against this checkpoint cannot be trusted. Keep this output and "
        "the checkpoint, report them to the log's operator and witnesses, and verify evidence "
        "only against checkpoints an audit passed"
    )
    return Failure(
        FailureCode.MAP_ROOT_MISMATCH,
        message,
        tree_size=size,
        key=None if diff is None else diff.key_text(),
        **where,
    )


def map_missing_failure(size: int, since: int, why: str, **where: Any) -> Failure:
    """``map_root_missing``: the checkpoint of ``size`` commits no map root although the one of
    size ``since`` did (a log that commits its map does so in every later checkpoint)."""
    message = (
        f"{why}; the checkpoint of size {since} committed one, and a log commits its licence map "
        "in every checkpoint after the first that does: this checkpoint hides the map from "
        "verifiers. Report it to the log's operator and witnesses"
    )
    return Failure(FailureCode.MAP_ROOT_MISSING, message, tree_size=size, **where)


def map_version_failure(size: int, why: str, **where: Any) -> Failure:
    """``map_root_mismatch``: the checkpoint of ``size`` commits a map version lower than an
    earlier checkpoint's (FORMAT §14.6: a log's map version never goes back); ``why`` says so."""
    message = (
        f"{why}. The log signed a map of an older version after a newer one: map proofs against "
        "this checkpoint cannot be trusted. Report it to the log's operator and witnesses"
    )
    return Failure(FailureCode.MAP_ROOT_MISMATCH, message, tree_size=size, **where)
