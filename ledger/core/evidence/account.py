"""Account bundles: a party's statement of account with everything needed to check it offline
(docs/ACCOUNTS.md §5), built by the server and verified by ``ledger account``.

An ``AccountBundle`` is the log's checkpoint, the entries the statement rests on (exact leaf bytes
and inclusion proofs against that checkpoint), the licence-map proofs of the required keys and the
statement as served. The required keys are walked (``complete.closure_from``, the walk evidence
bundles use) from the ``key`` key of the party's key, the ``party_grants`` key of its party
(licence map version 2: every grant the party made or received) and the ``grant`` key of every
grant the bundle carries: so every grant of the party, every acceptance, revocation and key event
of those grants, and every other grant with the same id, must be in the bundle (``entry_omitted``
otherwise), and every grant on the statement must be one the party's ``party_grants`` value
lists (``map_value_mismatch`` otherwise). The party is the one the verified entries give for the
key asked about, never the one the server names.

``verify_account`` checks, reusing the evidence verifier's steps (``verify.py``): the checkpoint
under the trusted key (and witnesses with a policy), every entry (leaf hash, seq, signatures,
inclusion proof, chain), every map proof and the required keys, and finally that the statement
**recomputed** from the verified entries (``ledger.core.accounts.account_statement``) is the one
served (``statement_mismatch``). The report carries the recomputed statement: callers print that
one, never the served one. No I/O here.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from ..accounts import Statement, account_statement
from ..canonical import canonicalize
from ..errors import InternalError, LedgerError, MalformedBundle, MapRootMissing
from ..leaf import Leaf
from ..licensing import format_instant, parse_instant
from ..licmap import MAP_VERSION, checkpoint_map, describe_key, grant_key, key_key, party_grants_key
from ..note import NoteVerifier
from ..policy import WitnessPolicy
from ..sigcheck import SignatureCheck, cryptography_check
from ..vmap import MapProof
from .bundle import (
    BUNDLE_MALFORMED,
    LOG_KEY_MISMATCH,
    MAP_ROOT_MISSING,
    MAP_VALUE_MISMATCH,
    QUERY_MISMATCH,
    EvidenceBundle,
    EvidenceEntry,
    EvidenceQuery,
    MapMember,
)
from .complete import MapReader, closure_from, entry_required_keys
from .parse import _members, _parse_entries, _parse_map, _str
from .verify import (
    EvidenceReport,
    Failure,
    _check_entries,
    _check_log,
    _check_witnesses,
    check_map_closure,
    gc_paused,
)

ACCOUNT_FORMAT: Final = "consent-ledger/account/v1"
STATEMENT_MISMATCH: Final = "statement_mismatch"
_USE_FOR_CHECKS: Final = "ai_training"  # the evidence steps reused here never read the use


@dataclass(frozen=True)
class AccountQuery:
    """Whose statement (any key of the party), over ``[start, end)`` (None: unbounded)."""

    key_id: str
    start: int | None = None
    end: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "from": None if self.start is None else format_instant(self.start),
            "to": None if self.end is None else format_instant(self.end),
        }


@dataclass(frozen=True)
class AccountBundle:
    origin: str
    verifier_key: str
    checkpoint: str
    query: AccountQuery
    entries: tuple[EvidenceEntry, ...]
    map: tuple[MapMember, ...]
    #: The statement as served (``Statement.to_json``): compared, never trusted.
    statement: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": ACCOUNT_FORMAT,
            "log": {"origin": self.origin, "verifier_key": self.verifier_key},
            "checkpoint": self.checkpoint,
            "query": self.query.to_json(),
            "entries": [e.to_json() for e in self.entries],
            "map": [m.to_json() for m in self.map],
            "statement": self.statement,
        }

    def to_bytes(self) -> bytes:
        return canonicalize(self.to_json())

    def as_evidence(self) -> EvidenceBundle:
        """The parts the evidence verifier's steps read (log, checkpoint, entries, map)."""
        query = EvidenceQuery(self.query.key_id, _USE_FOR_CHECKS, 0)
        return EvidenceBundle(
            self.origin, self.verifier_key, self.checkpoint, query, self.entries, (), self.map
        )


