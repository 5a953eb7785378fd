"""The licence map: a verifiable map (``vmap``) derived from the log's entries alone (FORMAT §14).

For every content hash, grant, grant id, party and key that the log's statements mention, the map
holds the ascending list of the seqs of the entries that mention it in that role:

=========  =====================  ===============================================================
tag        id (bytes)             the entries listed
=========  =====================  ===============================================================
content    SHA-256 of the file    every ``grant`` whose ``content`` lists this hash
grant      grant statement hash   the ``grant`` itself, every ``grant.accept`` / ``grant.revoke``
                                  whose ``grant_hash`` names it
grant_id   the UUID's 16 bytes    every ``grant`` carrying this ``grant_id``
party      the party id           the party's ``party.register``, ``key.rotate``, ``key.revoke``
key        the key id             every key entry naming the key: its registration, a rotation
                                  from or to it, a revocation signed by it or revoking it
party_     the party id           every ``grant`` the party made (its signer's party) or received
grants                            (its buyer key's party); map version 2 only
=========  =====================  ===============================================================

**Versions** (FORMAT §14.6): version 2 (``MAP_VERSION``, what a log derives now) holds every key
above; version 1 is the same map without ``party_grants`` keys, which the checkpoints a log
signed before version 2 commit. The checkpoint's map line names its version
(``checkpoint_map``); ``entry_keys``, ``LicenceMap`` and ``derive_map`` take the version to
derive.

**Derived from the statements' contents, not from the log's rules.** ``entry_keys`` looks only at
what a statement says, never at whether the log should have accepted it: a grant signed by a
revoked key, an acceptance of a grant that does not exist, a second registration of a key are all
listed like any other entry. The log never logs such statements (FORMAT §3.6), so for an honest
log this changes nothing; for a hostile log it makes the map a well-defined function of the
entries, which any auditor's replay computes alike, and it lists every entry that mentions a
grant or a party, so that a verifier sees the refused-looking entries too and applies the rules
itself. The one piece of state is which party each key belongs to (``KeyParties``), itself a
function of the entries: a registration attaches its key to the party it creates, a rotation
attaches the new key to the old key's party, a key already attached stays where it is, and a key
never attached counts as its own party.

``apply`` (incremental, any batch) and ``derive_map`` (from scratch) both fold ``entry_keys``
over the entries, so they cannot disagree; the tests check that they give the same root. No I/O.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Final, Protocol

from .checkpoint import Checkpoint
from .encoding import HASH_SIZE, b64_decode, b64_encode, hash_from_hex
from .errors import InvalidEncoding, InvalidParameter, MapRootMissing
from .keys import parse_key_id
from .leaf import MAX_SEQ, Leaf
from .statements import (
    Grant,
    GrantAccept,
    GrantRevoke,
    KeyRevoke,
    KeyRotate,
    PartyRegister,
    Statement,
)
from .vmap import MapNodeStore, MapProof, SparseMerkleMap

__all__ = [
    "KEY_TAGS",
    "MAP_LINE_PREFIX",
    "MAP_LINE_PREFIXES",
    "MAP_VERSION",
    "TAG_CONTENT",
    "TAG_GRANT",
    "TAG_GRANT_ID",
    "TAG_KEY",
    "TAG_PARTY",
    "TAG_PARTY_GRANTS",
    "AuditedStatement",
    "KeyParties",
    "LicenceMap",
    "MapEntry",
    "checkpoint_map",
    "checkpoint_map_root",
    "content_key",
    "decode_seqs",
    "derive_map",
    "describe_key",
    "encode_seqs",
    "entry_keys",
    "grant_id_key",
    "grant_key",
    "key_key",
    "map_checkpoint",
    "map_line",
    "note_map_version",
    "pack_seq",
    "party_grants_key",
    "party_key",
]

#: The first byte of every map key says what the rest names (FORMAT §14.1).
TAG_CONTENT: Final = 0x01
TAG_GRANT: Final = 0x02
TAG_GRANT_ID: Final = 0x03
TAG_PARTY: Final = 0x04
TAG_KEY: Final = 0x05
TAG_PARTY_GRANTS: Final = 0x06  # map version 2
#: tag -> (name, length of the id that follows)
KEY_TAGS: Final[Mapping[int, tuple[str, int]]] = {
    TAG_CONTENT: ("content", 32),
    TAG_GRANT: ("grant", 32),
    TAG_GRANT_ID: ("grant_id", 16),
    TAG_PARTY: ("party", 32),
    TAG_KEY: ("key", 32),
    TAG_PARTY_GRANTS: ("party_grants", 32),
}
_SEQ: Final = struct.Struct(">Q")
#: One seq as a map value spells it (u64 big-endian): a value is these, ascending.
pack_seq: Final = _SEQ.pack
_B_CONTENT: Final = bytes([TAG_CONTENT])
_B_GRANT: Final = bytes([TAG_GRANT])
_B_GRANT_ID: Final = bytes([TAG_GRANT_ID])
_B_PARTY: Final = bytes([TAG_PARTY])
_B_KEY: Final = bytes([TAG_KEY])
_B_PARTY_GRANTS: Final = bytes([TAG_PARTY_GRANTS])


#: The map version a log derives and commits now (FORMAT §14.6): version 1 lacks ``party_grants``.
MAP_VERSION: Final = 2
#: The checkpoint extension line that commits the map root of each version (FORMAT §6.1, §14.7).
MAP_LINE_PREFIXES: Final[Mapping[int, str]] = {
    1: "consent-ledger/map/v1 ",
    2: "consent-ledger/map/v2 ",
}
#: The line a log writes now.
MAP_LINE_PREFIX: Final = MAP_LINE_PREFIXES[MAP_VERSION]


# --- The root in checkpoints ---------------------------------------------------------------------


def map_line(map_root: bytes, version: int = MAP_VERSION) -> str:
    """The extension line ``consent-ledger/map/v2 <base64 root>`` of a checkpoint (``v1`` for
    ``version=1``, which only tests and examples of old checkpoints write)."""
    if len(map_root) != HASH_SIZE:
        raise InvalidParameter(f"a map root is {HASH_SIZE} bytes")
    if version not in MAP_LINE_PREFIXES:
        raise InvalidParameter(f"no licence map version {version}")
    return MAP_LINE_PREFIXES[version] + b64_encode(map_root)


def map_checkpoint(
    origin: str, tree_size: int, root_hash: bytes, map_root: bytes, version: int = MAP_VERSION
) -> Checkpoint:
    """The checkpoint the log signs: its tree head and the map line, the only extension line."""
    return Checkpoint(origin, tree_size, root_hash, (map_line(map_root, version),))


def checkpoint_map(checkpoint: Checkpoint) -> tuple[int, bytes]:
    """The map version and root a checkpoint commits; raises MapRootMissing unless exactly one
    extension line starts with a ``MAP_LINE_PREFIXES`` prefix and holds canonical base64 of 32
    bytes (other extension lines are ignored, as tlog-checkpoint asks)."""
    lines = [
        (version, x[len(prefix) :])
        for x in checkpoint.extensions
        for version, prefix in MAP_LINE_PREFIXES.items()
        if x.startswith(prefix)
    ]
    if len(lines) != 1:
        raise MapRootMissing(
            f"checkpoint of size {checkpoint.tree_size} carries {len(lines)} map root lines, "
            "not one: it is not from a log that commits its licence map"
        )
    version, text = lines[0]
    try:
        return version, b64_decode(text, size=HASH_SIZE, what="map root")
    except InvalidEncoding as e:
        raise MapRootMissing(f"checkpoint's map root line is malformed: {e}") from e


def checkpoint_map_root(checkpoint: Checkpoint) -> bytes:
    """The map root a checkpoint commits, of either version (``checkpoint_map``)."""
    return checkpoint_map(checkpoint)[1]


def note_map_version(note: str) -> int | None:
    """The map version a stored checkpoint note's map line names; None without one (a note
    signed before the map). Reads the lines only: the caller trusts the note (its own)."""
    body = note.split("\n\n", 1)[0]
    for line in body.split("\n")[3:]:
        for version, prefix in MAP_LINE_PREFIXES.items():
            if line.startswith(prefix):
                return version
    return None


# --- Keys and values -----------------------------------------------------------------------------


def content_key(sha256_hex: str) -> bytes:
    """The map key of a content hash (64 lowercase hex digits); raises InvalidEncoding."""
    return _B_CONTENT + hash_from_hex(sha256_hex, "content hash")


def grant_key(grant_hash: bytes | str) -> bytes:
    """The map key of a grant, named by its statement hash (raw or 64 lowercase hex digits)."""
    raw = grant_hash if isinstance(grant_hash, bytes) else hash_from_hex(grant_hash, "grant hash")
    if len(raw) != 32:
        raise InvalidEncoding("a grant hash is 32 bytes")
    return _B_GRANT + raw


def grant_id_key(grant_id: str) -> bytes:
    """The map key of a grant id (a lowercase UUID, as in a grant statement)."""
    try:
        parsed = uuid.UUID(grant_id)
    except (ValueError, TypeError, AttributeError) as e:
        raise InvalidEncoding("a grant id is a lowercase UUID") from e
    if str(parsed) != grant_id:
        raise InvalidEncoding("a grant id is a lowercase UUID")
    return _B_GRANT_ID + parsed.bytes


def party_key(party_id: str) -> bytes:
    """The map key of a party, named by its id (the key id of the key that registered it)."""
    return _B_PARTY + bytes.fromhex(parse_key_id(party_id, "party id"))


def key_key(key_id: str) -> bytes:
    """The map key of a party key, named by its key id."""
    return _B_KEY + bytes.fromhex(parse_key_id(key_id))


def party_grants_key(party_id: str) -> bytes:
    """The map key of the grants a party made or received (map version 2), named by its id."""
    return _B_PARTY_GRANTS + bytes.fromhex(parse_key_id(party_id, "party id"))


def describe_key(key: bytes) -> str:
    """``"content 3220…eab"``-style text for a map key (audit messages); raises InvalidEncoding."""
    spec = KEY_TAGS.get(key[0]) if key else None
    if spec is None or len(key) != 1 + spec[1]:
        raise InvalidEncoding("not a licence map key")
    ident = str(uuid.UUID(bytes=key[1:])) if key[0] == TAG_GRANT_ID else key[1:].hex()
    return f"{spec[0]} {ident}"


def encode_seqs(seqs: Iterable[int]) -> bytes:
    """A value: the seqs as ``u64`` big-endian, strictly ascending, at least one."""
    ordered = list(seqs)
    if not ordered or any(b <= a for a, b in pairwise(ordered)):
        raise InvalidParameter("a map value lists one or more seqs, strictly ascending")
    if ordered[0] < 0 or ordered[-1] > MAX_SEQ:
        raise InvalidParameter("a seq lies in 0..2^63-1")
    return b"".join(_SEQ.pack(s) for s in ordered)


def decode_seqs(value: bytes) -> tuple[int, ...]:
    """The seqs of a value; raises InvalidEncoding unless it is exactly ``encode_seqs``' output."""
    if not value or len(value) % 8:
        raise InvalidEncoding("a map value is one or more 8-byte seqs")
    seqs = tuple(s for (s,) in _SEQ.iter_unpack(value))
    if any(b <= a for a, b in pairwise(seqs)) or seqs[-1] > MAX_SEQ:
        raise InvalidEncoding("a map value's seqs must be strictly ascending and below 2^63")
    return seqs


