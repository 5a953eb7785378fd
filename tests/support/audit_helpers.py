"""Auditing a whole log as an outside mirror would, plus the client workloads that fill it.

``audit_log(source, acks)`` runs the real auditor (``ledger.client.audit.LogAuditor``, strict, every
stored checkpoint checked) through a ``LogSource`` (``HttpLog`` over the HTTP API, or ``DbLog``
through ``ledger.server.reads.log`` on the database), which checks with the pure core only that:

1. the latest checkpoint verifies under the log's key;
2. the entries are exactly seqs 0..n-1, every leaf parses (signatures verified), its hash and
   statement hash are as listed, and it chains to the previous leaf;
3. the Merkle root recomputed from the leaves equals the signed root;
4. every checkpoint that exists (asked for at every size 1..n) verifies, has the root of that
   prefix, and is consistent with the head by the log's own consistency proof.

On top, for tests of a quiescent log: ``/v1/log`` agrees with the head, nothing is served beyond
it, no statement is logged twice, and every acknowledged append is at its seq with the same leaf
and statement hash, with a checkpoint at the tree size it was told.

Failures raise ``AuditFailure`` (an AssertionError). The workload builders and the client processes
(``ClientProcesses``, ``run_direct_client``) are here so that spawned children can import them.
"""

from __future__ import annotations

import multiprocessing
import queue
import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from ledger.client import LogClient
from ledger.client.audit import LogAuditor, LogSource
from ledger.core import builders
from ledger.core.keys import SigningKey
from ledger.core.note import NoteVerifier
from ledger.core.statements import SignedStatement

Ack = dict[str, Any]  # {seq, leaf_hash, statement_hash, tree_size} as the API returns them


class AuditFailure(AssertionError):
    pass


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise AuditFailure(message)


# --- where the audit reads from -----------------------------------------------------------------


class HttpLog(LogClient):
    """The log as served at ``url`` (GET only), through the real client."""


class DbLog:
    """The same reads, straight from the database through ``ledger.server.reads.log`` (no HTTP)."""

    def __init__(self, database_url: str, origin: str, verifier_key: str) -> None:
        from ledger.server.storage.db import Database

        self.db = Database(database_url)
        self.origin = origin
        self.verifier_key = verifier_key

    def log_info(self) -> dict[str, Any]:
        from ledger.server.reads import log as log_reads

        with self.db.read_session() as s:
            return log_reads.log_info(s, self.origin, self.verifier_key)

    def entries(self, start: int, limit: int) -> dict[str, Any]:
        from ledger.server.reads import log as log_reads

        with self.db.read_session() as s:
            return log_reads.list_entries(s, start, limit)

    def checkpoint(self, tree_size: int | None = None) -> str:
        """Raises NotFound when there is none at that size."""
        from ledger.server.reads import log as log_reads

        with self.db.read_session() as s:
            return log_reads.checkpoint_note(s, tree_size)

    def consistency_proof(self, first: int, second: int) -> dict[str, Any]:
        from ledger.server.reads import log as log_reads
        from ledger.server.reads.published import SignedSizes

        with self.db.read_session() as s:
            return log_reads.consistency_proof(s, first, second, SignedSizes())

    def close(self) -> None:
        self.db.dispose()


class Source(LogSource, Protocol):
    """What ``audit_log`` reads: the auditor's reads plus ``/v1/log``."""

    def log_info(self) -> dict[str, Any]: ...


# --- the audit ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditReport:
    size: int
    root: bytes
    leaf_hashes: list[bytes]
    statement_hashes: list[bytes]
    checkpoint_sizes: list[int]


def audit_log(source: Source, acks: Sequence[Ack] = (), *, page_size: int = 100) -> AuditReport:
    """Check the whole log (see the module docstring); the log must be quiescent."""
    info = source.log_info()
    leaf_hashes: list[bytes] = []
    statement_hashes: list[bytes] = []
    sizes: list[int] = []
    auditor = LogAuditor(
        source,
        NoteVerifier.from_vkey(info["verifier_key"]),
        page_size=page_size,
        strict=True,
        all_checkpoints=True,
        on_entry=lambda _seq, lh, sh: (leaf_hashes.append(lh), statement_hashes.append(sh)),
        on_checkpoint=sizes.append,
    )
    report = auditor.audit()
    _require(bool(report), f"audit failed: {report.failure}")
    n = report.tree_size
    _require(info["tree_size"] == n, f"/v1/log size {info['tree_size']} != checkpoint size {n}")
    _require(info["root_hash"] == report.root_hash.hex(), "/v1/log root != checkpoint root")
    _require(n == 0 or (bool(sizes) and sizes[-1] == n), "no checkpoint at the head size")
    beyond = source.entries(n, page_size)["entries"]
    _require(not beyond, f"entries beyond the signed size {n} are served")
    _require(len(set(statement_hashes)) == n, "a statement is logged twice")
    _check_acks(acks, leaf_hashes, statement_hashes, set(sizes))
    return AuditReport(n, report.root_hash, leaf_hashes, statement_hashes, sizes)


