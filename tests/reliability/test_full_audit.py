"""The full audit (ledger.client.audit) against real gunicorn on both backends: a clean log passes;
a lying server (a real HTTP proxy that rewrites what gunicorn serves) is caught at the exact first
bad seq with the exact code; ``--follow`` catches a rollback, a fork and a bad consistency proof;
``ledger audit`` and ``scripts/audit.py`` exit 0/1/2/3 as documented."""

from __future__ import annotations

import base64
import json
import os
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ledger.client import LogClient
from ledger.client.audit import AuditReport, FailureCode, LogAuditor
from ledger.core.checkpoint import Checkpoint, sign_checkpoint
from ledger.core.errors import AuditFailed
from ledger.core.leaf import LEAF_MAGIC
from ledger.core.note import NoteVerifier
from ledger.server.config import PROJECT_ROOT
from ledger.server.dbaudit import audit_database
from tests.reliability.conftest import ServedLog
from tests.reliability.logs import Lie, LyingProxy, log_signer, post_groups
from tests.support.audit_helpers import workload

pytestmark = pytest.mark.slow

K = 40  # the seq the lies target: inside the third page of 16
PAGE = 16
SEQ_AT = len(LEAF_MAGIC)  # offsets of the leaf header fields
TIME_AT = SEQ_AT + 8
PREV_AT = TIME_AT + 8
T2000 = "2000-01-01T00:00:00.000000Z"
F = FailureCode
H1 = "1" * 64


def audit(url: str, vkey: str, **kwargs: Any) -> AuditReport:
    kwargs.setdefault("page_size", PAGE)
    return LogAuditor(LogClient(url), NoteVerifier.from_vkey(vkey), **kwargs).audit()


# --- a clean log --------------------------------------------------------------------------------


@pytest.mark.parametrize("workers", [0, 2])
def test_clean_log_passes(shared_log: ServedLog, workers: int) -> None:
    report = audit(shared_log.url, shared_log.vkey, workers=workers)
    assert report, report.failure
    info = LogClient(shared_log.url).log_info()
    assert (report.tree_size, report.root_hash.hex()) == (info["tree_size"], info["root_hash"])
    assert report.entries_checked == report.tree_size >= len(shared_log.acks)


def test_clean_log_passes_strict_with_every_checkpoint(shared_log: ServedLog) -> None:
    report = audit(shared_log.url, shared_log.vkey, strict=True, all_checkpoints=True)
    assert report, report.failure
    # every transaction of the fill left a checkpoint (batches share one), and the empty tree's
    # was signed when the log was created
    assert report.checkpoints_checked == len({0} | {a["tree_size"] for a in shared_log.acks})
    # the licence map recomputed from the entries has the root every checkpoint commits
    assert (report.map_roots_checked, report.checkpoints_without_map) == (
        report.checkpoints_checked,
        0,
    )


def test_clean_database_passes(shared_log: ServedLog) -> None:
    report = audit_database(shared_log.database_url, NoteVerifier.from_vkey(shared_log.vkey))
    assert report, report.failures
    assert report.tree_size == LogClient(shared_log.url).log_info()["tree_size"]
    assert report.checkpoints_checked == len({0} | {a["tree_size"] for a in shared_log.acks})
    assert report.map_roots_checked == report.checkpoints_checked


def test_the_wrong_log_key_fails_on_the_checkpoint(shared_log: ServedLog, tmp_path: Path) -> None:
    other = log_signer(tmp_path / "other.pem").verifier().to_vkey()
    report = audit(shared_log.url, other)
    assert report.failure is not None
    assert report.failure.code == FailureCode.CHECKPOINT_INVALID


def _pages_capped_at(cap: int, only_start: int | None = None) -> Lie:
    """Honest but short pages: at most ``cap`` entries (only for ``start=only_start`` if set)."""

    def lie(path: str, query: dict[str, str], body: bytes) -> bytes:
        if path != "/v1/entries" or only_start not in (None, int(query["start"])):
            return body
        page = json.loads(body)
        page["entries"] = page["entries"][:cap]
        return json.dumps(page).encode()

    return lie


@pytest.mark.parametrize(
    "lie",
    [_pages_capped_at(10), _pages_capped_at(3, only_start=3 * PAGE)],
    ids=["every page capped", "one short page"],
)
def test_short_pages_are_fetched_to_the_end(shared_log: ServedLog, lie: Lie) -> None:
    """A server whose pages are smaller than asked (a lower page limit, or one short page) is
    audited all the same: nothing is skipped, nothing is reported missing."""
    with LyingProxy(shared_log.url, lie) as proxy:
        report = audit(proxy.url, shared_log.vkey, workers=2)
    assert report, report.failure
    assert report.entries_checked == report.tree_size