# --- Derivation ----------------------------------------------------------------------------------


@dataclass
class KeyParties:
    """Which party each key was attached to, as the entries so far say (key id -> party id)."""

    attached: dict[str, str] = field(default_factory=dict)

    def party_of(self, key_id: str) -> str:
        """The party ``key_id`` is attached to; a key never attached is its own party."""
        return self.attached.get(key_id, key_id)


class MapEntry(Protocol):
    """What the derivation reads of an entry: its statement and its statement hash.
    ``SignedStatement`` is one; an audit that verified the signatures itself passes a lighter
    one (``AuditedStatement``)."""

    @property
    def statement(self) -> Statement: ...

    @property
    def statement_hash(self) -> bytes: ...


@dataclass(frozen=True)
class AuditedStatement:
    """A ``MapEntry`` for a statement whose signatures the caller has verified."""

    statement: Statement
    statement_hash: bytes


def entry_keys(signed: MapEntry, parties: KeyParties, version: int = MAP_VERSION) -> list[bytes]:
    """The map keys under which the entry holding ``signed`` is listed, each once (FORMAT §14.2),
    in the map of ``version`` (1 lists no ``party_grants`` keys).

    The single rule of the derivation. Reads the statement only (never the log's acceptance
    rules) and updates ``parties`` for registrations and rotations: a key not yet attached is
    attached to the registering party, or to the rotating key's party.
    """
    st = signed.statement
    if isinstance(st, Grant):
        keys = [_B_CONTENT + bytes.fromhex(item.sha256) for item in st.content]
        keys.append(_B_GRANT + signed.statement_hash)
        keys.append(_B_GRANT_ID + uuid.UUID(st.grant_id).bytes)
        if version >= 2:  # the creator's and the buyer's parties (one key if the same)
            owners = dict.fromkeys((parties.party_of(st.signer), parties.party_of(st.buyer)))
            keys.extend(_B_PARTY_GRANTS + bytes.fromhex(p) for p in owners)
        return keys
    if isinstance(st, GrantAccept | GrantRevoke):
        return [_B_GRANT + bytes.fromhex(st.grant_hash)]
    if isinstance(st, PartyRegister):
        parties.attached.setdefault(st.signer, st.signer)
        return _party_keys((st.signer,), parties)
    if isinstance(st, KeyRotate):
        new = st.new_public_key.key_id
        parties.attached.setdefault(new, parties.party_of(st.signer))
        return _party_keys((st.signer, new), parties)
    if isinstance(st, KeyRevoke):
        return _party_keys((st.signer, st.key_id), parties)
    raise TypeError(f"no licence map rule for statement type {st.type_name!r}")