def _check_acks(
    acks: Sequence[Ack],
    leaf_hashes: list[bytes],
    statement_hashes: list[bytes],
    sizes: set[int],
) -> None:
    seen: set[int] = set()
    for ack in acks:
        seq = ack["seq"]
        _require(seq not in seen, f"seq {seq} was acknowledged twice")
        seen.add(seq)
        _require(seq < len(leaf_hashes), f"acknowledged seq {seq} is missing from the log")
        _require(leaf_hashes[seq].hex() == ack["leaf_hash"], f"seq {seq}: other leaf than acked")
        _require(
            statement_hashes[seq].hex() == ack["statement_hash"], f"seq {seq}: other statement"
        )
        _require(ack["tree_size"] in sizes, f"seq {seq}: no checkpoint at told size")


# --- workloads ----------------------------------------------------------------------------------

_GROUP_SIZES = (1, 1, 2, 3, 1, 4, 1, 2)


def workload(client_id: int, count: int) -> list[list[SignedStatement]]:
    """``count`` valid statements of one client, in groups (size 1: single POST; more: a batch).

    The client registers a creator and a buyer, then the creator offers grants to the buyer, who
    accepts two of every three; the third is withdrawn. Halfway, the creator rotates its key.
    Every statement is new (random keys, grant ids and nonces), so clients never conflict.
    """
    creator, buyer = SigningKey.generate(), SigningKey.generate()
    stmts = [
        builders.party_register(creator, f"c{client_id}-creator"),
        builders.party_register(buyer, f"c{client_id}-buyer"),
    ]
    i = 0
    while len(stmts) < count:
        if i == count // 6:
            new = SigningKey.generate()
            stmts.append(builders.key_rotate(creator, new))
            creator = new
        item = builders.Item(sha256=uuid.uuid4().hex * 2, bytes=1000 + i, duration_s=10)
        g = builders.grant(
            creator,
            buyer.key_id,
            str(uuid.uuid4()),
            [item],
            builders.TermsSpec(revocable=True, notice_days=30),
        )
        stmts.append(g)
        if i % 3 == 2:
            stmts.append(builders.grant_revoke(creator, g.statement_hash, datetime.now(UTC)))
        else:
            stmts.append(builders.grant_accept(buyer, g.statement_hash))
        i += 1
    stmts = stmts[:count]
    groups: list[list[SignedStatement]] = []
    start = 0
    for k in range(len(stmts)):
        if start >= len(stmts):
            break
        size = _GROUP_SIZES[k % len(_GROUP_SIZES)]
        groups.append(stmts[start : start + size])
        start += size
    return groups


def ack_json(result: Any) -> Ack:
    """An ``Appended`` as the API would acknowledge it."""
    return {
        "seq": result.seq,
        "leaf_hash": result.leaf_hash.hex(),
        "statement_hash": result.statement_hash.hex(),
        "tree_size": result.tree_size,
    }


def run_direct_client(
    barrier: Any,
    out: Any,
    client_id: int,
    database_url: str,
    log_key_file: str,
    origin: str,
    count: int,
) -> None:
    """A client process appending through its own ``LogService`` (no HTTP, no group commit)."""
    acks: list[Ack] = []
    error = None
    try:
        from ledger.core.note import NoteSigner
        from ledger.server.logkey import load_or_create_log_key
        from ledger.server.service import Appended, LogService
        from ledger.server.storage.db import Database

        key = load_or_create_log_key(Path(log_key_file))
        db = Database(database_url)
        service = LogService(db, NoteSigner.from_private_key(origin, key.private_key))
        groups = workload(client_id, count)
        barrier.wait(60)
        for group in groups:
            for result in service.append(group):
                if not isinstance(result, Appended):
                    raise RuntimeError(f"append refused: {result!r}")
                acks.append(ack_json(result))
        db.dispose()
    except Exception:
        error = traceback.format_exc()
    out.put((client_id, acks, error))


# --- client processes -----------------------------------------------------------------------------


class ClientProcesses:
    """``n`` spawned processes running ``target(barrier, out, client_id, *args)`` at once."""

    def __init__(self, target: Callable[..., None], n: int, *args: Any) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.n = n
        self.barrier = ctx.Barrier(n)
        self.out: Any = ctx.Queue()
        self.procs = [
            ctx.Process(target=target, args=(self.barrier, self.out, i, *args), daemon=True)
            for i in range(n)
        ]

    def start(self) -> ClientProcesses:
        for p in self.procs:
            p.start()
        return self

    def results(self, timeout: float = 120.0) -> dict[int, list[Ack]]:
        """Every client's acks; raises AuditFailure if a client failed or did not report."""
        deadline = time.monotonic() + timeout
        got: dict[int, list[Ack]] = {}
        errors: list[str] = []
        try:
            while len(got) < self.n:
                try:
                    client_id, acks, error = self.out.get(
                        timeout=max(0.1, deadline - time.monotonic())
                    )
                except queue.Empty:
                    raise AuditFailure(f"only {len(got)}/{self.n} clients reported") from None
                got[client_id] = acks
                if error:
                    errors.append(f"client {client_id}:\n{error}")
        finally:
            for p in self.procs:
                p.join(5)
                if p.is_alive():
                    p.kill()
                    p.join()
        _require(not errors, "\n".join(errors))
        return got
