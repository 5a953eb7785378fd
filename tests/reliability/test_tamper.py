"""Tampering by a database superuser: the append-only triggers bypassed (PostgreSQL:
``session_replication_role = replica``; SQLite: the trigger dropped in a raw connection), one
byte changed in a random stored entry, tree hash or checkpoint (and one tree hash deleted). The
database audit must name the table, the row and what differs; the HTTP audit against the live
server must name the code and the seq (or tree size) wherever the tampered bytes are served to it.

Each case restores the row afterwards, so one served log per backend serves the whole table.
The random rows come from ``LEDGER_TAMPER_SEED`` (printed in every failure message).
"""

from __future__ import annotations

import os
import random
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from ledger.client import LogClient
from ledger.client.audit import FailureCode, LogAuditor
from ledger.core import merkle
from ledger.core.checkpoint import open_checkpoint, sign_checkpoint
from ledger.core.leaf import LEAF_MAGIC, parse_leaf
from ledger.core.licmap import (
    KeyParties,
    describe_key,
    encode_seqs,
    entry_keys,
    grant_key,
    map_checkpoint,
)
from ledger.core.note import NoteVerifier
from ledger.core.vmap import SparseMerkleMap, encode_node
from ledger.server.dbaudit import audit_database
from tests.reliability.conftest import ServedLog
from tests.reliability.logs import log_signer

pytestmark = pytest.mark.slow

SEED = int(os.environ.get("LEDGER_TAMPER_SEED", random.SystemRandom().randrange(2**32)))
PREV_AT = len(LEAF_MAGIC) + 16
F = FailureCode


@contextmanager
def superuser(url: str) -> Iterator[Callable[[str, dict[str, Any]], Any]]:
    """A connection that may change append-only rows; yields ``run(sql, params)``."""
    if url.startswith("sqlite"):
        conn = sqlite3.connect(sa.engine.make_url(url).database or "")
        for table in ("entries", "tree_hashes", "checkpoints", "map_nodes"):
            conn.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            conn.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
        try:
            yield lambda sql, params: conn.execute(sql, params).fetchall()
            conn.commit()
        finally:
            conn.close()
        return
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as pg:
        pg.execute(sa.text("SET LOCAL session_replication_role = replica"))  # triggers off

        def run(sql: str, params: dict[str, Any]) -> Any:
            result = pg.execute(sa.text(sql), params)
            return result.fetchall() if result.returns_rows else None

        yield run
    engine.dispose()


def _flip_byte(value: bytes, offset: int) -> bytes:
    return value[:offset] + bytes([value[offset] ^ 0x01]) + value[offset + 1 :]


@dataclass(frozen=True)
class Tamper:
    """Where one byte was changed and what each audit must say about it."""

    db: tuple[str, str, FailureCode]  # table, row, code: the database audit's first failure
    db_tables: dict[str, str]  # every failing table -> its first bad row
    http: tuple[FailureCode, int | None, int | None] | None  # code, seq, tree size; or n/a
    key: str | None = None  # the licence map key both audits must name, if any


@dataclass
class Target:
    url: str
    size: int
    checkpoint_sizes: list[int]
    rng: random.Random
    key_file: Path


Sql = Callable[[str, dict[str, Any]], Any]
Restore = Callable[[Sql], None]
KEYS = {"entries": "seq", "tree_hashes": "idx", "checkpoints": "tree_size", "map_nodes": "hash"}


def _read(sql: Sql, table: str, column: str, key: Any) -> Any:
    (value,) = sql(f"SELECT {column} FROM {table} WHERE {KEYS[table]} = :k", {"k": key})[0]
    return value if isinstance(value, str) else bytes(value)


def _write(sql: Sql, table: str, column: str, key: Any, value: Any) -> None:
    sql(f"UPDATE {table} SET {column} = :v WHERE {KEYS[table]} = :k", {"v": value, "k": key})


def _change(sql: Sql, table: str, column: str, key: Any, edit: Callable[[Any], Any]) -> Restore:
    """Apply ``edit`` to one stored value; returns how to put the original back."""
    original = _read(sql, table, column, key)
    _write(sql, table, column, key, edit(original))
    return lambda again: _write(again, table, column, key, original)


