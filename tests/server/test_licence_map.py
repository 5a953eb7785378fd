"""The server derives the licence map inside every append and commits its root in every checkpoint
it signs (docs/FORMAT.md §6.1, §14): checked against the pure core's derivation from scratch."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from ledger.core import builders
from ledger.core.checkpoint import Checkpoint
from ledger.core.keys import SigningKey
from ledger.core.leaf import parse_leaf
from ledger.core.licmap import LicenceMap, checkpoint_map_root, content_key, derive_map
from ledger.core.statements import SignedStatement
from ledger.core.vmap import MAP_EMPTY_HASH, key_hash, verify_map_proof
from ledger.server.service import LogService
from ledger.server.storage import db as ledger_db
from ledger.server.storage import repository as repo
from ledger.server.storage.mapstore import DbNodeStore, NodeCache, licence_map_at, map_root_at
from ledger.server.storage.models import CheckpointRow
from tests.support.factories import T0, seeded_key


def _history(
    creator: SigningKey, buyer: SigningKey, make_grant: Callable[..., SignedStatement]
) -> list[list[SignedStatement]]:
    """Batches covering every statement type and every map key kind; some appended alone."""
    other = seeded_key(7)
    new_creator = seeded_key(8)
    items = [builders.Item(sha256=f"{i:02x}" * 32, bytes=1000, duration_s=1) for i in range(3)]
    g1 = make_grant(items=items)
    g2 = make_grant(items=items[:1], revocable=True, notice_days=0)
    g3 = make_grant(creator=new_creator, items=items[1:2])
    return [
        [builders.party_register(creator, "creator")],
        [builders.party_register(buyer, "buyer"), builders.party_register(other, "other")],
        [g1],
        [builders.grant_accept(buyer, g1.statement_hash), g2],
        [builders.key_rotate(creator, new_creator)],
        [g3, builders.grant_revoke(new_creator, g2.statement_hash, T0 + timedelta(days=1))],
        [builders.key_revoke(other, other.key_id, "retired")],
    ]


def _leaves(service: LogService, size: int) -> list[Any]:
    with service.db.read_session() as session:
        return [parse_leaf(data) for data in repo.entry_leaves(session, 0, size)]


def _check_every_checkpoint(service: LogService) -> int:
    """Each checkpoint's note and row commit the root of the map derived from scratch; the
    stored map answers every key as the derived one does, with proofs that verify."""
    with service.db.read_session() as session:
        rows = session.scalars(sa.select(CheckpointRow).order_by(CheckpointRow.tree_size)).all()
        checked = 0
        for row in rows:
            derived = derive_map(_leaves(service, row.tree_size))
            noted = checkpoint_map_root(Checkpoint.parse(row.note.split("\n\n")[0] + "\n"))
            assert noted == row.map_root == derived.root, row.tree_size
            stored = licence_map_at(session, row.tree_size)
            for key, seqs in derived.items():
                assert stored.get(key) == seqs
                assert verify_map_proof(noted, key, stored.prove(key)).present
            checked += 1
    return checked


def test_a_new_log_commits_the_empty_map(service: LogService) -> None:
    with service.db.read_session() as session:
        row = repo.latest_checkpoint(session)
        assert row is not None
        assert row.tree_size == 0
        assert row.map_root == MAP_EMPTY_HASH
        assert checkpoint_map_root(Checkpoint.parse(row.note.split("\n\n")[0] + "\n")) == (
            MAP_EMPTY_HASH
        )


def test_every_checkpoint_commits_the_map_of_its_entries(
    service: LogService,
    creator_key: SigningKey,
    buyer_key: SigningKey,
    make_grant: Callable[..., SignedStatement],
) -> None:
    for batch in _history(creator_key, buyer_key, make_grant):
        results = service.append(batch)
        assert all(not isinstance(r, Exception) for r in results), results
    assert _check_every_checkpoint(service) == 8  # size 0 and one per batch
    with service.db.read_session() as session:
        stored = licence_map_at(session, repo.latest_size(session))
        # A content hash no grant covers: its absence is proven against the signed root.
        absent = content_key("ee" * 32)
        report = verify_map_proof(stored.root, absent, stored.prove(absent))
        assert report.ok
        assert report.present is False


@pytest.mark.parametrize("deferred", [False, True], ids=["read_paths", "prefetch"])
def test_prefetch_reads_every_node_an_update_walks(
    deferred: bool,
    service: LogService,
    creator_key: SigningKey,
    buyer_key: SigningKey,
    make_grant: Callable[..., SignedStatement],
) -> None:
    """With a cold cache, one ``read_paths`` brings every node on the paths to the keys asked
    about (present and absent ones): the walks that follow need no database read. ``prefetch``
    (what an update calls) defers the same reads to the first node missing from the cache."""
    for batch in _history(creator_key, buyer_key, make_grant):
        service.append(batch)
    with service.db.read_session() as session:
        size = repo.latest_size(session)
        derived = derive_map(_leaves(service, size))
        keys = [key for key, _ in derived.items()] + [content_key("ee" * 32)]
        root = map_root_at(session, size)
        store = DbNodeStore(session, NodeCache(), roots={size: root})
        if deferred:
            store.prefetch(root, [key_hash(k) for k in keys])
            assert len(store.cache) == 0  # nothing read yet
            store.get_node(root)  # the first miss reads every path
        else:
            store.read_paths(root, [key_hash(k) for k in keys])
    store.session = None  # type: ignore[assignment]  # any read now would fail
    cached = LicenceMap(store, size=size)
    for key in keys:
        assert cached.get(key) == derived.get(key)


def test_two_writers_sharing_a_database_keep_one_map(
    app: Any,
    database_url: str,
    creator_key: SigningKey,
    buyer_key: SigningKey,
    make_grant: Callable[..., SignedStatement],
) -> None:
    """Two services (two worker processes' worth of node caches) append in turn: each reads the
    paths the other changed, and every root is still the derived one."""
    first: LogService = app.extensions["ledger"].service
    second = LogService(first.db, first.signer)
    for i, batch in enumerate(_history(creator_key, buyer_key, make_grant)):
        (first if i % 2 else second).append(batch)
    for i in range(6):
        (result,) = (second if i % 2 else first).append([make_grant(creator=seeded_key(8))])
        assert not isinstance(result, Exception), result
    assert _check_every_checkpoint(first) == 14


def test_a_log_from_before_the_map_derives_it_at_its_next_append(
    service: LogService,
    database_url: str,
    creator_key: SigningKey,
    buyer_key: SigningKey,
    make_grant: Callable[..., SignedStatement],
) -> None:
    """A database migrated from revision 0002 holds checkpoints with no map root: the first
    append derives the map of the whole log, then signs a checkpoint committing it."""
    history = _history(creator_key, buyer_key, make_grant)
    for batch in history[:4]:
        service.append(batch)
    service.db.dispose()
    ledger_db.downgrade(database_url, "0002")  # drops the map (the entries stay)
    ledger_db.upgrade(database_url)  # every checkpoint's map_root is now NULL
    fresh = LogService(service.db, service.signer)
    for batch in history[4:]:
        assert all(not isinstance(r, Exception) for r in fresh.append(batch))
    with service.db.read_session() as session:
        size = repo.latest_size(session)
        stored: LicenceMap = licence_map_at(session, size)
        assert stored.root == derive_map(_leaves(service, size)).root
        legacy = session.scalars(
            sa.select(CheckpointRow.tree_size).where(CheckpointRow.map_root.is_(None))
        ).all()
    assert legacy == [0, 1, 3, 4, 6]  # every checkpoint from before the downgrade


def test_node_rows_write_the_generic_copy_payload() -> None:
    """``NodeRows.binary_copy`` (the fast path of a batch's map nodes) is byte for byte what the
    generic binary COPY of the same row dicts is, in the column order the COPY statement uses."""
    from sqlalchemy.dialects import postgresql

    from ledger.core.vmap import MapLeaf, hash_of
    from ledger.server.storage.mapstore import NodeRows
    from ledger.server.storage.models import MapNodeRow

    leaf = MapLeaf(b"\x07" * 32, b"\x01" + b"\x09" * 32, bytes(range(24)))
    nodes = {hash_of(n): n for n in [leaf, (hash_of(leaf), MAP_EMPTY_HASH), (b"\x05" * 32,) * 2]}
    rows = NodeRows(nodes, 2**40 + 3)
    table = MapNodeRow.__table__
    _, columns = ledger_db._driver_copy(postgresql.psycopg.dialect(), table)
    assert columns == NodeRows.COLUMNS
    generic = ledger_db._binary_rows(list(rows), columns, table)
    fast = rows.binary_copy(columns)
    assert fast is not None
    assert ledger_db._COPY_HEADER + fast + ledger_db._COPY_TRAILER == generic
    assert rows.binary_copy(("node", "hash", "size")) is None  # any other order: the generic path
    assert [r["hash"] for r in rows] == list(nodes)


def test_a_log_of_map_version_1_moves_to_version_2_at_its_next_append(
    config: Any,
    database_url: str,
    creator_key: SigningKey,
    buyer_key: SigningKey,
    make_grant: Callable[..., SignedStatement],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """FORMAT §14.6: a log whose checkpoints commit version-1 roots (written here by this code
    told to derive version 1, as the software before version 2 did) keeps them valid after the
    upgrade: its first append derives the version-2 map of the whole log, and from then on every
    checkpoint commits version 2. Each checkpoint still proves at its own version and root; the
    database audit passes; statements of account wait for the first version-2 checkpoint."""
    from ledger.core import licmap
    from ledger.core.evidence.account import verify_account
    from ledger.server import app as app_module
    from ledger.server import service as service_module
    from ledger.server.dbaudit import audit_database

    history = _history(creator_key, buyer_key, make_grant)
    monkeypatch.setattr(service_module, "MAP_VERSION", 1)
    monkeypatch.setattr(
        app_module, "map_checkpoint", lambda *a: licmap.map_checkpoint(*a, version=1)
    )
    old = app_module.create_app(config)
    for batch in history[:4]:
        assert all(
            not isinstance(r, Exception) for r in old.extensions["ledger"].service.append(batch)
        )
    waiting = old.test_client().get(f"/v1/parties/{creator_key.key_id}/account")
    assert waiting.status_code == 503
    assert waiting.get_json()["code"] == "map_version_pending"
    old.extensions["ledger"].db.dispose()
    monkeypatch.undo()

    new = app_module.create_app(config)
    service: LogService = new.extensions["ledger"].service
    for batch in history[4:]:
        assert all(not isinstance(r, Exception) for r in service.append(batch))
    with service.db.read_session() as session:
        rows = session.scalars(sa.select(CheckpointRow).order_by(CheckpointRow.tree_size)).all()
        versions = []
        for row in rows:
            version, root = licmap.checkpoint_map(
                Checkpoint.parse(row.note.split("\n\n")[0] + "\n")
            )
            versions.append(version)
            leaves = _leaves(service, row.tree_size)
            assert root == bytes(row.map_root) == derive_map(leaves, version=version).root
            stored = licence_map_at(session, row.tree_size)  # proves at its own root
            for key, seqs in derive_map(leaves, version=version).items():
                value, proof = stored.lookup(key)
                assert value == seqs
                assert verify_map_proof(root, key, proof.to_bytes()).present
    assert versions == [1, 1, 1, 1, 1, 2, 2, 2]
    verifier = service.signer.verifier()
    report = audit_database(database_url, verifier)
    assert report, report.failures
    assert report.map_roots_checked == len(versions)
    answer = new.test_client().get(f"/v1/parties/{creator_key.key_id}/account")
    assert answer.status_code == 200
    assert verify_account(answer.get_json(), verifier.to_vkey())
    new.extensions["ledger"].db.dispose()
