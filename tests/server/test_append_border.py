"""Each LogService remembers the border of the tree it last committed (``service._Border``) and
reads only the hashes stored since, with the rest of its reads. These tests interleave two
services on one database, as two processes would, and check after every append that the signed
root is the root of every leaf in the log and that every entry is proven under it, whether the
border was reused (another writer appended a few entries), read again (it appended more than
``repository.RECENT_HASHES_MAX`` hashes' worth) or not known yet."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from ledger.core import builders, merkle
from ledger.core.errors import Conflict, Unavailable
from ledger.core.keys import SigningKey
from ledger.core.note import NoteSigner
from ledger.server import service as service_module
from ledger.server.service import Appended, LogService
from ledger.server.storage import db as ledger_db
from ledger.server.storage import repository as repo
from ledger.server.storage.db import Database

ORIGIN = "example.com/border-test"


@pytest.fixture
def services(database_url: str) -> Iterator[tuple[LogService, LogService]]:
    key = SigningKey.generate()
    dbs = [Database(database_url), Database(database_url)]
    yield tuple(  # type: ignore[misc]
        LogService(db, NoteSigner.from_private_key(ORIGIN, key.private_key)) for db in dbs
    )
    for db in dbs:
        db.dispose()


@pytest.fixture
def border_reads(monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:
    """Every read of stored tree hashes the append path makes (outside ``read_for_append``)."""
    calls: list[list[int]] = []
    real = repo.read_tree_hashes

    def counting(session: Any, indexes: Any) -> list[bytes]:
        calls.append(list(indexes))
        return real(session, indexes)

    monkeypatch.setattr(repo, "read_tree_hashes", counting)
    return calls


def _append(service: LogService, count: int) -> None:
    batch = [builders.party_register(SigningKey.generate(), f"p{i}") for i in range(count)]
    assert all(isinstance(r, Appended) for r in service.append(batch))


def _check(service: LogService, reads: list[list[int]] | None = None) -> None:
    """The signed root is the root of every leaf; every entry is proven under it."""
    with service.db.engine.connect() as conn:
        leaves = [
            bytes(h) for (h,) in conn.execute(sa.text("SELECT leaf_hash FROM entries ORDER BY seq"))
        ]
    with service.db.read_session() as session:
        checkpoint = repo.latest_checkpoint(session)
        assert checkpoint is not None
        size, root = checkpoint.tree_size, bytes(checkpoint.root_hash)
        reader = repo.SessionHashReader(session)
        assert size == len(leaves)
        assert root == merkle.root_from_leaf_hashes(leaves)
        for seq in range(size):
            proof = merkle.inclusion_proof(size, seq, reader)
            merkle.verify_inclusion(seq, size, leaves[seq], proof, root)
    if reads is not None:
        reads.clear()  # this check's own reads are not the append's


def test_interleaved_writers_keep_the_tree_whole(
    services: tuple[LogService, LogService], border_reads: list[list[int]]
) -> None:
    a, b = services
    _append(a, 3)  # a knows no border yet: reads it (the empty tree has none)
    _check(a, border_reads)
    _append(b, 5)  # b knows none: reads the border of 3
    assert border_reads[-1] == merkle.border_indexes(3)
    _check(a, border_reads)
    _append(a, 2)  # a knew the border of 3; b stored a few hashes since: nothing to read
    assert border_reads == []
    _check(a, border_reads)
    _append(a, 1)  # its own border: nothing to read
    assert border_reads == []
    many = repo.RECENT_HASHES_MAX // 2 + 10  # about 2 hashes a leaf: more than read at once
    _append(b, many)  # b's border (of 8) is 3 leaves behind: still reused
    assert border_reads == []
    _check(b, border_reads)
    _append(a, 1)  # a's border (of 11) is now too far behind: it reads the border again
    assert border_reads == [merkle.border_indexes(11 + many)]
    _check(a, border_reads)


def test_the_border_moves_only_when_a_transaction_commits(
    services: tuple[LogService, LogService], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, _ = services
    logged = builders.party_register(SigningKey.generate(), "logged")
    assert isinstance(a.append([logged])[0], Appended)
    _append(a, 3)
    known = a._border
    assert known is not None
    assert known.size == 4
    (refused,) = a.append([logged])  # nothing to write: no new border
    assert not isinstance(refused, Appended)
    assert a._border is known

    real = repo.insert_all

    def failing(*_: Any) -> None:
        raise sa.exc.OperationalError("INSERT ...", {}, Exception("injected failure"))

    monkeypatch.setattr(repo, "insert_all", failing)
    with pytest.raises(Unavailable):
        _append(a, 2)
    assert a._border is known  # rolled back: the hashes it computed were never stored
    monkeypatch.setattr(repo, "insert_all", real)
    _append(a, 2)
    assert a._border is not None
    assert a._border.size == 6
    _check(a)


def test_a_write_that_got_past_the_lock_is_a_conflict_and_nothing_is_written(
    backend: str, services: tuple[LogService, LogService], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only a bug or a writer that ignores the lock can do this; the database's unique keys still
    # refuse the second row, and the error crosses db.Pipeline as SQLAlchemy's IntegrityError.
    if backend == "sqlite":
        pytest.skip("SQLite's write lock keeps every other writer out: nothing can interleave")
    a, _ = services
    _append(a, 2)
    known = a._border
    real_sign = service_module.sign_checkpoint

    def foreign_write_then_sign(*args: Any) -> Any:
        with a.db.engine.begin() as conn:  # another connection, committed at once
            conn.execute(
                sa.text("INSERT INTO tree_hashes (idx, hash) VALUES (:i, :h)"),
                {"i": merkle.stored_hash_count(2), "h": bytes(32)},
            )
        return real_sign(*args)

    monkeypatch.setattr(service_module, "sign_checkpoint", foreign_write_then_sign)
    with pytest.raises(Conflict):
        _append(a, 1)
    assert a._border is known
    with a.db.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM entries")).scalar() == 2
        assert conn.execute(sa.text("SELECT max(tree_size) FROM checkpoints")).scalar() == 2


def test_a_border_from_another_log_is_not_used(
    services: tuple[LogService, LogService],
    request: pytest.FixtureRequest,
    border_reads: list[list[int]],
) -> None:
    # A database switched under a running process (an operator's mistake): its hashes at the
    # same indexes are another log's. The signed root at the border's size tells them apart.
    a, _ = services
    _append(a, 5)
    other_url: str = request.getfixturevalue("fresh_database_url")
    ledger_db.upgrade(other_url)
    other = Database(other_url)
    try:
        _append(LogService(other, a.signer), 7)
        a.db = other
        _append(a, 2)
        assert border_reads == [merkle.border_indexes(7)]  # read, not taken from the old log
        _check(a)
    finally:
        other.dispose()