def _party_keys(key_ids: tuple[str, ...], parties: KeyParties) -> list[bytes]:
    """The party and key map keys of a key entry naming ``key_ids`` (deduplicated, in order)."""
    named = dict.fromkeys(key_ids)
    owners = dict.fromkeys(parties.party_of(k) for k in named)
    return [_B_PARTY + bytes.fromhex(p) for p in owners] + [
        _B_KEY + bytes.fromhex(k) for k in named
    ]


class LicenceMap:
    """The licence map of a log prefix: the tree, the size it covers, and the key parties.

    ``apply`` extends it with the next entries (a batch gets one version: one root, recorded at
    the log size after the batch, as a batch gets one checkpoint). Roots of earlier versions stay
    in the store, so ``prove`` and ``get`` answer at any recorded size.
    """

    def __init__(
        self,
        store: MapNodeStore | None = None,
        *,
        size: int = 0,
        parties: KeyParties | None = None,
        version: int = MAP_VERSION,
    ) -> None:
        if version not in MAP_LINE_PREFIXES:
            raise InvalidParameter(f"no licence map version {version}")
        self.tree = SparseMerkleMap(store, version=size)
        self.parties = parties if parties is not None else KeyParties()
        #: The map version (FORMAT §14.6): which keys it holds. Not the tree's ``version``,
        #: which is the log size it covers.
        self.map_version = version

    @property
    def size(self) -> int:
        """The number of log entries the map covers (its latest version)."""
        return self.tree.version

    @property
    def root(self) -> bytes:
        return self.tree.root

    def root_at(self, size: int) -> bytes:
        return self.tree.store.root_at(size)

    def apply(self, leaves: Iterable[Leaf]) -> bytes:
        """Add the entries ``leaves`` (the next ones, in seq order) as one version; the new root.

        Raises InvalidParameter if a leaf's seq is not the next one. An empty batch changes
        nothing.
        """
        return self.apply_statements((leaf.seq, leaf.signed) for leaf in leaves)

    def apply_statements(self, entries: Iterable[tuple[int, MapEntry]]) -> bytes:
        """``apply`` for (seq, signed statement) pairs. All or nothing: if it raises, the map
        (tree, size and key parties) is as it was."""
        batch = list(entries)
        for expected, (seq, _) in enumerate(batch, start=self.size):
            if seq != expected:
                raise InvalidParameter(f"the licence map expects entry {expected} next, not {seq}")
        if not batch:
            return self.root
        attached = self.parties.attached
        known = len(attached)  # keys are only ever added, so the new ones come last
        try:
            suffixes: dict[bytes, list[int]] = {}
            for seq, signed in batch:
                for key in entry_keys(signed, self.parties, self.map_version):
                    suffixes.setdefault(key, []).append(seq)
            packed = {key: b"".join(_SEQ.pack(s) for s in seqs) for key, seqs in suffixes.items()}
            return self.tree.append_values(self.size + len(batch), packed)
        except BaseException:
            for key_id in list(attached)[known:]:
                del attached[key_id]
            raise

    def get(self, key: bytes, size: int | None = None) -> tuple[int, ...]:
        """The seqs listed under ``key`` at ``size`` (default: the latest); () if absent."""
        value = self.tree.get(key, size)
        return () if value is None else decode_seqs(value)

    def lookup(self, key: bytes, size: int | None = None) -> tuple[tuple[int, ...], MapProof]:
        """``get`` and ``prove`` in one walk of the tree."""
        value, proof = self.tree.lookup(key, size)
        return (() if value is None else decode_seqs(value)), proof

    def prove(self, key: bytes, size: int | None = None) -> MapProof:
        """The proof of ``key``'s value (or absence) at ``size`` (default: the latest)."""
        return self.tree.prove(key, size)

    def items(self, size: int | None = None) -> Iterator[tuple[bytes, tuple[int, ...]]]:
        for key, value in self.tree.items(size):
            yield key, decode_seqs(value)


def derive_map(
    leaves: Iterable[Leaf], store: MapNodeStore | None = None, version: int = MAP_VERSION
) -> LicenceMap:
    """The licence map (of map ``version``) of the log whose entries are ``leaves`` (from seq 0,
    in order), computed from scratch as one tree version."""
    licence_map = LicenceMap(store, version=version)
    licence_map.apply(leaves)
    return licence_map
