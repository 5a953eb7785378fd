"""Log leaves: the exact bytes stored for each entry, and the hash chain that links them.

Leaf layout (all integers big-endian; see docs/FORMAT.md §Leaf)::

    LEAF_MAGIC         23 bytes  b"consent-ledger/leaf/v1\\n"
    seq                u64       position in the log, from 0
    integrated_at      u64       log time, microseconds since 1970-01-01T00:00:00Z
    prev_leaf_hash     32 bytes  leaf hash of entry seq-1; GENESIS_PREV_HASH for seq 0
    statement_length   u32
    statement          the statement's RFC 8785 bytes, exactly as signed
    signature_count    u8        1 or 2
    signatures         per signature: public key (32 bytes) || Ed25519 signature (64 bytes)

The leaf hash is the RFC 9162 leaf hash SHA-256(0x00 || leaf). A leaf is at most 65,535 bytes (the
tlog-tiles entry limit). No I/O here.
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from .errors import ChainError, LeafTooLarge, LedgerError, MalformedLeaf
from .keys import PUBLIC_KEY_CACHE_SIZE, PUBLIC_KEY_SIZE, SIGNATURE_SIZE, PublicKey
from .merkle import leaf_hash as merkle_leaf_hash
from .sigcheck import SignatureCheck, cryptography_check
from .statements import Signature, SignedStatement

LEAF_MAGIC: Final = b"consent-ledger/leaf/v1\n"
GENESIS_PREV_HASH: Final = bytes(32)
MAX_LEAF_SIZE: Final = 65535
_HEADER: Final = struct.Struct(">QQ32sI")
_SIG_SIZE: Final = PUBLIC_KEY_SIZE + SIGNATURE_SIZE
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)
#: Log times end with the year 9999 (the JSON spelling has four year digits).
MAX_LOG_TIME: Final = 253402300799999999
#: Sequence numbers fit a signed 64-bit database column.
MAX_SEQ: Final = 2**63 - 1
#: Fixed bytes around the statement: magic, header, signature count.
LEAF_OVERHEAD: Final = len(LEAF_MAGIC) + _HEADER.size + 1
_STATEMENT_OFFSET: Final = len(LEAF_MAGIC) + _HEADER.size


def micros_from_datetime(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return (moment - _EPOCH) // _MICROSECOND


def datetime_from_micros(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def format_log_time(micros: int) -> str:
    """RFC 3339 UTC with microseconds, the JSON spelling of a log time."""
    return datetime_from_micros(micros).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class Leaf:
    seq: int
    integrated_at: int  # microseconds since the Unix epoch, UTC
    prev_hash: bytes
    signed: SignedStatement

    def to_bytes(self) -> bytes:
        """Serialize; raises LeafTooLarge beyond MAX_LEAF_SIZE, MalformedLeaf for bad fields."""
        _check_header(self.seq, self.integrated_at, self.prev_hash)
        stmt = self.signed.statement_bytes
        parts = [
            LEAF_MAGIC,
            _HEADER.pack(self.seq, self.integrated_at, self.prev_hash, len(stmt)),
            stmt,
            bytes([len(self.signed.signatures)]),
        ]
        parts.extend(s.public_key.raw + s.signature for s in self.signed.signatures)
        data = b"".join(parts)
        if len(data) > MAX_LEAF_SIZE:
            raise LeafTooLarge(
                f"the entry would be {len(data)} bytes; a leaf holds at most {MAX_LEAF_SIZE}"
                " (split large content lists into several grants)"
            )
        return data

    @property
    def integrated_datetime(self) -> datetime:
        return datetime_from_micros(self.integrated_at)


def leaf_size(signed: SignedStatement) -> int:
    """The size the leaf for ``signed`` will have (without building it)."""
    return LEAF_OVERHEAD + len(signed.statement_bytes) + _SIG_SIZE * len(signed.signatures)


def leaf_hash(leaf: bytes) -> bytes:
    """RFC 9162 §2.1.1 leaf hash: SHA-256(0x00 || leaf)."""
    return merkle_leaf_hash(leaf)


@dataclass(frozen=True)
class LeafHeader:
    seq: int
    integrated_at: int
    prev_hash: bytes


def leaf_header(data: bytes) -> LeafHeader:
    """The fixed header of a leaf, without parsing or verifying the statement."""
    if not data.startswith(LEAF_MAGIC):
        raise MalformedLeaf("leaf does not start with the v1 magic")
    if len(data) < len(LEAF_MAGIC) + _HEADER.size:
        raise MalformedLeaf("leaf is truncated")
    seq, integrated_at, prev_hash, _ = _HEADER.unpack_from(data, len(LEAF_MAGIC))
    _check_header(seq, integrated_at, prev_hash)
    return LeafHeader(seq, integrated_at, prev_hash)


def _check_header(seq: int, integrated_at: int, prev_hash: bytes) -> None:
    if not 0 <= seq <= MAX_SEQ:
        raise MalformedLeaf(f"seq must be in 0..2^63-1, not {seq}")
    if not 0 <= integrated_at <= MAX_LOG_TIME:
        raise MalformedLeaf("integrated_at is outside 1970..9999")
    if len(prev_hash) != 32:
        raise MalformedLeaf("prev_leaf_hash must be 32 bytes")


@dataclass(frozen=True)
class LeafParts:
    """A leaf split into its fields, nothing verified yet."""

    seq: int
    integrated_at: int
    prev_hash: bytes
    statement_bytes: bytes
    signatures: tuple[tuple[bytes, bytes], ...]  # (public key, signature)


def split_leaf(data: bytes) -> LeafParts:
    """Split leaf bytes into fields; raises MalformedLeaf. Verifies nothing else."""
    return LeafParts(*split_leaf_fields(data))


def split_leaf_fields(
    data: bytes,
) -> tuple[int, int, bytes, bytes, tuple[tuple[bytes, bytes], ...]]:
    """``split_leaf`` as a plain tuple in the order of ``LeafParts`` (for loops over many)."""
    size = len(data)
    if size > MAX_LEAF_SIZE:
        raise MalformedLeaf(f"leaf is {size} bytes, over the {MAX_LEAF_SIZE}-byte limit")
    if not data.startswith(LEAF_MAGIC):
        raise MalformedLeaf("leaf does not start with the v1 magic")
    if size < _STATEMENT_OFFSET:
        raise MalformedLeaf("leaf is truncated")
    seq, integrated_at, prev_hash, stmt_len = _HEADER.unpack_from(data, len(LEAF_MAGIC))
    if seq > MAX_SEQ or integrated_at > MAX_LOG_TIME:  # both unsigned
        _check_header(seq, integrated_at, prev_hash)
    end = _STATEMENT_OFFSET + stmt_len
    if end >= size:
        raise MalformedLeaf("leaf is truncated")
    count = data[end]
    if count not in (1, 2) or size != end + 1 + count * _SIG_SIZE:
        raise MalformedLeaf("leaf signature block has the wrong size")
    sigs = tuple(
        (data[o : o + PUBLIC_KEY_SIZE], data[o + PUBLIC_KEY_SIZE : o + _SIG_SIZE])
        for o in range(end + 1, size, _SIG_SIZE)
    )
    return seq, integrated_at, prev_hash, data[_STATEMENT_OFFSET:end], sigs


def parse_leaf(data: bytes, *, check: SignatureCheck = cryptography_check) -> Leaf:
    """Parse leaf bytes and verify the statement and its signatures inside.

    The statement bytes must be the canonical form of a valid statement, signed by the keys it
    requires; signatures are verified with ``check`` (``sigcheck``: ``cryptography`` unless the
    caller passes a primitive that decides the same, such as ``ledger.sigverify.nacl_check``).
    Raises MalformedLeaf for framing errors and invalid public keys; InvalidStatement,
    MalformedJSON or BadSignature for the statement. Does not check the chain link (see
    ``check_chain``).
    """
    seq, integrated_at, prev_hash, statement_bytes, pairs = split_leaf_fields(data)
    signatures = tuple([Signature(_leaf_key(pk), sig) for pk, sig in pairs])
    signed = SignedStatement.from_statement_bytes(statement_bytes, signatures, check=check)
    return Leaf(seq, integrated_at, prev_hash, signed)


@functools.lru_cache(maxsize=PUBLIC_KEY_CACHE_SIZE)
def _leaf_key(public_key: bytes) -> PublicKey:
    """The key of a leaf's signature; raises MalformedLeaf. Remembered (refusals are not): a
    log holds many signatures by few keys."""
    try:
        return PublicKey(public_key)
    except LedgerError as e:
        raise MalformedLeaf(f"leaf holds an invalid public key: {e.message}") from e


def check_chain(leaf: Leaf, prev_leaf_hash: bytes | None, prev_integrated_at: int = 0) -> None:
    """Check one chain link: ``leaf.prev_hash`` names the previous leaf and time does not go back.

    ``prev_leaf_hash`` is None for seq 0. Raises ChainError.
    """
    expected = GENESIS_PREV_HASH if leaf.seq == 0 else prev_leaf_hash
    if expected is None:
        raise ChainError(f"entry {leaf.seq}: the previous leaf hash is needed to check the chain")
    if leaf.prev_hash != expected:
        raise ChainError(f"entry {leaf.seq}: prev_leaf_hash does not match entry {leaf.seq - 1}")
    if leaf.integrated_at < prev_integrated_at:
        raise ChainError(
            f"entry {leaf.seq}: integration time goes back before entry {leaf.seq - 1}"
        )
