"""Idempotent retries end to end: after an answer lost once the append committed, or a database
stopped mid-request, the ``ledger`` write commands send the same signed bytes again, take 409
``duplicate_statement`` as success once that entry verifies, and exactly one entry is logged."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from ledger.client import LogClient, TrustedLog, submit
from ledger.core import builders
from ledger.core.encoding import b64_decode
from ledger.core.keys import SigningKey
from ledger.core.leaf import parse_leaf
from tests.cli.clitools import run_ledger, value
from tests.conftest import PG_ADMIN_URL
from tests.support.live import LiveServer
from tests.support.proxy import LyingProxy


def entries_signed_by(url: str, key_id: str) -> list[tuple[int, str]]:
    """(seq, type) of every entry whose statement ``key_id`` signed, read from the whole log."""
    client = LogClient(url)
    size = int(client.log_info()["tree_size"])
    found = []
    start = 0
    while start < size:
        page = client.entries(start, 1000)["entries"]
        for e in page:
            signed = parse_leaf(b64_decode(e["leaf"], what="leaf")).signed
            if signed.signatures[0].public_key.key_id == key_id:
                found.append((e["seq"], signed.type_name))
        start += len(page)
    return found


def drop_first(method: str, path: str, times: int = 1) -> Any:
    """A ``drop_answer`` hook: lose the answer to the first ``times`` POSTs to ``path``."""
    left = {"n": times}

    def drop(m: str, p: str) -> bool:
        if m == method and p == path and left["n"] > 0:
            left["n"] -= 1
            return True
        return False

    return drop


def keygen(tmp_path: Path, name: str) -> tuple[Path, str]:
    path = tmp_path / f"{name}.pem"
    key = SigningKey.generate()
    key.save(path)
    return path, key.key_id


def test_an_answer_lost_after_commit_is_resent_and_logged_once(
    live: LiveServer, tmp_path: Path
) -> None:
    key, key_id = keygen(tmp_path, "creator")
    with LyingProxy(live.url) as proxy:
        proxy.drop_answer = drop_first("POST", "/v1/entries")
        env = {"LEDGER_URL": proxy.url, "XDG_CONFIG_HOME": str(tmp_path / "config")}
        done = run_ledger("register", "--key", key, "--name", "Cut", env=env)
    assert done.returncode == 0, done.stderr
    assert "sending the same signed bytes again" in done.stderr
    assert "already holds this party.register at seq" in done.stderr
    seq = int(value(done.stdout, "seq"))
    assert entries_signed_by(live.url, key_id) == [(seq, "party.register")]
    (pending,) = (tmp_path / "config").glob("consent-ledger/*/pending")  # was kept meanwhile
    assert not list(pending.iterdir())  # and forgotten: its fate is known


def test_a_batch_whose_answer_was_lost_is_resent_and_logged_once(
    live: LiveServer, tmp_path: Path
) -> None:
    """accept of two grants goes through the batch endpoint: its items come back as duplicates."""
    creator = SigningKey.generate()
    buyer_file, buyer_id = keygen(tmp_path, "buyer")
    buyer = SigningKey.load(buyer_file)
    log = LogClient(live.url)
    log.append(builders.party_register(creator, "c").to_json())
    log.append(builders.party_register(buyer, "b").to_json())
    grant_ids = []
    for _ in range(2):
        g = builders.grant(
            creator, buyer_id, str(uuid.uuid4()), [builders.Item("ab" * 32, 1, 1)],
            builders.TermsSpec(),
        )  # fmt: skip
        log.append(g.to_json())
        grant_ids.append(g.statement.grant_id)  # type: ignore[attr-defined]
    with LyingProxy(live.url) as proxy:
        proxy.drop_answer = drop_first("POST", "/v1/entries/batch")
        env = {"LEDGER_URL": proxy.url, "XDG_CONFIG_HOME": str(tmp_path / "config")}
        done = run_ledger("accept", "--yes", "--key", buyer_file, *grant_ids, env=env)
    assert done.returncode == 0, done.stderr
    assert "POST /v1/entries/batch" in done.stderr
    assert "same signed bytes" in done.stderr
    accepts = [t for _, t in entries_signed_by(live.url, buyer_id) if t == "grant.accept"]
    assert len(accepts) == 2
    assert done.stdout.count("accepted ") == 2


def test_a_rerun_after_every_attempt_failed_resends_instead_of_signing_again(
    live: LiveServer, tmp_path: Path
) -> None:
    """The answer is lost on every attempt (exit 3, fate unknown): the envelope stays in the state
    folder, and running the same command again sends it, not a newly signed grant."""
    creator_file, creator_id = keygen(tmp_path, "creator")
    buyer = SigningKey.generate()
    log = LogClient(live.url)
    log.append(builders.party_register(SigningKey.load(creator_file), "c").to_json())
    log.append(builders.party_register(buyer, "b").to_json())
    clip = tmp_path / "clip.bin"
    clip.write_bytes(uuid.uuid4().bytes * 100)
    argv = [
        "grant", "--key", creator_file, "--buyer", buyer.key_id, "--use", "ai_training",
        "--price", "1", "--currency", "USD", "--per", "clip", "--end", "2030-01-01",
        "--duration", "5", "--media-type", "video/mp4", clip,
    ]  # fmt: skip
    config = tmp_path / "config"
    with LyingProxy(live.url) as proxy:
        proxy.drop_answer = lambda m, p: m == "POST"
        env = {"LEDGER_URL": proxy.url, "XDG_CONFIG_HOME": str(config)}
        failed = run_ledger(*argv, env=env)
    assert failed.returncode == 3, failed.stderr
    assert failed.stderr.count("sending the same signed bytes again") == 3
    (kept,) = config.glob("consent-ledger/*/pending/*.json")
    assert entries_signed_by(live.url, creator_id)[-1][1] == "grant"  # logged, answer lost
    again = run_ledger(*argv, env={"LEDGER_URL": live.url, "XDG_CONFIG_HOME": str(config)})
    assert again.returncode == 0, again.stderr
    assert "sending the same ones again instead of signing new ones" in again.stderr
    grants = [seq for seq, t in entries_signed_by(live.url, creator_id) if t == "grant"]
    assert len(grants) == 1
    assert f"seq {grants[0]}" in again.stdout
    assert not kept.exists()


@pytest.fixture
def postgres_only(live: LiveServer) -> str:
    url = make_url(live.database_url)
    if url.get_backend_name() != "postgresql":
        pytest.skip("a database server to stop: PostgreSQL (SQLite has none)")
    return str(url.database)


def _set_connections(name: str, allowed: bool) -> None:
    engine = sa.create_engine(
        PG_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
    )
    with engine.connect() as conn:
        conn.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(allowed).lower()}'))
        if not allowed:  # cut every open connection: the request in flight loses its own
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"
                ),
                {"n": name},
            )
    engine.dispose()


def test_a_database_stopped_mid_request_is_retried_and_logged_once(
    live: LiveServer, postgres_only: str, tmp_path: Path
) -> None:
    """The database goes away as the POST arrives (503 unavailable) and comes back a moment
    later: the command resends the same envelope and exits 0 with one entry."""
    key, key_id = keygen(tmp_path, "creator")
    answers: list[int] = []

    def stop_database(method: str, path: str) -> None:
        if method == "POST" and not answers:
            _set_connections(postgres_only, allowed=False)

    def restart_later(method: str, path: str, status: int, body: bytes) -> bytes:
        if method == "POST":
            answers.append(status)
            if status == 503:
                threading.Timer(0.2, _set_connections, (postgres_only, True)).start()
        return body

    try:
        with LyingProxy(live.url, restart_later) as proxy:
            proxy.before = stop_database
            env = {"LEDGER_URL": proxy.url, "XDG_CONFIG_HOME": str(tmp_path / "config")}
            done = run_ledger("register", "--key", key, "--name", "Outage", env=env)
    finally:
        _set_connections(postgres_only, allowed=True)
    assert answers[0] == 503, answers
    assert answers[-1] in (201, 409), answers
    assert done.returncode == 0, done.stderr
    assert "503 unavailable" in done.stderr
    seq = int(value(done.stdout, "seq"))
    assert entries_signed_by(live.url, key_id) == [(seq, "party.register")]


def test_the_library_takes_a_duplicate_as_success_after_verifying_it(
    live: LiveServer, tmp_path: Path
) -> None:
    """A statement already in the log (sent by someone else, or an earlier attempt) is accepted
    at its seq by ``submit``, verified like a 201: one entry, and the same seq."""
    key = SigningKey.generate()
    signed = builders.party_register(key, "twice")
    first = LogClient(live.url).append(signed.to_json())
    notices: list[str] = []
    result = submit(TrustedLog(LogClient(live.url), tmp_path / "state"), [signed],
                    notify=notices.append)  # fmt: skip
    assert [s.seq for s in result.accepted] == [first["seq"]]
    assert result.checkpoint is not None
    assert result.checkpoint.tree_size > first["seq"]
    assert notices == [
        f"the log already holds this party.register at seq {first['seq']}: verifying it"
    ]
    assert entries_signed_by(live.url, key.key_id) == [(first["seq"], "party.register")]
