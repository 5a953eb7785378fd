"""Which licence-map keys a bundle's verdicts rest on, and so which entries it must carry
(docs/FORMAT.md §13.3, §14).

A verdict about content X for buyer B is complete when the bundle carries every entry the licence
map lists under every key that could change it. Those **required keys** are defined from the
question and the entries alone, so the server that builds a bundle and the verifier that checks
it compute the same set (``required_closure``, the one walk both use):

1. ``content`` of every item asked about, and ``key`` of ``query.buyer``;
2. for every entry those keys list, and transitively for every entry the keys below list, the
   keys of ``entry_required_keys``: for a grant its ``grant`` and ``grant_id`` keys and the
   ``key`` keys of its signer and buyer; for an acceptance or revocation its grant's ``grant``
   key and its signer's ``key`` key; for a key entry the ``key`` keys of every key it names
   (signer, rotation's new key, revoked key).

The walk stops when no entry brings a new key. ``party`` keys are not needed: a key's ``key``
value lists the entry that introduced it, which names the key it was rotated from, so walking
``key`` keys reaches the registration. No I/O here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ..errors import InternalError
from ..leaf import Leaf
from ..licmap import content_key, describe_key, grant_id_key, grant_key, key_key
from ..statements import (
    Grant,
    GrantAccept,
    GrantRevoke,
    KeyRevoke,
    KeyRotate,
    PartyRegister,
    SignedStatement,
)
from ..vmap import MapProof
from .bundle import EvidenceBundle, EvidenceQuery, MapMember, make_bundle

#: ``values(keys)``: the seqs each key lists (``()`` when the map does not hold it); a key left
#: out of the answer is one the caller cannot answer for (a bundle without its proof).
ValuesOf = Callable[[Sequence[bytes]], Mapping[bytes, tuple[int, ...]]]
#: ``leaves(seqs)``: the entries the caller has, by seq; a seq left out is an omitted entry.
LeavesOf = Callable[[Sequence[int]], Mapping[int, Leaf]]


def entry_required_keys(signed: SignedStatement) -> list[bytes]:
    """The map keys an included entry makes required (the module docstring, step 2)."""
    st = signed.statement
    if isinstance(st, Grant):
        return [
            grant_key(signed.statement_hash),
            grant_id_key(st.grant_id),
            key_key(st.signer),
            key_key(st.buyer),
        ]
    if isinstance(st, GrantAccept | GrantRevoke):
        return [grant_key(st.grant_hash), key_key(st.signer)]
    if isinstance(st, PartyRegister):
        return [key_key(st.signer)]
    if isinstance(st, KeyRotate):
        return [key_key(st.signer), key_key(st.new_public_key.key_id)]
    if isinstance(st, KeyRevoke):
        return [key_key(st.signer), key_key(st.key_id)]
    raise TypeError(f"no required-key rule for statement type {st.type_name!r}")


def initial_keys(contents: Iterable[str], buyer: str) -> list[bytes]:
    """Step 1: the ``content`` key of each item (in order, once) and the buyer's ``key`` key."""
    keys = dict.fromkeys(content_key(sha256) for sha256 in contents)
    keys[key_key(buyer)] = None
    return list(keys)


@dataclass
class Closure:
    """What ``required_closure`` found."""

    #: Every required key the caller could answer for, with its seqs, in the order reached.
    values: dict[bytes, tuple[int, ...]] = field(default_factory=dict)
    #: The entries reached, by seq.
    leaves: dict[int, Leaf] = field(default_factory=dict)
    #: Required keys the caller could not answer for (``values`` left them out).
    unanswered: list[bytes] = field(default_factory=list)
    #: (key, seq): an entry listed under a required key that ``leaves`` did not give.
    omitted: list[tuple[bytes, int]] = field(default_factory=list)


def required_closure(
    contents: Iterable[str], buyer: str, values: ValuesOf, leaves: LeavesOf
) -> Closure:
    """Walk the required keys from the question, in rounds: ask ``values`` for a round's keys,
    ``leaves`` for the entries they list that were not reached yet, and take the next round's
    keys from those entries. One call of each per round, so a server reads in batches."""
    return closure_from(initial_keys(contents, buyer), values, leaves)


