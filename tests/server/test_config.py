"""Every environment variable is spelled out once, next to its setting, and documented; a bad
value stops the start naming the variable (``ledger.server.config``, gunicorn.conf.py)."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ledger.server.config import PROJECT_ROOT, BadSetting, Config, Setting
from ledger.server.ratelimit import RateLimits

SETTINGS = list(Config.settings())
_VARIABLE = re.compile(r"LEDGER_[A-Z0-9_]+")


def _gunicorn(code: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter in the repository root, with ``g`` bound to what
    gunicorn.conf.py defines (as gunicorn evaluates it), and only ``env`` for ``LEDGER_*``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    base["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path)  # else the file makes a directory of its own
    script = "import runpy\ng = runpy.run_path('gunicorn.conf.py')\n" + code
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=PROJECT_ROOT, env={**base, **env}, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip


def _gunicorn_settings(tmp_path: Path) -> list[tuple[str, bool]]:
    """gunicorn.conf.py's settings: (variable, whether it is a number or a flag)."""
    code = "import json; print(json.dumps([(v, p.typed) for v, p in g['SETTINGS']]))"
    done = _gunicorn(code, tmp_path)
    assert done.returncode == 0, done.stderr
    return [(v, typed) for v, typed in json.loads(done.stdout)]


def _readme_variables() -> set[str]:
    """The variables named in the first column of README's configuration table."""
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1] for line in section.splitlines() if line.startswith("| `")]
    return {v for row in rows for v in _VARIABLE.findall(row)}


def test_every_setting_has_a_row_in_the_readme_table(tmp_path: Path) -> None:
    gunicorn = [v for v, _ in _gunicorn_settings(tmp_path)]
    assert gunicorn == [
        "LEDGER_BIND",
        "LEDGER_WORKER_CLASS",
        "LEDGER_WORKERS",
        "LEDGER_THREADS",
        "LEDGER_TIMEOUT",
    ]
    variables = [s.variable for s in SETTINGS] + gunicorn
    assert len(set(variables)) == len(variables)  # one setting per variable
    assert set(variables) == _readme_variables()  # each documented, and no row for a stale one


def test_each_variable_is_spelled_out_once_in_the_code() -> None:
    # ``grep LEDGER_MAX_BODY_BYTES`` finds the one place that reads it: as a string of its own,
    # each variable appears once across the server, its entry points and the CLI.
    sources = [*sorted((PROJECT_ROOT / "ledger").rglob("*.py")), PROJECT_ROOT / "wsgi.py"]
    sources += [PROJECT_ROOT / "gunicorn.conf.py", PROJECT_ROOT / "migrations" / "env.py"]
    spelled: dict[str, list[str]] = {}
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            value = node.value if isinstance(node, ast.Constant) else None
            if isinstance(value, str) and _VARIABLE.fullmatch(value):
                where = f"{path.relative_to(PROJECT_ROOT)}:{node.lineno}"
                spelled.setdefault(value, []).append(where)
    assert {v: w for v, w in spelled.items() if len(w) > 1} == {}
    assert {s.variable for s in SETTINGS} <= set(spelled)


def test_the_defaults_and_good_values() -> None:
    assert Config.from_env({}) == Config()
    cfg = Config.from_env(
        {
            "LEDGER_MAX_BODY_BYTES": "1024",
            "LEDGER_AUTO_MIGRATE": "off",
            "LEDGER_WITNESS_POLICY": "",
            "LEDGER_WITNESS_INTERVAL": "0",
            "LEDGER_WITNESS_TIMEOUT": "0.5",
            "LEDGER_LOG_LEVEL": "warning",
        }
    )
    assert (cfg.max_body_bytes, cfg.auto_migrate, cfg.witness_policy_file) == (1024, False, None)
    assert (cfg.witness_interval_seconds, cfg.witness_timeout_seconds) == (0.0, 0.5)
    assert cfg.log_level == "warning"  # logs.configure takes any case
    for yes in ("1", "true", "Yes", "ON"):
        assert Config.from_env({"LEDGER_AUTO_MIGRATE": yes}).auto_migrate is True


@pytest.mark.parametrize(
    "setting", [s for s in SETTINGS if s.parser.typed], ids=lambda s: s.variable
)
def test_a_bad_value_names_the_variable(setting: Setting) -> None:
    with pytest.raises(BadSetting) as refused:
        Config.from_env({setting.variable: "abc"})
    message = str(refused.value)
    assert message == f"{setting.variable} must be {setting.parser.expects}, not 'abc'"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LEDGER_MAX_BODY_BYTES", "0"),
        ("LEDGER_MAX_BODY_BYTES", "-5"),
        ("LEDGER_PORT", "65536"),
        ("LEDGER_DB_POOL_SIZE", ""),
        ("LEDGER_WITNESS_TIMEOUT", "0"),
        ("LEDGER_WITNESS_INTERVAL", "inf"),
        ("LEDGER_AUTO_MIGRATE", "maybe"),
        ("LEDGER_LOG_LEVEL", "LOUD"),
    ],
)
def test_a_value_out_of_range_names_the_variable(variable: str, value: str) -> None:
    with pytest.raises(BadSetting, match=f"^{variable} must be .*, not {value!r}$"):
        Config.from_env({variable: value})


@pytest.mark.parametrize("variable", ["LEDGER_RATE_LIMIT", "LEDGER_READ_RATE_LIMIT"])
def test_a_malformed_rate_limit_names_the_variable(variable: str) -> None:
    with pytest.raises(BadSetting, match=f"^{variable}: malformed rate limit 'lots'"):
        RateLimits.from_config(Config.from_env({variable: "lots"}))


def test_a_bad_gunicorn_value_stops_gunicorn_naming_the_variable(tmp_path: Path) -> None:
    typed = [v for v, is_typed in _gunicorn_settings(tmp_path) if is_typed]
    assert typed == ["LEDGER_WORKER_CLASS", "LEDGER_WORKERS", "LEDGER_THREADS", "LEDGER_TIMEOUT"]
    for variable in typed:
        done = _gunicorn("", tmp_path, **{variable: "abc"})
        assert done.returncode == 1, (variable, done.stdout)
        assert re.fullmatch(f"{variable} must be .+, not 'abc'", done.stderr.strip()), done.stderr
    # The app's settings are read by gunicorn's master too: a bad one stops it before any worker.
    done = _gunicorn("", tmp_path, LEDGER_MAX_BODY_BYTES="abc")
    assert done.returncode == 1
    expected = "LEDGER_MAX_BODY_BYTES must be an integer of at least 1, not 'abc'"
    assert done.stderr.strip() == expected