def _first_checkpoint_after(target: Target, seq: int) -> int:
    return min(c for c in target.checkpoint_sizes if c > seq)


def _leaf(offset: Callable[[random.Random, bytes], int], code: FailureCode) -> Any:
    """Change a byte of a random entry's leaf: its hash changes, so the stored tree hash of
    that leaf and the roots of the checkpoints after it disagree with the leaves too."""

    def run(t: Target, sql: Sql) -> tuple[Tamper, Restore]:
        seq = t.rng.randrange(1, t.size - 1)
        restore = _change(sql, "entries", "leaf", seq, lambda v: _flip_byte(v, offset(t.rng, v)))
        tamper = Tamper(
            ("entries", f"seq {seq}", code),
            {
                "entries": f"seq {seq}",
                "tree_hashes": f"idx {merkle.stored_hash_index(0, seq)}",
                "checkpoints": f"tree_size {_first_checkpoint_after(t, seq)}",
            },
            (code, seq, None),
        )
        return tamper, restore

    return run


def _entry_column(column: str, code: FailureCode) -> Any:
    def run(t: Target, sql: Sql) -> tuple[Tamper, Restore]:
        seq = t.rng.randrange(t.size)
        restore = _change(sql, "entries", column, seq, lambda v: _flip_byte(v, t.rng.randrange(32)))
        row = f"seq {seq}"
        return Tamper(("entries", row, code), {"entries": row}, (code, seq, None)), restore

    return run


def _tree_hash(t: Target, sql: Sql) -> tuple[Tamper, Restore]:
    idx = t.rng.randrange(merkle.stored_hash_count(t.size))
    restore = _change(sql, "tree_hashes", "hash", idx, lambda v: _flip_byte(v, t.rng.randrange(32)))
    # The HTTP audit recomputes the tree from the leaves; stored hashes reach it only inside
    # proofs, so it cannot name the row: n/a.
    row = f"idx {idx}"
    return Tamper(("tree_hashes", row, F.TREE_HASH_MISMATCH), {"tree_hashes": row}, None), restore


def _tree_hash_deleted(t: Target, sql: Sql) -> tuple[Tamper, Restore]:
    idx = t.rng.randrange(merkle.stored_hash_count(t.size))
    value = _read(sql, "tree_hashes", "hash", idx)
    sql("DELETE FROM tree_hashes WHERE idx = :k", {"k": idx})
    row = f"idx {idx}"
    tamper = Tamper(("tree_hashes", row, F.TREE_HASH_MISSING), {"tree_hashes": row}, None)
    return tamper, lambda again: again(
        "INSERT INTO tree_hashes (idx, hash) VALUES (:k, :v)", {"k": idx, "v": value}
    )


def _signature_char(rng: random.Random, note: str) -> str:
    """One base64 character of the note's signature line replaced by another."""
    line_start = note.rstrip("\n").rindex("\n") + 1  # "— origin base64(key id || signature)"
    offset = note.index(" ", line_start + 2) + 1 + rng.randrange(8, 80)
    return note[:offset] + ("A" if note[offset] != "A" else "B") + note[offset + 1 :]


def _checkpoint_note(t: Target, sql: Sql) -> tuple[Tamper, Restore]:
    size = t.rng.choice(t.checkpoint_sizes)
    restore = _change(sql, "checkpoints", "note", size, lambda v: _signature_char(t.rng, v))
    # The latest checkpoint fails before its size can be trusted: no size in that report.
    http_size = None if size == t.size else size
    row = f"tree_size {size}"
    tamper = Tamper(
        ("checkpoints", row, F.CHECKPOINT_INVALID),
        {"checkpoints": row},
        (F.CHECKPOINT_INVALID, None, http_size),
    )
    return tamper, restore


def _checkpoint_root(t: Target, sql: Sql) -> tuple[Tamper, Restore]:
    size = t.rng.choice(t.checkpoint_sizes)
    restore = _change(
        sql, "checkpoints", "root_hash", size, lambda v: _flip_byte(v, t.rng.randrange(32))
    )
    # The API serves the signed note, not this column (only /v1/log shows the latest): n/a.
    row = f"tree_size {size}"
    return Tamper(
        ("checkpoints", row, F.CHECKPOINT_ROW_MISMATCH), {"checkpoints": row}, None
    ), restore


