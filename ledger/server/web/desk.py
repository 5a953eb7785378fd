"""The pages where people sign in their own browser: the creator's desk (``/creator``).

The server only serves the page, its scripts and the vocabulary of the format; the key is made or
imported, kept (a non-extractable WebCrypto key in IndexedDB) and used in the browser, footage is
hashed there, and only signed envelopes come back, through the HTTP API like the CLI's. These pages
run the app's own scripts (``static/app/``, ``static/vendor/``), so their Content-Security-Policy
allows scripts from this origin and WebAssembly compilation (hash-wasm's SHA-256), nothing inline.
"""

from __future__ import annotations

from typing import Any

from flask import Response, request

from ledger.core.errors import InvalidKey, InvalidParameter
from ledger.core.iso import ISO_3166_ALPHA2, ISO_4217
from ledger.core.statements import MAX_NOTICE_DAYS, PROHIBITIONS, WORLDWIDE
from ledger.core.statements.parse import FIELD_PATTERNS
from ledger.report import FORMATS, build_report, render
from ledger.report.plain import PROHIBITION_WORDS, USE_ORDER, USE_WORDS
from ledger.server.api.parsing import refuse_repeated_parameters
from ledger.server.web import views

#: The explorer's policy, plus the app's own scripts, WebAssembly and fetches to this origin.
#: Still no 'unsafe-inline' and no 'unsafe-eval': 'wasm-unsafe-eval' lets a script of this
#: origin compile WebAssembly, and nothing else.
APP_CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self'; "
    "style-src 'self'; img-src 'self' blob:; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
#: Per minute, per clip, flat: the CLI's ``--per`` words for the format's units.
UNIT_CHOICES = (("per_minute", "per minute"), ("per_clip", "per clip"), ("flat", "flat fee"))


def vocabulary() -> dict[str, Any]:
    """What a grant may say, from the core (docs/FORMAT.md §3.2.4): the page's choices and the
    patterns its checks use are these, not a copy."""
    return {
        "uses": [[u, USE_WORDS[u]] for u in USE_ORDER],
        "prohibitions": [[p, PROHIBITION_WORDS[p]] for p in sorted(PROHIBITIONS)],
        "units": [list(u) for u in UNIT_CHOICES],
        "currencies": sorted(ISO_4217),
        "territories": sorted(ISO_3166_ALPHA2),
        "worldwide": WORLDWIDE,
        "max_notice_days": MAX_NOTICE_DAYS,
        "patterns": {name: p.pattern for name, p in FIELD_PATTERNS.items()},
    }


def app_page(template: str, **context: Any) -> Response:
    response = views.page(template, vocabulary=vocabulary(), **context)
    response.headers["Content-Security-Policy"] = APP_CONTENT_SECURITY_POLICY
    response.headers["Cache-Control"] = "no-store"
    return response


@views.blp.get("/creator")
def creator() -> Response:
    """The creator's desk: a key in this browser, clips hashed here, grants signed here."""
    return app_page("creator.html", title="Creator's desk", units=UNIT_CHOICES)


@views.blp.get("/buyer")
def buyer() -> Response:
    """The buyer's desk: offers made to your key, accepted here; evidence for a dataset."""
    return app_page("buyer.html", title="Buyer's desk")


@views.blp.post("/buyer/report")
def buyer_report() -> Response:
    """An evidence bundle (the body), verified again, as the report ``ledger report`` writes,
    under the log key the browser pinned (``log_key``): a file to download beside the bundle."""
    refuse_repeated_parameters(request)
    fmt = request.args.get("format", "html")
    if fmt not in FORMATS:
        raise InvalidParameter(f"format must be one of {', '.join(FORMATS)}")
    log_key = request.args.get("log_key")
    try:
        report = build_report(
            request.get_data(cache=False),
            bundle_name=request.args.get("name", "evidence.json"),
            log_key=log_key,
            log_key_note=None if log_key is None else "pinned in the browser that asked",
            log_url=views.server(),
        )
    except InvalidKey as e:
        raise InvalidParameter(f"log_key: {e.message}") from e
    body = render(report, fmt)
    name = f"evidence-report.{fmt}"
    return Response(
        body,
        content_type="application/pdf" if fmt == "pdf" else "text/html; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )
