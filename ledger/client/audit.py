"""The full audit of a log from its HTTP API: every entry, every link, the root, the signed head.

``LogAuditor(source, verifier).audit()`` streams the whole log (``GET /v1/entries`` pages) and
checks, in log order, with the pure core (and PyNaCl if installed; docs/FORMAT.md §8, steps 1-4):

1. the latest checkpoint verifies under the log key (given, or learnt from ``/v1/log`` on first
   use, see ``ledger.client.trust.resolve_log_key``) and names the log's origin;
2. every entry ``i`` is served at position ``i``; its leaf decodes and splits, says ``seq == i``,
   links to the leaf hash of entry ``i - 1`` and does not go back in time; its signatures verify
   and are by the signers its statement names (``strict``: the statement is also fully validated
   and canonical, as ``parse_leaf`` does on the write path, and the append rules of
   ``ledger.core.logstate`` are replayed in log order: the first entry the log should have refused
   fails ``rule_violated``); the listed leaf hash, statement hash, type, time, statement and
   signatures are those of the leaf;
3. the RFC 9162 root recomputed from the leaves (a ``CompactRange``: O(log n) memory) equals the
   signed root. With ``all_checkpoints`` every stored checkpoint (the empty tree's included) is
   also verified against the root of its prefix and, by the log's consistency proof, against the
   head (slow: two requests
   per tree size; for tests and small logs);
4. the licence map (FORMAT §14) recomputed from the entries (``core.mapaudit.MapReplay``: one map
   in memory, the latest, never a version per checkpoint) has the root that every checkpoint
   verified in step 1 or 3 commits in its map line, of the version the line names (FORMAT
   §14.6: ``v2``, or ``v1`` before the log moved to version 2; both are derived when stored
   checkpoints are checked or the head is ``v1``). On a mismatch the first
   key that differs is found by walking the server's map (``/v1/map/node``) down from the signed
   root where it differs from the recomputed one, and named (``map_root_mismatch``). A checkpoint
   without the line is counted as signed before the log committed its map, unless an earlier
   checkpoint had one (``map_root_missing``).

``follow_once`` then extends the audit to a newer checkpoint: signature, no rollback, no fork,
a consistency proof from the audited size, and the new entries (the chain continues).

The first failure ends the audit and is reported with a stable ``code`` (``FailureCode``) and
the first bad ``seq`` (or tree size). Entries are checked in ``workers`` processes (signature
verification dominates; it uses PyNaCl when installed, ``ledger/sigverify.py``, and the cyclic
garbage collector is paused while a page is checked); the chain and the tree are folded in order
in this process. Server and
network errors raise ``ServerError``: a failure to fetch is not a verification failure.
"""

from __future__ import annotations

import functools
import multiprocessing
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from ledger.client.http import LogClient, ServerError, ServerRefused
from ledger.core import merkle
from ledger.core.auditing import (
    AuditStop,
    ChainState,
    EntryProblem,
    Failure,
    FailureCode,
    LeafFacts,
    SignatureCheck,
    check_entry,
    check_leaf,
    check_rules,
    map_missing_failure,
    map_root_failure,
    map_version_failure,
)
from ledger.core.checkpoint import Checkpoint, open_checkpoint
from ledger.core.errors import (
    AuditFailed,
    InvalidParameter,
    LedgerError,
    MapRootMissing,
    NotFound,
)
from ledger.core.evidence import gc_paused
from ledger.core.licmap import MAP_VERSION, AuditedStatement, checkpoint_map
from ledger.core.logstate import AcceptanceReplay
from ledger.core.mapaudit import MapReplay, checked_reader, first_difference, node_from_json
from ledger.core.note import NoteVerifier
from ledger.core.sigcheck import cryptography_check
from ledger.core.statements import Statement, parse_statement
from ledger.core.vmap import MapNode
from ledger.sigverify import signature_check

