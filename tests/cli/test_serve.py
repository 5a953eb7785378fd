"""``ledger serve``: gunicorn with the project's gunicorn.conf.py on a real SQLite database, run as
a user runs it; what it prints at start, one log line per request, ``--host/--port`` and a busy
port explained."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.core import builders, merkle
from ledger.core.encoding import b64_decode
from ledger.core.keys import SigningKey
from ledger.server.config import PROJECT_ROOT
from tests.cli.clitools import assert_one_line_failure, ledger_cmd, run_ledger, value
from tests.support.live import free_port, stop_group

pytestmark = pytest.mark.slow  # gunicorn, started per test


class Served:
    def __init__(self, proc: subprocess.Popen[str], url: str, out: Path, err: Path) -> None:
        self.proc, self.url, self.out, self.err = proc, url, out, err

    def get(self, path: str) -> bytes:
        with urllib.request.urlopen(self.url + path, timeout=10) as resp:
            return bytes(resp.read())


def _serve_env(folder: Path) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("LEDGER_STATIC_")},
        "LEDGER_DATABASE_URL": f"sqlite:///{folder / 'ledger.db'}",
        "LEDGER_LOG_KEY_FILE": str(folder / "log-key.pem"),
        "LEDGER_WORKERS": "1",
        "LEDGER_THREADS": "2",
    }


@pytest.fixture
def served(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Served]:
    port = free_port()
    out, err = tmp_path / "serve.out", tmp_path / "serve.err"
    flags, env = getattr(request, "param", ([], {}))
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen(
            [*ledger_cmd(), "serve", "--port", str(port), *flags],
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            text=True,
            env={**_serve_env(tmp_path), **env},
            cwd=tmp_path,
            start_new_session=True,  # its own process group: gunicorn's workers stop with it
        )
    server = Served(proc, f"http://127.0.0.1:{port}", out, err)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                server.get("/readyz")
                break
            except OSError:
                assert proc.poll() is None, err.read_text()
                assert time.monotonic() < deadline, err.read_text()
                time.sleep(0.2)
        yield server
    finally:
        if proc.poll() is None:
            stop_group(proc)


def test_serve_runs_gunicorn_and_says_what_it_serves(served: Served, tmp_path: Path) -> None:
    printed = served.out.read_text()
    log = json.loads(served.get("/v1/log"))
    assert value(printed, "url") == served.url
    assert value(printed, "origin") == log["origin"]
    assert value(printed, "log_key") == log["verifier_key"]
    assert value(printed, "database") == f"sqlite:///{tmp_path / 'ledger.db'}"
    stderr = served.err.read_text()
    assert "Starting gunicorn" in stderr
    assert "gunicorn.conf.py" in stderr
    assert "development server" not in stderr
    # the real command against it: the printed key is the one it verifies checkpoints under
    checked = run_ledger(
        "log", "--url", served.url, "--log-key", value(printed, "log_key"),
        "--state", tmp_path / "state",
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr


def _append(url: str) -> int:
    """A party.register through the server; its tree size."""
    body = json.dumps(builders.party_register(SigningKey.generate(), "served").to_json())
    req = urllib.request.Request(
        url + "/v1/entries", data=body.encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return int(json.loads(resp.read())["tree_size"])


def test_serve_publishes_static_tiles_beside_its_sqlite_database(
    served: Served, tmp_path: Path
) -> None:
    static = tmp_path / "static"
    assert value(served.out.read_text(), "static") == str(static)
    size = _append(served.url)
    deadline = time.monotonic() + 20  # a round a second (LEDGER_STATIC_INTERVAL)
    while not (static / "checkpoint").exists() or (
        int((static / "checkpoint").read_text().split("\n")[1]) < size
    ):
        assert time.monotonic() < deadline, served.err.read_text()[-2000:]
        time.sleep(0.2)
    # the files hold the log's own bytes: the leaf hashes (level 0) and the leaves (the bundle),
    # checked against the entries themselves, not against what is served from the files
    leaves = [
        b64_decode(json.loads(served.get(f"/v1/entries/{seq}"))["leaf"]) for seq in range(size)
    ]
    tile = static / "tile" / "0" / f"000.p/{size}"
    assert tile.read_bytes() == b"".join(merkle.leaf_hash(leaf) for leaf in leaves)
    bundle = static / "tile" / "entries" / f"000.p/{size}"
    assert bundle.read_bytes() == b"".join(len(x).to_bytes(2, "big") + x for x in leaves)
    assert served.get(f"/tlog/tile/0/000.p/{size}") == tile.read_bytes()


@pytest.mark.parametrize(
    "served", [(["--no-static"], {"LEDGER_STATIC_DIR": "elsewhere"})], indirect=True
)
def test_serve_no_static_publishes_nothing(served: Served, tmp_path: Path) -> None:
    """--no-static wins over the default and over LEDGER_STATIC_DIR alike."""
    assert value(served.out.read_text(), "static") == "none"
    _append(served.url)
    time.sleep(2)  # two rounds' worth, had there been a publisher
    assert not (tmp_path / "static").exists()
    assert not (tmp_path / "elsewhere").exists()


def test_serve_logs_each_request_once(served: Served) -> None:
    for _ in range(3):
        served.get("/v1/checkpoint")
    deadline = time.monotonic() + 10
    while True:
        lines = [
            json.loads(line)
            for line in served.err.read_text().splitlines()
            if line.startswith("{") and '"/v1/checkpoint"' in line
        ]
        if len(lines) >= 3 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert len(lines) == 3
    assert all(line["path"] == "/v1/checkpoint" and line["status"] == 200 for line in lines)


def test_serve_explains_a_busy_port(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [*ledger_cmd(), "serve", "--port", str(port)],
            capture_output=True,
            text=True,
            env=_serve_env(tmp_path),
            stdin=subprocess.DEVNULL,
            timeout=60,
            check=False,
        )
    assert_one_line_failure(
        result, 2, f"port {port} on 127.0.0.1 is in use", "--port N or LEDGER_PORT=N"
    )
    assert not (tmp_path / "ledger.db").exists()  # refused before anything was created


def test_serve_refuses_a_bad_setting_in_one_line(tmp_path: Path) -> None:
    result = run_ledger("serve", env={"LEDGER_PORT": "eighty"})
    assert_one_line_failure(result, 2, "LEDGER_PORT")


def test_python_wsgi_py_is_ledger_serve(tmp_path: Path) -> None:
    shown = subprocess.run(
        [sys.executable, PROJECT_ROOT / "wsgi.py", "--help"],
        cwd=tmp_path,
        env=_serve_env(tmp_path),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert "usage: ledger serve" in shown.stdout
    assert "--port" in shown.stdout
    assert not (tmp_path / "ledger.db").exists()  # --help built no app