# --- a lying server ------------------------------------------------------------------------------


def _page_lie(change: Callable[[list[dict[str, Any]], int], None]) -> Callable[[ServedLog], Lie]:
    """A lie about entry K wherever a page of /v1/entries holds it."""

    def make(_log: ServedLog) -> Lie:
        def lie(path: str, _query: dict[str, str], body: bytes) -> bytes:
            if path != "/v1/entries":
                return body
            page = json.loads(body)
            for i, entry in enumerate(page["entries"]):
                if entry["seq"] == K:
                    change(page["entries"], i)
                    break
            return json.dumps(page).encode()

        return lie

    return make


def _leaf_edit(edit: Callable[[bytearray], None]) -> Callable[[list[dict[str, Any]], int], None]:
    def change(entries: list[dict[str, Any]], i: int) -> None:
        leaf = bytearray(base64.b64decode(entries[i]["leaf"]))
        edit(leaf)
        entries[i]["leaf"] = base64.b64encode(bytes(leaf)).decode()

    return change


def _flip(offset: int) -> Callable[[bytearray], None]:
    def edit(leaf: bytearray) -> None:
        leaf[offset] ^= 0x01

    return edit


def _zero_time(leaf: bytearray) -> None:
    leaf[TIME_AT : TIME_AT + 8] = struct.pack(">Q", 0)


def _set(field: str, value: Any) -> Callable[[list[dict[str, Any]], int], None]:
    def change(entries: list[dict[str, Any]], i: int) -> None:
        entries[i][field] = value

    return change


def _drop(entries: list[dict[str, Any]], i: int) -> None:
    del entries[i]


def _cut_short(_log: ServedLog) -> Lie:
    def lie(path: str, _query: dict[str, str], body: bytes) -> bytes:
        if path != "/v1/entries":
            return body
        page = json.loads(body)
        page["entries"] = [e for e in page["entries"] if e["seq"] < K]
        return json.dumps(page).encode()

    return lie


def _head_lie(rewrite: Callable[[ServedLog, str], str]) -> Callable[[ServedLog], Lie]:
    """A lie about the latest checkpoint."""

    def make(log: ServedLog) -> Lie:
        def lie(path: str, query: dict[str, str], body: bytes) -> bytes:
            if path != "/v1/checkpoint" or "tree_size" in query:
                return body
            return rewrite(log, body.decode()).encode()

        return lie

    return make


def _unsigned_root(_log: ServedLog, note: str) -> str:
    lines = note.split("\n")
    lines[2] = base64.b64encode(bytes(32)).decode()  # the root line, signature left as it was
    return "\n".join(lines)


def _signed_wrong_root(log: ServedLog, note: str) -> str:
    size = int(note.split("\n")[1])
    return sign_checkpoint(Checkpoint(log.server.origin, size, bytes(32)), log_signer(log.key_file))


LIES: list[tuple[str, Callable[[ServedLog], Lie], FailureCode, bool]] = [
    # (case, lie, the code, whether the failure is at seq K rather than at the tree size)
    ("leaf signature byte", _page_lie(_leaf_edit(_flip(-1))), F.SIGNATURE_INVALID, True),
    ("leaf seq field", _page_lie(_leaf_edit(_flip(SEQ_AT + 7))), F.SEQ_MISMATCH, True),
    ("leaf prev hash", _page_lie(_leaf_edit(_flip(PREV_AT))), F.CHAIN_BROKEN, True),
    ("leaf time moved back", _page_lie(_leaf_edit(_zero_time)), F.TIME_REGRESSION, True),
    ("leaf truncated", _page_lie(_leaf_edit(lambda b: b.pop())), F.LEAF_MALFORMED, True),
    ("entry dropped", _page_lie(_drop), F.ENTRY_MISSING, True),
    ("log cut short", _cut_short, F.ENTRY_MISSING, True),
    ("listed seq", _page_lie(_set("seq", K - 1)), F.SEQ_MISMATCH, True),
    ("listed leaf hash", _page_lie(_set("leaf_hash", "0" * 64)), F.LEAF_HASH_MISMATCH, True),
    ("listed stmt hash", _page_lie(_set("statement_hash", H1)), F.STATEMENT_HASH_MISMATCH, True),
    ("listed statement", _page_lie(_set("statement", {})), F.LISTING_MISMATCH, True),
    ("listed time", _page_lie(_set("integrated_at", T2000)), F.LISTING_MISMATCH, True),
    ("checkpoint root, unsigned", _head_lie(_unsigned_root), F.CHECKPOINT_INVALID, False),
    ("checkpoint signed, wrong root", _head_lie(_signed_wrong_root), F.ROOT_MISMATCH, False),
]  # fmt: skip


