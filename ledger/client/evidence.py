"""Licence answers a buyer can check: ``status`` of one item and ``prove`` of a dataset (no
printing here).

Every answer from the server is verified with ``ledger.core`` before it is returned as good: the
checkpoint signature under the trusted log key, every inclusion proof and statement signature,
each verdict recomputed from the entries, and that the bundle answers exactly the question asked
(``check_answers``). The functions return the ``EvidenceReport``; a report that is falsy says why
the answer must not be believed. Which log key to trust is the caller's choice
(``ledger.client.trust.resolve_log_key``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger.client.http import LogClient
from ledger.content.hashing import file_sha256
from ledger.core.errors import InvalidParameter
from ledger.core.evidence import (
    RECEIPT_MISSING,
    VERDICT_MISMATCH,
    EvidenceReport,
    SignatureCheck,
    check_answers,
    cryptography_check,
    verify_bundle,
)
from ledger.core.licensing import check_use, parse_instant
from ledger.core.note import NoteVerifier
from ledger.core.policy import WitnessPolicy

__all__ = ["Question", "buyer_key_id", "content_sha256", "named_log", "prove", "status"]

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


def named_log(bundle: Any) -> tuple[str | None, str | None]:
    """The log a bundle (parsed JSON) claims to come from: ``(origin, verifier key)``, each None
    when absent. Claims only: the origin is the first line of its checkpoint (what the log key
    signs), the key is the one it names (``log.verifier_key``), which proves nothing by itself."""
    if not isinstance(bundle, dict):
        return None, None
    note = bundle.get("checkpoint")
    origin = note.split("\n", 1)[0] if isinstance(note, str) else None
    log = bundle.get("log")
    key = log.get("verifier_key") if isinstance(log, dict) else None
    return origin, key if isinstance(key, str) else None


def content_sha256(value: str | Path) -> str:
    """A sha256 given as 64 hex digits, or the SHA-256 of the file at that path (a file wins).

    Raises InvalidParameter for anything else, OSError when the file cannot be read.
    """
    path = Path(value)
    if path.is_file():
        return file_sha256(path)
    if _HEX64.fullmatch(str(value)):
        return str(value).lower()
    raise InvalidParameter(f"{value} is neither a file nor a sha256 (64 hex digits)")


def buyer_key_id(text: str) -> str:
    """A buyer's key id as given (64 hex digits), lowercased; raises InvalidParameter."""
    if not _HEX64.fullmatch(text):
        raise InvalidParameter("--buyer must be a key id (64 hex digits)")
    return text.lower()


@dataclass(frozen=True)
class Question:
    """Is each content hash licensed to ``buyer`` for ``use`` at ``at`` (RFC 3339; None: now)?

    Built with ``Question.of``, which refuses a bad use, time or buyer (InvalidParameter and
    friends) before anything is asked of a server.
    """

    buyer: str
    use: str
    at: str | None

    @classmethod
    def of(cls, buyer: str, use: str, at: str | None = None) -> Question:
        check_use(use)
        if at is not None:
            parse_instant(at)
        return cls(buyer_key_id(buyer), use, at)

    @property
    def at_posix(self) -> int | None:
        return None if self.at is None else parse_instant(self.at)


def status(
    client: LogClient,
    question: Question,
    sha256: str,
    log_key: str | NoteVerifier,
    *,
    check: SignatureCheck = cryptography_check,
    policy: WitnessPolicy | None = None,
    receipts: bool = False,
) -> EvidenceReport:
    """``GET /v1/content/{sha256}/status``, verified: its one-item bundle, the question it
    answers, and that the status the server states is the verdict its own evidence gives; with
    ``receipts``, that the bundle carries its entries' COSE receipts (each verified)."""
    answer = client.status(sha256, question.buyer, question.use, question.at, receipts=receipts)
    report = verify_bundle(answer.get("evidence"), log_key, check=check, policy=policy)
    check_answers(report, question.buyer, question.use, question.at_posix, [sha256])
    _check_receipts_given(report, receipts)
    if report and any(answer.get(k) != v for k, v in report.verdicts[0].to_json().items()):
        report.fail(VERDICT_MISMATCH, "the status does not match its own evidence")
    return report


def prove(
    client: LogClient,
    question: Question,
    contents: Sequence[str],
    log_key: str | NoteVerifier,
    *,
    check: SignatureCheck = cryptography_check,
    policy: WitnessPolicy | None = None,
    receipts: bool = False,
) -> tuple[Any, EvidenceReport]:
    """``POST /v1/evidence`` for ``contents`` (sha256 hex), verified; returns the bundle as
    parsed JSON (write it with ``ledger.core.canonical.canonicalize``) and its report. With
    ``receipts``, the bundle must carry each entry's COSE receipt (each verified)."""
    contents = list(contents)
    bundle = client.evidence(question.buyer, question.use, contents, question.at, receipts=receipts)
    report = verify_bundle(bundle, log_key, check=check, policy=policy)
    check_answers(report, question.buyer, question.use, question.at_posix, contents)
    _check_receipts_given(report, receipts)
    return bundle, report


def _check_receipts_given(report: EvidenceReport, asked: bool) -> None:
    """Asked for receipts, a bundle without them fails ``receipt_missing``: the server ignored
    the request (a bundle with them had each one verified by ``verify_bundle``)."""
    if asked and report.bundle is not None and report.bundle.receipts is None:
        report.fail(
            RECEIPT_MISSING,
            "receipts were asked for and the server's bundle carries none: is it a log that "
            "issues COSE receipts (GET /.well-known/scitt-keys)?",
        )
