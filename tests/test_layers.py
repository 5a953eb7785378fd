"""Which code runs where: the client, the content tools, the report, the command and the witness
run on creators', buyers' and auditors' machines and load none of the server's libraries.

Like ``tests/core/test_purity.py`` for the core, each check imports the packages in a fresh
interpreter and reads ``sys.modules``; a module imported by mistake anywhere below them fails it.
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import ledger

REPO_ROOT = Path(ledger.__file__).parent.parent
SERVER_LIBRARIES = ("flask", "flask_smorest", "werkzeug", "sqlalchemy", "psycopg", "alembic")
SERVER_LIBRARIES += ("marshmallow", "gunicorn", "gevent", "prometheus_client", "limits")
OFF_SERVER = ("ledger.client", "ledger.content", "ledger.report", "ledger.cli")
OFF_SERVER_MODULES = ("ledger.witness", "ledger.sigverify", "ledger.files")


def modules_below(package: str) -> list[str]:
    """``package`` and every module below it."""
    root = Path(__import__(package, fromlist=["_"]).__file__).parent  # type: ignore[arg-type]
    found = [package]
    for info in pkgutil.walk_packages([str(root)], prefix=f"{package}."):
        if not info.name.endswith("__main__"):
            found.append(info.name)
    return found


def loaded_after_importing(modules: list[str], roots: tuple[str, ...]) -> list[str]:
    """The top-level packages among ``roots`` that importing ``modules`` loads, in a fresh
    interpreter."""
    script = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({roots!r}))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return list(json.loads(result.stdout))


@pytest.mark.parametrize("package", OFF_SERVER)
def test_off_server_packages_load_no_server_library(package: str) -> None:
    modules = modules_below(package)
    assert len(modules) > 1, f"{package} has no modules below it"
    assert loaded_after_importing(modules, SERVER_LIBRARIES) == []


@pytest.mark.parametrize("module", OFF_SERVER_MODULES)
def test_shared_modules_load_no_server_library(module: str) -> None:
    assert loaded_after_importing([module], SERVER_LIBRARIES) == []


def test_the_command_loads_the_pdf_library_only_to_render_a_pdf() -> None:
    assert loaded_after_importing(["ledger.cli", "ledger.report"], ("fpdf",)) == []
    assert loaded_after_importing(["ledger.report.pdf"], ("fpdf",)) == ["fpdf"]


def test_the_server_libraries_are_detected() -> None:
    """The check above can fail: the server's own package loads them."""
    assert set(loaded_after_importing(["ledger.server.app"], SERVER_LIBRARIES)) >= {
        "flask",
        "sqlalchemy",
        "marshmallow",
    }
