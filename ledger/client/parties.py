"""Which party a key belongs to, proven from the log (no printing here).

A party is its first key (``party.register``) plus every key it rotated to (``key.rotate``,
signed by both keys); any valid key of a party acts for it (docs/LICENSING.md §1, §3). Before
``accept`` or ``revoke`` signs anything, the client learns the party of its own key this way,
trusting nothing the server says about it:

1. the licence map's ``key`` value of the key (docs/FORMAT.md §14.2) lists *every* entry that
   introduced or ended it; its map proof is checked against the map root that the verified
   checkpoint commits, so no entry can be left out;
2. each listed entry is fetched, its leaf and signatures checked, and its inclusion in the same
   checkpoint proven (RFC 9162 §2.1.3.2);
3. the entry that introduced the key (the first attachment wins, FORMAT §14.2) is either the
   party's registration, or a rotation from an older key, whose history is walked the same way;
4. if the key was rotated away, the keys it was handed on to are walked forward the same way.

What this does *not* do: replay the log's rules. The log applies them to whatever is signed
(``ledger/core/logstate.py``); this only keeps a client from signing about a grant that is not its
party's, and says plainly when its own key was rotated away or revoked.
"""

from __future__ import annotations

from dataclasses import dataclass

from ledger.client.trust import TrustedLog, VerifiedCheckpoint
from ledger.core.encoding import b64_decode
from ledger.core.errors import EntryMismatch, LedgerError, ProofError, UnknownKey
from ledger.core.leaf import parse_leaf
from ledger.core.licmap import checkpoint_map_root, encode_seqs, key_key
from ledger.core.statements import KeyRevoke, KeyRotate, PartyRegister, Statement
from ledger.core.vmap import verify_membership, verify_non_membership

__all__ = ["KeyEnd", "VerifiedParty", "proven_map_seqs", "verified_party"]

#: A party rotates its key now and then; a history longer than this is not a real party's.
MAX_KEYS = 1000


@dataclass(frozen=True)
class KeyEnd:
    """How a key stopped being valid: rotated away (to ``new_key``) or revoked, at entry ``seq``."""

    kind: str  # "rotated" or "revoked"
    seq: int
    new_key: str | None = None
    reason: str | None = None

    def describe(self) -> str:
        if self.kind == "rotated":
            return f"was rotated away at seq {self.seq} (to key {self.new_key})"
        return f"was revoked at seq {self.seq} (reason: {self.reason})"


@dataclass(frozen=True)
class VerifiedParty:
    """A key's party as proven from the log: its id (the key that registered it), pseudonym,
    its keys from the registration on (oldest first, the asked ``key_id`` among them), and how
    the asked key ended (None while it is valid)."""

    party_id: str
    pseudonym: str
    keys: tuple[str, ...]
    key_id: str
    ended: KeyEnd | None

    def holds(self, key_id: str) -> bool:
        """Whether ``key_id`` is one of the party's keys, current or rotated away."""
        return key_id in self.keys


def verified_party(log: TrustedLog, key_id: str, checkpoint: VerifiedCheckpoint) -> VerifiedParty:
    """The party of ``key_id`` in the log at ``checkpoint`` (steps in the module docstring).

    Raises UnknownKey when the key is not registered there, EntryMismatch when its entries do
    not say what the map lists them for, ProofError when a proof fails, ServerError.
    """
    chain: list[str] = []
    ended: KeyEnd | None = None
    current = key_id
    while True:
        if current in chain or len(chain) >= MAX_KEYS:
            raise EntryMismatch(f"the key history of {key_id} loops back to key {current}")
        statements = _key_entries(log, current, checkpoint)
        introduced = next((s for _, s in statements if _introduces(s, current)), None)
        if introduced is None and not chain:
            raise UnknownKey(
                f"your key {key_id} is not registered in the log {checkpoint.checkpoint.origin}:"
                " register it with ledger register first"
            )
        if introduced is None:
            raise EntryMismatch(
                f"key {current}, which key {chain[-1]} was rotated from, has no entry that"
                " introduces it in the log (no party.register or key.rotate)"
            )
        if not chain:
            ended = _end_of(current, statements)
        chain.append(current)
        if isinstance(introduced, PartyRegister):
            chain.reverse()
            later = _later_keys(log, ended, checkpoint)
            return VerifiedParty(current, introduced.pseudonym, (*chain, *later), key_id, ended)
        current = introduced.signer  # a rotation to this key: walk back from the key it came from