@pytest.mark.parametrize(("case", "make_lie", "code", "at_k"), LIES, ids=[c[0] for c in LIES])
def test_a_lying_server_is_caught_at_the_first_bad_seq(
    shared_log: ServedLog,
    case: str,
    make_lie: Callable[[ServedLog], Lie],
    code: FailureCode,
    at_k: bool,
) -> None:
    with LyingProxy(shared_log.url, make_lie(shared_log)) as proxy:
        report = audit(proxy.url, shared_log.vkey)
    assert report.failure is not None, case
    assert report.failure.code == code, report.failure
    if at_k:
        assert report.failure.seq == K, report.failure
        assert report.entries_checked == K  # every entry before the lie passed
    elif code == FailureCode.ROOT_MISMATCH:
        assert report.failure.tree_size == LogClient(shared_log.url).log_info()["tree_size"]


def test_a_lie_found_by_a_worker_process_names_the_same_seq(shared_log: ServedLog) -> None:
    lie = _page_lie(_leaf_edit(_flip(-1)))(shared_log)
    with LyingProxy(shared_log.url, lie) as proxy:
        report = audit(proxy.url, shared_log.vkey, workers=2, page_size=8)
    assert report.failure is not None
    assert (report.failure.code, report.failure.seq) == (FailureCode.SIGNATURE_INVALID, K)
    with pytest.raises(AuditFailed) as raised:
        report.raise_for_failure()
    assert (raised.value.details["code"], raised.value.details["seq"]) == ("signature_invalid", K)


# --- following a log ------------------------------------------------------------------------------


def test_follow_audits_new_entries_and_the_chain_continues(served_log: ServedLog) -> None:
    auditor = LogAuditor(LogClient(served_log.url), NoteVerifier.from_vkey(served_log.vkey))
    first = auditor.audit()
    assert first, first.failure
    assert auditor.follow_once().entries_checked == 0  # nothing new
    post_groups(served_log.url, workload(7, 5))
    report = auditor.follow_once()
    assert report, report.failure
    assert (report.entries_checked, report.tree_size) == (5, first.tree_size + 5)


def _rollback(log: ServedLog, note: str) -> str:
    size = int(note.split("\n")[1])
    return LogClient(log.url).checkpoint(size - 3)


def _fork(log: ServedLog, note: str) -> str:
    return _signed_wrong_root(log, note)


@pytest.mark.parametrize(
    ("rewrite", "code"),
    [(_rollback, FailureCode.ROLLBACK), (_fork, FailureCode.FORK)],
    ids=["rollback", "fork"],
)
def test_follow_catches_a_rollback_or_fork(
    shared_log: ServedLog, rewrite: Callable[[ServedLog, str], str], code: FailureCode
) -> None:
    lying = {"on": False}

    def lie(path: str, query: dict[str, str], body: bytes) -> bytes:
        if not lying["on"] or path != "/v1/checkpoint" or "tree_size" in query:
            return body
        return rewrite(shared_log, body.decode()).encode()

    with LyingProxy(shared_log.url, lie) as proxy:
        auditor = LogAuditor(LogClient(proxy.url), NoteVerifier.from_vkey(shared_log.vkey))
        assert auditor.audit()
        lying["on"] = True
        report = auditor.follow_once()
    assert report.failure is not None
    assert report.failure.code == code, report.failure


def _altered_hash(proof: dict[str, Any]) -> None:
    proof["hashes"][0] = "22" * 32


def _no_hashes(proof: dict[str, Any]) -> None:
    proof["hashes"] = []


