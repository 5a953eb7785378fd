"""Many RFC 9162 inclusion proofs against one signed tree, checked as a batch that shares work.

An evidence bundle carries one inclusion proof per entry, all against the same checkpoint, and
entries close together in the log share most of their path to the root: checked one by one, the
same interior nodes are hashed again for every entry. ``InclusionBatch`` remembers each step of the
proofs it has accepted and stops a later walk as soon as it is in a state an accepted walk was in.

**Why this accepts exactly the proofs that ``merkle.verify_inclusion`` accepts.** RFC 9162
§2.1.3.2 walks from the leaf to the root, consuming one proof hash at each level where the leaf's
path has a sibling (step 4). For a fixed tree size, the part of the walk that remains when the
walk reaches the node at ``(level, index >> level)`` depends only on that node (its position
decides which of the levels above have a sibling, and on which side), on the hash ``r`` computed
so far, and on the proof hashes not yet consumed. So the rest of the walk, and therefore its
outcome, is a function of the state ``(level, index >> level, r, remaining proof)`` and of the
root. When a later walk reaches a state that a walk already accepted passed through, with the
same ``r`` and the *identical* remaining proof hashes, it would compute exactly the same hashes
and end at the same root: it is accepted without hashing them again. In every other case (an
unknown node, another ``r``, any remaining hash that differs, even one the shortcut would not
need) the walk goes on hashing as the RFC says, to the root. Nothing rests on collision
resistance beyond what the single-proof check already assumes, and a tampered sibling anywhere in
a proof makes that proof fail exactly as it fails alone (tests/core/test_multiproof.py flips every
sibling of every proof). The proof length and the hash sizes are checked before any shortcut, as
``merkle.root_from_inclusion_proof`` checks them; a rejected proof is handed to
``merkle.verify_inclusion`` so that it fails with the same error class and message.

Memory: one entry per node on the accepted paths (at most 2n - 1 for n leaves of one tree), each
holding references to a hash and to the proof that reached it (no copies). No I/O.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from .errors import ProofError
from .merkle import HASH_SIZE, NODE_PREFIX, verify_inclusion

__all__ = ["InclusionBatch"]


class InclusionBatch:
    """Verify inclusion proofs of many leaves in the tree of ``tree_size`` with ``root``.

    ``verify`` has the contract of ``merkle.verify_inclusion(index, tree_size, leaf_hash, proof,
    root)`` for each call, in any order. Not thread-safe.
    """

    __slots__ = ("_known", "root", "tree_size")

    def __init__(self, tree_size: int, root: bytes) -> None:
        self.tree_size = tree_size
        self.root = root
        # (level, node index) -> (r on arriving at that node, the accepted proof, its position
        # there): a state that an accepted walk passed through.
        self._known: dict[tuple[int, int], tuple[bytes, tuple[bytes, ...], int]] = {}

    def verify(self, index: int, leaf_hash: bytes, proof: Sequence[bytes]) -> None:
        """Check that leaf ``index`` with ``leaf_hash`` is in the tree (RFC 9162 §2.1.3.2).

        Returns None on success. Raises what ``merkle.verify_inclusion`` raises for the same
        arguments: InvalidParameter, MalformedProof or ProofError.
        """
        size = self.tree_size
        if not (
            0 <= index < size
            and len(leaf_hash) == HASH_SIZE
            and len(self.root) == HASH_SIZE
            and (not proof or set(map(len, proof)) == {HASH_SIZE})
        ):
            verify_inclusion(index, size, leaf_hash, proof, self.root)
            raise ProofError("inclusion proof refused")  # pragma: no cover - it raised above
        proof = tuple(proof)  # accepted proofs are compared by value, as tuples
        # The levels with a sibling (step 4): every level below `inner`, where the path leaves the
        # right border of the tree; above it, the levels where the index has a 1 bit (the sibling
        # is then on the left; the levels in between have no sibling, step 4b.ii).
        inner = (index ^ (size - 1)).bit_length()
        if len(proof) != inner + (index >> inner).bit_count():
            verify_inclusion(index, size, leaf_hash, proof, self.root)  # too few or too many
            raise ProofError("inclusion proof refused")  # pragma: no cover - it raised above
        if not self._walk(index, leaf_hash, proof, inner):
            verify_inclusion(index, size, leaf_hash, proof, self.root)
            raise ProofError("inclusion proof does not lead to the expected root")  # fail closed

    def _walk(self, index: int, r: bytes, proof: tuple[bytes, ...], inner: int) -> bool:
        """Steps 2-5 for a proof of the right length; records the states of an accepted walk."""
        known, sha, prefix = self._known, hashlib.sha256, NODE_PREFIX
        visited: list[tuple[tuple[int, int], bytes, int]] = []
        # Proof hash i is consumed at `level`; a leaf's own state (level 0) is not recorded: only
        # the same leaf index could meet it again.
        i, level, bits, length = 0, 0, index, len(proof)
        while i < length:
            if i >= inner:  # on the right border: skip the levels without a sibling (4b.ii)
                while not bits & 1:
                    bits >>= 1
                    level += 1
            if level:
                node = (level, bits)
                seen = known.get(node)
                if seen is not None and seen[0] == r and seen[1][seen[2] :] == proof[i:]:
                    break  # an accepted walk was in exactly this state: it ends at the root
                visited.append((node, r, i))
            if bits & 1 or i >= inner:
                r = sha(prefix + proof[i] + r).digest()  # the sibling is on the left (4b.i)
            else:
                r = sha(prefix + r + proof[i]).digest()  # on the right (4b, otherwise)
            i += 1
            bits >>= 1
            level += 1
        else:
            if r != self.root:  # step 5
                return False
        for node, value, j in visited:
            known[node] = (value, proof, j)
        return True