def closure_from(initial: Iterable[bytes], values: ValuesOf, leaves: LeavesOf) -> Closure:
    """``required_closure``'s walk from any first round of keys (each once, in order): a
    statement of account starts it from a party's grants (``ledger.core.evidence.account``)."""
    out = Closure()
    seen_keys: set[bytes] = set()
    missing: set[int] = set()
    frontier = list(dict.fromkeys(initial))
    seen_keys.update(frontier)
    while frontier:
        answered = values(frontier)
        wanted: dict[int, bytes] = {}  # new seq -> the first key listing it
        for key in frontier:
            seqs = answered.get(key)
            if seqs is None:
                out.unanswered.append(key)
                continue
            out.values[key] = seqs
            for seq in seqs:
                if seq not in out.leaves and seq not in missing:
                    wanted.setdefault(seq, key)
        got = leaves(sorted(wanted)) if wanted else {}
        frontier = []
        for seq in sorted(wanted):
            leaf = got.get(seq)
            if leaf is None:
                out.omitted.append((wanted[seq], seq))
                missing.add(seq)
                continue
            out.leaves[seq] = leaf
            for key in entry_required_keys(leaf.signed):
                if key not in seen_keys:
                    seen_keys.add(key)
                    frontier.append(key)
    return out


class MapReader(Protocol):
    """The licence map at the checkpoint's size, as ``licmap.LicenceMap`` (and the server's
    ``mapstore.licence_map_at``) offer it."""

    def lookup(self, key: bytes) -> tuple[tuple[int, ...], MapProof]:
        """The key's seqs (() if absent) and its proof, from one walk."""
        ...


def complete_bundle(
    *,
    origin: str,
    verifier_key: str,
    checkpoint: str,
    query: EvidenceQuery,
    contents: Iterable[str],
    licence_map: MapReader,
    read_leaves: Callable[[Sequence[int]], Mapping[int, tuple[bytes, Leaf]]],
    inclusion_proofs: Callable[[Sequence[int]], Sequence[Sequence[bytes]]],
    prefetch: Callable[[Sequence[bytes]], None] | None = None,
) -> EvidenceBundle:
    """The complete bundle for ``contents``: every required key's value and map proof
    (``licence_map``, the map whose root ``checkpoint`` commits), every entry those keys list
    (``read_leaves``: stored bytes and parsed leaf by seq, up to the checkpoint's size, including
    entries integrated after ``query.at``) with its inclusion proof (``inclusion_proofs``, in the
    order of the seqs asked), and the verdicts over exactly those entries. ``prefetch``, if
    given, is called with each round's keys before they are read (a store reads their paths in
    a few batched queries).

    Raises InternalError if the map lists an entry ``read_leaves`` does not give: the map and the
    entries disagree, and no honest answer can be built. No I/O of its own.
    """
    unique = list(dict.fromkeys(contents))
    stored: dict[int, tuple[bytes, Leaf]] = {}

    def leaves(seqs: Sequence[int]) -> Mapping[int, Leaf]:
        found = read_leaves(seqs)
        stored.update(found)
        return {seq: pair[1] for seq, pair in found.items()}

    proven: dict[bytes, MapProof] = {}

    def values(keys: Sequence[bytes]) -> Mapping[bytes, tuple[int, ...]]:
        if prefetch is not None:
            prefetch(keys)
        out = {}
        for key in keys:
            out[key], proven[key] = licence_map.lookup(key)
        return out

    closure = required_closure(unique, query.buyer, values, leaves)
    if closure.omitted:
        key, seq = closure.omitted[0]
        raise InternalError(
            f"the licence map lists entry {seq} under {describe_key(key)}, and the log has no "
            "such entry: run 'ledger audit' against this log's database"
        )
    ordered = sorted(closure.leaves)
    proofs = inclusion_proofs(ordered)
    return make_bundle(
        origin=origin,
        verifier_key=verifier_key,
        checkpoint=checkpoint,
        query=query,
        contents=unique,
        leaves=[stored[s] for s in ordered],
        proofs=dict(zip(ordered, proofs, strict=True)),
        map_entries=[MapMember(key, seqs, proven[key]) for key, seqs in closure.values.items()],
    )