@pytest.mark.parametrize("alter", [_altered_hash, _no_hashes], ids=["altered hash", "empty"])
def test_follow_catches_an_inconsistent_proof(
    served_log: ServedLog, alter: Callable[[dict[str, Any]], None]
) -> None:
    def lie(path: str, _query: dict[str, str], body: bytes) -> bytes:
        if path != "/v1/proofs/consistency":
            return body
        proof = json.loads(body)
        alter(proof)
        return json.dumps(proof).encode()

    with LyingProxy(served_log.url, lie) as proxy:
        auditor = LogAuditor(LogClient(proxy.url), NoteVerifier.from_vkey(served_log.vkey))
        assert auditor.audit()
        post_groups(served_log.url, workload(8, 3))
        report = auditor.follow_once()
    assert report.failure is not None
    assert report.failure.code == FailureCode.CONSISTENCY_INVALID, report.failure
    assert report.entries_checked == 0  # nothing new is believed without the proof


# --- the command ----------------------------------------------------------------------------------


def ledger_cli(*args: str, script: bool = False) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, str(PROJECT_ROOT / "scripts" / "audit.py")] if script else [
        sys.executable, "-m", "ledger.cli", "audit"
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "LEDGER_URL"}
    return subprocess.run(
        [*cmd, *args], capture_output=True, text=True, timeout=120, env=env, check=False
    )


def test_cli_exit_0_for_a_clean_log(shared_log: ServedLog) -> None:
    done = ledger_cli("--url", shared_log.url, "--log-key", shared_log.vkey, "--workers", "0")
    assert done.returncode == 0, done.stderr
    assert "audit ok" in done.stdout
    assert "WARNING" not in done.stderr


def test_cli_trust_on_first_use_warns(shared_log: ServedLog) -> None:
    done = ledger_cli("--url", shared_log.url, "--workers", "0")
    assert done.returncode == 0, done.stderr
    assert "WARNING" in done.stderr
    assert shared_log.vkey in done.stderr  # the key to pin next time


def test_script_exit_1_names_the_first_bad_seq(shared_log: ServedLog, tmp_path: Path) -> None:
    key_file = tmp_path / "vkey"
    key_file.write_text(shared_log.vkey + "\n")
    with LyingProxy(shared_log.url, _page_lie(_leaf_edit(_flip(-1)))(shared_log)) as proxy:
        done = ledger_cli(proxy.url, "--log-key", str(key_file), "--json", script=True)
    assert done.returncode == 1, done.stderr
    failure = json.loads(done.stdout)["failure"]
    assert (failure["code"], failure["seq"]) == ("signature_invalid", K)


def test_cli_exit_3_when_the_server_is_unreachable(shared_log: ServedLog) -> None:
    done = ledger_cli("--url", "http://127.0.0.1:9", "--log-key", shared_log.vkey)
    assert done.returncode == 3, done.stderr
    assert "cannot reach" in done.stderr


def test_cli_exit_2_for_a_malformed_log_key(shared_log: ServedLog) -> None:
    done = ledger_cli("--url", shared_log.url, "--log-key", "not+a+key")
    assert done.returncode == 2, done.stderr


def test_cli_follow_exits_1_on_a_fork(shared_log: ServedLog) -> None:
    latest_requests = {"n": 0}

    def lie(path: str, query: dict[str, str], body: bytes) -> bytes:
        if path != "/v1/checkpoint" or "tree_size" in query:
            return body
        latest_requests["n"] += 1
        return body if latest_requests["n"] == 1 else _fork(shared_log, body.decode()).encode()

    with LyingProxy(shared_log.url, lie) as proxy:
        done = ledger_cli(
            "--url", proxy.url, "--log-key", shared_log.vkey, "--workers", "0",
            "--follow", "--interval", "0.1", "--max-rounds", "3",
        )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "AUDIT FAILED [fork]" in done.stdout


def test_cli_follow_exits_0_after_its_rounds(shared_log: ServedLog) -> None:
    done = ledger_cli(
        "--url", shared_log.url, "--log-key", shared_log.vkey, "--workers", "0",
        "--follow", "--interval", "0.1", "--max-rounds", "2",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("follow ok") == 2


def test_cli_database_audit(shared_log: ServedLog) -> None:
    done = ledger_cli("--database", shared_log.database_url, "--log-key", shared_log.vkey)
    assert done.returncode == 0, done.stderr
    assert "database ok" in done.stdout
    done = ledger_cli("--database", shared_log.database_url)
    assert done.returncode == 2  # the database cannot vouch for its own key
    unreachable = "postgresql+psycopg://postgres@127.0.0.1:9/ledger"
    done = ledger_cli("--database", unreachable, "--log-key", shared_log.vkey)
    assert done.returncode == 3, done.stderr
    assert "cannot read the database" in done.stderr
