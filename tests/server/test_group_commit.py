"""Group commit: concurrent single appends in one process share transactions, and each caller
still gets its own result only after its statement committed."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from ledger.core import builders
from ledger.core.errors import KeyAlreadyRegistered, LedgerError, Unavailable
from ledger.core.keys import SigningKey
from ledger.core.statements import SignedStatement
from ledger.server.service import Appended, GroupCommitter, LogService
from ledger.server.storage import repository as repo
from tests.conftest import break_database


def test_concurrent_appends_are_grouped_and_each_gets_its_result(service: LogService) -> None:
    committer = GroupCommitter(service)
    taken = SigningKey.generate()
    service.append_one(builders.party_register(taken, "first"))
    statements = [builders.party_register(SigningKey.generate(), f"p{i}") for i in range(64)]
    statements[10] = builders.party_register(taken, "again")  # must fail alone
    results: list[Appended | LedgerError | None] = [None] * len(statements)
    barrier = threading.Barrier(16)

    def worker(start: int) -> None:
        barrier.wait()
        for i in range(start, len(statements), 16):
            try:
                results[i] = committer.append_one(statements[i])
            except LedgerError as e:
                results[i] = e

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert isinstance(results[10], KeyAlreadyRegistered)
    appended = [r for r in results if isinstance(r, Appended)]
    assert len(appended) == 63
    assert sorted(r.seq for r in appended) == list(range(1, 64))
    with service.db.read_session() as session:
        for r in appended:
            entry = repo.get_entry(session, r.seq)
            assert entry is not None
            assert bytes(entry.leaf_hash) == r.leaf_hash
            # each caller is told a tree size that was committed with a checkpoint
            assert r.tree_size > r.seq
            assert repo.get_checkpoint(session, r.tree_size) is not None
        checkpoints = {r.tree_size for r in appended}
    assert len(checkpoints) < len(appended), "concurrent appends should have shared commits"


def test_statements_queued_while_another_writer_holds_the_lock_share_one_transaction(
    service: LogService,
) -> None:
    # Another writer (as another gunicorn worker would) holds the append lock. Meanwhile 12
    # requests queue up in this process; the leader waits for the lock without having taken a
    # batch yet, so once the lock is free all 12 commit in one transaction.
    committer = GroupCommitter(service)
    statements = [builders.party_register(SigningKey.generate(), f"q{i}") for i in range(12)]
    results: list[Appended | LedgerError | None] = [None] * len(statements)

    def worker(i: int) -> None:
        try:
            results[i] = committer.append_one(statements[i])
        except LedgerError as e:
            results[i] = e

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(statements))]
    with service.db.append_transaction():
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while committer.queued() < len(statements) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert committer.queued() == len(statements)
    for t in threads:
        t.join()

    assert all(isinstance(r, Appended) for r in results), results
    assert {r.tree_size for r in results if isinstance(r, Appended)} == {len(statements)}
    assert sorted(r.seq for r in results if isinstance(r, Appended)) == list(range(12))


def test_without_a_database_every_waiting_caller_gets_unavailable(
    app: Flask, service: LogService, database_url: str
) -> None:
    # On PostgreSQL the leader fails before it could take a batch (no database to connect to); it
    # must fail the waiting statements, not leave them queued for another leader that fails the
    # same way, forever. On SQLite the deleted file is re-created empty on connect, so the
    # failure comes after the batch was taken ("no such table"): that path is covered too.
    committer = GroupCommitter(service)
    break_database(app, database_url)
    errors: list[BaseException | None] = [None] * 8

    def worker(i: int) -> None:
        try:
            committer.append_one(builders.party_register(SigningKey.generate(), f"gone {i}"))
        except BaseException as e:
            errors[i] = e

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(errors))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "callers still waiting"
    assert all(isinstance(e, Unavailable) for e in errors), errors
    assert committer.queued() == 0


def test_a_caller_learns_its_result_without_waiting_for_the_next_transaction(
    service: LogService, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Transaction 1 carries the leader's statement and those of eight callers that queued behind
    # it. The leader's thread then appends a second statement at once, and this test holds that
    # transaction 2 open. The eight must return as soon as transaction 1 committed: a design that
    # makes them take the leader lock to learn their result leaves them behind transaction 2
    # (here: until it is released), since the leader's thread takes the lock again first.
    committer = GroupCommitter(service)
    real_append_taken = service.append_taken
    calls = 0
    hold_second = threading.Event()
    second_started = threading.Event()
    results: dict[str, Appended | LedgerError] = {}
    threads: dict[str, threading.Thread] = {}

    statements = {
        name: builders.party_register(SigningKey.generate(), name)
        for name in ["leader", "second", *(f"early {i}" for i in range(8))]
    }

    def append(name: str) -> None:
        statement = statements[name]
        try:
            results[name] = committer.append_one(statement)
        except LedgerError as e:
            results[name] = e

    def start(target: Callable[[], None], name: str) -> None:
        threads[name] = threading.Thread(target=target)
        threads[name].start()

    def append_taken(take: Callable[[], list[SignedStatement]]) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            for i in range(8):
                start(functools.partial(append, f"early {i}"), f"early {i}")
            deadline = time.monotonic() + 30
            while committer.queued() < 9:  # the leader's own statement and the eight
                assert time.monotonic() < deadline, f"{committer.queued()} queued, not 9"
                time.sleep(0.005)
        else:
            second_started.set()
            assert hold_second.wait(timeout=60)
        return real_append_taken(take)

    def leader() -> None:
        append("leader")
        append("second")

    monkeypatch.setattr(service, "append_taken", append_taken)
    start(leader, "leader")
    early = [f"early {i}" for i in range(8)]
    try:
        assert second_started.wait(timeout=30)
        for name in early:
            threads[name].join(timeout=10)
        assert not [n for n in early if threads[n].is_alive()], "callers wait behind transaction 2"
        assert "second" not in results  # its transaction is still held
    finally:
        hold_second.set()
        for t in threads.values():
            t.join(timeout=30)
    assert calls == 2
    assert all(isinstance(r, Appended) for r in results.values()), results
    assert len(results) == 10
    first = {results[n].tree_size for n in ["leader", *early]}  # type: ignore[union-attr]
    assert first == {9}
    assert results["second"].seq == 9  # type: ignore[union-attr]
