"""What a person at a shell expects of ``ledger``, through the installed command: "did you mean",
shell completion (bash, zsh, fish), ``--timeout`` against a server that never answers, ``--force``
before replacing an ``--out`` file, and a README that lists every subcommand."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.cli import build_parser
from ledger.cli.parser import options, subcommands, walk
from ledger.server.config import PROJECT_ROOT
from tests.cli.clitools import assert_one_line_failure, run_ledger

# --- did you mean ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["stauts"], "invalid choice: 'stauts'"),
        (["stauts"], "(did you mean 'status'?)"),
        (["Keygen"], "(did you mean 'keygen'?)"),
        (["witness", "serv"], "(did you mean 'serve'?)"),
        (
            ["status", "ab", "--buyr", "cd"],
            "ledger status: error: unknown option --buyr (did you mean '--buyer'?)",
        ),
        (
            ["grant", "--key", "k", "--bUyer", "x"],
            "unknown option --bUyer (did you mean '--buyer'?)",
        ),
        (["hash", ".", "--exlude", "*.txt"], "unknown option --exlude (did you mean '--exclude'?)"),
        (["grant", "--use", "ai_trainng"], "(did you mean 'ai_training'?)"),
        (["report", "b.json", "--out", "r", "--format", "PDF"], "(did you mean 'pdf'?)"),
    ],
)
def test_a_typo_gets_the_closest_valid_word(args: list[str], expected: str) -> None:
    result = run_ledger(*args)
    assert result.returncode == 2
    assert expected in result.stderr.strip().splitlines()[-1]


def test_an_abbreviated_option_still_works_and_nonsense_gets_no_guess() -> None:
    assert "unknown option" not in run_ledger("log", "--ur", "http://127.0.0.1:9").stderr
    result = run_ledger("log", "--zzzzzz")
    assert result.stderr.strip().endswith("unknown option --zzzzzz")
    # an offline command has no --url and nothing like it (report's --log-url is a good guess)
    assert "did you mean" not in run_ledger("verify-proof", "p.txt", "--url", "x").stderr


# --- shell completion -----------------------------------------------------------------------------

# (words typed, the word being completed) -> candidates that must be offered
CASES = [
    (["ledger"], "sta", {"status"}),
    (["ledger"], "comp", {"completion"}),
    (["ledger", "grant"], "--bu", {"--buyer"}),
    (["ledger", "grant", "--use"], "", {"ai_training", "data_mining"}),
    (["ledger", "witness"], "s", {"serve"}),
    (["ledger", "witness", "serve"], "--po", {"--port"}),
    (["ledger", "completion"], "", {"bash", "zsh", "fish"}),
]


def _bash(script: str, words: list[str], cur: str) -> set[str]:
    program = f"""{script}
COMP_WORDS=({" ".join(f"'{w}'" for w in [*words, cur])}); COMP_CWORD={len(words)}
_ledger ledger '{cur}' '{words[-1]}'; printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    done = subprocess.run(["bash", "-c", program], capture_output=True, text=True, check=True)
    return set(done.stdout.split())


@pytest.mark.parametrize(("words", "cur", "offered"), CASES)
def test_bash_completion(words: list[str], cur: str, offered: set[str]) -> None:
    script = run_ledger("completion", "bash").stdout
    got = _bash(script, words, cur)
    assert offered <= got, got
    assert all(word.startswith(cur) for word in got)


def test_bash_completion_is_installed_by_eval() -> None:
    program = 'eval "$(ledger completion bash)"; complete -p ledger'
    done = subprocess.run(
        ["bash", "-c", program],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": f"{Path(shutil.which('ledger') or 'ledger').parent}:/usr/bin:/bin"},
    )
    assert "complete -o default -F _ledger ledger" in done.stdout


