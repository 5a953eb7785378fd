"""Evidence reports for people: an evidence bundle, verified again, rendered as HTML or PDF.

``build_report`` re-does the verification with the offline verifier (``ledger.core.evidence``)
and turns the bundle and the result into a ``Report`` (``model.py``); ``render`` turns that into
one self-contained HTML file (``html.py``) or a PDF (``pdf.py``). No Flask or SQLAlchemy here:
an auditor needs only the core and fpdf2.
"""

from __future__ import annotations

from typing import Final

from ledger.report.build import build_report
from ledger.report.html import render_html
from ledger.report.model import Report

FORMATS: Final = ("html", "pdf")


def render(report: Report, fmt: str) -> bytes:
    """The report in ``fmt`` (``html`` or ``pdf``) as bytes; raises ValueError for another."""
    if fmt == "html":
        return render_html(report).encode("utf-8")
    if fmt == "pdf":
        from ledger.report.pdf import render_pdf  # noqa: PLC0415 (fpdf2 loads only for a PDF)

        return render_pdf(report)
    raise ValueError(f"unknown report format {fmt!r}; choose one of {', '.join(FORMATS)}")


__all__ = ["FORMATS", "Report", "build_report", "render"]
