"""The creator and buyer commands against a real server, on SQLite and PostgreSQL.

Every command is the installed ``ledger`` run as a subprocess; the server is gunicorn. What the
commands print is checked against what the log really holds (read back over HTTP).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from ledger.client import LogClient
from ledger.content.manifest import ManifestItem, write_manifest
from ledger.core.checkpoint import Checkpoint
from ledger.core.keys import SigningKey
from ledger.core.note import NoteSigner
from tests.cli.clitools import assert_one_line_failure, mp4, run_ledger, value
from tests.support.live import LiveServer, free_port

GRANT_TERMS = [
    "--use", "ai_training", "--price", "2.50", "--currency", "USD", "--per", "minute",
    "--end", "2030-12-31",
]  # fmt: skip


def party(tmp_path: Path, env: dict[str, str], name: str) -> tuple[Path, str]:
    """A key made with ``ledger keygen`` and registered with ``ledger register``."""
    pem = tmp_path / f"{name}.pem"
    made = run_ledger("keygen", "--out", pem)
    key_id = value(made.stdout, "key_id")
    registered = run_ledger("register", "--key", pem, "--name", name, env=env)
    assert registered.returncode == 0, registered.stderr
    assert value(registered.stdout, "key_id") == key_id
    return pem, key_id


def grant_ids(stdout: str) -> list[str]:
    return [line.split()[1] for line in stdout.splitlines() if line.startswith("grant_id")]


def test_creator_grants_buyer_accepts_creator_revokes(
    live: LiveServer, user_env: dict[str, str], tmp_path: Path
) -> None:
    creator_pem, creator = party(tmp_path, user_env, "Studio Nord")
    buyer_pem, buyer = party(tmp_path, user_env, "Acme AI")
    footage = tmp_path / "footage"
    footage.mkdir()
    (footage / "dawn.mp4").write_bytes(mp4(1000, 61_000))
    (footage / "dusk.mov").write_bytes(mp4(600, 6_000, brand=b"qt  "))
    hashed = run_ledger("hash", footage, "--out", tmp_path / "footage.csv")
    assert hashed.returncode == 0, hashed.stderr

    granted = run_ledger(
        "grant", "--key", creator_pem, "--buyer", buyer, *GRANT_TERMS, "--revocable",
        "--notice-days", "0", "--territory", "de", "--territory", "FR", "--prohibit",
        "replicate_likeness", "--manifest", tmp_path / "footage.csv", env=user_env,
    )  # fmt: skip
    assert granted.returncode == 0, granted.stderr
    [grant_id] = grant_ids(granted.stdout)
    assert "verified 1 new entry" in granted.stderr

    accepted = run_ledger("accept", "--yes", "--key", buyer_pem, grant_id, env=user_env)
    assert accepted.returncode == 0, accepted.stderr
    assert f"grant {grant_id}, seq" in accepted.stderr
    assert "2 item(s)" in accepted.stderr
    assert "in DE and FR" in accepted.stderr
    revoked = run_ledger(
        "revoke", "--key", creator_pem, grant_id, "--effective", "now", env=user_env
    )
    assert revoked.returncode == 0, revoked.stderr

    log = LogClient(live.url)
    record = log.grant(grant_id)
    content = record["entry"]["statement"]["content"]
    assert {(c["duration_s"], c["media_type"]) for c in content} == {
        (61, "video/mp4"),
        (10, "video/quicktime"),
    }
    terms = record["entry"]["statement"]["terms"]
    assert (terms["territory"], terms["prohibitions"]) == (["DE", "FR"], ["replicate_likeness"])
    assert record["entry"]["statement"]["signer"] == creator
    assert record["accepted_seq"] == int(accepted.stdout.split()[3])
    assert record["revoked_seq"] == int(revoked.stdout.split()[3])
    # the state folder holds, verbatim, the signed checkpoint the last command verified
    [state] = Path(user_env["XDG_CONFIG_HOME"]).glob("consent-ledger/*/checkpoint")
    size = Checkpoint.parse(state.read_text().split("\n\n")[0] + "\n").tree_size
    assert size > record["revoked_seq"]
    assert state.read_text() == log.checkpoint(size)


def test_key_rotation_and_revocation(user_env: dict[str, str], tmp_path: Path) -> None:
    old_pem, old_id = party(tmp_path, user_env, "Rotating")
    new_pem = tmp_path / "new.pem"
    new_id = value(run_ledger("keygen", "--out", new_pem).stdout, "key_id")
    rotated = run_ledger("rotate", "--key", old_pem, "--new-key", new_pem, env=user_env)
    assert rotated.returncode == 0, rotated.stderr
    assert (value(rotated.stdout, "old_key_id"), value(rotated.stdout, "key_id")) == (
        old_id,
        new_id,
    )
    revoked = run_ledger("revoke-key", "--key", new_pem, "--reason", "retired", env=user_env)
    assert revoked.returncode == 0, revoked.stderr
    assert value(revoked.stdout, "revoked") == new_id
    # the old key is gone: the log refuses it, and the command says so in one line
    again = run_ledger("register", "--key", old_pem, "--name", "Again", env=user_env)
    assert_one_line_failure(again, 4, "key_already_registered")


def test_large_content_lists_become_several_grants(
    live: LiveServer, user_env: dict[str, str], tmp_path: Path
) -> None:
    creator_pem, _ = party(tmp_path, user_env, "Archive")
    _, buyer = party(tmp_path, user_env, "Bulk Buyer")
    items = [
        ManifestItem(os.urandom(32).hex(), 10**9, 600, "video/mp4", f"reel/{i:04}.mp4")
        for i in range(900)
    ]
    write_manifest(tmp_path / "reel.json", items)
    granted = run_ledger(
        "grant", "--key", creator_pem, "--buyer", buyer, *GRANT_TERMS,
        "--manifest", tmp_path / "reel.json", env=user_env,
    )  # fmt: skip
    assert granted.returncode == 0, granted.stderr
    ids = grant_ids(granted.stdout)
    assert len(ids) == len(set(ids)) >= 2
    assert f"900 items split into {len(ids)} grants" in granted.stderr
    log = LogClient(live.url)
    listed = [c["sha256"] for g in ids for c in log.grant(g)["entry"]["statement"]["content"]]
    assert listed == [i.sha256 for i in items]
    assert all(len(log.grant(g)["entry"]["leaf"]) * 3 // 4 <= 65535 for g in ids)


def test_grant_from_paths_needs_a_duration_when_it_cannot_be_read(
    user_env: dict[str, str], tmp_path: Path
) -> None:
    creator_pem, _ = party(tmp_path, user_env, "Notes")
    _, buyer = party(tmp_path, user_env, "Reader")
    (tmp_path / "script.txt").write_text("INT. KITCHEN - NIGHT")
    args = ["grant", "--key", creator_pem, "--buyer", buyer, *GRANT_TERMS, tmp_path / "script.txt"]
    refused = run_ledger(*args, env=user_env)
    assert_one_line_failure(refused, 2, "duration", "is unknown: give --duration SECONDS")
    granted = run_ledger(*args, "--duration", "90", env=user_env)
    assert granted.returncode == 0, granted.stderr
    assert len(grant_ids(granted.stdout)) == 1


def test_accepting_a_grant_made_to_someone_else_is_refused(
    user_env: dict[str, str], tmp_path: Path
) -> None:
    creator_pem, _ = party(tmp_path, user_env, "Maker")
    _, buyer = party(tmp_path, user_env, "Rightful")
    intruder_pem, _ = party(tmp_path, user_env, "Intruder")
    (tmp_path / "a.mp4").write_bytes(mp4())
    granted = run_ledger(
        "grant", "--key", creator_pem, "--buyer", buyer, *GRANT_TERMS, tmp_path / "a.mp4",
        env=user_env,
    )  # fmt: skip
    [grant_id] = grant_ids(granted.stdout)
    result = run_ledger("accept", "--yes", "--key", intruder_pem, grant_id, env=user_env)
    assert_one_line_failure(
        result, 4, f"grant {grant_id} names", "as its buyer, which is not a key of your party"
    )
    not_mine = run_ledger(
        "revoke", "--key", intruder_pem, grant_id, "--effective", "2030-01-01", env=user_env
    )
    assert_one_line_failure(not_mine, 4, "as its creator, which is not a key of your party")
    unknown = run_ledger(
        "accept", "--yes", "--key", intruder_pem, "00000000-0000-4000-8000-000000000000",
        env=user_env,
    )  # fmt: skip
    assert_one_line_failure(unknown, 4, "404")


# --- failures that need no server -----------------------------------------------------------


GRANT = ["grant", "--key", "k.pem", "--buyer", "ab" * 32]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["register", "--key", "k.pem", "--name", "bad/name"], "pseudonym"),
        (["register", "--key", "missing.pem", "--name", "x"], "cannot read key file"),
        (["grant", "--key", "k.pem", "--buyer", "ab", *GRANT_TERMS, "a.mp4"], "--buyer"),
        ([*GRANT, *GRANT_TERMS], "PATH... or"),
        ([*GRANT, *GRANT_TERMS, "--revocable", "a.mp4"], "--revocable and --notice-days N go"),
        ([*GRANT, *GRANT_TERMS, "--start", "2031-01-01", "a.mp4"], "--end must be later than"),
        ([*GRANT, *GRANT_TERMS[:-1], "someday", "a.mp4"], "'someday' is not a time: give"),
        ([*GRANT, *GRANT_TERMS, "--manifest", "bad.csv"], "a CSV manifest starts with"),
        ([*GRANT, *GRANT_TERMS, "--currency", "XXX", "a.mp4"], "ISO 4217"),
        ([*GRANT, *GRANT_TERMS, "--price", "2,50", "a.mp4"], "amount"),
        (["accept", "--key", "k.pem", "not-a-uuid"], "is not a grant id"),
        (["revoke", "--key", "k.pem", "00000000-0000-4000-8000-000000000000"], "--effective"),
    ],
)
def test_usage_errors_exit_2_in_one_line(tmp_path: Path, args: list[str], fragment: str) -> None:
    run_ledger("keygen", "--out", tmp_path / "k.pem")
    (tmp_path / "a.mp4").write_bytes(mp4())
    (tmp_path / "bad.csv").write_text("path,sha\n")
    result = run_ledger(*args, cwd=tmp_path, env={"LEDGER_URL": "http://127.0.0.1:9"})
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert fragment in result.stderr


def test_unreachable_server_exits_3_in_one_line(tmp_path: Path) -> None:
    run_ledger("keygen", "--out", tmp_path / "k.pem")
    url = f"http://127.0.0.1:{free_port()}"
    result = run_ledger(
        "register", "--key", tmp_path / "k.pem", "--name", "Alone", "--url", url,
        "--state", tmp_path / "state",
    )  # fmt: skip
    assert_one_line_failure(result, 3, f"cannot reach {url}")
    assert not (tmp_path / "state").exists()


@pytest.mark.parametrize(
    "command",
    ["register", "rotate", "revoke-key", "hash", "grant", "accept", "revoke", "show", "offers"],
)
def test_every_command_has_help(command: str) -> None:
    result = run_ledger(command, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: ledger {command}")
    listed = run_ledger("--help").stdout
    assert f"    {command}" in listed


def test_a_partly_refused_batch_reports_what_got_in(
    user_env: dict[str, str], tmp_path: Path
) -> None:
    creator_pem, _ = party(tmp_path, user_env, "Twice")
    buyer_pem, buyer = party(tmp_path, user_env, "Eager")
    ids = []
    for name in ("one.mp4", "two.mp4"):
        (tmp_path / name).write_bytes(mp4(1000, 5000 + len(ids)))
        granted = run_ledger(
            "grant", "--key", creator_pem, "--buyer", buyer, *GRANT_TERMS, tmp_path / name,
            env=user_env,
        )  # fmt: skip
        ids += grant_ids(granted.stdout)
    assert run_ledger("accept", "--yes", "--key", buyer_pem, ids[0], env=user_env).returncode == 0
    both = run_ledger("accept", "--yes", "--key", buyer_pem, *ids, env=user_env)
    assert_one_line_failure(both, 4, "grant.accept refused: already_accepted")
    assert value(both.stdout, "accepted") == ids[1]
    assert "verified 1 new entry" in both.stderr


def _garble(path: Path) -> None:
    path.write_bytes(b"\xff\xfe not a checkpoint")


def _other_root(path: Path) -> None:
    text = path.read_text()
    lines = text.split("\n")
    lines[2] = "A" * 43 + "="  # another root under the same (now wrong) signature
    path.write_text("\n".join(lines))


@pytest.mark.parametrize(
    ("damage", "code", "fragment"),
    [
        (_garble, 2, "is unusable"),
        (lambda p: p.write_text(""), 2, "is unusable"),
        (_other_root, 1, "not signed by the log key"),
    ],
    ids=["garbled", "empty", "edited"],
)
def test_a_damaged_state_folder_is_reported(
    user_env: dict[str, str], tmp_path: Path, damage: object, code: int, fragment: str
) -> None:
    party(tmp_path, user_env, "Early")
    [state] = Path(user_env["XDG_CONFIG_HOME"]).glob("consent-ledger/*/checkpoint")
    assert callable(damage)
    damage(state)
    run_ledger("keygen", "--out", tmp_path / "late.pem")
    late = run_ledger("register", "--key", tmp_path / "late.pem", "--name", "Late", env=user_env)
    assert_one_line_failure(late, code, fragment)


def test_a_state_folder_that_is_a_file_is_a_usage_error(
    user_env: dict[str, str], tmp_path: Path
) -> None:
    run_ledger("keygen", "--out", tmp_path / "k.pem")
    (tmp_path / "state").write_text("a file, not a folder")
    result = run_ledger(
        "register", "--key", tmp_path / "k.pem", "--name", "Misplaced", "--state",
        tmp_path / "state", env=user_env,
    )  # fmt: skip
    assert_one_line_failure(result, 2, "client state", "is unusable")


def test_log_prints_the_checked_head_and_pins_the_key(
    live: LiveServer, user_env: dict[str, str], tmp_path: Path
) -> None:
    party(tmp_path, user_env, "Early Party")  # a log with at least one checkpoint
    state = tmp_path / "fresh-state"  # this machine has never seen the log
    env = {**user_env, "XDG_CONFIG_HOME": str(state)}
    info = LogClient(live.url).log_info()
    first = run_ledger("log", env=env)
    assert first.returncode == 0, first.stderr
    assert "pinned log key" in first.stderr  # trust on first use is said out loud
    assert value(first.stdout, "log_key") == info["verifier_key"]
    assert value(first.stdout, "origin") == live.origin
    party(tmp_path, user_env, "Later Party")
    second = run_ledger("log", env=env)
    assert second.returncode == 0, second.stderr
    assert "pinned log key" not in second.stderr  # nothing pinned again
    assert (
        f"ledger: log key {'+'.join(info['verifier_key'].split('+')[:2])}: pinned in "
        in second.stderr
    )
    assert int(value(second.stdout, "tree_size")) > int(value(first.stdout, "tree_size"))
    cp = Checkpoint.parse(LogClient(live.url).checkpoint().split("\n\n")[0] + "\n")
    assert value(second.stdout, "root_hash") == cp.root_hash.hex()
    # another key given explicitly contradicts the pinned one: a verification failure
    other = NoteSigner.from_private_key(live.origin, SigningKey.generate().private_key)
    contradicted = run_ledger("log", "--log-key", other.verifier().to_vkey(), env=env)
    assert_one_line_failure(contradicted, 1, "--log-key differs from the key pinned")
    # a key that is not a key is a usage error, as for every command (one --log-key parser)
    malformed = "test.example/log+00000000+" + "A" * 43 + "="
    assert_one_line_failure(run_ledger("log", "--log-key", malformed, env=env), 2, "--log-key: ")


@pytest.mark.slow  # starts gunicorn
def test_log_and_audit_work_on_a_fresh_log(database_url: str, tmp_path: Path) -> None:
    # docs/FORMAT.md §6: a new log signs the empty tree, so a client has a head from the start,
    # and its next head is trusted without a consistency proof from size 0 (there is none).
    server = LiveServer(database_url, tmp_path / "log-key.pem", tmp_path / "gunicorn", workers=1)
    env = {"LEDGER_URL": "", "XDG_CONFIG_HOME": str(tmp_path / "config")}
    with server:
        env["LEDGER_URL"] = server.url
        vkey = LogClient(server.url).log_info()["verifier_key"]
        first = run_ledger("log", "--log-key", vkey, env=env)
        assert first.returncode == 0, first.stderr
        assert value(first.stdout, "tree_size") == "0"
        assert value(first.stdout, "root_hash") == hashlib.sha256(b"").hexdigest()
        audited = run_ledger("audit", "--url", server.url, "--log-key", vkey, env=env)
        assert audited.returncode == 0, audited.stderr
        assert "audit ok" in audited.stdout
        database = run_ledger("audit", "--database", database_url, "--log-key", vkey, env=env)
        assert database.returncode == 0, database.stderr
        assert "database ok" in database.stdout
        party(tmp_path, env, "First Party")  # trusts the size-0 head it saved, then moves on
        second = run_ledger("log", env=env)
        assert second.returncode == 0, second.stderr
        assert value(second.stdout, "tree_size") == "1"