def parse_account(obj: object) -> AccountBundle:
    """The account bundle of the parsed JSON ``obj``; raises MalformedBundle. Verifies nothing."""
    if isinstance(obj, dict) and obj.get("format") != ACCOUNT_FORMAT:
        raise MalformedBundle(f"format must be {ACCOUNT_FORMAT!r}, not {obj.get('format')!r}")
    names = ("format", "log", "checkpoint", "query", "entries", "map", "statement")
    b = _members(obj, names, "account bundle")
    log = _members(b["log"], ("origin", "verifier_key"), "log")
    entries = _parse_entries(b["entries"])
    if any(x.seq >= y.seq for x, y in itertools.pairwise(entries)):
        raise MalformedBundle("entries must be in strictly increasing seq order")
    if not isinstance(b["statement"], dict):
        raise MalformedBundle("statement must be an object")
    return AccountBundle(
        _str(log["origin"], "log.origin"),
        _str(log["verifier_key"], "log.verifier_key"),
        _str(b["checkpoint"], "checkpoint"),
        _parse_query(b["query"]),
        entries,
        _parse_map(b["map"]),
        b["statement"],
    )


def _parse_query(obj: object) -> AccountQuery:
    q = _members(obj, ("key_id", "from", "to"), "query")
    key_id = _str(q["key_id"], "query.key_id")
    bounds: list[int | None] = []
    for name in ("from", "to"):
        text = q[name]
        if text is None:
            bounds.append(None)
            continue
        try:
            micros = parse_instant(text, f"query.{name}")
        except LedgerError as e:
            raise MalformedBundle(e.message) from e
        if format_instant(micros) != text:
            raise MalformedBundle(f"query.{name} must have exactly six fractional digits")
        bounds.append(micros)
    try:
        key_key(key_id)
    except LedgerError as e:
        raise MalformedBundle(f"query.key_id: {e.message}") from e
    return AccountQuery(key_id, bounds[0], bounds[1])


# --- building ------------------------------------------------------------------------------------


def initial_account_keys(
    key_id: str,
    party: str | None,
    entries: Sequence[Leaf],
    grant_hashes: Sequence[str] = (),
) -> list[bytes]:
    """The walk's first round: the ``key`` key of ``key_id``, the ``party_grants`` key of its
    ``party`` (None: the key belongs to no party), the required keys of every entry given (for
    a grant its ``grant`` key, for an acceptance or revocation its grant's, ...), and the
    ``grant`` key of every grant statement hash named (the served statement's lines)."""
    keys = [key_key(key_id)]
    if party is not None:
        keys.append(party_grants_key(party))
    for leaf in entries:
        keys.extend(entry_required_keys(leaf.signed))
    for h in grant_hashes:
        try:
            keys.append(grant_key(h))
        except LedgerError:
            continue  # not a hash: the statement comparison reports the line
    return list(dict.fromkeys(keys))


