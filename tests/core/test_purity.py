"""The pure core imports only the standard library, ``cryptography`` and ``rfc8785``."""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import ledger.core

CORE_DIR = Path(ledger.core.__file__).parent
REPO_ROOT = CORE_DIR.parent.parent
MODULES = sorted(f"ledger.core.{m.name}" for m in pkgutil.iter_modules([str(CORE_DIR)]))
SOURCES = sorted(CORE_DIR.glob("*.py"))
BANNED = ("flask", "sqlalchemy", "marshmallow", "werkzeug", "alembic", "flask_smorest", "psycopg")
ALLOWED_THIRD_PARTY = {"cryptography", "rfc8785"}


def banned_after_importing(modules: list[str]) -> list[str]:
    """The BANNED libraries loaded by importing ``modules`` in a fresh interpreter."""
    script = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {BANNED!r})))\n"
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


def test_importing_every_core_module_pulls_in_no_web_or_database_library() -> None:
    assert "ledger.core.statements" in MODULES
    assert banned_after_importing(MODULES) == []


def _imports(path: Path) -> list[tuple[int, str, int]]:
    """(line, top-level module, relative level) for every import statement in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0], 0) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.lineno, (node.module or "").split(".")[0], node.level))
    return found


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_core_sources_import_only_stdlib_cryptography_rfc8785_or_siblings(path: Path) -> None:
    for line, module, level in _imports(path):
        where = f"{path.name}:{line}"
        if level:
            # ``from . import x`` stays in the core; ``from .. import`` would leave it.
            assert level == 1, f"{where} imports from outside ledger/core"
        else:
            allowed = module in sys.stdlib_module_names or module in ALLOWED_THIRD_PARTY
            assert allowed, f"{where} imports {module}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_core_sources_do_not_import_dynamically(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    attrs = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    assert "__import__" not in names
    assert "import_module" not in names | attrs