def _wrong_map_signed(t: Target, sql: Sql) -> tuple[Tamper, Restore]:
    """A checkpoint re-signed with the log key, committing a licence map root that is not the
    map of its entries (a log whose map was computed wrongly before it signed)."""
    size = t.rng.choice([s for s in t.checkpoint_sizes if s > 0])
    signer = log_signer(t.key_file)

    def resign(note: str) -> str:
        cp, _ = open_checkpoint(note, signer.verifier())
        return sign_checkpoint(map_checkpoint(cp.origin, size, cp.root_hash, b"\x11" * 32), signer)

    restore_note = _change(sql, "checkpoints", "note", size, resign)
    restore_column = _change(sql, "checkpoints", "map_root", size, lambda _: b"\x11" * 32)
    row = f"tree_size {size}"
    tamper = Tamper(
        ("checkpoints", row, F.MAP_ROOT_MISMATCH),
        {"checkpoints": row},
        (F.MAP_ROOT_MISMATCH, None, size),
    )
    return tamper, lambda again: (restore_note(again), restore_column(again))


def _map_omitting_an_acceptance(t: Target, sql: Sql) -> tuple[Tamper, Restore]:
    """The log computed its map wrongly and signed it: the checkpoint of a random size commits
    the map of its entries without one ``grant.accept`` (the map's nodes stored as the log
    stores them, the column and the re-signed note naming its root). Both audits must name that
    checkpoint and the accepted grant's ``grant`` key, the one key whose list differs."""
    rows = sql("SELECT seq, leaf, type FROM entries ORDER BY seq", {})
    accepts = [seq for seq, _, kind in rows if kind == "grant.accept"]
    omitted = t.rng.choice(accepts)
    size = _first_checkpoint_after(t, omitted)
    suffixes: dict[bytes, list[int]] = {}
    parties = KeyParties()
    for seq, leaf, _ in rows[:size]:
        keys = entry_keys(parse_leaf(bytes(leaf)).signed, parties)
        if seq != omitted:
            for key in keys:
                suffixes.setdefault(key, []).append(seq)
    wrong = SparseMerkleMap()
    root = wrong.append_values(1, {k: encode_seqs(v) for k, v in suffixes.items()})
    for h, node in wrong.store.nodes.items():  # type: ignore[attr-defined]
        sql(
            "INSERT INTO map_nodes (hash, node, size) VALUES (:h, :n, :s) "
            "ON CONFLICT (hash) DO NOTHING",
            {"h": h, "n": encode_node(node), "s": size},
        )
    signer = log_signer(t.key_file)

    def resign(note: str) -> str:
        cp, _ = open_checkpoint(note, signer.verifier())
        return sign_checkpoint(map_checkpoint(cp.origin, size, cp.root_hash, root), signer)

    restore_note = _change(sql, "checkpoints", "note", size, resign)
    restore_column = _change(sql, "checkpoints", "map_root", size, lambda _: root)
    accepted = parse_leaf(bytes(rows[omitted][1])).signed.statement
    row = f"tree_size {size}"
    tamper = Tamper(
        ("checkpoints", row, F.MAP_ROOT_MISMATCH),
        {"checkpoints": row},
        (F.MAP_ROOT_MISMATCH, None, size),
        key=describe_key(grant_key(accepted.grant_hash)),  # type: ignore[attr-defined]
    )
    return tamper, lambda again: (restore_note(again), restore_column(again))


def _map_root_column(t: Target, sql: Sql) -> tuple[Tamper, Restore]:
    """One byte of a checkpoint's ``map_root`` column: proofs would be walked from a root the
    note does not commit. Not served as such over HTTP (proofs against it just fail)."""
    size = t.rng.choice(t.checkpoint_sizes)
    restore = _change(sql, "checkpoints", "map_root", size, lambda v: _flip_byte(v, 0))
    row = f"tree_size {size}"
    tamper = Tamper(("checkpoints", row, F.CHECKPOINT_ROW_MISMATCH), {"checkpoints": row}, None)
    return tamper, restore


def _map_node(t: Target, sql: Sql) -> tuple[Tamper, Restore]:
    """The last byte of a random stored map node (a child hash, or a value's last seq byte)."""
    hashes = sorted(bytes(h) for (h,) in sql("SELECT hash FROM map_nodes", {}))
    h = t.rng.choice(hashes)
    restore = _change(sql, "map_nodes", "node", h, lambda v: _flip_byte(v, len(v) - 1))
    row = f"hash {h.hex()}"
    tamper = Tamper(("map_nodes", row, F.MAP_NODE_MISMATCH), {"map_nodes": row}, None)
    return tamper, restore


def _signature_byte(rng: random.Random, leaf: bytes) -> int:
    return len(leaf) - 1 - rng.randrange(64)


def _prev_hash_byte(rng: random.Random, _leaf: bytes) -> int:
    return PREV_AT + rng.randrange(32)


TAMPERS = [
    ("entries.leaf signature byte", _leaf(_signature_byte, F.SIGNATURE_INVALID)),
    ("entries.leaf prev_leaf_hash byte", _leaf(_prev_hash_byte, F.CHAIN_BROKEN)),
    ("entries.leaf_hash", _entry_column("leaf_hash", F.LEAF_HASH_MISMATCH)),
    ("entries.statement_hash", _entry_column("statement_hash", F.STATEMENT_HASH_MISMATCH)),
    ("tree_hashes.hash", _tree_hash),
    ("tree_hashes row deleted", _tree_hash_deleted),
    ("checkpoints.note signature", _checkpoint_note),
    ("checkpoints.root_hash", _checkpoint_root),
    ("checkpoints.note re-signed with a wrong map root", _wrong_map_signed),
    ("checkpoints.note re-signed with a map omitting an acceptance", _map_omitting_an_acceptance),
    ("checkpoints.map_root", _map_root_column),
    ("map_nodes.node", _map_node),
]


@pytest.mark.parametrize(("case", "tamper"), TAMPERS, ids=[c[0] for c in TAMPERS])
def test_the_audits_name_the_tampered_row(shared_log: ServedLog, case: str, tamper: Any) -> None:
    why = f"{case}, LEDGER_TAMPER_SEED={SEED}"
    client = LogClient(shared_log.url)
    target = Target(
        shared_log.database_url,
        client.log_info()["tree_size"],
        sorted({a["tree_size"] for a in shared_log.acks}),
        random.Random(SEED + sum(map(ord, case))),
        shared_log.key_file,
    )
    verifier = NoteVerifier.from_vkey(shared_log.vkey)
    with superuser(shared_log.database_url) as sql:
        expected, restore = tamper(target, sql)
    try:
        _check_database_audit(shared_log.database_url, verifier, expected, why)
        if expected.http is not None:
            _check_http_audit(client, verifier, expected.http, expected.key, why)
    finally:
        with superuser(shared_log.database_url) as sql:
            restore(sql)
    assert audit_database(shared_log.database_url, verifier), f"not restored: {why}"


def _check_database_audit(url: str, verifier: NoteVerifier, expected: Tamper, why: str) -> None:
    report = audit_database(url, verifier)
    first = report.failure
    assert first is not None, why
    assert (first.table, first.row, first.code) == expected.db, f"{first} ({why})"
    if expected.key is not None:
        assert first.key == expected.key, f"{first} ({why})"
    assert {f.table: f.row for f in report.failures} == expected.db_tables, (report.failures, why)


def _check_http_audit(
    client: LogClient,
    verifier: NoteVerifier,
    expected: tuple[FailureCode, int | None, int | None],
    key: str | None,
    why: str,
) -> None:
    # every stored checkpoint is read only with all_checkpoints: the latest one is always read
    auditor = LogAuditor(client, verifier, page_size=16, all_checkpoints=True)
    failure = auditor.audit().failure
    assert failure is not None, why
    assert (failure.code, failure.seq, failure.tree_size) == expected, f"{failure} ({why})"
    if key is not None:
        assert failure.key == key, f"{failure} ({why})"
