"""Which code runs where: the client, the content tools, the report, the command and the witness
run on creators', buyers' and auditors' machines and load none of the server's libraries.

Like ``tests/core/test_purity.py`` for the core, each check imports the packages in a fresh
interpreter and reads ``sys.modules``; a module imported by mistake anywhere below them fails it.
"""

from __future__ import annotations

import json
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

import ledger
from tests.support.fresh import loaded_after_importing

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


# --- A verifier's install: the package's own dependencies, without the extras -------------------


def _requirement_closure(names: list[str]) -> set[str]:
    """The distributions ``names`` need, recursively (extras and unmet markers left out)."""
    from importlib import metadata

    from packaging.requirements import Requirement

    seen: set[str] = set()
    todo = list(names)
    while todo:
        dist = metadata.distribution(todo.pop())
        if dist.metadata["Name"].lower() in seen:
            continue
        seen.add(dist.metadata["Name"].lower())
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return seen


def _stage(distributions: set[str], into: Path) -> None:
    """Link the installed files of ``distributions`` (top-level entries) into ``into``."""
    from importlib import metadata

    into.mkdir()
    for name in distributions:
        dist = metadata.distribution(name)
        for top in {f.parts[0] for f in dist.files or [] if f.parts[0] != ".."}:
            source = Path(str(dist.locate_file(top)))
            if source.exists() and not (into / top).exists():
                (into / top).symlink_to(source)


@pytest.fixture(scope="module")
def verifier_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment holding only what ``pyproject.toml``'s dependencies (no extras)
    bring in, and this source tree: what ``pip install consent-ledger`` gives an auditor."""
    import tomllib

    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    from packaging.requirements import Requirement

    base = [Requirement(r).name for r in project["dependencies"]]
    assert set(base) == {"cryptography", "rfc8785"}
    root = tmp_path_factory.mktemp("verifier")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", root / "env"], check=True)
    python = root / "env" / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    _stage(_requirement_closure(base), root / "site")
    Path(purelib, "verifier.pth").write_text(f"{root / 'site'}\n{REPO_ROOT}\n", encoding="utf-8")
    return python


def _ledger(python: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m ledger.cli ARGS`` in ``cwd``."""
    return subprocess.run(
        [str(python), "-m", "ledger.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_verifier_needs_no_server_library_installed(
    verifier_python: Path, tmp_path: Path
) -> None:
    absent = subprocess.run(
        [str(verifier_python), "-c", "import flask"], capture_output=True, text=True, check=False
    )
    assert "No module named 'flask'" in absent.stderr
    fmt = (REPO_ROOT / "docs" / "FORMAT.md").read_text(encoding="utf-8")
    found = dict(re.findall(r"<!-- evidence-example: (\w+) -->\n```[a-z]*\n(.*?)```", fmt, re.S))
    (tmp_path / "bundle.json").write_text(found["bundle"], encoding="utf-8")
    key = ["--log-key", found["log_key"].strip()]

    verified = _ledger(verifier_python, tmp_path, "verify", "bundle.json", *key)
    assert verified.returncode == 0, verified.stderr
    html = _ledger(verifier_python, tmp_path, "report", "bundle.json", *key, "--out", "report.html")
    assert html.returncode == 0, html.stderr
    assert (tmp_path / "report.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    pdf = _ledger(verifier_python, tmp_path, "report", "bundle.json", *key, "--out", "report.pdf")
    assert pdf.returncode == 2
    assert "pip install 'consent-ledger[report]'" in pdf.stderr
    assert not (tmp_path / "report.pdf").exists()


def test_a_verifier_hashes_clips_without_the_c2pa_library(
    verifier_python: Path, tmp_path: Path
) -> None:
    """C2PA is an extra: without it, ``ledger hash`` still tells an MP4 without a manifest by
    its boxes, says which files it could not read, and ``ledger c2pa bind`` says what to
    install."""
    from tests.cli.clitools import mp4

    (tmp_path / "clip.mp4").write_bytes(mp4())
    jpeg = REPO_ROOT / "tests" / "vectors" / "c2pa" / "c2pa-rs" / "C_with_CAWG_data.jpg"
    hashed = _ledger(verifier_python, tmp_path, "hash", "clip.mp4", str(jpeg), "--json")
    assert hashed.returncode == 0, hashed.stderr
    clip, image = json.loads(hashed.stdout)["items"]
    assert clip["c2pa"]["state"] == "none"
    assert image["c2pa"] is None
    assert "pip install 'consent-ledger[c2pa]'" in hashed.stderr
    key = tmp_path / "k.pem"
    assert _ledger(verifier_python, tmp_path, "keygen", "--out", str(key)).returncode == 0
    bind = _ledger(
        verifier_python, tmp_path, "c2pa", "bind", "--key", str(key), "--grant",
        "6f1d2c3b-4a59-4e68-8a7b-9c0d1e2f3a4b", "clip.mp4",
    )  # fmt: skip
    assert bind.returncode == 2
    assert "pip install 'consent-ledger[c2pa]'" in bind.stderr
