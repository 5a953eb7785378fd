"""Evidence reports for people: an evidence bundle, verified again, rendered as HTML or PDF.

``build_report`` re-does the verification with the offline verifier (``ledger.core.evidence``)
and turns the bundle and the result into a ``Report`` (``model.py``); ``render`` turns that into
one self-contained HTML file (``html.py``) or a PDF (``pdf.py``). No Flask or SQLAlchemy here:
an auditor needs only the core and fpdf2. ``card.py`` makes dataset cards of the same verified
bundle (Croissant, ``croissant.py``; SPDX 3, ``spdx.py``) and checks a card against its bundle.
"""

from __future__ import annotations

from typing import Final

from ledger.report.build import build_report
from ledger.report.card import CardFormat
from ledger.report.croissant import CroissantFormat
from ledger.report.html import render_html
from ledger.report.model import Report
from ledger.report.spdx import SpdxFormat

FORMATS: Final = ("html", "pdf")
#: Dataset card formats (``card.py``): each renders a ``Card`` and reads one back.
CARD_FORMATS: Final[dict[str, CardFormat]] = {"croissant": CroissantFormat(), "spdx": SpdxFormat()}


def render(report: Report, fmt: str) -> bytes:
    """The report in ``fmt`` (``html`` or ``pdf``) as bytes; raises ValueError for another."""
    if fmt == "html":
        return render_html(report).encode("utf-8")
    if fmt == "pdf":
        from ledger.report.pdf import render_pdf  # noqa: PLC0415 (fpdf2 loads only for a PDF)

        return render_pdf(report)
    raise ValueError(f"unknown report format {fmt!r}; choose one of {', '.join(FORMATS)}")


__all__ = ["CARD_FORMATS", "FORMATS", "Report", "build_report", "render"]
