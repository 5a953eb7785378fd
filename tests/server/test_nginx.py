"""The shipped nginx site (deploy/nginx/consent-ledger.conf), run by a real nginx in front of the
real app (gunicorn) with its static directory: every tlog-tiles object nginx serves from the
files is the app's, byte for byte and header for header (docs/FORMAT.md §9.1); what the
directory does not hold yet, and every other request, reaches the app; a client mirrors and
verifies the log through nginx alone. On SQLite and PostgreSQL.

Without nginx the tests skip, or fail under CI (``LEDGER_REQUIRE_NGINX``: .ci/run installs
Debian's nginx-light).
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.core import builders
from ledger.core.keys import SigningKey
from ledger.server.statictiles import DirectoryStore
from tests.server.test_static_tiles import expected_keys, publisher
from tests.support.live import LiveServer, free_port
from tests.support.nginx import Nginx, nginx_binary, nginx_in_front, shared_dir
from tests.support.tlog_helpers import SpecMirror, StaticLog, http_get, synthetic_leaf

pytestmark = pytest.mark.slow  # gunicorn and nginx, started per test

HEADERS = ("content-type", "cache-control")


@pytest.fixture
def nginx_path() -> str:
    found = nginx_binary()
    if found is None:
        if os.environ.get("LEDGER_REQUIRE_NGINX", "") not in ("", "0"):
            pytest.fail(
                "LEDGER_REQUIRE_NGINX is set but there is no nginx (apt-get install nginx-light)"
            )
        pytest.skip("no nginx (apt-get install nginx-light)")
    return found


@pytest.fixture
def front(
    nginx_path: str, static_log: StaticLog, tmp_path: Path
) -> Iterator[tuple[Nginx, LiveServer, Path]]:
    """The app under gunicorn with its static directory, and nginx in front of both (its
    workers are not root: they read what the publisher wrote as a deployment's would)."""
    config = static_log.config
    with shared_dir() as shared:
        static = shared / "static"
        app = LiveServer(
            config.database_url,
            config.log_key_file,
            tmp_path / "gunicorn",
            origin=config.origin,
            workers=1,
            threads=4,
            env={"LEDGER_STATIC_DIR": str(static), "LEDGER_STATIC_INTERVAL": "0"},
        ).start()
        try:
            address = app.url.removeprefix("http://")
            with nginx_in_front(nginx_path, address, static, shared / "nginx", free_port()) as n:
                yield n, app, static
        finally:
            app.stop()


def publish(log: StaticLog, static: Path) -> None:
    publisher(log, DirectoryStore(static)).run_once()


def test_nginx_serves_the_directory_as_the_app_does(
    static_log: StaticLog, front: tuple[Nginx, LiveServer, Path]
) -> None:
    nginx, _app, static = front
    static_log.grow_to(600)
    publish(static_log, static)
    for key in sorted(expected_keys([600])):
        got, served = http_get(f"{nginx.url}/tlog/{key}"), static_log.tlog(key)
        assert (got.status, got.body) == (200, served.body), key
        assert {h: got.headers[h] for h in HEADERS} == {h: served.headers[h] for h in HEADERS}, key
        assert "x-request-id" not in got.headers, key  # from the file, not through the app
    # the headers themselves, as docs/FORMAT.md §9.1 gives them
    assert http_get(f"{nginx.url}/tlog/tile/0/001").headers["cache-control"] == (
        "public, max-age=31536000, immutable"
    )
    assert http_get(f"{nginx.url}/tlog/tile/0/002.p/88").headers["cache-control"] == (
        "public, max-age=10"
    )


def test_what_the_directory_lacks_reaches_the_app(
    static_log: StaticLog, front: tuple[Nginx, LiveServer, Path]
) -> None:
    nginx, app, static = front
    before = http_get(f"{nginx.url}/tlog/checkpoint")  # nothing published: the app's
    assert before.status == 200
    assert before.body == static_log.tlog("checkpoint").body
    static_log.grow_to(300)
    publish(static_log, static)
    static_log.grow_to(700)  # in the database, not in the directory
    # the directory's checkpoint (300) never names tiles it lacks; a newer tile comes from the app
    assert http_get(f"{nginx.url}/tlog/checkpoint").body == (static / "checkpoint").read_bytes()
    newer = http_get(f"{nginx.url}/tlog/tile/0/002.p/188")
    assert (newer.status, newer.body) == (200, static_log.tlog("tile/0/002.p/188").body)
    assert "x-request-id" in newer.headers  # the app's answer
    # paths that are no tile get the app's problem documents, not nginx's pages
    for path in (
        "tile/0/x000/001", "tile/0/009", "tile/0/", "tile/0", "tile/0/000.p", "tile/entries",
        "tile/entries/", "tile/", "tile/0/000.p/", "tile/0/000.p/0",
    ):  # fmt: skip
        got, direct = http_get(f"{nginx.url}/tlog/{path}"), http_get(f"{app.url}/tlog/{path}")
        assert got.status == direct.status >= 400, (path, got.body[:200])
        assert got.headers["content-type"] == "application/problem+json", path
        mine, theirs = json.loads(got.body), json.loads(direct.body)
        assert mine.pop("request_id") != theirs.pop("request_id")
        assert mine == theirs, path


def test_appends_and_reads_go_through_nginx(
    static_log: StaticLog, front: tuple[Nginx, LiveServer, Path]
) -> None:
    nginx, app, _ = front
    statement = builders.party_register(SigningKey.generate(), "through nginx").to_json()
    request = urllib.request.Request(
        f"{nginx.url}/v1/entries",
        data=json.dumps(statement).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as resp:
        assert resp.status == 201
        seq = json.loads(resp.read())["seq"]
    got = http_get(f"{nginx.url}/v1/entries/{seq}")
    assert got.status == 200
    assert got.body == http_get(f"{app.url}/v1/entries/{seq}").body


def test_a_client_mirrors_the_log_through_nginx(
    static_log: StaticLog, front: tuple[Nginx, LiveServer, Path]
) -> None:
    nginx, _, static = front
    static_log.grow_to(1_000)
    publish(static_log, static)
    report = SpecMirror(f"{nginx.url}/tlog", static_log.signer.verifier()).check()
    assert report.tree_size == 1_000
    assert report.leaves == [synthetic_leaf(i) for i in range(1_000)]


def test_a_file_nginx_may_not_read_is_a_403_not_a_silent_fallback(
    static_log: StaticLog, front: tuple[Nginx, LiveServer, Path]
) -> None:
    """A deployment whose nginx user cannot read the directory must show it (docs/OPERATIONS.md):
    nginx answers 403, and the app is not asked."""
    if os.geteuid() != 0:
        pytest.skip("not root: nginx's workers run as this user, who reads every file here")
    nginx, _, static = front
    static_log.grow_to(256)
    publish(static_log, static)
    tile = static / "tile" / "0" / "000"
    assert http_get(f"{nginx.url}/tlog/tile/0/000").status == 200
    tile.chmod(0o600)  # root's alone: nginx's workers (nobody) may not read it
    got = http_get(f"{nginx.url}/tlog/tile/0/000")
    assert got.status == 403
    assert "x-request-id" not in got.headers  # nginx's answer, not the app's
