"""The evidence report as a PDF (fpdf2, pure Python), with the same content as the HTML.

A document for a court or an archive: PDF/A-2u (ISO 19005-2, Unicode level, as fpdf2 writes it:
XMP metadata, an sRGB output intent), with its fonts embedded: DejaVu Sans and DejaVu Sans Mono,
read from the system's fonts (Debian's ``fonts-dejavu-core``, which ``.ci/run`` installs) or
from ``LEDGER_REPORT_FONTS``. The narrative sections are A4 portrait; the content table, which
may hold 100,000 rows, is set in landscape, with its headings repeated on every page.

Identifiers are never broken: a hash, key id, grant id or log time that does not fit its column
is set smaller until it does (``_fit``), and the commands to verify again are set, line by line,
in a size at which their longest line fits; they are split only between arguments, with shell
continuations (``build.shell_command``), so a pasted command runs as it is. The only I/O here
is reading the font files; the caller writes the returned bytes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Sequence, Set
from pathlib import Path
from typing import Final

from fpdf import FPDF
from fpdf.enums import DocumentCompliance, MethodReturnValue, WrapMode, XPos, YPos

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
    FontsMissing,
    Report,
)

_OK: Final = (26, 127, 55)
_BAD: Final = (180, 35, 24)
_MUTED: Final = (89, 99, 110)
_WARN: Final = (154, 103, 0)
_ASKED: Final = (5, 80, 174)
_HEAD_FILL: Final = (240, 242, 245)
_NON_PRINTABLE: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: mm, landscape (269 wide): the mark, a SHA-256 (64 digits of DejaVu Sans Mono: 88 mm at 6.5
#: points), bytes, seconds, media type, grant, the two verdicts, a note; with file names, a file
#: column, and the identifiers and verdicts set smaller to fit (one line per clip).
_CONTENT_WIDTHS: Final = (12.0, 90.0, 18.0, 13.0, 20.0, 10.0, 48.0, 48.0, 10.0)
_NAMED_WIDTHS: Final = (12.0, 50.0, 72.0, 16.0, 11.0, 18.0, 10.0, 35.0, 35.0, 10.0)

#: A folder holding the DejaVu fonts the PDF embeds (default: the system's, below).
FONTS_ENV: Final = "LEDGER_REPORT_FONTS"
FONT_FILES: Final = {
    ("sans", ""): "DejaVuSans.ttf",
    ("sans", "B"): "DejaVuSans-Bold.ttf",
    ("mono", ""): "DejaVuSansMono.ttf",
}
#: Where systems keep DejaVu: Debian and Ubuntu (fonts-dejavu-core), Fedora, Arch, Alpine.
FONT_DIRS: Final = (
    "/usr/share/fonts/truetype/dejavu",
    "/usr/share/fonts/dejavu-sans-fonts",
    "/usr/share/fonts/dejavu-sans-mono-fonts",
    "/usr/share/fonts/TTF",
    "/usr/share/fonts/dejavu",
)


def font_files() -> dict[tuple[str, str], Path]:
    """The font file of each (family, style), from ``LEDGER_REPORT_FONTS`` or the system."""
    folders = [os.environ[FONTS_ENV]] if os.environ.get(FONTS_ENV) else list(FONT_DIRS)
    found: dict[tuple[str, str], Path] = {}
    for key, name in FONT_FILES.items():
        for folder in folders:
            if (Path(folder) / name).is_file():
                found[key] = Path(folder) / name
                break
        else:
            where = f"{FONTS_ENV}={folders[0]}" if os.environ.get(FONTS_ENV) else "this machine"
            raise FontsMissing(
                f"PDF reports embed the DejaVu fonts, and {name} is not on {where}: install them"
                " (Debian, Ubuntu: apt-get install fonts-dejavu-core; Fedora: dnf install"
                f" dejavu-sans-fonts dejavu-sans-mono-fonts), or set {FONTS_ENV} to a folder"
                f" holding {', '.join(FONT_FILES.values())}; or write --format html"
            )
    return found


def clean(value: object, *, lines: bool = False) -> str:
    """Text as drawn: control characters become ``?`` (every other character is the font's).

    With ``lines``, newlines are kept (for note text and commands shown verbatim).
    """
    text = str(value)
    if lines:
        return "\n".join(_NON_PRINTABLE.sub("?", line) for line in text.split("\n"))
    return _NON_PRINTABLE.sub("?", text)


class _ReportPDF(FPDF):
    def __init__(self, report: Report) -> None:
        super().__init__(
            orientation="portrait",
            unit="mm",
            format="A4",
            enforce_compliance=DocumentCompliance.PDFA_2U,
        )
        for (family, style), path in font_files().items():
            self.add_font(family, style, str(path))
        self.set_lang("en")
        self.report = report
        self.set_margins(14, 14, 14)
        self.set_auto_page_break(auto=True, margin=16)
        self.set_title(clean(report.title))
        self.set_creator("Consent Ledger")

    def header(self) -> None:
        if self.page_no() == 1:
            return
        self.set_font("sans", "", 7)
        self.set_text_color(*_MUTED)
        status = "VERIFIED" if self.report.ok else "VERIFICATION FAILED"
        self.cell(
            0,
            4,
            clean(f"{self.report.title} - bundle SHA-256 {self.report.bundle_sha256} - {status}"),
        )
        self.ln(6)
        self.set_text_color(0, 0, 0)

    def footer(self) -> None:
        self.set_y(-11)
        self.set_font("sans", "", 7)
        self.set_text_color(*_MUTED)
        self.cell(0, 4, f"Page {self.page_no()} of {{nb}}", align="R")
        self.set_text_color(0, 0, 0)

    # --- building blocks ---------------------------------------------------------------------

    def heading(self, text: str) -> None:
        # Keep a heading with the first lines under it.
        if self.will_page_break(30):
            self.add_page(same=True)
        self.ln(3)
        self.set_font("sans", "B", 13)
        self.cell(0, 8, clean(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_draw_color(209, 217, 224)
        self.line(self.l_margin, self.get_y(), self.w - self.r_margin, self.get_y())
        self.ln(2)

    def para(
        self, text: str, size: float = 9.5, style: str = "", color: tuple[int, ...] = ()
    ) -> None:
        self.set_font("sans", style, size)
        if color:
            self.set_text_color(*color)
        self.multi_cell(0, size * 0.5, clean(text), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_text_color(0, 0, 0)
        self.ln(1)

    def mono(self, text: str, size: float = 8) -> None:
        """Verbatim text (a command, a signed note) in one block that never splits over pages
        and whose lines are never wrapped: set smaller until the longest line fits, so a reader
        copies it whole, exactly as it is."""
        text = clean(text, lines=True)
        lines = text.split("\n")
        self.set_font("mono", "", size)
        widest = max(_text_width(self, line) for line in lines)
        if widest > self.epw - 2:
            size = max(size * (self.epw - 2) / widest, 4.0)
            self.set_font("mono", "", size)
        height = size * 0.45
        if self.will_page_break(len(lines) * height + 1):
            self.add_page(same=True)
        self.set_fill_color(*_HEAD_FILL)
        top = self.get_y()
        self.rect(self.l_margin, top, self.epw, len(lines) * height + 1, style="F")
        for k, line in enumerate(lines):
            self.text(self.l_margin + 1, top + height * (k + 1), line)
        self.set_y(top + len(lines) * height + 1)
        self.ln(2)

    def key_values(
        self, pairs: Iterable[tuple[str, object]], mono_keys: Sequence[str] = ()
    ) -> None:
        for key, value in pairs:
            self.set_font("sans", "", 9)
            self.set_text_color(*_MUTED)
            self.cell(46, 5, clean(key))
            self.set_text_color(0, 0, 0)
            if key in mono_keys:
                self.set_font("mono", "", 8)
                text = clean(value)
                self.set_font("mono", "", _fit(self, text, self.epw - 48))
                self.cell(0, 5, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
                continue
            self.multi_cell(
                0,
                5,
                clean(value),
                align="L",
                wrapmode=WrapMode.WORD,
                new_x=XPos.LMARGIN,
                new_y=YPos.NEXT,
            )
        self.ln(2)


# --- sections ----------------------------------------------------------------------------------


def _title_and_banner(pdf: _ReportPDF, report: Report) -> None:
    pdf.set_font("sans", "B", 18)
    pdf.cell(0, 10, clean(report.title), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.para(
        f"Bundle {report.bundle_name} (SHA-256 {report.bundle_sha256}), report made "
        f"{report.generated_at}",
        size=8.5,
        color=_MUTED,
    )
    if report.answer:
        pdf.para(report.answer, size=13, style="B")
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
        (18, 30, 88, 10, 36),
        rows,
        mono={2},
        keep={4},
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
            (10, 50, 65, 11, 10, 36),
            rows,
            mono={1},
            keep={5},
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
        widths=(38, 12, 24, 108),
        keep={0, 2},
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
    rows = [_content_row(r, report.named) for r in report.content]
    bad = {i for i, r in enumerate(report.content) if not r.agrees}
    unlicensed = {i for i, r in enumerate(report.content) if not r.licensed}
    widths, verdict = _content_widths(report.named)
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
    sha = 2 if report.named else 1
    _fast_table(
        pdf,
        head,
        widths,
        rows,
        mono={sha},
        keep={sha - 1, sha + 3, verdict - 1, verdict} if report.named else {sha + 3, 6, 7},
        right={sha + 1, sha + 2},
        color=lambda r, c: (
            _BAD
            if (c == 0 and r in unlicensed) or (c == verdict and r in bad)
            else _OK
            if c == 0
            else None
        ),
        fill=lambda r: _UNLICENSED_FILL if r in unlicensed else None,
    )


_UNLICENSED_FILL: Final = (255, 241, 240)


def _content_widths(named: bool) -> tuple[tuple[float, ...], int]:
    """The content table's column widths, and the index of the recomputed verdict."""
    return (_NAMED_WIDTHS, 8) if named else (_CONTENT_WIDTHS, 7)


def _content_row(row: ContentRow, named: bool) -> tuple[str, ...]:
    mark = "?" if row.licensed is None else "\u2713" if row.licensed else "\u2717 NOT"
    return (
        mark,
        *([row.name] if named else []),
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
    keep: Set[int] = frozenset(),
    right: Set[int] = frozenset(),
    color: Callable[[int, int], tuple[int, int, int] | None] = lambda r, c: None,
    fill: Callable[[int], tuple[int, int, int] | None] = lambda r: None,
    size: float = 7.5,
) -> None:
    """A table drawn with ``text()`` at computed positions, headings repeated on each page.

    Ten times faster than ``cell()``, which matters at 100,000 rows. A value wider than its
    column wraps onto more lines by word (measured only when it does not fit), so nothing is
    cut off; a value in a ``mono`` or ``keep`` column (an identifier) is never broken: it is
    set smaller until it fits (``_fit``). ``fill`` tints a whole row (say, one not licensed).
    """
    line = size * 0.5
    lefts = [pdf.l_margin + sum(widths[:i]) for i in range(len(widths))]
    total = sum(widths)

    current: list[tuple[str, str, float]] = [("", "", 0.0)]

    def font(wanted: tuple[str, str, float]) -> None:
        if wanted != current[0]:  # set_font is slow even when nothing changes
            pdf.set_font(*wanted)
            current[0] = wanted

    def layout(c: int, value: str, bold: bool) -> tuple[list[str], tuple[str, str, float]]:
        # Identifiers in the monospaced font, half a point smaller.
        wanted = ("mono", "", size - 0.5) if c in mono and not bold else ("sans", "B" * bold, size)
        font(wanted)
        text = clean(value)
        width = widths[c] - 2
        if bold:  # a heading is wrapped between words, never inside one
            longest = max(text.split() or [""], key=lambda w: _text_width(pdf, w))
            if _text_width(pdf, longest) > width:
                wanted = (*wanted[:2], _fit(pdf, longest, width))
                font(wanted)
            return _wrap(pdf, text, width), wanted
        if c not in mono | keep:
            return _wrap(pdf, text, width), wanted
        if _text_width(pdf, text) > width:
            wanted = (*wanted[:2], _fit(pdf, text, width))
            font(wanted)
            if _text_width(pdf, text) > width:  # too long even at the smallest size
                return _split_at_separators(pdf, text, width), wanted
        return [text], wanted

    def draw(values: Sequence[str], bold: bool, r: int) -> None:
        cells = [layout(c, value, bold) for c, value in enumerate(values)]
        height = line * max(len(lines) for lines, _ in cells) + 0.5
        if pdf.will_page_break(height):
            pdf.add_page(same=True)
            if not bold:
                draw(head, True, -1)
        y = pdf.get_y()
        tint = None if bold else fill(r)
        if bold or r % 2 or tint:
            pdf.set_fill_color(*(_HEAD_FILL if bold else tint or (248, 249, 250)))
            pdf.rect(pdf.l_margin, y, total, height, style="F")
        for c, (lines, wanted) in enumerate(cells):
            font(wanted)
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


def _fit(pdf: _ReportPDF, text: str, width: float) -> float:
    """The font size, at most the current one and at least 4 points, at which ``text`` fits
    ``width`` mm on one line in the current font (which is left unchanged)."""
    wide = _text_width(pdf, text)
    size = float(pdf.font_size_pt)
    return size if wide <= width else max(4.0, size * width / wide * 0.995)


_SEPARATOR: Final = re.compile(r"(?<=[/\\ ,_.-])")


def _split_at_separators(pdf: _ReportPDF, text: str, width: float) -> list[str]:
    """``text`` (a long path or identifier) over lines broken only after a separator (``/``,
    a space, ``,``, ``_``, ``.``, ``-``): between folder names, never inside one, unless a
    single piece is wider than the column."""
    lines = [""]
    for piece in _SEPARATOR.split(text):
        if lines[-1] and _text_width(pdf, lines[-1] + piece) > width:
            lines.append("")
        lines[-1] += piece
    return [part for line in lines for part in _wrap(pdf, line, width)]


def _text_width(pdf: _ReportPDF, text: str) -> float:
    """The width of ``text`` in the current font, in mm: what ``get_string_width`` returns for
    the core fonts, without its text shaping, which costs more than the rest of a big table."""
    font = pdf.current_font
    assert font is not None  # every caller has set a font
    return font.get_text_width(text, pdf.font_size_pt, None)[1] / pdf.k


def _wrap(pdf: _ReportPDF, text: str, width: float) -> list[str]:
    """``text`` as the lines it takes in ``width`` mm, by word (a word longer than the column
    is broken where it must be: keep identifiers out of wrapped columns)."""
    if _text_width(pdf, text) <= width:
        return [text]
    lines = pdf.multi_cell(
        width,
        1,
        text,
        dry_run=True,
        output=MethodReturnValue.LINES,
        wrapmode=WrapMode.WORD,
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
