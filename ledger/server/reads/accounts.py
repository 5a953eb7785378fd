"""Read use case for statements of account (docs/ACCOUNTS.md): a party's account bundle.

Built against the published checkpoint like evidence bundles (``reads/evidence.py``): the party's
grants in that tree (the ``grants`` index, as creator or buyer), every entry the required
licence-map keys walked from them list (read in batched IN queries, one round per step), each
proven against the checkpoint, each required key's map proof, and the statement computed by
``ledger.core.accounts`` over exactly those entries, so the offline verifier recomputes the same
one. The party's ``party_grants`` key (licence map version 2) lists every grant it made or
received, so the bundle proves none was left out; a published checkpoint of map version 1 cannot,
and the read raises MapVersionPending until the log signs a version-2 one. Raises NotFound (no
checkpoint yet, or a key no party holds) and InvalidParameter (a period that ends before it
starts).
"""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ledger.core import merkle
from ledger.core.errors import InvalidParameter, MapVersionPending, NotFound
from ledger.core.evidence.account import AccountBundle, AccountQuery, build_account
from ledger.core.licmap import MAP_VERSION, note_map_version
from ledger.server.reads.evidence import ChunkedHashReader, LogIdentity, read_leaves
from ledger.server.reads.published import published_checkpoint
from ledger.server.storage import repository as repo
from ledger.server.storage.mapstore import NodeCache, map_reader
from ledger.server.storage.models import GrantRow


def account_bundle(
    session: Session,
    identity: LogIdentity,
    *,
    key_id: str,
    start: int | None,
    end: int | None,
    witnessed: bool = False,
    map_nodes: NodeCache | None = None,
) -> AccountBundle:
    """The account bundle of the party holding ``key_id`` over ``[start, end)``."""
    if start is not None and end is not None and end < start:
        raise InvalidParameter("to must not be before from")
    published = published_checkpoint(session, witnessed=witnessed)
    if published is None or published.tree_size == 0:
        raise NotFound("the log has no published checkpoint yet")
    size, note = published
    version = note_map_version(note)
    if version != MAP_VERSION:
        raise MapVersionPending(
            f"the log's published checkpoint (size {size}) commits licence map version {version}, "
            f"and a statement of account needs version {MAP_VERSION} to show that no grant was "
            "left out; the log commits it from its next append: retry after it"
        )
    key = repo.get_key(session, key_id)
    if key is None or key.seq >= size:
        raise NotFound(f"no party has key {key_id} in the published tree")
    party = key.party_id
    grant_seqs = list(
        session.scalars(
            select(GrantRow.seq).where(
                or_(GrantRow.creator_party == party, GrantRow.buyer_party == party),
                GrantRow.seq < size,
            )
        )
    )
    hashes = ChunkedHashReader(session)
    licence_map, prefetch = map_reader(session, size, map_nodes)
    return build_account(
        origin=identity.origin,
        verifier_key=identity.verifier_key,
        checkpoint=note,
        query=AccountQuery(key_id, start, end),
        party=party,
        grant_seqs=grant_seqs,
        licence_map=licence_map,
        read_leaves=lambda seqs: read_leaves(session, seqs),
        inclusion_proofs=lambda seqs: merkle.inclusion_proofs(size, seqs, hashes),
        prefetch=prefetch,  # each round's map paths in one query per depth
    )
