"""``ledger serve``: run the log server as in production — gunicorn with the project's
``gunicorn.conf.py`` — on the configured database (by default the embedded SQLite database under
``instance/``).

Before gunicorn starts, the app is built once here (``create_app``: settings checked, the log key
loaded or created, the database prepared), so a bad setting, a database of another log or a busy
port is one line and exit 2, and what the server is — origin, log key, database — is printed
first. On the embedded SQLite database it also publishes the log's tlog-tiles as static files
in a ``static`` directory beside the database file (docs/OPERATIONS.md, *Static tiles*), which
the app serves at ``/tlog/`` and any file server can: ``--no-static`` or another
``LEDGER_STATIC_DIR`` changes that. Then this process *becomes* gunicorn (``exec``), so
signals (Ctrl-C, SIGTERM) reach its master directly. The app writes one JSON log line per
request; gunicorn's access log is off (gunicorn.conf.py).

The server packages are imported only when the command runs: ``ledger`` itself must load without
them (tests/test_layers.py).
"""

from __future__ import annotations

import argparse
import errno
import os
import socket
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from ledger.cli.common import CliError, say

#: gunicorn's app: the factory, called once per worker.
APP_SPEC = "ledger.server.app:create_app()"


def _bind(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def check_port(host: str, port: int) -> None:
    """CliError (usage) if ``host:port`` cannot be listened on, saying how to choose another."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn does
        try:
            probe.bind((host, port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise CliError(
                    f"port {port} on {host} is in use (another server?): stop it, or choose"
                    f" another port with --port N or LEDGER_PORT=N"
                ) from e
            raise CliError(
                f"cannot listen on {_bind(host, port)}: {e.strerror}; choose another address"
                " with --host/--port or LEDGER_HOST/LEDGER_PORT"
            ) from e


def _describe_database(url: str) -> str:
    from sqlalchemy.engine import make_url  # noqa: PLC0415 - a server library: see the docstring

    return make_url(url).render_as_string(hide_password=True)


def static_default(database_url: str) -> Path | None:
    """Where ``ledger serve`` publishes static tiles when nothing says where: a ``static``
    directory beside an SQLite database file (the embedded default), none for another database
    (several hosts on one PostgreSQL would each write their own)."""
    from sqlalchemy.engine import make_url  # noqa: PLC0415 - a server library: see the docstring

    url = make_url(database_url)
    file = url.database
    if url.get_backend_name() != "sqlite" or not file or file == ":memory:" or "uri" in url.query:
        return None  # (a URI filename may be no plain file)
    return Path(file).resolve().parent / "static"


def static_targets(config: Any) -> str:
    """Where the app publishes static tiles, as ``ledger serve`` prints it."""
    targets = [str(config.static_dir)] if config.static_dir else []
    if config.static_s3_bucket:
        targets.append(f"s3://{config.static_s3_bucket}/{config.static_s3_prefix}")
    return ", ".join(targets) or "none"


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the log server (gunicorn with the project's gunicorn.conf.py) on the configured
    database, by default SQLite under instance/."""
    try:
        # the server's packages: installed with the 'server' extra, loaded only here
        from ledger.server.app import create_app  # noqa: PLC0415
        from ledger.server.config import PROJECT_ROOT, BadSetting, Config  # noqa: PLC0415
        from ledger.server.extension import Ledger  # noqa: PLC0415
    except ImportError as e:
        raise CliError(
            f"ledger serve needs the server packages ({e.name}):"
            " pip install 'consent-ledger[server]'"
        ) from e
    conf = PROJECT_ROOT / "gunicorn.conf.py"
    if not conf.is_file():
        raise CliError(f"{conf} not found: ledger serve runs from a checkout (pip install -e .)")
    if args.port is not None:
        os.environ[Config.variable("port")] = str(args.port)
    if args.host is not None:
        os.environ[Config.variable("host")] = args.host
    try:
        config = Config.from_env()
    except BadSetting as e:
        raise CliError(str(e)) from e
    # The workers read the static settings from the environment gunicorn inherits.
    if args.no_static:
        for name in ("static_dir", "static_s3_bucket"):
            os.environ.pop(Config.variable(name), None)
        config = replace(config, static_dir=None, static_s3_bucket="")
    elif not (config.static_dir or config.static_s3_bucket):
        static = static_default(config.database_url)
        if static is not None:
            os.environ[Config.variable("static_dir")] = str(static)
            config = replace(config, static_dir=static)
    # LEDGER_HOST/LEDGER_PORT (or the flags), never gunicorn's own LEDGER_BIND: one address to
    # check before starting and to print
    check_port(config.host, config.port)
    bind = _bind(config.host, config.port)
    ledger = Ledger.of(create_app(config))
    ledger.db.engine.dispose()  # the workers open their own connections
    print(f"url        http://{bind}")
    print(f"origin     {ledger.origin}")
    print(f"log_key    {ledger.verifier_key}")
    print(f"database   {_describe_database(config.database_url)}")
    print(f"key_file   {config.log_key_file}")
    print(f"static     {static_targets(config)}")
    say(f"starting gunicorn ({conf}); Ctrl-C stops it")
    sys.stdout.flush()
    sys.stderr.flush()
    argv = [sys.executable, "-m", "gunicorn", "--config", str(conf), "--bind", bind, APP_SPEC]
    os.execv(sys.executable, argv)  # noqa: S606 - our own interpreter, fixed arguments


def register(sub: Any) -> None:
    p = sub.add_parser(
        "serve",
        help=cmd_serve.__doc__,
        description=f"{cmd_serve.__doc__} Prints the URL, origin, log key and database, then runs"
        " gunicorn in this process. Every LEDGER_* variable of the README applies"
        " (LEDGER_DATABASE_URL, LEDGER_WORKERS, ...).",
    )
    p.add_argument("--host", help="the address to listen on (default: $LEDGER_HOST or 127.0.0.1)")
    p.add_argument("--port", type=int, help="the port to listen on (default: $LEDGER_PORT or 8000)")
    p.add_argument(
        "--no-static",
        action="store_true",
        help="publish no static tiles, whatever $LEDGER_STATIC_DIR or $LEDGER_STATIC_S3_BUCKET say"
        " (default on SQLite: a 'static' directory beside the database file, served at /tlog/;"
        " $LEDGER_STATIC_DIR chooses another)",
    )
    p.set_defaults(func=cmd_serve)
