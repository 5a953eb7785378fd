"""The explorer's pages: one view per page, each reading through the same read use cases as its
JSON twin (``ledger.server.reads``) and rendering a template. Views parse and render only."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from ledger.core.errors import InvalidParameter, LedgerError
from ledger.core.evidence import gc_paused
from ledger.core.licensing import check_use, parse_instant
from ledger.report.plain import reason_words
from ledger.server.api import scitt
from ledger.server.api.context import hex64, ledger, read_session, seq_param, uuid_param
from ledger.server.api.evidence import licence_question
from ledger.server.reads import accounts as account_reads
from ledger.server.reads import evidence as evidence_reads
from ledger.server.reads import log as log_reads
from ledger.server.reads import search as search_reads
from ledger.server.reads.evidence import LogIdentity
from ledger.server.reads.published import published_checkpoint
from ledger.server.storage import repository as repo
from ledger.server.web import apidocs, present

blp = Blueprint(
    "web",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/assets",
)
blp.add_app_template_filter(reason_words, "reason")  # the evidence report's words
blp.add_app_template_filter(present.duration, "duration")

#: Entries listed on the home page, newest first.
LATEST_ENTRIES = 20
#: Grants of each role listed on a party's page.
PARTY_GRANTS = 100
#: Grant lines listed on a statement-of-account page (its JSON twin has them all).
ACCOUNT_LINES = 500
#: A grant's items named in the `ledger prove` command its page shows (else: a manifest).
COMMAND_ITEMS = 10
_SIZE = re.compile("0|[1-9][0-9]{0,17}")
HTML = "text/html; charset=utf-8"
#: Where the app keeps the flask-smorest ``Api`` whose document ``/docs`` shows.
API_EXTENSION = "ledger.web.api"


def page(template: str, status: int = 200, **context: Any) -> Response:
    """A rendered page (Jinja autoescapes every value: nothing here is marked safe)."""
    lg = ledger()
    context.setdefault("query", "")
    context.setdefault("commands", present.log_commands(server(), lg.verifier_key))
    body = render_template(
        template,
        origin=lg.origin,
        log_key=lg.verifier_key,
        disclaimer=present.DISCLAIMER,
        **context,
    )
    return Response(body, status=status, content_type=HTML)


def server() -> str:
    """This server's address as the request named it, for the commands a page shows."""
    return request.url_root.rstrip("/")


def _pseudonyms(session: Any, key_ids: list[str]) -> dict[str, str]:
    return {k: row.pseudonym for k, row in repo.keys_by_id(session, key_ids).items()}


def _size(value: str, name: str) -> int:
    if not _SIZE.fullmatch(value):
        raise InvalidParameter(f"{name} must be a tree size: a non-negative decimal number")
    return int(value)


@blp.get("/")
def home() -> Response:
    """The log's home: identity, size and root, the latest checkpoint and entries."""
    lg = ledger()
    with read_session() as session:
        info = log_reads.log_info(session, lg.origin, lg.verifier_key)
        size = info["tree_size"]
        start = max(0, size - LATEST_ENTRIES)
        entries = log_reads.list_entries(session, start, LATEST_ENTRIES)["entries"][::-1]
        note = log_reads.checkpoint_note(session, size)
        published = published_checkpoint(session, witnessed=lg.witnessed)
        names = _pseudonyms(session, [e["statement"]["signer"] for e in entries])
    return page(
        "home.html",
        title="The log",
        info=info,
        entries=entries,
        names=names,
        first=start,
        checkpoint=present.note_view(note, lg.verifier_key),
        published=None if published is None else present.note_view(published.note, lg.verifier_key),
        witnessed=lg.witnessed,
    )


@blp.get("/search")
def search() -> BaseResponse:
    """One box for every identifier: a single match goes straight to its page."""
    query = request.args.get("q", "")
    try:
        with read_session() as session:
            found = search_reads.search(session, search_reads.normalize_query(query))
    except InvalidParameter as e:  # said on the search page, the query kept in the box
        return page("search.html", 400, title="Search", found=None, error=e, query=query)
    if len(found["matches"]) == 1:
        return redirect(_page_of(found["matches"][0]), code=303)
    return page("search.html", title="Search", found=found, query=query, page_of=_page_of)


def _page_of(match: dict[str, str]) -> str:
    kind, ident = match["kind"], match["id"]
    if kind == "entry":
        return url_for("web.entry", seq=ident)
    if kind == "grant":
        return url_for("web.grant", grant_id=ident)
    if kind == "party":
        return url_for("web.party", key_id=ident)
    if kind == "content":
        return url_for("web.content", sha256=ident)
    raise ValueError(f"unknown kind of match {kind!r}")