@pytest.mark.skipif(shutil.which("zsh") is None, reason="no zsh here (.ci/run installs it)")
@pytest.mark.parametrize(("words", "cur", "offered"), CASES)
def test_zsh_completion(words: list[str], cur: str, offered: set[str]) -> None:
    """Through zsh's bashcompinit, as ``eval "$(ledger completion zsh)"`` installs it (zsh
    itself narrows the candidates to the typed prefix)."""
    script = run_ledger("completion", "zsh").stdout
    program = f"""autoload -Uz compinit && compinit -u
{script}
[[ $_comps[ledger] == _bash_complete* ]] || exit 3
COMP_WORDS=({" ".join(f"'{w}'" for w in [*words, cur])}); COMP_CWORD={len(words)}
_ledger ledger '{cur}' '{words[-1]}'; print -rl -- "${{COMPREPLY[@]}}"
"""
    done = subprocess.run(["zsh", "-c", program], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert offered <= set(done.stdout.split()), done.stdout


@pytest.mark.skipif(shutil.which("fish") is None, reason="no fish here (.ci/run installs it)")
@pytest.mark.parametrize(("words", "cur", "offered"), CASES)
def test_fish_completion(tmp_path: Path, words: list[str], cur: str, offered: set[str]) -> None:
    script = tmp_path / "ledger.fish"
    script.write_text(run_ledger("completion", "fish").stdout)
    line = " ".join([*words, cur])
    done = subprocess.run(
        ["fish", "--no-config", "-c", f"source {script}; complete -C '{line}'"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    got = {row.split("\t")[0] for row in done.stdout.splitlines()}
    assert offered <= got, done.stdout


# --- --timeout ------------------------------------------------------------------------------------


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A server that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        listener.close()


@pytest.mark.parametrize(
    "args",
    [
        ["log"],
        ["status", "ab" * 32, "--buyer", "cd" * 32],
        ["prove", "--content", "ab" * 32, "--buyer", "cd" * 32, "--use", "ai_training"],
        ["audit"],
    ],
    ids=lambda a: a[0],
)
def test_timeout_gives_up_on_a_silent_server(
    silent_server: str, tmp_path: Path, args: list[str]
) -> None:
    if args[0] == "prove":
        args = [*args, "--out", str(tmp_path / "e.json")]
    started = time.monotonic()
    result = run_ledger(
        *args, "--url", silent_server, "--timeout", "1", "--state", tmp_path / "state"
    )
    assert_one_line_failure(result, 3, f"no answer from {silent_server} within 1 s")
    assert time.monotonic() - started < 20


def test_every_command_that_takes_url_takes_timeout() -> None:
    for path, parser in walk(build_parser()):
        if "--url" in options(parser):
            assert "--timeout" in options(parser), path


# --- no silent overwrite --------------------------------------------------------------------------


def test_hash_out_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    (tmp_path / "clip.bin").write_bytes(b"footage")
    out = tmp_path / "footage.csv"
    out.write_text("precious")
    refused = run_ledger("hash", tmp_path / "clip.bin", "--out", out)
    assert_one_line_failure(refused, 2, f"{out} exists: give --force to overwrite it")
    assert refused.stdout == ""  # refused before any work
    assert out.read_text() == "precious"
    forced = run_ledger("hash", tmp_path / "clip.bin", "--out", out, "--force")
    assert forced.returncode == 0, forced.stderr
    assert out.read_text().startswith("sha256,")


@pytest.mark.parametrize(
    "args",
    [
        [
            "prove",
            "--content",
            "ab" * 32,
            "--buyer",
            "cd" * 32,
            "--use",
            "ai_training",
            "--url=http://127.0.0.1:9",
        ],
        ["report", "bundle.json"],
    ],
    ids=lambda a: a[0],
)
def test_prove_and_report_refuse_to_overwrite_before_any_work(
    tmp_path: Path, args: list[str]
) -> None:
    out = tmp_path / "existing"
    out.write_text("precious")
    result = run_ledger(*args, "--out", out, cwd=tmp_path)
    assert_one_line_failure(result, 2, f"{out} exists: give --force to overwrite it")
    assert out.read_text() == "precious"


def test_every_command_that_writes_out_takes_force() -> None:
    for path, parser in walk(build_parser()):
        if "--out" in options(parser) and path != ("keygen",):  # a key is never replaced
            assert "--force" in options(parser), path


# --- the README lists every subcommand --------------------------------------------------------


def test_the_readme_lists_every_subcommand() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    table = readme.split("## Command line", 1)[1].split("\n\n| command | what |", 1)[1]
    table = table.split("\n\n", 1)[0]
    listed = set(re.findall(r"`ledger ([a-z0-9-]+)", table))
    top = subcommands(build_parser())
    assert listed == set(top)
    for name in ("witness", "c2pa"):
        for sub in subcommands(top[name]):
            assert f"{sub}" in table


# --- papercuts ------------------------------------------------------------------------------------


def test_a_pseudonym_outside_ascii_is_refused_naming_the_character(tmp_path: Path) -> None:
    """docs/FORMAT.md §3 allows ASCII letters only: the help says so, and the refusal names the
    character and an ASCII spelling, before the key is even read."""
    result = run_ledger(
        "register",
        "--key",
        tmp_path / "absent.pem",
        "--name",
        "Café Lumière",
        "--url=http://127.0.0.1:9",
    )
    assert_one_line_failure(
        result, 2, "--name 'Café Lumière': 'é' is not allowed", "(e.g. 'Cafe Lumiere')"
    )
    assert "ASCII letters" in run_ledger("register", "--help").stdout


def test_every_option_of_every_command_says_what_it_is_for() -> None:
    for path, parser in walk(build_parser()):
        for action in parser._actions:
            if action.option_strings:
                assert action.help, (path, action.option_strings)