# The audit's pure parts live in the core (ledger.core.auditing), shared with
# ledger.server.dbaudit; they are re-exported here with the auditor that uses them.
__all__ = [
    "DEFAULT_PAGE_SIZE",
    "AuditReport",
    "AuditStop",
    "ChainState",
    "EntryProblem",
    "Failure",
    "FailureCode",
    "LeafFacts",
    "LogAuditor",
    "LogSource",
    "PageResult",
    "check_entry",
    "check_leaf",
    "check_page",
]

DEFAULT_PAGE_SIZE = 1000


@dataclass
class AuditReport:
    """The outcome: ``bool(report)`` is True when every check held (tuf-style report)."""

    origin: str
    tree_size: int
    root_hash: bytes
    entries_checked: int
    seconds: float
    failure: Failure | None = None
    checkpoints_checked: int = 0
    #: checkpoints whose licence map root was checked against the recomputed map
    map_roots_checked: int = 0
    #: checkpoints verified that commit no map root (signed before the log committed its map)
    checkpoints_without_map: int = 0

    def __bool__(self) -> bool:
        return self.failure is None

    def raise_for_failure(self) -> None:
        """Raise AuditFailed (details: the failure's code and where) unless every check held."""
        if self.failure is not None:
            where = {k: v for k, v in self.failure.to_json().items() if k != "message"}
            raise AuditFailed(str(self.failure), **where)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.failure is None,
            "origin": self.origin,
            "tree_size": self.tree_size,
            "root_hash": self.root_hash.hex(),
            "entries_checked": self.entries_checked,
            "checkpoints_checked": self.checkpoints_checked,
            "map_roots_checked": self.map_roots_checked,
            "checkpoints_without_map": self.checkpoints_without_map,
            "seconds": round(self.seconds, 3),
            "failure": None if self.failure is None else self.failure.to_json(),
        }


# --- where the audit reads from -------------------------------------------------------------


class LogSource(Protocol):
    """The reads an audit makes (``LogClient`` is one). ``checkpoint`` raises ServerRefused
    (404) or NotFound when there is none at that size."""

    def checkpoint(self, tree_size: int | None = None) -> str: ...
    def entries(self, start: int, limit: int) -> dict[str, Any]: ...
    def consistency_proof(self, first: int, second: int) -> dict[str, Any]: ...
    def map_node(self, node_hash: bytes) -> dict[str, Any]: ...


def _is_not_found(e: LedgerError) -> bool:
    if isinstance(e, ServerRefused):
        return e.http_status == 404
    return isinstance(e, NotFound)


# --- a page of entries, each checked on its own (runs in worker processes) -----------------------


@dataclass
class PageResult:
    """One page checked: the facts the in-order fold needs, up to the first problem.

    ``prev_hashes``/``times`` may hold one more entry than ``leaf_hashes``: the failing entry,
    when its header could be read (its chain link is checked before its own problem counts).
    """

    start: int
    leaf_hashes: list[bytes] = field(default_factory=list)
    statement_hashes: list[bytes] = field(default_factory=list)
    prev_hashes: list[bytes] = field(default_factory=list)
    times: list[int] = field(default_factory=list)
    #: Each entry's statement, as JSON (it crosses a process boundary): the licence map is
    #: derived from it, and ``strict`` replays the append rules over it.
    bodies: list[Any] = field(default_factory=list)
    problem: tuple[FailureCode, str] | None = None
    served: int = 0
    server_error: str | None = None


def check_page(
    source: LogSource,
    start: int,
    limit: int,
    strict: bool,
    check: SignatureCheck = cryptography_check,
) -> PageResult:
    """Fetch entries [start, start + limit) and check each on its own (``check_entry``)."""
    result = PageResult(start)
    try:
        page = source.entries(start, limit)
    except ServerError as e:  # returned, not raised: it must cross a process boundary
        result.server_error = e.message
        return result
    entries = page.get("entries") if isinstance(page, dict) else None
    if not isinstance(entries, list):
        result.server_error = f"GET /v1/entries?start={start}: no list of entries"
        return result
    result.served = min(len(entries), limit)
    with gc_paused():  # the page's objects live until it is done: nothing for the GC to find
        _check_entries(result, entries[:limit], strict, check)
    return result


