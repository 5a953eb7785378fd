"""Importing modules in a fresh interpreter, to see what they load (``sys.modules``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def loaded_after_importing(modules: list[str], roots: tuple[str, ...]) -> list[str]:
    """The top-level packages among ``roots`` that importing ``modules`` loads, in a fresh
    interpreter started in the repository."""
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
