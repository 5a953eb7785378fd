"""The audit of the licence map (``LogAuditor``, issue 18 item 3) against a log served from memory
(tests/support/memsource.py) whose signed map the test chooses: an honest log audits clean with
every map root checked; a log that signed a map omitting an entry is named at its first wrong
checkpoint and its first differing key (in key-hash order); pre-map checkpoints are counted, not
failed, but a checkpoint without the line after one with it fails; ``follow_once`` carries the map
from round to round."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from ledger.client.audit import AuditReport, FailureCode, LogAuditor
from ledger.core import builders
from ledger.core.keys import SigningKey
from ledger.core.licmap import derive_map, describe_key
from ledger.core.memlog import MemoryLog
from ledger.core.note import NoteSigner, NoteVerifier
from ledger.core.vmap import key_hash
from tests.support.memsource import MemorySource

CREATOR, BUYER, NEW = (SigningKey.from_seed(bytes([0x60 + i]) * 32) for i in range(3))
LOG_KEY = SigningKey.from_seed(b"\x77" * 32)
T0 = datetime(2026, 5, 1, tzinfo=UTC)
CLIPS = [hashlib.sha256(b"clip %d" % i).hexdigest() for i in range(3)]


def fill(log: MemoryLog, steps: int) -> None:
    """``steps`` more entries of a fixed story: parties, grants, acceptances, a revocation."""
    grants = [e.signed.statement_hash for e in log.parsed if e.signed.type_name == "grant"]
    for _ in range(steps):
        n = len(log.parsed)
        at, nonce = T0 + timedelta(minutes=n), f"{n + 1:032x}"
        kind = n % 6
        if n == 0:
            signed = builders.party_register(CREATOR, "studio", issued_at=at, nonce=nonce)
        elif n == 1:
            signed = builders.party_register(BUYER, "buyer", issued_at=at, nonce=nonce)
        elif kind in (2, 4) or not grants:
            items = [builders.Item(sha256=CLIPS[n % 3], bytes=1, duration_s=1)]
            grant_id = str(uuid.UUID(int=n))
            terms = builders.TermsSpec(revocable=True, notice_days=0)
            signed = builders.grant(
                CREATOR, BUYER.key_id, grant_id, items, terms, issued_at=at, nonce=nonce
            )
            grants.append(signed.statement_hash)
        elif kind == 3:
            signed = builders.grant_accept(BUYER, grants[-1], issued_at=at, nonce=nonce)
        else:
            signed = builders.grant_revoke(CREATOR, grants[-1], at, issued_at=at, nonce=nonce)
        log.add(signed, at + timedelta(seconds=1))


def new_source() -> MemorySource:
    return MemorySource(
        MemoryLog(NoteSigner.from_private_key("test.example/log", LOG_KEY.private_key))
    )


def auditor(source: MemorySource, **kwargs: object) -> LogAuditor:
    verifier = NoteVerifier.from_vkey(source.log.verifier_key)
    return LogAuditor(source, verifier, page_size=4, **kwargs)  # type: ignore[arg-type]


def omit(seq: int):  # type: ignore[no-untyped-def]
    """A map edit: the entry ``seq`` left out of every key that lists it (an omitting log)."""

    def edit(contents: dict[bytes, tuple[int, ...]]) -> None:
        for key, seqs in list(contents.items()):
            contents[key] = tuple(s for s in seqs if s != seq)

    return edit


def first_key_listing(source: MemorySource, size: int, seq: int) -> str:
    """The key, first in key-hash order, whose list holds ``seq`` in the honest map."""
    honest = dict(derive_map(source.log.parsed[:size]).items())
    return describe_key(min((k for k, v in honest.items() if seq in v), key=key_hash))


def honest_log(sizes: list[int]) -> MemorySource:
    source = new_source()
    source.sign()  # the empty tree's
    for size in sizes:
        fill(source.log, size - len(source.log.parsed))
        source.sign()
    return source


def test_an_honest_log_audits_clean_with_every_map_root_checked() -> None:
    source = honest_log([3, 6, 7, 12])
    report = auditor(source, all_checkpoints=True).audit()
    assert report, report.failure
    assert (report.map_roots_checked, report.checkpoints_without_map) == (5, 0)
    head_only = auditor(source).audit()
    assert head_only, head_only.failure
    assert head_only.map_roots_checked == 1


@pytest.mark.parametrize("all_checkpoints", [True, False], ids=["every checkpoint", "head"])
def test_a_map_omitting_a_revocation_is_named_at_its_first_checkpoint_and_key(
    all_checkpoints: bool,
) -> None:
    source = honest_log([3, 5])
    fill(source.log, 1)  # seq 5: the revocation
    assert source.log.parsed[5].signed.type_name == "grant.revoke"
    first_wrong = source.sign(edit=omit(5))
    fill(source.log, 3)
    head = source.sign(edit=omit(5))
    report = auditor(source, all_checkpoints=all_checkpoints).audit()
    failure = report.failure
    assert failure is not None
    assert failure.code == FailureCode.MAP_ROOT_MISMATCH
    assert failure.tree_size == (first_wrong if all_checkpoints else head)
    assert failure.key == first_key_listing(source, failure.tree_size, 5)
    assert failure.key.startswith("grant ")  # the revocation is listed under its grant only
    if all_checkpoints:
        assert "the entries list seqs 4, 5, the log's map lists seqs 4." in failure.message
    assert "report them to the log's operator" in failure.message


def test_the_first_differing_key_is_the_first_in_key_hash_order() -> None:
    """An omitted grant is listed under three keys (content, grant, grant id): the audit names
    the one whose key hash comes first."""
    source = honest_log([4])
    fill(source.log, 1)  # seq 4: a grant
    assert source.log.parsed[4].signed.type_name == "grant"
    size = source.sign(edit=omit(4))
    failure = auditor(source).audit().failure
    assert failure is not None
    assert (failure.code, failure.tree_size) == (FailureCode.MAP_ROOT_MISMATCH, size)
    assert failure.key == first_key_listing(source, size, 4)


def test_a_server_that_will_not_serve_its_nodes_still_fails_without_a_key() -> None:
    source = honest_log([4])
    fill(source.log, 2)
    source.sign(edit=omit(4))
    source.serve_nodes = False
    failure = auditor(source).audit().failure
    assert failure is not None
    assert (failure.code, failure.key) == (FailureCode.MAP_ROOT_MISMATCH, None)
    assert "the first key that differs could not be found" in failure.message


def test_checkpoints_before_the_map_are_counted_not_failed() -> None:
    source = new_source()
    fill(source.log, 3)
    source.sign(map_line=False)
    fill(source.log, 3)
    source.sign(map_line=False)
    fill(source.log, 2)
    source.sign()
    report = auditor(source, all_checkpoints=True).audit()
    assert report, report.failure
    assert (report.checkpoints_without_map, report.map_roots_checked) == (2, 1)


def test_a_checkpoint_without_the_map_line_after_one_with_it_fails() -> None:
    source = honest_log([3])
    fill(source.log, 2)
    size = source.sign(map_line=False)
    report = auditor(source, all_checkpoints=True).audit()
    assert report.failure is not None
    assert (report.failure.code, report.failure.tree_size) == (FailureCode.MAP_ROOT_MISSING, size)
    assert "the checkpoint of size 0 committed one" in report.failure.message


def test_follow_carries_the_map_and_catches_a_wrong_root_between_rounds() -> None:
    source = honest_log([4])
    audit = auditor(source)
    assert audit.audit()
    replay = audit.map
    fill(source.log, 3)
    source.sign()
    report: AuditReport = audit.follow_once()
    assert report, report.failure
    assert audit.map is replay  # extended, not recomputed
    assert replay.size == 7
    fill(source.log, 2)
    size = source.sign(edit=omit(5))
    report = audit.follow_once()
    assert report.failure is not None
    assert (report.failure.code, report.failure.tree_size) == (FailureCode.MAP_ROOT_MISMATCH, size)
    assert report.failure.key == first_key_listing(source, size, 5)
    assert report.entries_checked == 2
