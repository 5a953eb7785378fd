"""The evidence report as one self-contained HTML file: inline CSS, no scripts, no external assets.

Every value from the bundle is untrusted. Markup is built only through ``el``, which HTML-escapes
every plain ``str`` child and attribute value; only ``Markup`` (what ``el`` itself returns)
passes through unescaped. No f-string ever puts a value into markup. No I/O here.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Final

from ledger.report.model import (
    ENTRY_CHECKS_TEXT,
    FAIL,
    FAILED_TEXT,
    LIMITS,
    LIMITS_TITLE,
    MAX_LISTED,
    PASS,
    TERMS_TEXT,
    TIMELINE_TEXT,
    VERIFIED_TEXT,
    ContentRow,
    Report,
    TermsGroup,
)


class Markup(str):
    """Markup already built by ``el``: inserted as it is."""


def _render(child: object) -> str:
    if child is None:
        return ""
    if isinstance(child, Markup):
        return str(child)
    if isinstance(child, str):
        return html.escape(child, quote=True)
    if isinstance(child, int):
        return str(child)
    if isinstance(child, Iterable):
        return "".join(_render(c) for c in child)
    raise TypeError(f"cannot render {type(child).__name__}")


def el(tag: str, *children: object, **attrs: str) -> Markup:
    """``<tag attrs>children</tag>`` with every str child and attribute value escaped.

    ``class_`` is written ``class``. Tag and attribute names are constants of this module.
    """
    attr_text = "".join(
        f' {name.rstrip("_")}="{html.escape(value, quote=True)}"' for name, value in attrs.items()
    )
    return Markup(f"<{tag}{attr_text}>{_render(children)}</{tag}>")


_CSS: Final = """
:root { --ok: #1a7f37; --bad: #b42318; --ink: #1f2328; --muted: #59636e; --line: #d1d9e0; }
* { box-sizing: border-box; }
body { font: 14px/1.45 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: var(--ink);
       max-width: 1280px; margin: 24px auto; padding: 0 24px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 28px 0 8px; padding-bottom: 4px; border-bottom: 2px solid var(--line);
     break-after: avoid; page-break-after: avoid; }
h3 { font-size: 15px; margin: 16px 0 6px; break-after: avoid; }
.sub { color: var(--muted); margin: 0 0 16px; }
.mono, code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace;
                   font-size: 12px; }
.hash { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px;
        word-break: break-all; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; }
th, td { text-align: left; vertical-align: top; padding: 4px 8px;
         border-bottom: 1px solid var(--line); }