def _check_entries(
    result: PageResult, entries: list[Any], strict: bool, check: SignatureCheck
) -> None:
    start = result.start
    for i, entry in enumerate(entries):
        try:
            facts = check_entry(start + i, entry, strict=strict, check=check)
        except EntryProblem as p:
            if p.header is not None:
                result.prev_hashes.append(p.header[0])
                result.times.append(p.header[1])
            result.problem = (p.code, p.message)
            break
        result.leaf_hashes.append(facts.leaf_hash)
        result.statement_hashes.append(facts.statement_hash)
        result.bodies.append(facts.body)
        result.prev_hashes.append(facts.prev_hash)
        result.times.append(facts.integrated_at)


_WORKER_SOURCE: LogSource | None = None
_WORKER_CHECK: SignatureCheck = cryptography_check


def _init_worker(factory: Callable[[], LogSource], accelerate: bool = True) -> None:
    global _WORKER_SOURCE, _WORKER_CHECK  # noqa: PLW0603 - one per worker process, made once
    _WORKER_SOURCE = factory()
    _WORKER_CHECK = signature_check(accelerate)[1]


def _worker_page(start: int, limit: int, strict: bool) -> PageResult:
    assert _WORKER_SOURCE is not None
    return check_page(_WORKER_SOURCE, start, limit, strict, _WORKER_CHECK)


OnEntry = Callable[[int, bytes, bytes], None]


# --- the auditor ----------------------------------------------------------------------------------