def build_account(
    *,
    origin: str,
    verifier_key: str,
    checkpoint: str,
    query: AccountQuery,
    party: str | None,
    grant_seqs: Sequence[int],
    licence_map: MapReader,
    read_leaves: Callable[[Sequence[int]], Mapping[int, tuple[bytes, Leaf]]],
    inclusion_proofs: Callable[[Sequence[int]], Sequence[Sequence[bytes]]],
    prefetch: Callable[[Sequence[bytes]], None] | None = None,
) -> AccountBundle:
    """The account bundle of ``party`` (the party of ``query.key_id``): its grants
    (``grant_seqs``, in the checkpointed tree, and any other its ``party_grants`` key lists; the
    map must be of version 2), every entry the required keys list (``read_leaves``: stored
    bytes and parsed leaf by seq) with its inclusion proof, every required key's map proof
    (``licence_map``: the map ``checkpoint`` commits) and the statement over exactly those
    entries. Raises InternalError when the map lists an entry the log does not give. No I/O of
    its own."""
    stored: dict[int, tuple[bytes, Leaf]] = dict(read_leaves(sorted(set(grant_seqs))))

    def leaves(seqs: Sequence[int]) -> Mapping[int, Leaf]:
        wanted = [s for s in seqs if s not in stored]
        stored.update(read_leaves(wanted) if wanted else {})
        return {s: stored[s][1] for s in seqs if s in stored}

    proven: dict[bytes, MapProof] = {}

    def values(keys: Sequence[bytes]) -> Mapping[bytes, tuple[int, ...]]:
        if prefetch is not None:
            prefetch(keys)
        out: dict[bytes, tuple[int, ...]] = {}
        for key in keys:  # the value and its proof from one walk
            out[key], proven[key] = licence_map.lookup(key)
        return out

    grants = [stored[s][1] for s in sorted(stored)]
    closure = closure_from(initial_account_keys(query.key_id, party, grants), values, leaves)
    if closure.omitted:
        key, seq = closure.omitted[0]
        raise InternalError(
            f"the licence map lists entry {seq} under {describe_key(key)}, and the log has no "
            "such entry: run 'ledger audit' against this log's database"
        )
    ordered = sorted(set(closure.leaves) | set(stored))
    proofs = inclusion_proofs(ordered)
    entries = tuple(
        EvidenceEntry(s, stored[s][0], _leaf_hash(stored[s][0]), tuple(p))
        for s, p in zip(ordered, proofs, strict=True)
    )
    statement = account_statement(
        (stored[s][1] for s in ordered), query.key_id, query.start, query.end
    )
    members = tuple(
        sorted(
            (MapMember(k, v, proven[k]) for k, v in closure.values.items()),
            key=lambda m: m.key,
        )
    )
    return AccountBundle(
        origin, verifier_key, checkpoint, query, entries, members, statement.to_json()
    )


def _leaf_hash(data: bytes) -> bytes:
    from ..leaf import leaf_hash  # noqa: PLC0415 - one name, kept local to this use

    return leaf_hash(data)


# --- verifying -----------------------------------------------------------------------------------


@dataclass
class AccountReport:
    """What ``verify_account`` found; True when every check held. ``statement`` is the one
    recomputed from the verified entries (None when the bundle could not be read)."""

    evidence: EvidenceReport = field(default_factory=EvidenceReport)
    account: AccountBundle | None = None
    statement: Statement | None = None

    def __bool__(self) -> bool:
        return not self.evidence.failures

    @property
    def failures(self) -> list[Failure]:
        return self.evidence.failures

    @property
    def codes(self) -> list[str]:
        return self.evidence.codes


def verify_account(
    bundle: object,
    log_key: str | NoteVerifier,
    *,
    check: SignatureCheck = cryptography_check,
    policy: WitnessPolicy | None = None,
) -> AccountReport:
    """Verify an account bundle (parsed JSON or ``AccountBundle``) against the log key (and the
    witness ``policy``, if given). Never raises for any input: problems are failures."""
    with gc_paused():
        return _verify_account(bundle, log_key, check, policy)


def _verify_account(
    bundle: object,
    log_key: str | NoteVerifier,
    check: SignatureCheck,
    policy: WitnessPolicy | None,
) -> AccountReport:
    out = AccountReport()
    report = out.evidence
    try:
        verifier = log_key if isinstance(log_key, NoteVerifier) else NoteVerifier.from_vkey(log_key)
    except LedgerError as e:
        report.fail(LOG_KEY_MISMATCH, f"the log key given is not a verifier key: {e.message}")
        return out
    try:
        parsed = bundle if isinstance(bundle, AccountBundle) else parse_account(bundle)
    except LedgerError as e:
        report.fail(BUNDLE_MALFORMED, e.message)
        return out
    out.account = parsed
    view = parsed.as_evidence()
    _check_log(view, verifier, report)
    if policy is not None and report.checkpoint is not None:
        _check_witnesses(parsed.checkpoint, policy, verifier, report)
    leaves = _check_entries(view, report, check)
    q = parsed.query
    out.statement = account_statement(leaves.values(), q.key_id, q.start, q.end)
    _check_account_map(parsed, leaves, out.statement, report)
    served, recomputed = parsed.statement, out.statement.to_json()
    if served != recomputed:
        report.fail(STATEMENT_MISMATCH, statement_difference(served, recomputed))
    return out