td.time { white-space: nowrap; }
td.long { overflow-wrap: anywhere; }
th { background: #f6f8fa; font-weight: 600; }
thead { display: table-header-group; }
tr { break-inside: avoid; page-break-inside: avoid; }
dl.kv { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 6px 0 12px; }
dl.kv dt { color: var(--muted); }
dl.kv dd { margin: 0; }
.banner { border: 2px solid; border-radius: 6px; padding: 12px 16px; margin: 12px 0 20px; }
.banner.ok { border-color: var(--ok); background: #dafbe1; }
.banner.bad { border-color: var(--bad); background: #ffebe9; }
.banner.warn { border-color: #9a6700; background: #fff8c5; }
.banner strong { font-size: 17px; }
.answer { font-size: 20px; font-weight: 600; margin: 16px 0 4px; }
tr.unlicensed td { background: #fff1f0; }
td.mark { font-weight: 700; color: var(--bad); }
td.mark.ok { color: var(--ok); }
.banner ul { margin: 8px 0 0; padding-left: 20px; }
.pass { color: var(--ok); font-weight: 600; }
.fail { color: var(--bad); font-weight: 600; }
.skip { color: var(--muted); font-weight: 600; }
pre { background: #f6f8fa; border: 1px solid var(--line); padding: 8px 12px; white-space: pre;
      overflow-x: auto; }
.grant { border: 1px solid var(--line); border-radius: 6px; padding: 4px 14px 8px; margin: 10px 0;
         break-inside: avoid; page-break-inside: avoid; }
.asked { font-weight: 600; color: #0550ae; }
table.content td.hash { white-space: nowrap; word-break: normal; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
footer { color: var(--muted); font-size: 12px; margin-top: 32px; border-top: 1px solid var(--line);
         padding-top: 8px; }
@page { size: A4; margin: 14mm; }
@media print { body { margin: 0; max-width: none; padding: 0; font-size: 11px; }
               .hash, .mono, code, pre { font-size: 9px; } }
"""


def _kv(pairs: Iterable[tuple[str, object]]) -> Markup:
    return el("dl", [(el("dt", k), el("dd", v)) for k, v in pairs], class_="kv")


def _table(head: Iterable[str], rows: Iterable[Iterable[object]], **attrs: str) -> Markup:
    return el(
        "table",
        el("thead", el("tr", [el("th", h) for h in head])),
        el(
            "tbody",
            [el("tr", [c if isinstance(c, Markup) else el("td", c) for c in r]) for r in rows],
        ),
        **attrs,
    )


def _hash(value: str) -> Markup:
    return el("td", value, class_="hash")


def _result(status: str) -> Markup:
    css = {PASS: "pass", FAIL: "fail"}.get(status, "skip")
    return el("td", status, class_=css)


def _banner(report: Report) -> Markup:
    caveats = [el("p", el("strong", "Caution: "), c) for c in report.caveats]
    if report.ok:
        return el(
            "div",
            el("strong", "VERIFIED"),
            el(
                "p",
                VERIFIED_TEXT.format(
                    entries=len(report.entry_checks), items=f"{len(report.content):,}"
                ),
            ),
            caveats,
            class_="banner warn" if caveats else "banner ok",
        )
    return el(
        "div",
        el("strong", f"VERIFICATION FAILED: {len(report.failures)} problem(s)"),
        el("p", FAILED_TEXT),
        el("ul", [el("li", f) for f in report.failures[:MAX_LISTED]]),
        el("p", f"... and {len(report.failures) - MAX_LISTED:,} more (see the tables below)")
        if len(report.failures) > MAX_LISTED
        else None,
        caveats,
        class_="banner bad",
    )


def _question(report: Report) -> Markup:
    return el("section", el("h2", "1. What this bundle answers"), _kv(report.question))


def _parties(report: Report) -> Markup:
    rows = [
        (p.role, p.pseudonym, _hash(p.key_id), p.seq, p.integrated_at or "not in the bundle")
        for p in report.parties
    ]
    head = (
        "Role",
        "Pseudonym",
        "Key id (SHA-256 of the public key)",
        "Registered at seq",
        "Log time",
    )
    return el("section", el("h2", "2. Parties"), _table(head, rows))


def _terms_group(group: TermsGroup) -> Markup:
    rows = [
        (
            g.label,
            el("td", g.grant_id, class_="mono"),
            g.creator,
            g.buyer,
            el("td", f"{g.items:,}", class_="num"),
            g.seq,
            g.integrated_at,
            _hash(g.statement_hash),
        )
        for g in group.grants
    ]
    head = (
        "Grant",
        "Grant id",
        "Creator",
        "Buyer",
        "Items",
        "Seq",
        "Log time (UTC)",
        "Statement hash",
    )
    count = len(group.grants)
    return el(
        "div",
        el("h3", f"{group.label}: {count} grant{'s' if count != 1 else ''}"),
        el("p", group.summary),
        _table(("Term", "In plain language"), group.clauses),
        _table(head, rows),
        class_="grant",
    )


def _grants(report: Report) -> Markup:
    body = [_terms_group(g) for g in report.terms] or [el("p", "The bundle holds no grant.")]
    return el(
        "section",
        el("h2", "3. Grants and their terms"),
        el("p", TERMS_TEXT, class_="sub"),
        body,
    )


def _timeline(report: Report) -> Markup:
    # The row marking the time asked about has no seq; it is highlighted.
    rows = [
        (
            el("td", e.integrated_at, class_="time"),
            e.seq,
            el("td", e.kind, class_="time"),
            el("td", e.description, class_="long"),
        )
        if e.seq is not None
        else [
            el("td", v, class_=css)
            for v, css in zip(
                (e.integrated_at, "", e.kind, e.description),
                ("time asked", "asked", "time asked", "long asked"),
                strict=True,
            )
        ]
        for e in report.timeline
    ]
    return el(
        "section",
        el("h2", "4. Timeline"),
        el("p", TIMELINE_TEXT, class_="sub"),
        _table(("Log time (UTC)", "Seq", "Statement", "What happened"), rows),
    )


def _mark(row: ContentRow) -> Markup:
    """The recomputed answer at a glance: a cross for content not licensed (with words, for a
    reader who cannot tell colours apart), a tick for licensed."""
    if row.licensed is None:
        return el("td", "?", class_="mark")
    if row.licensed:
        return el("td", "\u2713", class_="mark ok")
    return el("td", "\u2717 NOT", class_="mark")


def _content_row(row: ContentRow, named: bool) -> list[object]:
    return [
        _mark(row),
        *([el("td", row.name, class_="long")] if named else []),
        _hash(row.sha256),
        el("td", "" if row.bytes is None else f"{row.bytes:,}", class_="num"),
        el("td", "" if row.duration_s is None else row.duration_s, class_="num"),
        row.media_type,
        el("td", row.grants, class_="mono"),
        row.claimed,
        el("td", row.recomputed) if row.agrees else el("td", row.recomputed, class_="fail"),
        row.conflicts,
    ]


def _content(report: Report) -> Markup:
    counts = [(v, r or "", n) for v, r, n in report.verdict_counts()]
    head = (
        "Licensed",
        *(["File (from the manifest)"] if report.named else []),
        "SHA-256",
        "Bytes",
        "Seconds",
        "Media type",
        "Grant",
        "Bundle says",
        "Recomputed",
        "Note",
    )
    return el(
        "section",
        el("h2", f"5. Content ({len(report.content):,} items)"),
        _table(("Recomputed verdict", "Reason", "Items"), counts, class_="summary"),
        el("p", report.agreement_text()),
        _content_table(head, report),
    )


def _content_table(head: Iterable[str], report: Report) -> Markup:
    rows = [
        el("tr", _content_row(r, report.named), class_="unlicensed")
        if r.licensed is False
        else el("tr", _content_row(r, report.named))
        for r in report.content
    ]
    return el(
        "table",
        el("thead", el("tr", [el("th", h) for h in head])),
        el("tbody", rows),
        class_="content",
    )


def _steps(report: Report) -> Markup:
    rows = [(s.name, _result(s.status), s.detail) for s in report.steps]
    entries = [
        (
            c.seq,
            c.statement,
            _result(c.leaf_hash),
            _result(c.signatures),
            _result(c.inclusion),
            _result(c.chain),
            el("td", c.detail, class_="long"),
        )
        for c in report.entry_checks
    ]
    head = (
        "Seq",
        "Statement",
        "Leaf hash",
        "Signatures",
        "Inclusion proof",
        "Chain link to seq-1",
        "Detail",
    )
    return el(
        "section",
        el("h2", "6. Verification steps"),
        _table(("Check", "Result", "Detail"), rows),
        el("h3", "Each log entry in the bundle"),
        el("p", ENTRY_CHECKS_TEXT, class_="sub"),
        _table(head, entries),
    )


def _checkpoint(report: Report) -> Markup:
    cp = report.checkpoint
    return el(
        "section",
        el("h2", "7. Signed checkpoint"),
        _kv(
            [
                ("Origin", cp.origin),
                ("Tree size", "" if cp.tree_size is None else f"{cp.tree_size:,} entries"),
                ("Root hash", el("span", cp.root_hex, class_="hash")),
                ("Signed by", f"{cp.key_name} (key id {cp.key_id})"),
                ("Signature", "verified" if cp.verified else "NOT verified"),
            ]
        ),
        el("pre", cp.note),
    )


def _reverify(report: Report) -> Markup:
    return el(
        "section",
        el("h2", "8. Verify it yourself"),
        [(el("p", why), el("pre", cmd) if cmd else None) for why, cmd in report.reverify],
        el("h3", LIMITS_TITLE),
        el("ul", [el("li", text) for text in LIMITS]),
    )


def render_html(report: Report) -> str:
    """The whole report as one HTML document (UTF-8 text)."""
    head = el(
        "head",
        Markup('<meta charset="utf-8">'),
        Markup('<meta name="viewport" content="width=device-width, initial-scale=1">'),
        el("title", report.title),
        el("style", Markup(_CSS)),
    )
    body = el(
        "body",
        el("h1", report.title),
        el(
            "p",
            f"Bundle {report.bundle_name} (SHA-256 {report.bundle_sha256}), report made "
            f"{report.generated_at}",
            class_="sub",
        ),
        el("p", report.answer, class_="answer"),
        _banner(report),
        _question(report),
        _parties(report),
        _grants(report),
        _timeline(report),
        _content(report),
        _steps(report),
        _checkpoint(report),
        _reverify(report),
        el("footer", [el("p", n) for n in report.notes]),
    )
    return "<!DOCTYPE html>\n" + el("html", head, body, lang="en") + "\n"
