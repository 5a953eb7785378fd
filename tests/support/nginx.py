"""A real nginx running the repository's deploy/nginx/consent-ledger.conf in front of an app, for
tests (tests/server/test_nginx.py) and the side-by-side benchmark (scripts/bench_peers.py).

The shipped file is used as it is, with only its CHANGE lines filled in: the app's address, the
port and the static directory. It runs under a private main configuration (no daemon, pid file,
logs and temporary paths in a work directory), on Debian's nginx (``apt-get install
nginx-light``; .ci/run installs it).
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ledger.server.config import PROJECT_ROOT

SITE = PROJECT_ROOT / "deploy" / "nginx" / "consent-ledger.conf"
STATIC_PLACEHOLDER = "/srv/consent-ledger/static"


def nginx_binary() -> str | None:
    """nginx on the PATH or where Debian puts it (/usr/sbin is not on every user's PATH)."""
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


def site_config(app: str, port: int, static_dir: Path) -> str:
    """The shipped server block with its CHANGE lines filled in; each must be found once."""
    text = SITE.read_text()
    for old, new, count in (
        ("server 127.0.0.1:8000;", f"server {app};", 1),
        ("listen 8080;", f"listen 127.0.0.1:{port};", 1),
        (STATIC_PLACEHOLDER, str(static_dir), 3),
    ):
        assert text.count(old) == count, f"{SITE.name}: expected {count} x {old!r}"
        text = text.replace(old, new)
    return text


@contextlib.contextmanager
def shared_dir() -> Iterator[Path]:
    """A fresh directory any user may traverse and read (0755, under the system's temporary
    directory), removed at exit: nginx's workers, which are not root, read the static directory
    and write their temporary files there; pytest's own temporary directories are private."""
    path = Path(tempfile.mkdtemp(prefix="ledger-nginx-"))
    try:
        path.chmod(0o755)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@dataclass
class Nginx:
    port: int
    proc: subprocess.Popen[bytes]
    workdir: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def error_log(self) -> str:
        with contextlib.suppress(OSError):
            return (self.workdir / "error.log").read_text()[-3000:]
        return ""


@contextlib.contextmanager
def nginx_in_front(
    binary: str, app: str, static_dir: Path, workdir: Path, port: int, workers: int = 1
) -> Iterator[Nginx]:
    """nginx serving the shipped site on 127.0.0.1:``port``, proxying to ``app`` (host:port)."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "site.conf").write_text(site_config(app, port, static_dir))
    # nginx creates its temporary paths itself, owned by its worker user (nobody when the master
    # runs as root, as here in CI): the workers never run as root, so a file the publisher wrote
    # that they may not read shows as a 403, as it would in production.
    temp = {name: workdir / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    (workdir / "nginx.conf").write_text(
        f"""daemon off;
worker_processes {workers};
pid {workdir / "nginx.pid"};
error_log {workdir / "error.log"} warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {temp["body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
    include {workdir / "site.conf"};
}}
"""
    )
    cmd = [binary, "-p", str(workdir), "-c", str(workdir / "nginx.conf")]
    check = subprocess.run([*cmd, "-t"], capture_output=True, text=True, check=False, timeout=30)
    assert check.returncode == 0, check.stderr
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = Nginx(port, proc, workdir)
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nginx did not start: {server.error_log()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            time.sleep(0.05)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