@blp.get("/entries/<seq>")
def entry(seq: str) -> Response:
    """One entry: its statement, signer, chain link and the files that prove it."""
    if scitt.wants_cose():  # SCRAPI's Resolve Receipt shares this path (docs/FORMAT.md §15)
        return scitt.resolve_receipt(seq)
    n = seq_param(seq)
    with read_session() as session:
        data = log_reads.get_entry(session, n)
        statement = data["statement"]
        names = _pseudonyms(session, [statement["signer"]])
        grant_id = _grant_of(session, statement)
    return page(
        "entry.html",
        title=f"Entry {n}",
        entry=data,
        statement_text=present.pretty_json(statement),
        prev_hash=present.prev_hash(data),
        names=names,
        grant_id=grant_id,
        leaf_size=len(present.leaf_bytes(data)),
        commands=present.entry_commands(server(), ledger().verifier_key, n),
    )


def _grant_of(session: Any, statement: dict[str, Any]) -> str | None:
    """The grant an entry is about: its own, or the one an acceptance or revocation names."""
    if statement["type"] == "grant":
        return str(statement["grant_id"])
    grant_hash = statement.get("grant_hash")
    if grant_hash is None:
        return None
    row = repo.grants_by_hash(session, [bytes.fromhex(grant_hash)]).get(bytes.fromhex(grant_hash))
    return None if row is None else str(row.grant_id)


@blp.get("/entries/<seq>/leaf")
def entry_leaf(seq: str) -> Response:
    """The entry's exact leaf bytes, as a file (docs/FORMAT.md §4)."""
    n = seq_param(seq)
    with read_session() as session:
        data = log_reads.get_entry(session, n)
    return Response(
        present.leaf_bytes(data),
        content_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="entry-{n}.leaf"'},
    )


@blp.get("/grants/<grant_id>")
def grant(grant_id: str) -> Response:
    """A grant: items, terms in plain language, timeline and its status per use now."""
    gid = uuid_param(grant_id, "grant_id")
    with read_session() as session:
        data = search_reads.grant(session, gid)
        statement = data["entry"]["statement"]
        view = present.grant_view(statement)
        names = _pseudonyms(session, [statement["signer"], statement["buyer"]])
        first_item = view.items[0]["sha256"]
        statuses = _statuses(session, first_item, statement["buyer"])
    return page(
        "grant.html",
        title=f"Grant {gid}",
        grant=data,
        statement=statement,
        view=view,
        names=names,
        statuses=statuses,
        first_item=first_item,
        commands=present.evidence_commands(
            server(),
            ledger().verifier_key,
            [i["sha256"] for i in view.items] if len(view.items) <= COMMAND_ITEMS else None,
            statement["buyer"],
            view.uses[0],
            None,
        ),
    )


Answer = tuple[dict[str, Any] | None, LedgerError | None]


def _statuses(session: Any, sha256: str, buyer: str) -> list[tuple[str, str, Any, Any]]:
    """(use, its words, verdict, error) for every use now: what ``/v1/content/{sha256}/status``
    answers for each, from one read of the entries they rest on."""
    uses = present.all_uses()
    question = licence_question(sha256=sha256, buyer=buyer, uses=[u for u, _ in uses], at=None)
    try:
        verdicts = evidence_reads.content_verdicts(session, **question)
    except LedgerError as e:
        return [(use, words, None, e) for use, words in uses]
    return [(use, words, verdicts[use], None) for use, words in uses]


def _status(session: Any, sha256: str, buyer: str, use: str, at: int | None) -> Answer:
    """The status answer (what ``/v1/content/{sha256}/status`` serves), or why there is none."""
    question = licence_question(sha256=sha256, buyer=buyer, use=use, at=at)
    try:
        return evidence_reads.content_status(session, **question), None
    except LedgerError as e:
        return None, e


@blp.get("/parties/<key_id>")
def party(key_id: str) -> Response:
    """A party: pseudonym, keys (rotations, revocations), grants made and received."""
    kid = hex64(key_id, "key_id")
    with read_session() as session:
        data = search_reads.party(session, kid)
        grants = search_reads.party_grants(session, kid, PARTY_GRANTS)
        parties = {g["creator_party"] for g in grants["made"] + grants["received"]}
        parties |= {g["buyer_party"] for g in grants["made"] + grants["received"]}
        names = _pseudonyms(session, sorted(parties))
    return page(
        "party.html",
        title=f"Party {data['pseudonym']}",
        key_id=kid,
        party=data,
        grants=grants,
        names=names,
        limit=PARTY_GRANTS,
        commands=present.entry_commands(server(), ledger().verifier_key, data["registered_seq"]),
    )