def _later_keys(log: TrustedLog, end: KeyEnd | None, checkpoint: VerifiedCheckpoint) -> list[str]:
    """Step 4: the keys a rotated-away key was handed on to, in order: each new key whose
    introduction is that very rotation (a key introduced earlier stays where it was)."""
    later: list[str] = []
    while end is not None and end.kind == "rotated" and end.new_key is not None:
        if end.new_key in later or len(later) >= MAX_KEYS:
            raise EntryMismatch(f"the key history loops back to key {end.new_key}")
        statements = _key_entries(log, end.new_key, checkpoint)
        first = next((seq for seq, s in statements if _introduces(s, end.new_key)), None)
        if first != end.seq:
            break
        later.append(end.new_key)
        end = _end_of(end.new_key, statements)
    return later


def _key_entries(
    log: TrustedLog, key_id: str, checkpoint: VerifiedCheckpoint
) -> list[tuple[int, Statement]]:
    """Steps 1 and 2: every entry the map lists under ``key_id``, proven, in seq order."""
    seqs = proven_map_seqs(log, key_key(key_id), checkpoint, f"key {key_id}")
    out = []
    for seq in seqs:
        leaf = log.fetch_entry(seq)
        try:
            stmt = parse_leaf(leaf).signed.statement
        except LedgerError as e:
            raise EntryMismatch(f"entry {seq} does not verify: {e}") from e
        log.verify_included(seq, leaf, checkpoint)
        out.append((seq, stmt))
    return out


def proven_map_seqs(
    log: TrustedLog, key: bytes, checkpoint: VerifiedCheckpoint, what: str
) -> list[int]:
    """The seqs the licence map lists under ``key`` (docs/FORMAT.md §14.2) at ``checkpoint``,
    proven against the map root it commits (an empty list: proven absent). Raises ProofError
    when the answer is not proven, MapRootMissing for a checkpoint without a map, ServerError."""
    root = checkpoint_map_root(checkpoint.checkpoint)
    answer = log.client.map_proof(key, checkpoint.tree_size)
    seqs = answer.get("seqs")
    present = answer.get("present")
    if not isinstance(seqs, list) or not all(type(s) is int for s in seqs):
        raise ProofError(f"the log's map answer for {what} lists no seqs")
    try:
        proof = b64_decode(answer.get("proof"), what="map proof")
        if present:
            verify_membership(root, key, encode_seqs(seqs), proof)
        else:
            verify_non_membership(root, key, proof)
    except LedgerError as e:
        raise ProofError(
            f"the log's list of the entries of {what} is not proven by the map root of the"
            f" checkpoint of size {checkpoint.tree_size}: {e.message}"
        ) from e
    return seqs if present else []


def _introduces(stmt: Statement, key_id: str) -> bool:
    if isinstance(stmt, PartyRegister):
        return stmt.signer == key_id
    return isinstance(stmt, KeyRotate) and stmt.new_public_key.key_id == key_id


def _end_of(key_id: str, statements: list[tuple[int, Statement]]) -> KeyEnd | None:
    """The first entry that ended ``key_id``: a rotation away from it, or a revocation of it."""
    for seq, stmt in statements:
        if isinstance(stmt, KeyRotate) and stmt.signer == key_id:
            return KeyEnd("rotated", seq, new_key=stmt.new_public_key.key_id)
        if isinstance(stmt, KeyRevoke) and stmt.key_id == key_id:
            return KeyEnd("revoked", seq, reason=stmt.reason)
    return None