class LogAuditor:
    """Audits one log and remembers what it audited, so that ``follow_once`` can extend it.

    ``source`` does the reads in this process. With ``workers`` > 0 entry pages are checked in
    that many spawned processes, each reading through its own ``source_factory()`` (picklable;
    default: a ``LogClient`` for ``source.base_url``). ``on_entry(seq, leaf_hash,
    statement_hash)`` is called in log order for every entry that passed, ``on_checkpoint(size)``
    for every stored checkpoint verified (``all_checkpoints``). Signatures are verified with
    PyNaCl when it is installed, unless ``accelerate`` is False (``cryptography`` only). The
    licence map is carried between rounds of ``follow_once``, never recomputed from scratch.
    """

    def __init__(
        self,
        source: LogSource,
        verifier: NoteVerifier,
        *,
        workers: int = 0,
        source_factory: Callable[[], LogSource] | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        strict: bool = False,
        all_checkpoints: bool = False,
        on_entry: OnEntry | None = None,
        on_checkpoint: Callable[[int], None] | None = None,
        accelerate: bool = True,
    ) -> None:
        self.source = source
        self.verifier = verifier
        self.workers = workers
        self.source_factory = source_factory or _default_factory(source)
        self.page_size = page_size
        self.strict = strict
        self.all_checkpoints = all_checkpoints
        self.on_entry = on_entry
        self.on_checkpoint = on_checkpoint
        self.accelerate = accelerate
        #: The Ed25519 primitive (``ledger.sigverify``): PyNaCl when installed and allowed.
        self.signatures, self.check = signature_check(accelerate)
        self.state = ChainState()
        #: ``strict``: the append rules replayed over the audited prefix.
        self.rules = AcceptanceReplay()
        self.head = Checkpoint(verifier.name, 0, merkle.EMPTY_ROOT)
        self.checkpoints_checked = 0
        self._target = self.head  # the checkpoint being audited up to
        self._reset_map()

    def _reset_map(self) -> None:
        #: The licence map of the audited prefix, recomputed from its entries.
        self.map = MapReplay()
        #: The smallest size of a verified checkpoint that committed a map root.
        self.map_since: int | None = None
        self.map_roots_checked = 0
        self.checkpoints_without_map = 0
        self._map_last: tuple[int, bytes | None] | None = None  # (size, root) checked last

    # --- public ----------------------------------------------------------------------------------

    def audit(self) -> AuditReport:
        """The full audit from seq 0 to the latest checkpoint (steps 1-3 of the module doc)."""
        self.state = ChainState()
        self.rules = AcceptanceReplay()
        self.head = Checkpoint(self.verifier.name, 0, merkle.EMPTY_ROOT)
        self.checkpoints_checked = 0
        self._reset_map()
        return self._run(self._advance)

    def follow_once(self) -> AuditReport:
        """Extend the audit to the latest checkpoint: signature, no rollback or fork, the
        consistency proof from the audited size, then the new entries and the new root."""
        return self._run(self._advance)

    # --- steps -----------------------------------------------------------------------------------

    def _run(self, step: Callable[[], None]) -> AuditReport:
        started, before = time.perf_counter(), self.state.size
        failure = None
        try:
            step()
        except AuditStop as stop:
            failure = stop.failure
        return AuditReport(
            origin=self.verifier.name,
            tree_size=self.head.tree_size,
            root_hash=self.head.root_hash,
            entries_checked=self.state.size - before,
            seconds=time.perf_counter() - started,
            failure=failure,
            checkpoints_checked=self.checkpoints_checked,
            map_roots_checked=self.map_roots_checked,
            checkpoints_without_map=self.checkpoints_without_map,
        )

    def _advance(self) -> None:
        new, signed = self._latest_checkpoint()
        old = self.head
        if new.tree_size < old.tree_size:
            raise AuditStop(
                Failure(
                    FailureCode.ROLLBACK,
                    f"the log shrank: signed size {new.tree_size} after {old.tree_size}",
                    tree_size=new.tree_size,
                )
            )
        if new.tree_size == old.tree_size:
            if new.root_hash != old.root_hash:
                raise AuditStop(_fork(old, new))
            if signed:  # the same tree, perhaps another map: check the map it commits too
                self._check_map(new)
            return
        if old.tree_size:
            self._check_consistency(old, new)
        self._stream(old.tree_size, new)
        self.head = new

    def _latest_checkpoint(self) -> tuple[Checkpoint, bool]:
        """The latest checkpoint, and whether the log signed it (an old log that has none yet
        gives the empty tree, unsigned)."""
        try:
            note = self.source.checkpoint()
        except LedgerError as e:
            if not _is_not_found(e):
                raise
            return Checkpoint(self.verifier.name, 0, merkle.EMPTY_ROOT), False
        return self._open(note, None), True

    def _open(self, note: str, tree_size: int | None) -> Checkpoint:
        try:
            cp, _ = open_checkpoint(note, self.verifier)
        except LedgerError as e:
            raise AuditStop(
                Failure(FailureCode.CHECKPOINT_INVALID, e.message, tree_size=tree_size)
            ) from e
        if tree_size is not None and cp.tree_size != tree_size:
            raise AuditStop(
                Failure(
                    FailureCode.CHECKPOINT_INVALID,
                    f"asked for size {tree_size}, got a checkpoint of size {cp.tree_size}",
                    tree_size=tree_size,
                )
            )
        return cp

    def _check_consistency(self, old: Checkpoint, new: Checkpoint) -> None:
        """RFC 9162 §2.1.4.2: the audited tree is a prefix of the new one. A server that signed
        both checkpoints but refuses the proof (a 4xx) fails it too; one that cannot be reached
        raises ServerError."""
        try:
            body = self.source.consistency_proof(old.tree_size, new.tree_size)
            proof = [bytes.fromhex(h) for h in body["hashes"]]
            merkle.verify_consistency(
                old.tree_size, new.tree_size, proof, old.root_hash, new.root_hash
            )
        except ServerError as e:
            if not isinstance(e, ServerRefused):
                raise
            problem: Exception = e
        except (LedgerError, ValueError, KeyError, TypeError) as e:
            problem = e
        else:
            return
        raise AuditStop(
            Failure(
                FailureCode.CONSISTENCY_INVALID,
                f"no valid consistency proof from size {old.tree_size} "
                f"(root {old.root_hash.hex()}) to {new.tree_size}: {problem}",
                tree_size=new.tree_size,
            )
        )

    # --- entries ---------------------------------------------------------------------------------

    def _stream(self, start: int, head: Checkpoint) -> None:
        """Audit entries [start, head.tree_size) and compare the root with the head's."""
        self._target = head
        if start == 0 and self.map.size == 0:
            self.map = MapReplay(versions=self._map_versions(head))
        if start == 0 and self.all_checkpoints:
            self._check_stored_checkpoint(0)  # the empty tree's, signed when the log was created
        for page in self._pages(start, head.tree_size):
            self._fold(page)
        root = self.state.tree.root()
        if root != head.root_hash:
            raise AuditStop(
                Failure(
                    FailureCode.ROOT_MISMATCH,
                    f"the root of the {head.tree_size} entries is {root.hex()}, "
                    f"the checkpoint signs {head.root_hash.hex()}",
                    tree_size=head.tree_size,
                )
            )
        self._check_map(head)

    def _fold(self, page: PageResult) -> None:
        """Apply a checked page in order: chain links, tree, callbacks; then its problem."""
        if page.server_error is not None:
            raise ServerError(page.server_error)
        st = self.state
        for i, (prev, t) in enumerate(zip(page.prev_hashes, page.times, strict=True)):
            st.link(prev, t)
            if i == len(page.leaf_hashes):
                break  # the failing entry: linked, now its own problem is reported
            st.push(page.leaf_hashes[i], t)
            seq, h = st.size - 1, page.statement_hashes[i]
            stmt = _statement(seq, page.bodies[i])
            self.map.add(seq, AuditedStatement(stmt, h))
            if self.strict:
                check_rules(self.rules, seq, stmt, h, t)
            if self.on_entry is not None:
                self.on_entry(st.size - 1, page.leaf_hashes[i], page.statement_hashes[i])
            if self.all_checkpoints:
                self._check_stored_checkpoint(st.size)
        if page.problem is not None:
            code, message = page.problem
            raise AuditStop(Failure(code, message, seq=st.size))

    def _pages(self, start: int, end: int) -> Iterator[PageResult]:
        """Checked pages covering [start, end), in order, refetching the rest of short pages."""
        if start >= end:
            return
        first = check_page(
            self.source, start, min(self.page_size, end - start), self.strict, self.check
        )
        size = self.page_size
        if 0 < first.served < min(size, end - start):
            size = first.served  # the server caps pages lower than we asked: use its size
        for page in self._checked_pages(first, size, end):
            yield page
            if page.problem is None:
                yield from self._rest_of_short_page(page, min(page.start + size, end))

    def _rest_of_short_page(self, page: PageResult, want: int) -> Iterator[PageResult]:
        """A page came back shorter than asked: fetch the rest here, failing on an empty one."""
        pos = page.start + page.served
        while pos < want:
            rest = check_page(self.source, pos, want - pos, self.strict, self.check)
            if rest.served == 0 and rest.server_error is None:
                raise AuditStop(
                    Failure(FailureCode.ENTRY_MISSING, "the server serves no entry here", seq=pos)
                )
            yield rest
            if rest.problem is not None:
                return
            pos += rest.served

    def _checked_pages(self, first: PageResult, size: int, end: int) -> Iterator[PageResult]:
        yield first
        starts = range(first.start + size, end, size)
        if self.workers <= 0 or len(starts) < 2:
            for s in starts:
                yield check_page(self.source, s, min(size, end - s), self.strict, self.check)
            return
        yield from self._parallel_pages(starts, size, end)

    def _parallel_pages(self, starts: range, size: int, end: int) -> Iterator[PageResult]:
        """Pages checked by worker processes, a bounded window ahead, returned in order."""
        ctx = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(
            self.workers, mp_context=ctx, initializer=_init_worker,
            initargs=(self.source_factory, self.accelerate),
        )  # fmt: skip
        window: deque[Future[PageResult]] = deque()
        todo = iter(starts)
        try:
            for s in todo:
                window.append(pool.submit(_worker_page, s, min(size, end - s), self.strict))
                if len(window) >= 3 * self.workers:
                    break
            while window:
                page = window.popleft().result()
                nxt = next(todo, None)
                if nxt is not None:
                    window.append(pool.submit(_worker_page, nxt, min(size, end - nxt), self.strict))
                yield page
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    # --- every stored checkpoint (all_checkpoints) -----------------------------------------------

    def _check_stored_checkpoint(self, size: int) -> None:
        try:
            note = self.source.checkpoint(size)
        except LedgerError as e:
            if _is_not_found(e):
                return
            raise
        cp = self._open(note, size)
        root = self.state.tree.root()
        if cp.root_hash != root:
            raise AuditStop(
                Failure(
                    FailureCode.ROOT_MISMATCH,
                    f"the checkpoint signs root {cp.root_hash.hex()}, the first {size} entries "
                    f"have root {root.hex()}",
                    tree_size=size,
                )
            )
        if 0 < size < self._target.tree_size:  # every tree extends the empty one (FORMAT §5.3)
            self._check_consistency(cp, self._target)
        self._check_map(cp)
        self.checkpoints_checked += 1
        if self.on_checkpoint is not None:
            self.on_checkpoint(size)

    # --- the licence map (step 4) -----------------------------------------------------------------

    def _map_versions(self, head: Checkpoint) -> tuple[int, ...]:
        """The map versions to derive (FORMAT §14.6): the head's; and version 1 as well when
        stored checkpoints are checked or the head is of version 1 (later ones may be of 2)."""
        try:
            version = checkpoint_map(head)[0]
        except MapRootMissing:
            version = 1
        return (1, MAP_VERSION) if self.all_checkpoints or version < MAP_VERSION else (version,)

    def _check_map(self, cp: Checkpoint) -> None:
        """The map root ``cp`` commits is the root of the map recomputed from its entries (the
        replay holds exactly ``cp.tree_size`` entries here); raises AuditStop."""
        version = MAP_VERSION
        try:
            version, map_root = checkpoint_map(cp)
            claimed: bytes | None = map_root
        except MapRootMissing as e:
            claimed = None
            missing = e
        if self._map_last == (cp.tree_size, claimed):
            return  # the head is also a stored checkpoint: checked once
        self._map_last = (cp.tree_size, claimed)
        if claimed is None:
            if self.map_since is not None:
                raise AuditStop(map_missing_failure(cp.tree_size, self.map_since, missing.message))
            self.checkpoints_without_map += 1
            return
        if self.map_since is None:
            self.map_since = cp.tree_size
        try:
            root = self.map.root_at(cp.tree_size, version)
        except InvalidParameter as e:  # the map version went back
            raise AuditStop(map_version_failure(cp.tree_size, e.message)) from e
        self.map_roots_checked += 1
        if root != claimed:
            raise AuditStop(self._map_mismatch(cp.tree_size, root, claimed))

    def _map_mismatch(self, size: int, root: bytes, claimed: bytes) -> Failure:
        """The failure for a wrong map root, naming the first key that differs when the server
        serves the nodes of the map it signed (``/v1/map/node``)."""

        def server_node(node_hash: bytes) -> MapNode:
            return node_from_json(self.source.map_node(node_hash))

        try:
            diff = first_difference(root, self.map.get_node, claimed, checked_reader(server_node))
        except LedgerError as e:
            return map_root_failure(size, root, claimed, None, f"the server's map: {e.message}")
        return map_root_failure(size, root, claimed, diff, None)


def _statement(seq: int, body: Any) -> Statement:
    """The statement an entry's verified bytes hold (the map is derived from it)."""
    try:
        return parse_statement(body)
    except LedgerError as e:
        message = f"the licence map cannot be derived from this entry: {e.message}"
        raise AuditStop(Failure(FailureCode.STATEMENT_INVALID, message, seq=seq)) from e


def _fork(old: Checkpoint, new: Checkpoint) -> Failure:
    return Failure(
        FailureCode.FORK,
        f"two signed roots for size {new.tree_size}: {old.root_hash.hex()} (audited) and "
        f"{new.root_hash.hex()}",
        tree_size=new.tree_size,
    )


def _default_factory(source: LogSource) -> Callable[[], LogSource]:
    base_url = getattr(source, "base_url", None)
    if base_url is None:
        return _no_factory
    return functools.partial(LogClient, str(base_url))


def _no_factory() -> LogSource:
    raise RuntimeError("workers need a source_factory for this source")
