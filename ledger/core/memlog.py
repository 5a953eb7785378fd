"""An in-memory log with no state rules: for crafted histories in tests, worked examples and tools.

``MemoryLog.add`` chains a signed statement into a new leaf at a given log time and keeps the
Merkle tree in a ``MemoryHashStore``; it does **not** apply the service's append rules, so tests can
build histories the service would refuse (a grant signed by a revoked key, say) and check what the
licence semantics and the offline verifier make of them. It derives the licence map as it goes (one
map version per entry), so its checkpoints commit the map root as the service's do (FORMAT §14).
No I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from .checkpoint import sign_checkpoint
from .evidence import EvidenceBundle, EvidenceQuery, complete_bundle, make_bundle, with_receipts
from .evidence.account import AccountBundle, AccountQuery, build_account
from .leaf import GENESIS_PREV_HASH, Leaf, leaf_hash, micros_from_datetime
from .licensing import LicenceState
from .licmap import LicenceMap, map_checkpoint
from .merkle import MemoryHashStore, inclusion_proof, inclusion_proofs, tree_hash
from .note import NoteSigner
from .receipts import ReceiptSigner
from .statements import SignedStatement


class MemoryLog:
    """Leaves, their Merkle tree and checkpoints signed with ``signer`` (named after the origin)."""

    def __init__(self, signer: NoteSigner) -> None:
        self.signer = signer
        self.leaves: list[bytes] = []
        self.parsed: list[Leaf] = []
        self.store = MemoryHashStore()
        #: The licence map of the entries so far, with a root for every size.
        self.licence_map = LicenceMap()

    @property
    def verifier_key(self) -> str:
        return self.signer.verifier().to_vkey()

    def add(self, signed: SignedStatement, at: datetime | int) -> Leaf:
        """Append ``signed`` integrated at ``at`` (a datetime or microseconds); returns the leaf."""
        micros = at if isinstance(at, int) else micros_from_datetime(at)
        prev = leaf_hash(self.leaves[-1]) if self.leaves else GENESIS_PREV_HASH
        leaf = Leaf(len(self.leaves), micros, prev, signed)
        data = leaf.to_bytes()
        self.leaves.append(data)
        self.parsed.append(leaf)
        self.store.append_leaf_hash(leaf_hash(data))
        self.licence_map.apply((leaf,))
        return leaf

    def checkpoint(self) -> str:
        size = len(self.leaves)
        cp = map_checkpoint(
            self.signer.name, size, tree_hash(size, self.store), self.licence_map.root_at(size)
        )
        return sign_checkpoint(cp, self.signer)

    def bundle(
        self,
        query: EvidenceQuery,
        contents: Iterable[str],
        seqs: Iterable[int] | None = None,
        *,
        receipts: bool = False,
    ) -> EvidenceBundle:
        """The complete bundle as the server builds it (``complete_bundle``: every required map
        key and every entry it lists); with ``seqs``, a bundle over exactly those entries and
        without map proofs (for tests of what the verifier makes of an incomplete one); with
        ``receipts``, carrying each entry's COSE receipt signed with the log key."""
        bundle = self._bundle(query, contents, seqs)
        if not receipts:
            return bundle
        size = len(self.leaves)
        signer = ReceiptSigner(self.signer.private_key, self.signer.name)
        return with_receipts(bundle, signer, size, tree_hash(size, self.store))

    def _bundle(
        self, query: EvidenceQuery, contents: Iterable[str], seqs: Iterable[int] | None
    ) -> EvidenceBundle:
        size = len(self.leaves)
        if seqs is None:
            return complete_bundle(
                origin=self.signer.name,
                verifier_key=self.verifier_key,
                checkpoint=self.checkpoint(),
                query=query,
                contents=contents,
                licence_map=self.licence_map,
                read_leaves=lambda wanted: {s: (self.leaves[s], self.parsed[s]) for s in wanted},
                inclusion_proofs=lambda wanted: [
                    inclusion_proof(size, s, self.store) for s in wanted
                ],
            )
        wanted = sorted(set(seqs))
        return make_bundle(
            origin=self.signer.name,
            verifier_key=self.verifier_key,
            checkpoint=self.checkpoint(),
            query=query,
            contents=contents,
            leaves=[(self.leaves[s], self.parsed[s]) for s in wanted],
            proofs={s: inclusion_proof(size, s, self.store) for s in wanted},
        )

    def account(self, query: AccountQuery) -> AccountBundle:
        """The account bundle of ``query``'s party against the latest checkpoint, built as the
        server builds it: from the grants the append rules let in naming the party."""
        state = LicenceState.replay(self.parsed, 2**63 - 1)
        party = state.party(query.key_id)
        grant_seqs = [
            r.seq
            for r in state.grants.values()
            if party is not None
            and r.key_problem is None
            and party in (r.creator_party, r.buyer_party)
        ]
        size = len(self.leaves)
        return build_account(
            origin=self.signer.name,
            verifier_key=self.verifier_key,
            checkpoint=self.checkpoint(),
            query=query,
            party=party,
            grant_seqs=grant_seqs,
            licence_map=self.licence_map,
            read_leaves=lambda seqs: {
                s: (self.leaves[s], self.parsed[s]) for s in seqs if s < size
            },
            inclusion_proofs=lambda seqs: inclusion_proofs(size, seqs, self.store),
        )
