"""The pure core imports only the standard library, ``cryptography`` and ``rfc8785``."""

from __future__ import annotations

import ast
import pkgutil
import sys
from pathlib import Path

import pytest

import ledger.core
from tests.support.fresh import loaded_after_importing

CORE_DIR = Path(ledger.core.__file__).parent
# Recursive: a subpackage of the core (core/statements/, core/evidence/) is the core too.
MODULES = sorted(m.name for m in pkgutil.walk_packages([str(CORE_DIR)], "ledger.core."))
SOURCES = sorted(CORE_DIR.rglob("*.py"))
BANNED = ("flask", "sqlalchemy", "marshmallow", "werkzeug", "alembic", "flask_smorest", "psycopg")
ALLOWED_THIRD_PARTY = {"cryptography", "rfc8785"}


def test_importing_every_core_module_pulls_in_no_web_or_database_library() -> None:
    assert "ledger.core.statements" in MODULES
    assert loaded_after_importing(MODULES, BANNED) == []


def test_every_core_source_is_a_module_that_is_checked() -> None:
    # Every file under ledger/core is both imported above and read by the static checks below.
    names = {
        ".".join(("ledger", *p.relative_to(CORE_DIR.parent).with_suffix("").parts)).removesuffix(
            ".__init__"
        )
        for p in SOURCES
    }
    assert names == {*MODULES, "ledger.core"}


def _depth(path: Path) -> int:
    """How many packages deep ``path`` lies inside ledger/core (0 for ledger/core/x.py)."""
    return len(path.relative_to(CORE_DIR).parts) - 1


def _imports(path: Path) -> list[tuple[int, str, int]]:
    """(line, top-level module, relative level) for every import statement in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0], 0) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.lineno, (node.module or "").split(".")[0], node.level))
    return found


def _name(path: Path) -> str:
    return str(path.relative_to(CORE_DIR))


@pytest.mark.parametrize("path", SOURCES, ids=_name)
def test_core_sources_import_only_stdlib_cryptography_rfc8785_or_siblings(path: Path) -> None:
    for line, module, level in _imports(path):
        where = f"{_name(path)}:{line}"
        if level:
            # ``from . import x`` in ledger/core/x.py, ``from .. import x`` in
            # ledger/core/pkg/x.py stay in the core; one level more would leave it.
            assert level <= _depth(path) + 1, f"{where} imports from outside ledger/core"
        else:
            allowed = module in sys.stdlib_module_names or module in ALLOWED_THIRD_PARTY
            assert allowed, f"{where} imports {module}"


@pytest.mark.parametrize("path", SOURCES, ids=_name)
def test_core_sources_do_not_import_dynamically(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    attrs = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    assert "__import__" not in names
    assert "import_module" not in names | attrs
