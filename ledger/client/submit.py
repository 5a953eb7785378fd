"""Submit signed statements and check that the log really holds them (no printing here).

Statements are signed by the caller (``ledger.core.builders``), posted one at a time or through the
batch endpoint, and then *verified* against the client's trusted state (``ledger.client.trust``):
the latest checkpoint is signed by the trusted log key, consistent with the last one this machine
saw, and includes each new entry, whose leaf holds exactly the bytes and signatures that were
signed. Only then is the new checkpoint saved.

``submit`` returns a ``SubmitResult``: what was accepted (``Submitted``, verified), what the log
refused (``Refused``, from a batch), and the checkpoint they were verified in. A refused single
statement raises ``ServerRefused``, as the HTTP client does.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ledger.client.http import ServerError
from ledger.client.trust import TrustedLog, VerifiedCheckpoint
from ledger.core.errors import EntryMismatch, TrustError
from ledger.core.statements import SignedStatement

__all__ = [
    "BATCH_BYTES",
    "BATCH_STATEMENTS",
    "Refused",
    "SubmitResult",
    "Submitted",
    "submit",
    "verify_submitted",
]

#: Batches stay well under the server's default limits (1,000 statements, 32 MiB).
BATCH_STATEMENTS = 500
BATCH_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class Submitted:
    """A statement the log accepted: where it is, and the tree size it was committed with."""

    signed: SignedStatement
    seq: int
    tree_size: int


@dataclass(frozen=True)
class Refused:
    """A statement of a batch that the log refused, with the problem's ``code`` and ``detail``."""

    signed: SignedStatement
    code: str
    detail: str

    @property
    def message(self) -> str:
        return f"{self.signed.type_name} refused: {self.code}: {self.detail}"


@dataclass
class SubmitResult:
    """What ``submit`` did: ``accepted`` (each verified in ``checkpoint``) and ``refused``."""

    accepted: list[Submitted] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)
    checkpoint: VerifiedCheckpoint | None = None


def submit(log: TrustedLog, statements: Sequence[SignedStatement]) -> SubmitResult:
    """Post ``statements`` and verify that the accepted ones are in the log.

    One statement goes to ``POST /v1/entries`` (a refusal raises ``ServerRefused``), more go in
    batches (refusals are returned in ``refused``). Raises VerificationError subclasses when the
    log does not hold what it acknowledged, ServerError when it cannot be reached.
    """
    result = SubmitResult()
    log.identify()  # a --log-key that contradicts the pinned key is refused before posting
    if len(statements) == 1:
        ack = log.client.append(statements[0].to_json())
        result.accepted.append(_submitted(statements[0], ack))
    else:
        _post_batches(log, statements, result)
    if result.accepted:
        result.checkpoint = verify_submitted(log, result.accepted)
    return result


def _submitted(signed: SignedStatement, ack: dict[str, Any]) -> Submitted:
    if ack.get("statement_hash") != signed.statement_hash.hex():
        raise EntryMismatch("the log acknowledged a statement hash that is not the one you signed")
    seq, size = ack.get("seq"), ack.get("tree_size")
    if not isinstance(seq, int) or not isinstance(size, int):
        raise ServerError("the log's acknowledgement has no seq or tree_size")
    return Submitted(signed, seq, size)


def _post_batches(
    log: TrustedLog, statements: Sequence[SignedStatement], result: SubmitResult
) -> None:
    for batch in _batches(statements):
        answer = log.client.append_batch([s.to_json() for s in batch])
        results = answer.get("results")
        if not isinstance(results, list) or len(results) != len(batch):
            raise ServerError("the batch answer does not hold one result per statement")
        for signed, item in zip(batch, results, strict=True):
            if not isinstance(item, dict):
                raise ServerError("the batch answer holds a result that is not an object")
            if item.get("status") == 201:
                ack = {**item, "tree_size": answer.get("tree_size")}
                result.accepted.append(_submitted(signed, ack))
            else:
                error = item.get("error") or {}
                result.refused.append(
                    Refused(signed, str(error.get("code")), str(error.get("detail")))
                )


def _batches(statements: Sequence[SignedStatement]) -> list[list[SignedStatement]]:
    out: list[list[SignedStatement]] = [[]]
    size = 0
    for s in statements:
        n = len(json.dumps(s.to_json()))
        if out[-1] and (len(out[-1]) >= BATCH_STATEMENTS or size + n > BATCH_BYTES):
            out.append([])
            size = 0
        out[-1].append(s)
        size += n
    return out


def verify_submitted(log: TrustedLog, accepted: Sequence[Submitted]) -> VerifiedCheckpoint:
    """Check each accepted entry against a fresh, consistent checkpoint, then save it.

    RFC 9162 §2.1.3.2 for each entry (its leaf fetched and compared with what was signed), after
    the checkpoint's signature and consistency with the saved one (``TrustedLog.refresh``).
    """
    checkpoint = log.refresh()
    acked = max(s.tree_size for s in accepted)
    if checkpoint.tree_size < acked:
        raise TrustError(
            f"the log acknowledged a tree of {acked} entries but its checkpoint has only"
            f" {checkpoint.tree_size}"
        )
    for s in accepted:
        leaf = log.fetch_entry(s.seq, s.signed)
        log.verify_included(s.seq, leaf, checkpoint)
    log.save(checkpoint)
    return checkpoint
