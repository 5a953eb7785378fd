"""The desks' server side (ledger/server/web/desk.py), without a browser: the pages carry the
app's policy and the core's vocabulary; ``POST /buyer/report`` turns a bundle into the report
``ledger report`` writes and answers bad input with a 4xx, never a 500. The desks themselves are
driven in Chromium by tests/web/test_app.py."""

from __future__ import annotations

import json
import re

import pytest
from flask.testing import FlaskClient

from ledger.core.iso import ISO_3166_ALPHA2, ISO_4217
from ledger.core.statements import MAX_NOTICE_DAYS, PROHIBITIONS, USES
from ledger.report.plain import USE_ORDER
from ledger.server.web.desk import APP_CONTENT_SECURITY_POLICY


@pytest.mark.parametrize("path", ["/creator", "/buyer"])
def test_the_desks_carry_the_cores_vocabulary_and_the_apps_policy(
    client: FlaskClient, path: str
) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"] == APP_CONTENT_SECURITY_POLICY
    assert "Set-Cookie" not in response.headers
    page = response.get_data(as_text=True)
    found = re.search(r'<script type="application/json" id="vocabulary">(.*?)</script>', page)
    assert found is not None
    vocabulary = json.loads(found.group(1))
    assert [u for u, _ in vocabulary["uses"]] == list(USE_ORDER)
    assert set(USE_ORDER) == USES
    assert {p for p, _ in vocabulary["prohibitions"]} == PROHIBITIONS
    assert set(vocabulary["currencies"]) == ISO_4217
    assert set(vocabulary["territories"]) == ISO_3166_ALPHA2
    assert vocabulary["max_notice_days"] == MAX_NOTICE_DAYS
    # Every script is a file of this app: nothing inline runs, nothing comes from elsewhere.
    for tag in re.findall(r"<script[^>]*>", page):
        assert 'src="/assets/' in tag or 'type="application/json"' in tag, tag
    assert not re.search(r"(src|href)=\"(https?:)?//", page)


def test_a_report_of_a_bundle_that_is_not_one_says_so(client: FlaskClient) -> None:
    # build_report turns every problem with the bundle into a failure in the report.
    response = client.post("/buyer/report?format=html", data=b"not a bundle")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="evidence-report.html"'
    assert "FAILED" in response.get_data(as_text=True).upper()


@pytest.mark.parametrize(
    "query",
    ["format=docx", "format=html&log_key=not-a-key", "format=html&format=pdf"],
)
def test_bad_report_requests_are_400_pages(client: FlaskClient, query: str) -> None:
    response = client.post(f"/buyer/report?{query}", data=b"{}")
    assert response.status_code == 400
    assert response.mimetype == "text/html"


def test_a_report_body_over_the_evidence_limit_is_refused(client: FlaskClient) -> None:
    too_big = client.application.config["MAX_CONTENT_LENGTH"] + 1
    response = client.post("/buyer/report", data=b"x" * too_big)
    assert response.status_code == 413
