"""The evidence report as a PDF (fpdf2, pure Python), with the same content as the HTML.

The narrative sections are A4 portrait; the content table, which may hold 100,000 rows, is set in
landscape so that a full SHA-256 fits on one line, with its headings repeated on every page.
Only the PDF core fonts are used (no font files to ship), so text is Latin-1: the report's own
prose is ASCII, and any other character from the bundle is shown as ``?`` (a valid bundle has
none: pseudonyms, codes and hashes are ASCII by the format). No I/O here: the caller writes the
returned bytes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence, Set
from typing import Any, Final

from fpdf import FPDF
from fpdf.enums import MethodReturnValue, WrapMode, XPos, YPos

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
)

_OK: Final = (26, 127, 55)
_BAD: Final = (180, 35, 24)
_MUTED: Final = (89, 99, 110)
_WARN: Final = (154, 103, 0)
_ASKED: Final = (5, 80, 174)
_HEAD_FILL: Final = (240, 242, 245)
_NON_PRINTABLE: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: mm, landscape (273 wide): a SHA-256 in 7-point Courier is 95 mm; a verdict such as
#: "not licensed (use_not_permitted)" is 44 mm. Reasons in words are in the count table above.
_CONTENT_WIDTHS: Final = (98.0, 18.0, 15.0, 20.0, 10.0, 45.0, 45.0, 22.0)


def latin1(value: object, *, lines: bool = False) -> str:
    """Text the core fonts can draw: non-Latin-1 and control characters become ``?``.

    With ``lines``, newlines are kept (for note text and commands shown verbatim).
    """
    text = str(value).replace("\u2014", "-").replace("\u2026", "...")
    text = text.encode("latin-1", "replace").decode("latin-1")
    if lines:
        return "\n".join(_NON_PRINTABLE.sub("?", line) for line in text.split("\n"))
    return _NON_PRINTABLE.sub("?", text)


class _ReportPDF(FPDF):
    def __init__(self, report: Report) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.report = report
        self.set_margins(14, 14, 14)
        self.set_auto_page_break(auto=True, margin=16)
        self.set_title(latin1(report.title))
        self.set_creator("Consent Ledger")

    def header(self) -> None:
        if self.page_no() == 1:
            return
        self.set_font("helvetica", "", 7)
        self.set_text_color(*_MUTED)
        status = "VERIFIED" if self.report.ok else "VERIFICATION FAILED"
        self.cell(
            0,
            4,
            latin1(f"{self.report.title} - bundle SHA-256 {self.report.bundle_sha256} - {status}"),
        )
        self.ln(6)
        self.set_text_color(0, 0, 0)

    def footer(self) -> None:
        self.set_y(-11)
        self.set_font("helvetica", "", 7)
        self.set_text_color(*_MUTED)
        self.cell(0, 4, f"Page {self.page_no()} of {{nb}}", align="R")
        self.set_text_color(0, 0, 0)

    # --- building blocks ---------------------------------------------------------------------

    def heading(self, text: str) -> None:
        # Keep a heading with the first lines under it.
        if self.will_page_break(30):
            self.add_page(same=True)
        self.ln(3)
        self.set_font("helvetica", "B", 13)
        self.cell(0, 8, latin1(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_draw_color(209, 217, 224)
        self.line(self.l_margin, self.get_y(), self.w - self.r_margin, self.get_y())
        self.ln(2)

    def para(
        self, text: str, size: float = 9.5, style: str = "", color: tuple[int, ...] = ()
    ) -> None:
        self.set_font("helvetica", style, size)
        if color:
            self.set_text_color(*color)
        self.multi_cell(0, size * 0.5, latin1(text), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_text_color(0, 0, 0)
        self.ln(1)

    def mono(self, text: str, size: float = 8) -> None:
        """Verbatim text (a command, a signed note) in one block that never splits over pages:
        a reader copies it whole."""
        self.set_font("courier", "", size)
        self.set_fill_color(*_HEAD_FILL)
        options: dict[str, Any] = {"wrapmode": WrapMode.CHAR}
        text = latin1(text, lines=True)
        lines = self.multi_cell(0, 1, text, dry_run=True, output=MethodReturnValue.LINES, **options)
        assert isinstance(lines, list)
        if self.will_page_break(len(lines) * size * 0.45):
            self.add_page(same=True)
        self.multi_cell(
            0, size * 0.45, text, fill=True, new_x=XPos.LMARGIN, new_y=YPos.NEXT, **options
        )
        self.ln(2)

    def key_values(
        self, pairs: Iterable[tuple[str, object]], mono_keys: Sequence[str] = ()
    ) -> None:
        for key, value in pairs:
            self.set_font("helvetica", "", 9)
            self.set_text_color(*_MUTED)
            self.cell(38, 5, latin1(key))
            self.set_text_color(0, 0, 0)
            if key in mono_keys:
                self.set_font("courier", "", 8)
            self.multi_cell(
                0,
                5,
                latin1(value),
                align="L",
                wrapmode=WrapMode.CHAR,
                new_x=XPos.LMARGIN,
                new_y=YPos.NEXT,
            )
        self.ln(2)


# --- sections ----------------------------------------------------------------------------------


def _title_and_banner(pdf: _ReportPDF, report: Report) -> None:
    pdf.set_font("helvetica", "B", 18)
    pdf.cell(0, 10, latin1(report.title), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.para(
        f"Bundle {report.bundle_name} (SHA-256 {report.bundle_sha256}), report made "
        f"{report.generated_at}",
        size=8.5,
        color=_MUTED,
    )
    color = _BAD if not report.ok else _WARN if report.caveats else _OK
    pdf.set_draw_color(*color)
    pdf.set_line_width(0.6)
    top = pdf.get_y()
    pdf.ln(2)
    if report.ok:
        pdf.para("VERIFIED", size=13, style="B", color=color)
        pdf.para(
            VERIFIED_TEXT.format(entries=len(report.entry_checks), items=f"{len(report.content):,}")
        )
    else:
        pdf.para(
            f"VERIFICATION FAILED: {len(report.failures)} problem(s)",
            size=13,
            style="B",
            color=color,
        )
        pdf.para(FAILED_TEXT)
        for failure in report.failures[:MAX_LISTED]:
            pdf.para(f"- {failure}", color=color)
        if len(report.failures) > MAX_LISTED:
            pdf.para(f"... and {len(report.failures) - MAX_LISTED:,} more (see the tables below)")
    for caveat in report.caveats:
        pdf.para(f"Caution: {caveat}", style="B", color=_WARN)
    pdf.rect(pdf.l_margin - 2, top, pdf.epw + 4, pdf.get_y() - top)
    pdf.set_line_width(0.2)
    pdf.ln(3)


def _parties(pdf: _ReportPDF, report: Report) -> None:
    pdf.heading("2. Parties")
    rows = [
        (
            p.role,
            p.pseudonym,
            p.key_id,
            "" if p.seq is None else str(p.seq),
            p.integrated_at or "not in the bundle",
        )
        for p in report.parties
    ]
    _fast_table(
        pdf,
        ("Role", "Pseudonym", "Key id (SHA-256 of the public key)", "Seq", "Log time (UTC)"),
        (20, 32, 70, 10, 50),
        rows,
        mono={2},
        right={3},
        size=8,
    )


def _grants(pdf: _ReportPDF, report: Report) -> None:
    pdf.heading("3. Grants and their terms")
    pdf.para(TERMS_TEXT, size=8.5, color=_MUTED)
    if not report.terms:
        pdf.para("The bundle holds no grant.")
    for group in report.terms:
        if pdf.will_page_break(60):  # keep a group's heading with its terms
            pdf.add_page(same=True)
        count = len(group.grants)
        pdf.para(f"{group.label}: {count} grant{'s' if count != 1 else ''}", size=10.5, style="B")
        pdf.para(group.summary)
        _fast_table(pdf, ("Term", "In plain language"), (34, 148), group.clauses, size=8.5)
        rows = [
            (
                g.label,
                g.grant_id,
                f"{g.creator} to {g.buyer}",
                f"{g.items:,}",
                str(g.seq),
                g.integrated_at,
            )
            for g in group.grants
        ]
        _fast_table(
            pdf,
            ("Grant", "Grant id", "From creator to buyer", "Items", "Seq", "Log time (UTC)"),
            (10, 52, 61, 11, 8, 40),
            rows,
            right={3, 4},
            size=7.5,
        )


def _timeline(pdf: _ReportPDF, report: Report) -> None:
    pdf.heading("4. Timeline")
    pdf.para(TIMELINE_TEXT, size=8.5, color=_MUTED)
    rows = [
        (e.integrated_at, "" if e.seq is None else str(e.seq), e.kind, e.description)
        for e in report.timeline
    ]
    _fast_table(
        pdf,
        ("Log time (UTC)", "Seq", "Statement", "What happened"),
        rows=rows,
        widths=(42, 12, 24, 104),
        right={1},
        size=8,
        color=lambda r, c: _ASKED if report.timeline[r].seq is None else None,
    )


def _content(pdf: _ReportPDF, report: Report) -> None:
    pdf.add_page(orientation="landscape")
    pdf.heading(f"5. Content ({len(report.content):,} items)")
    counts = [(v, r, f"{n:,}") for v, r, n in report.verdict_counts()]
    _fast_table(pdf, ("Recomputed verdict", "Reason", "Items"), (70, 90, 25), counts, right={2})
    pdf.para(report.agreement_text())
    rows = [_content_row(r) for r in report.content]
    bad = {i for i, r in enumerate(report.content) if not r.agrees}
    _fast_table(
        pdf,
        (
            "SHA-256",
            "Bytes",
            "Seconds",
            "Media type",
            "Grant",
            "Bundle says",
            "Recomputed",
            "Note",
        ),
        _CONTENT_WIDTHS,
        rows,
        mono={0},
        right={1, 2},
        color=lambda r, c: _BAD if c == 6 and r in bad else None,
    )


def _content_row(row: ContentRow) -> tuple[str, ...]:
    return (
        row.sha256,
        "" if row.bytes is None else f"{row.bytes:,}",
        "" if row.duration_s is None else str(row.duration_s),
        row.media_type,
        row.grants,
        row.claimed,
        row.recomputed,
        row.conflicts,
    )


def _status_color(status: str) -> tuple[int, int, int] | None:
    return {PASS: _OK, FAIL: _BAD}.get(status, _MUTED)


def _fast_table(
    pdf: _ReportPDF,
    head: Sequence[str],
    widths: Sequence[float],
    rows: Sequence[Sequence[str]],
    *,
    mono: Set[int] = frozenset(),
    right: Set[int] = frozenset(),
    color: Callable[[int, int], tuple[int, int, int] | None] = lambda r, c: None,
    size: float = 7.5,
) -> None:
    """A table drawn with ``text()`` at computed positions, headings repeated on each page.

    Ten times faster than ``cell()``, which matters at 100,000 rows. A value wider than its
    column wraps onto more lines (measured only when it does not fit), so nothing is cut off.
    """
    line = size * 0.5
    lefts = [pdf.l_margin + sum(widths[:i]) for i in range(len(widths))]
    total = sum(widths)

    current: list[tuple[str, str, float]] = [("", "", 0.0)]

    def font(c: int, bold: bool = False) -> None:
        # A whole SHA-256 fits on one line in Courier half a point smaller.
        wanted = (
            ("courier", "", size - 0.5)
            if c in mono and not bold
            else ("helvetica", "B" if bold else "", size)
        )
        if wanted != current[0]:  # set_font is slow even when nothing changes
            pdf.set_font(*wanted)
            current[0] = wanted

    def draw(values: Sequence[str], bold: bool, r: int) -> None:
        cells = []
        for c, value in enumerate(values):
            font(c, bold)
            cells.append(_wrap(pdf, latin1(value), widths[c] - 2, by_word=bold or c not in mono))
        height = line * max(len(lines) for lines in cells) + 0.5
        if pdf.will_page_break(height):
            pdf.add_page(same=True)
            if not bold:
                draw(head, True, -1)
        y = pdf.get_y()
        if bold or r % 2:
            pdf.set_fill_color(*(_HEAD_FILL if bold else (248, 249, 250)))
            pdf.rect(pdf.l_margin, y, total, height, style="F")
        for c, lines in enumerate(cells):
            font(c, bold)
            rgb = None if bold else color(r, c)
            if rgb:
                pdf.set_text_color(*rgb)
            for k, text in enumerate(lines):
                shift = widths[c] - 2 - _text_width(pdf, text) if c in right else 0
                pdf.text(lefts[c] + 1 + shift, y + line * (k + 1) - 0.5, text)
            if rgb:
                pdf.set_text_color(0, 0, 0)
        pdf.set_y(y + height)

    draw(head, True, -1)
    for r, values in enumerate(rows):
        draw(values, False, r)
    pdf.ln(3)


def _text_width(pdf: _ReportPDF, text: str) -> float:
    """The width of ``text`` in the current font, in mm: what ``get_string_width`` returns for
    the core fonts, without its text shaping, which costs more than the rest of a big table."""
    font = pdf.current_font
    assert font is not None  # every caller has set a font
    return font.get_text_width(text, pdf.font_size_pt, None)[1] / pdf.k


def _wrap(pdf: _ReportPDF, text: str, width: float, by_word: bool = False) -> list[str]:
    """``text`` as the lines it takes in ``width`` mm: by word, or anywhere (for hashes)."""
    if _text_width(pdf, text) <= width:
        return [text]
    lines = pdf.multi_cell(
        width,
        1,
        text,
        dry_run=True,
        output=MethodReturnValue.LINES,
        wrapmode=WrapMode.WORD if by_word else WrapMode.CHAR,
        padding=0,
    )
    assert isinstance(lines, list)  # output=LINES returns the lines alone
    return [str(line) for line in lines] or [""]


def _steps(pdf: _ReportPDF, report: Report) -> None:
    pdf.add_page(orientation="portrait")
    pdf.heading("6. Verification steps")
    rows = [(s.name, s.status, s.detail) for s in report.steps]
    _fast_table(
        pdf,
        ("Check", "Result", "Detail"),
        (34, 20, 128),
        rows,
        size=8,
        color=lambda r, c: _status_color(rows[r][1]) if c == 1 else None,
    )
    pdf.para("Each log entry in the bundle", size=10.5, style="B")
    pdf.para(ENTRY_CHECKS_TEXT, size=8.5, color=_MUTED)
    entries = [
        (str(c.seq), c.statement, c.leaf_hash, c.signatures, c.inclusion, c.chain, c.detail)
        for c in report.entry_checks
    ]
    _fast_table(
        pdf,
        ("Seq", "Statement", "Leaf hash", "Signatures", "Inclusion proof", "Chain link", "Detail"),
        (10, 22, 16, 19, 19, 19, 77),
        entries,
        right={0},
        color=lambda r, c: _status_color(entries[r][c]) if 2 <= c <= 5 else None,
    )


def _checkpoint(pdf: _ReportPDF, report: Report) -> None:
    cp = report.checkpoint
    pdf.heading("7. Signed checkpoint")
    pdf.key_values(
        [
            ("Origin", cp.origin),
            ("Tree size", "" if cp.tree_size is None else f"{cp.tree_size:,} entries"),
            ("Root hash", cp.root_hex),
            ("Signed by", f"{cp.key_name} (key id {cp.key_id})"),
            ("Signature", "verified" if cp.verified else "NOT verified"),
        ],
        mono_keys=("Root hash",),
    )
    pdf.mono(cp.note)


def _reverify(pdf: _ReportPDF, report: Report) -> None:
    pdf.heading("8. Verify it yourself")
    for why, command in report.reverify:
        pdf.para(why)
        if command:
            pdf.mono(command)
    pdf.para(LIMITS_TITLE, size=10.5, style="B")
    for text in LIMITS:
        pdf.para(f"- {text}")


def render_pdf(report: Report) -> bytes:
    """The whole report as PDF bytes."""
    pdf = _ReportPDF(report)
    pdf.add_page()
    _title_and_banner(pdf, report)
    pdf.heading("1. What this bundle answers")
    pdf.key_values(report.question)
    _parties(pdf, report)
    _grants(pdf, report)
    _timeline(pdf, report)
    _content(pdf, report)
    _steps(pdf, report)
    _checkpoint(pdf, report)
    _reverify(pdf, report)
    for note in report.notes:
        pdf.para(note, size=8, color=_MUTED)
    return bytes(pdf.output())
