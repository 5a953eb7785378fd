"""The explorer: HTML pages for people (auditors, judges, anyone) over the log, served by the app.

Server-rendered (Flask and Jinja2, no build step, no JavaScript: every page reads the same with
scripts off), each page reading through the same read use cases as its JSON twin in the API and
linking it, the proof to download and the ``ledger`` command that verifies it offline. Every asset
is served from here (``static/``); pages carry a strict Content-Security-Policy and set no cookie.
``/docs``, the API's documentation, is a page written here from the OpenAPI document.
"""

from __future__ import annotations

from flask import Flask, Response, g
from flask_smorest import Api

from ledger.server.api.problems import problem_for
from ledger.server.web import desk, views

#: Nothing but this server's own style sheet and forms: no script at all, no inline style, no
#: frame, no plugin, no other origin. (A report's own page is a separate, self-contained file.)
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def init_app(app: Flask, api: Api) -> None:
    """Register the explorer's pages, its assets and ``/docs`` (from ``api``'s document)."""
    app.extensions[views.API_EXTENSION] = api
    app.register_blueprint(views.blp)


@views.blp.after_request
def _security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


@views.blp.errorhandler(Exception)
def _error_page(error: Exception) -> Response:
    """Any error of a page as a page (its JSON twin answers the same problem as JSON): a bad
    seq, hash or id is a 400, an unknown one a 404, never a traceback."""
    body, headers = problem_for(error)  # logged as the API logs it
    g.problem_code = body["code"]
    response = views.page("error.html", status=body["status"], title=body["title"], problem=body)
    response.headers.extend(headers)
    return response


__all__ = ["CONTENT_SECURITY_POLICY", "desk", "init_app"]
