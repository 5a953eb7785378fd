"""``ledger audit --strict`` replays the append rules and names the first entry the log should have
refused: a log whose database holds a statement the rules refuse (a second acceptance of a grant,
written straight into the tables, past the service) is otherwise intact, so only the rules can
catch it. Both audits (over HTTP against real gunicorn, and of the database), both backends."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from ledger.client import LogClient
from ledger.client.audit import FailureCode, LogAuditor
from ledger.core import builders, merkle
from ledger.core.checkpoint import sign_checkpoint
from ledger.core.leaf import Leaf, datetime_from_micros, leaf_hash
from ledger.core.licmap import KeyParties, LicenceMap, map_checkpoint
from ledger.core.note import NoteSigner, NoteVerifier
from ledger.core.statements import SignedStatement
from ledger.server.config import Config
from ledger.server.dbaudit import audit_database
from ledger.server.storage import repository as repo
from ledger.server.storage.db import Database
from ledger.server.storage.mapstore import DbNodeStore, map_root_at
from ledger.server.storage.models import CheckpointRow, EntryRow, KeyRow, MapNodeRow, TreeHashRow
from tests.reliability.test_full_audit import ledger_cli
from tests.support.factories import seeded_key
from tests.support.live import LiveServer

pytestmark = pytest.mark.slow

CREATOR, BUYER = seeded_key(1), seeded_key(2)


def write_unchecked(db: Database, signer: NoteSigner, signed: SignedStatement, at: int) -> int:
    """Append ``signed`` as the service would (leaf, stored hashes, signed checkpoint), but
    without its rules and index rows: what a buggy or dishonest log could hold. Returns its seq."""
    with db.append_transaction() as session:
        last = session.execute(
            select(EntryRow.seq, EntryRow.leaf_hash).order_by(EntryRow.seq.desc()).limit(1)
        ).one()
        seq = last.seq + 1
        leaf = Leaf(seq, at, bytes(last.leaf_hash), signed).to_bytes()
        h = leaf_hash(leaf)
        now = datetime_from_micros(at)
        entry = {
            "seq": seq,
            "leaf": leaf,
            "leaf_hash": h,
            "statement_hash": signed.statement_hash,
            "type": signed.type_name,
            "signer": signed.statement.signer,
            "integrated_at": now,
        }
        repo.insert_all(session, [(EntryRow, [entry])])
        reader = repo.SessionHashReader(session)
        stored = merkle.stored_hashes_for_leaves(seq, [h], reader)
        start = merkle.stored_hash_count(seq)
        hash_rows = [{"idx": start + i, "hash": x} for i, x in enumerate(stored)]
        repo.insert_all(session, [(TreeHashRow, hash_rows)])
        reader.known.update({start + i: x for i, x in enumerate(stored)})
        root = merkle.tree_hash(seq + 1, reader)
        # The licence map is derived from what the entry says, as the log's would be.
        parties = KeyParties(dict(session.execute(select(KeyRow.key_id, KeyRow.party_id)).all()))
        store = DbNodeStore(session, roots={seq: map_root_at(session, seq)})
        licence_map = LicenceMap(store, size=seq, parties=parties)
        map_root = licence_map.apply([Leaf(seq, at, bytes(last.leaf_hash), signed)])
        note = sign_checkpoint(map_checkpoint(signer.name, seq + 1, root, map_root), signer)
        cp_row = repo.checkpoint_row(seq + 1, root, note, now, map_root)
        repo.insert_all(
            session, [(MapNodeRow, store.node_rows(seq + 1)), (CheckpointRow, [cp_row])]
        )
    return seq


@pytest.fixture
def bad_log(app: Flask) -> tuple[int, str]:
    """A log of 6 entries whose entry 4 accepts a grant that entry 3 already accepted; returns
    that seq and the log's vkey."""
    ext = app.extensions["ledger"]
    service = ext.service
    for key, name in ((CREATOR, "creator"), (BUYER, "buyer")):
        service.append_one(builders.party_register(key, name))
    items = [builders.Item("ab" * 32, 1000, 60)]
    grant = builders.grant(CREATOR, BUYER.key_id, str(uuid.uuid4()), items, builders.TermsSpec())
    service.append_one(grant)
    service.append_one(builders.grant_accept(BUYER, grant.statement_hash))
    again = builders.grant_accept(BUYER, grant.statement_hash)  # the rules refuse this one
    bad = write_unchecked(ext.db, service.signer, again, service.now_micros())
    service.append_one(builders.key_rotate(CREATOR, seeded_key(4)))  # valid again after it
    return bad, ext.verifier_key


def test_database_audit_strict_names_the_refusable_entry(
    bad_log: tuple[int, str], config: Config
) -> None:
    bad, vkey = bad_log
    verifier = NoteVerifier.from_vkey(vkey)
    assert audit_database(config.database_url, verifier)  # framing, chain, tree: all intact
    report = audit_database(config.database_url, verifier, strict=True)
    (failure,) = report.failures
    assert (failure.code, failure.table, failure.seq) == (FailureCode.RULE_VIOLATED, "entries", bad)
    assert "already_accepted" in failure.message


def test_http_audit_strict_names_the_refusable_entry(
    bad_log: tuple[int, str], config: Config, tmp_path: Path
) -> None:
    bad, vkey = bad_log
    verifier = NoteVerifier.from_vkey(vkey)
    server = LiveServer(config.database_url, config.log_key_file, tmp_path / "gunicorn", workers=1)
    with server:
        client = LogClient(server.url)
        assert LogAuditor(client, verifier).audit()  # not strict: nothing else is wrong
        for workers in (0, 2):  # in order, whether pages are checked here or in workers
            report = LogAuditor(client, verifier, strict=True, workers=workers, page_size=2).audit()
            assert report.failure is not None
            assert (report.failure.code, report.failure.seq) == (FailureCode.RULE_VIOLATED, bad)
            assert report.entries_checked == bad + 1
        done = ledger_cli("--url", server.url, "--log-key", vkey, "--strict", "--workers", "0")
        assert done.returncode == 1, done.stderr
        assert f"AUDIT FAILED [rule_violated] seq {bad}: the log should have refused" in (
            done.stdout + done.stderr
        )
        assert ledger_cli("--url", server.url, "--log-key", vkey, "--workers", "0").returncode == 0
