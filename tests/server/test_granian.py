"""granian, a Rust HTTP server, serving the same WSGI app as gunicorn (``wsgi:app``; the
benchmarks' ``--server granian``, docs/BENCHMARKS.md): single and batch appends, and the reads a
client checks them with, through the real server process, on both backends. granian is in
requirements-dev.txt."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from base64 import b64decode
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ledger.core import builders, merkle
from ledger.core.checkpoint import open_checkpoint
from ledger.core.keys import SigningKey
from ledger.core.note import NoteVerifier
from ledger.server.config import PROJECT_ROOT
from tests.support.live import free_port, stop_group


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        data = resp.read()
        return json.loads(data) if resp.headers.get_content_type() == "application/json" else data


def _post(url: str, body: object) -> tuple[int, Any]:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.status, json.loads(resp.read())


@pytest.fixture
def granian_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """``granian --interface wsgi wsgi:app`` (2 workers x 4 blocking threads) on the backend
    under test, stopped after the test."""
    port = free_port()
    env = {
        **os.environ,
        "LEDGER_DATABASE_URL": database_url,
        "LEDGER_LOG_KEY_FILE": str(tmp_path / "log-key.pem"),
        "LEDGER_ORIGIN": "test.example/granian",
        "LEDGER_RATE_LIMIT": "off",
        "LEDGER_READ_RATE_LIMIT": "off",
        "LEDGER_DB_POOL_SIZE": "4",  # one connection per blocking thread, as gunicorn.conf.py
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
    }
    (tmp_path / "prometheus").mkdir()
    cmd = [
        sys.executable, "-m", "granian", "--interface", "wsgi", "--host", "127.0.0.1",
        "--port", str(port), "--workers", "2", "--blocking-threads", "4", "--http", "1",
        "--no-ws", "--no-access-log", "wsgi:app",
    ]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    with open(tmp_path / "granian.log", "wb") as log:
        proc = subprocess.Popen(
            cmd, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=log, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail((tmp_path / "granian.log").read_text()[-3000:])
            try:
                _get(url + "/readyz")
                break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline:
                    pytest.fail("granian not ready after 60 s")
                time.sleep(0.2)
        yield url
    finally:
        stop_group(proc)


def test_appends_and_reads_through_granian(granian_url: str) -> None:
    url = granian_url
    creator, buyer = SigningKey.generate(), SigningKey.generate()
    for key, name in ((creator, "creator"), (buyer, "buyer")):  # single appends: the fast path
        status, body = _post(url + "/v1/entries", builders.party_register(key, name).to_json())
        assert status == 201, body
    items = [builders.Item(sha256=uuid.uuid4().hex * 2, bytes=1000, duration_s=60)]
    grants = [
        builders.grant(creator, buyer.key_id, str(uuid.uuid4()), items, builders.TermsSpec())
        for _ in range(3)
    ]
    status, body = _post(url + "/v1/entries", grants[0].to_json())
    assert (status, body["seq"]) == (201, 2), body
    status, body = _post(
        url + "/v1/entries/batch", {"statements": [g.to_json() for g in grants[1:]]}
    )
    assert (status, body["accepted"], body["tree_size"]) == (200, 2, 5), body
    with pytest.raises(urllib.error.HTTPError) as refused:  # a refusal, as the app renders it
        _post(url + "/v1/entries", grants[0].to_json())
    with refused.value:  # closes its response
        assert refused.value.code == 409
        assert refused.value.headers.get_content_type() == "application/problem+json"

    size = _get(url + "/v1/log")["tree_size"]
    assert size == 5
    vkey = _get(url + "/v1/log")["verifier_key"]
    with urllib.request.urlopen(f"{url}/v1/checkpoint?tree_size={size}", timeout=10) as resp:
        cp, _ = open_checkpoint(resp.read(), NoteVerifier.from_vkey(vkey))
    for seq in range(size):
        entry = _get(f"{url}/v1/entries/{seq}")
        leaf_hash = bytes.fromhex(entry["leaf_hash"])
        assert hashlib.sha256(b"\x00" + b64decode(entry["leaf"])).digest() == leaf_hash
        proof = _get(f"{url}/v1/proofs/inclusion?seq={seq}&tree_size={size}")
        hashes = [bytes.fromhex(h) for h in proof["hashes"]]
        merkle.verify_inclusion(seq, size, leaf_hash, hashes, cp.root_hash)
    found = _get(f"{url}/v1/content/{items[0].sha256}")
    assert [g["seq"] for g in found["grants"]] == [2, 3, 4]