@blp.get("/parties/<key_id>/account")
def account(key_id: str) -> Response:
    """A party's statement of account: what it earned and owes over a period, per grant, with
    totals per currency (docs/ACCOUNTS.md), from the same bundle as its JSON twin."""
    kid = hex64(key_id, "key_id")
    start, end = (request.args.get(name) or None for name in ("from", "to"))
    lg = ledger()
    with gc_paused(), read_session() as session:
        bundle = account_reads.account_bundle(
            session,
            LogIdentity(lg.origin, lg.verifier_key),
            key_id=kid,
            start=None if start is None else parse_instant(start, "from"),
            end=None if end is None else parse_instant(end, "to"),
            witnessed=lg.witnessed,
            map_nodes=lg.map_nodes,
        )
        statement = bundle.statement
        lines = statement["grants"][:ACCOUNT_LINES]
        names = _pseudonyms(session, sorted({g[r] for g in lines for r in ("creator", "buyer")}))
    period: dict[str, Any] = {"from": start, "to": end}  # None: left out of the URL
    twin = url_for("accounts.Account", key_id=kid, **period)
    return page(
        "account.html",
        title=f"Statement of account of {names.get(statement['party'] or '', kid[:16] + '…')}",
        key_id=kid,
        statement=statement,
        lines=lines,
        names=names,
        start=start or "",
        end=end or "",
        twin=twin,
        checkpoint=present.note_view(bundle.checkpoint, lg.verifier_key),
        commands=present.account_commands(server(), lg.verifier_key, kid, start, end),
    )


@blp.get("/content/<sha256>")
def content(sha256: str) -> Response:
    """Every grant covering a content hash, and a form asking its status."""
    sha = hex64(sha256, "sha256")
    asked = {k: request.args.get(k, "").strip() for k in ("buyer", "use", "at")}
    answer: Answer = (None, None)
    with read_session() as session:
        data = search_reads.content(session, sha)
        parties = {g["buyer_party"] for g in data["grants"]} | {
            g["creator_party"] for g in data["grants"]
        }
        names = _pseudonyms(session, sorted(parties))
        if any(asked.values()):
            answer = _asked_status(session, sha, asked)
    status, error = answer
    return page(
        "content.html",
        status=200 if error is None else error.status,
        title=f"Content {sha[:12]}…",
        content=data,
        names=names,
        asked=asked,
        answer=status,
        error=error,
        commands=present.evidence_commands(
            server(),
            ledger().verifier_key,
            [sha],
            "BUYER_KEY_ID" if status is None else status["buyer"],
            "ai_training" if status is None else status["use"],
            None if status is None else status["at"],
        ),
        uses=present.all_uses(),
    )


def _asked_status(session: Any, sha: str, asked: dict[str, str]) -> Answer:
    try:
        buyer = hex64(asked["buyer"], "buyer")
        use = check_use(asked["use"])
        at = parse_instant(asked["at"]) if asked["at"] else None
    except LedgerError as e:
        return None, e
    return _status(session, sha, buyer, use, at)


@blp.get("/checkpoints/latest")
def latest_checkpoint() -> Response:
    """The latest signed checkpoint (and a consistency check from a size you type)."""
    return _checkpoint(None)


@blp.get("/checkpoints/<size>")
def checkpoint(size: str) -> Response:
    """The checkpoint the log signed at a tree size."""
    return _checkpoint(_size(size, "tree size"))


def _checkpoint(size: int | None) -> Response:
    lg = ledger()
    first_text = request.args.get("from", "").strip()
    consistency: dict[str, Any] | LedgerError | None = None
    with read_session() as session:
        note = log_reads.checkpoint_note(session, size)
        view = present.note_view(note, lg.verifier_key)
        tree_size = view.checkpoint.tree_size
        published = published_checkpoint(session, witnessed=lg.witnessed)
        if first_text:
            try:
                first = _size(first_text, "from")
                consistency = log_reads.consistency_proof(
                    session, first, tree_size, lg.signed_sizes
                )
            except LedgerError as e:
                consistency = e
    cosigned = (
        present.note_view(published.note, lg.verifier_key)
        if published is not None and lg.witnessed and published.tree_size == tree_size
        else None
    )
    return page(
        "checkpoint.html",
        status=consistency.status if isinstance(consistency, LedgerError) else 200,
        title=f"Checkpoint at size {tree_size}",
        checkpoint=view,
        cosigned=cosigned,
        first=first_text,
        consistency=consistency,
        latest=size is None,
    )


@blp.get("/docs")
def docs() -> Response:
    """The API documentation, written from the OpenAPI document (``/openapi.json``)."""
    spec = current_app.extensions[API_EXTENSION].spec.to_dict()
    return page(
        "docs.html",
        title="HTTP API",
        info=spec["info"],
        operations=apidocs.operations(spec),
        schemas=apidocs.schemas(spec),
    )