def _check_account_map(
    bundle: AccountBundle,
    leaves: Mapping[int, Leaf],
    statement: Statement,
    report: EvidenceReport,
) -> None:
    """The map proofs, then the required keys walked from the party's key, the party's grants
    (its ``party_grants`` key: ``statement.party``, recomputed from the verified entries) and
    the bundle's grants: each needs a proof, and every entry it lists must be in the bundle;
    every grant on the statement must be listed under the party's ``party_grants`` key."""
    if not _map_has_party_grants(report):
        return
    lines = bundle.statement.get("grants")
    named = [
        line["grant_hash"]
        for line in (lines if isinstance(lines, list) else [])
        if isinstance(line, dict) and isinstance(line.get("grant_hash"), str)
    ]
    check_map_closure(
        bundle.map,
        {e.seq for e in bundle.entries},
        leaves,
        report,
        lambda: initial_account_keys(
            bundle.query.key_id, statement.party, [leaves[s] for s in sorted(leaves)], named
        ),
        rests_on="the statement rests on",
        partial="the statement may rest on a partial history; ask the log for the complete "
        "statement",
    )
    if statement.party is None:
        return
    wanted = party_grants_key(statement.party)
    listed = next((set(m.seqs) for m in bundle.map if m.key == wanted), None)
    if listed is None:
        return  # map_proof_missing was reported by the walk
    for line in statement.lines:
        if line.grant_seq not in listed:
            report.fail(
                MAP_VALUE_MISMATCH,
                f"the statement has a line for grant {line.grant_seq}, which the log's map does "
                f"not list under {describe_key(wanted)}: the map and the entries disagree; do "
                "not rely on this statement, and run 'ledger audit' against the log",
                seq=line.grant_seq,
            )


def _map_has_party_grants(report: EvidenceReport) -> bool:
    """False (and ``map_root_missing`` reported) when the verified checkpoint commits a map of
    version 1, which has no ``party_grants`` keys (FORMAT §14.6). True otherwise: a checkpoint
    that did not verify, or carries no map line, is reported by the steps that read it."""
    cp = report.checkpoint
    if cp is None:
        return True
    try:
        version = checkpoint_map(cp)[0]
    except MapRootMissing:
        return True
    if version < MAP_VERSION:
        report.fail(
            MAP_ROOT_MISSING,
            f"the checkpoint commits licence map version {version}, which does not list the "
            "grants of each party, so no statement against it can be shown complete: ask the "
            "log for a new bundle, against a checkpoint with a consent-ledger/map/v2 line",
        )
        return False
    return True


def statement_difference(served: Mapping[str, Any], recomputed: Mapping[str, Any]) -> str:
    """Where the served statement first differs from the recomputed one, in words."""
    for name in ("key_id", "party", "from", "to"):
        if served.get(name) != recomputed.get(name):
            said, given = served.get(name), recomputed.get(name)
            return f"the statement says {name}={said!r}; the entries give {given!r}"
    lines_s, lines_r = served.get("grants"), recomputed["grants"]
    if not isinstance(lines_s, list):
        return "the statement has no list of grants"
    for i, (a, b) in enumerate(zip(lines_s, lines_r, strict=False)):
        if a != b:
            diff = [k for k in b if not isinstance(a, dict) or a.get(k) != b[k]]
            return (
                f"grant line {i} (grant seq {b['grant_seq']}) differs in {', '.join(diff[:4])}: "
                "the entries do not give the served amounts"
            )
    if len(lines_s) != len(lines_r):
        return f"the statement has {len(lines_s)} grant lines; the entries give {len(lines_r)}"
    said, given = served.get("totals"), recomputed["totals"]
    return f"the statement's totals {said!r} are not the entries' {given!r}"


def check_account_query(
    report: AccountReport, key_id: str, start: int | None, end: int | None
) -> AccountReport:
    """Add ``query_mismatch`` unless the bundle answers for ``key_id`` over ``[start, end)``
    (``end`` None: any end, the server's "now")."""
    bundle = report.account
    if bundle is None:
        return report
    q = bundle.query
    asked = [("key_id", key_id.lower(), q.key_id), ("from", start, q.start)]
    if end is not None:
        asked.append(("to", end, q.end))
    for name, want, got in asked:
        if want != got:
            report.evidence.fail(
                QUERY_MISMATCH,
                f"the bundle answers {name} {got!r}, not {want!r} as asked: it answers another "
                "question",
            )
    return report
