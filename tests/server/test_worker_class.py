"""gunicorn.conf.py's worker class: gthread by default, gevent on request for PostgreSQL only, and
anything else refused at start with a message that says why. That gunicorn runs the class chosen
is shown by the gevent server of tests/server/test_concurrency.py."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ledger.server.config import PROJECT_ROOT

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _run_with_conf(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter in the repository root, with only ``env`` for
    ``LEDGER_*`` settings (so that the runner's own cannot leak in)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT, env={**base, **env}, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip


def _evaluate_conf(**env: str) -> subprocess.CompletedProcess[str]:
    """Evaluate the repository's gunicorn.conf.py as gunicorn does and print the worker class it
    chose; it loads no app, so no database is touched. gunicorn exits as this does when the file
    raises SystemExit."""
    code = "import runpy; print(runpy.run_path('gunicorn.conf.py')['worker_class'])"
    return _run_with_conf(code, env)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "gthread"),
        ({"LEDGER_DATABASE_URL": PG_URL}, "gthread"),
        ({"LEDGER_DATABASE_URL": PG_URL, "LEDGER_WORKER_CLASS": "gevent"}, "gevent"),
        ({"LEDGER_WORKER_CLASS": "gthread"}, "gthread"),
    ],
)
def test_the_worker_class_chosen(env: dict[str, str], expected: str) -> None:
    done = _evaluate_conf(**env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == expected


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LEDGER_WORKER_CLASS": "gevent"}, "LEDGER_WORKER_CLASS=gevent needs PostgreSQL"),
        (
            {"LEDGER_WORKER_CLASS": "gevent", "LEDGER_DATABASE_URL": "sqlite:////tmp/x.db"},
            "LEDGER_WORKER_CLASS=gevent needs PostgreSQL",
        ),
        ({"LEDGER_WORKER_CLASS": "sync"}, "LEDGER_WORKER_CLASS must be one of gthread, gevent"),
    ],
)
def test_a_worker_class_that_cannot_work_is_refused_at_start(
    env: dict[str, str], message: str
) -> None:
    done = _evaluate_conf(**env)
    assert done.returncode != 0
    assert message in done.stderr + done.stdout


_POST_FORK = """
import os, runpy
from types import SimpleNamespace
from gunicorn.config import Config
from gunicorn.workers.ggevent import GeventWorker
from gunicorn.workers.gthread import ThreadWorker

cfg = Config()
cfg.set("threads", 23)
cfg.set("preload_app", {preload})
worker = {cls}.__new__({cls})  # the hook reads only its class and cfg
worker.cfg = cfg
warnings = []
server = SimpleNamespace(log=SimpleNamespace(warning=warnings.append))
runpy.run_path("gunicorn.conf.py")["post_fork"](server, worker)
print(os.environ.get("LEDGER_DB_POOL_SIZE"), len(warnings))
"""


@pytest.mark.parametrize(
    ("cls", "preload", "env", "expected"),
    [
        ("ThreadWorker", False, {}, "23 0"),  # one pooled connection per thread
        ("ThreadWorker", False, {"LEDGER_DB_POOL_SIZE": "5"}, "5 0"),  # the operator's choice
        ("GeventWorker", False, {}, "None 0"),  # the app's default
        ("ThreadWorker", True, {}, "None 1"),  # the pool was built before the fork: warned
    ],
)
def test_post_fork_sizes_the_database_pool_to_the_threads(
    cls: str, preload: bool, env: dict[str, str], expected: str
) -> None:
    done = _run_with_conf(_POST_FORK.format(cls=cls, preload=preload), env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == expected
