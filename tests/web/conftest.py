"""Explorer fixtures: a real gunicorn server per backend holding a small story (parties, a key
rotation and a revocation, grants accepted and revoked), and Debian's Chromium driven by
Playwright (never a downloaded browser: ``executable_path``)."""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ledger.core import builders
from ledger.core.keys import SigningKey
from ledger.core.statements import SignedStatement
from tests.conftest import BACKENDS, create_pg_database, drop_pg_database
from tests.support.factories import seeded_key
from tests.support.live import LiveServer

CHROMIUM = os.environ.get("LEDGER_TEST_CHROMIUM", "/usr/bin/chromium")
#: CI sets it (.ci/run): a missing browser then fails the run instead of skipping these tests.
REQUIRE_BROWSER = os.environ.get("LEDGER_REQUIRE_BROWSER", "") not in ("", "0")
#: A folder to keep a screenshot of every page the browser tests open (for people to look at).
SCREENSHOTS = os.environ.get("LEDGER_SCREENSHOTS")
#: A media type the format allows whose characters HTML would read as entities unless escaped.
ODD_MEDIA_TYPE = "video/x&lt&amp"
#: Pseudonyms use every character docs/FORMAT.md §3.2.1 allows (no markup is possible there).
CREATOR_NAME, BUYER_NAME, OTHER_NAME = "Studio Nord", "Acme AI", "Zed_Labs-2.0 x"


@dataclass
class Story:
    """What the server holds: who, which grants, at which seqs."""

    url: str
    creator: SigningKey
    creator_new: SigningKey
    buyer: SigningKey
    other: SigningKey
    accepted_grant: str
    revoked_grant: str
    items: list[str]
    seqs: dict[str, int]


def post(url: str, signed: SignedStatement) -> dict[str, Any]:
    request = urllib.request.Request(
        url + "/v1/entries",
        data=json.dumps(signed.to_json()).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def tell(url: str) -> Story:
    """Append the story through the HTTP API of the server at ``url``."""
    creator, creator_new, buyer, other = (seeded_key(n) for n in (11, 12, 13, 14))
    t = datetime(2026, 3, 1, tzinfo=UTC)
    seqs = {}
    seqs["creator"] = post(url, builders.party_register(creator, CREATOR_NAME, issued_at=t))["seq"]
    seqs["buyer"] = post(url, builders.party_register(buyer, BUYER_NAME, issued_at=t))["seq"]
    seqs["other"] = post(url, builders.party_register(other, OTHER_NAME, issued_at=t))["seq"]
    seqs["revoke_key"] = post(
        url, builders.key_revoke(other, other.key_id, "retired", issued_at=t)
    )["seq"]
    items = [
        builders.Item(sha256="a1" * 32, bytes=52_428_800, duration_s=3723, media_type="video/mp4"),
        builders.Item(sha256="b2" * 32, bytes=1_000, duration_s=59, media_type=ODD_MEDIA_TYPE),
    ]
    terms = builders.TermsSpec(
        uses=("ai_training", "data_mining"),
        end=datetime(2030, 12, 31, tzinfo=UTC),
        territory=("DE", "FR"),
        prohibitions=("replicate_likeness",),
        revocable=True,
        notice_days=30,
        attribution=True,
    )
    accepted = str(uuid.UUID(int=1))
    grant = builders.grant(creator, buyer.key_id, accepted, items, terms, issued_at=t)
    seqs["grant"] = post(url, grant)["seq"]
    accept = builders.grant_accept(buyer, grant.statement_hash, issued_at=t)
    seqs["accept"] = post(url, accept)["seq"]
    revoked = str(uuid.UUID(int=2))
    at_will = builders.TermsSpec(revocable=True, notice_days=0)
    second = builders.grant(creator, buyer.key_id, revoked, items[:1], at_will, issued_at=t)
    seqs["grant2"] = post(url, second)["seq"]
    effective = datetime(2026, 6, 1, tzinfo=UTC)
    revoke = builders.grant_revoke(creator, second.statement_hash, effective, issued_at=t)
    seqs["revoke"] = post(url, revoke)["seq"]
    seqs["rotate"] = post(url, builders.key_rotate(creator, creator_new, issued_at=t))["seq"]
    return Story(
        url, creator, creator_new, buyer, other, accepted, revoked, [i.sha256 for i in items], seqs
    )


@pytest.fixture(scope="module", params=BACKENDS)
def story(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Story]:
    """gunicorn on a new database of the backend, holding the story; one per module and backend."""
    tmp = tmp_path_factory.mktemp("explorer")
    name = None
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        shutil.copyfile(template, tmp / "ledger.db")
        url = f"sqlite:///{tmp / 'ledger.db'}"
    else:
        template_name: str = request.getfixturevalue("pg_template")
        name = f"ledger_web_{os.getpid()}_{uuid.uuid4().hex[:12]}"
        url = create_pg_database(name, template=template_name)
    try:
        with LiveServer(url, tmp / "log-key.pem", tmp / "gunicorn", workers=2) as server:
            yield tell(server.url)
    finally:
        if name is not None:
            drop_pg_database(name)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium under Playwright, headless."""
    if not Path(CHROMIUM).exists():
        message = f"no Chromium at {CHROMIUM}: apt-get install chromium (.ci/run does)"
        if REQUIRE_BROWSER:
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright  # only where it is used

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield chromium
        chromium.close()
