"""Submit signed statements and check that the log really holds them (no printing here).

Statements are signed by the caller (``ledger.core.builders``), posted one at a time or through the
batch endpoint, and then *verified* against the client's trusted state (``ledger.client.trust``):
the latest checkpoint is signed by the trusted log key, consistent with the last one this machine
saw, and includes each new entry, whose leaf holds exactly the bytes and signatures that were
signed. Only then is the new checkpoint saved.

``submit`` returns a ``SubmitResult``: what was accepted (``Submitted``, verified), what the log
refused (``Refused``, from a batch), and the checkpoint they were verified in. A refused single
statement raises ``ServerRefused``, as the HTTP client does.

**Retries are idempotent.** A 503, another 5xx or a lost connection does not say whether the
statement was written: the server may have committed it and lost the answer. So the signed
envelope is kept, encoded once, and the *same bytes* are sent again (``Retry``: a few attempts
with exponential backoff, each announced through ``notify``); never a re-signed statement, whose
new nonce would make it a second entry. The log refuses a statement it already holds with 409
``duplicate_statement`` naming the entry's ``seq`` (for a batch, per item); that is taken as
"accepted at ``seq``", and like every acceptance it is verified: the entry must hold exactly the
signed bytes and signatures and be included in a checkpoint consistent with this machine's.
When the attempts run out the last ServerError is raised: the fate is still unknown, and the
caller should keep the envelopes and send them again later (``ledger.cli`` keeps them in the
state folder: ``PendingStatements``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from ledger.client.http import ServerError, ServerRefused
from ledger.client.trust import TrustedLog, VerifiedCheckpoint
from ledger.core.errors import EntryMismatch, TrustError
from ledger.core.statements import SignedStatement

__all__ = [
    "BATCH_BYTES",
    "BATCH_STATEMENTS",
    "Refused",
    "Retry",
    "SubmitResult",
    "Submitted",
    "is_duplicate",
    "submit",
    "verify_submitted",
]

T = TypeVar("T")
DUPLICATE = "duplicate_statement"

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


@dataclass(frozen=True)
class Retry:
    """How often to send the same bytes again after an answer that leaves their fate unknown:
    ``attempts`` in all, waiting ``first_delay`` seconds, then twice as long each time."""

    attempts: int = 4
    first_delay: float = 0.5

    def run(
        self,
        what: str,
        send: Callable[[], T],
        notify: Callable[[str], None],
        again: str = "the statement may or may not be logged: sending the same signed bytes again",
    ) -> T:
        """``send()``, again after each retryable ServerError until the attempts run out."""
        delay = self.first_delay
        for attempt in range(1, self.attempts + 1):
            try:
                return send()
            except ServerError as e:
                if not e.details.get("retryable") or attempt == self.attempts:
                    raise
                notify(
                    f"{what}: {e.message}; {again} in {delay:g} s"
                    f" (attempt {attempt + 1} of {self.attempts})"
                )
                time.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")


def is_duplicate(problem: Any) -> int | None:
    """The ``seq`` of the entry a 409 ``duplicate_statement`` problem names, else None."""
    if not isinstance(problem, dict) or problem.get("code") != DUPLICATE:
        return None
    seq = problem.get("seq")
    return seq if isinstance(seq, int) and not isinstance(seq, bool) and seq >= 0 else None


def submit(
    log: TrustedLog,
    statements: Sequence[SignedStatement],
    *,
    retry: Retry = Retry(),
    notify: Callable[[str], None] = lambda _: None,
) -> SubmitResult:
    """Post ``statements`` and verify that the accepted ones are in the log.

    One statement goes to ``POST /v1/entries`` (a refusal raises ``ServerRefused``), more go in
    batches (refusals are returned in ``refused``); a statement the log already holds counts as
    accepted (see the module docstring), as do retries after answers that leave the fate unknown.
    Raises VerificationError subclasses when the log does not hold what it acknowledged,
    ServerError when it cannot be reached after ``retry``'s attempts (fate unknown).
    """
    result = SubmitResult()
    log.identify()  # a --log-key that contradicts the pinned key is refused before posting
    if len(statements) == 1:
        result.accepted.append(_append_one(log, statements[0], retry, notify))
    else:
        _post_batches(log, statements, result, retry, notify)
    if result.accepted:  # reads only, saved at the end: safe to do again after a 503
        result.checkpoint = retry.run(
            "verifying what the log acknowledged",
            partial(verify_submitted, log, result.accepted),
            notify,
            again="reading again",
        )
    return result


def _append_one(
    log: TrustedLog, signed: SignedStatement, retry: Retry, notify: Callable[[str], None]
) -> Submitted:
    data = json.dumps(signed.to_json()).encode()  # once: every attempt sends these bytes

    def send() -> dict[str, Any]:
        try:
            return log.client.append(data)
        except ServerRefused as e:
            seq = is_duplicate(e.problem) if e.http_status == 409 else None
            if seq is None:
                raise
            notify(f"the log already holds this {signed.type_name} at seq {seq}: verifying it")
            return _duplicate_ack(signed, seq)

    return _submitted(signed, retry.run("POST /v1/entries", send, notify))


def _duplicate_ack(signed: SignedStatement, seq: int) -> dict[str, Any]:
    """The acknowledgement a statement the log already holds at ``seq`` counts as: the smallest
    tree that includes it, which ``verify_submitted`` then proves it is in."""
    return {"seq": seq, "statement_hash": signed.statement_hash.hex(), "tree_size": seq + 1}


def _submitted(signed: SignedStatement, ack: dict[str, Any]) -> Submitted:
    if ack.get("statement_hash") != signed.statement_hash.hex():
        raise EntryMismatch("the log acknowledged a statement hash that is not the one you signed")
    seq, size = ack.get("seq"), ack.get("tree_size")
    if not isinstance(seq, int) or not isinstance(size, int):
        raise ServerError("the log's acknowledgement has no seq or tree_size")
    return Submitted(signed, seq, size)


def _post_batches(
    log: TrustedLog,
    statements: Sequence[SignedStatement],
    result: SubmitResult,
    retry: Retry,
    notify: Callable[[str], None],
) -> None:
    for batch in _batches(statements):
        data = json.dumps({"statements": [s.to_json() for s in batch]}).encode()
        answer = retry.run("POST /v1/entries/batch", partial(log.client.append_batch, data), notify)
        results = answer.get("results")
        if not isinstance(results, list) or len(results) != len(batch):
            raise ServerError("the batch answer does not hold one result per statement")
        for signed, item in zip(batch, results, strict=True):
            if not isinstance(item, dict):
                raise ServerError("the batch answer holds a result that is not an object")
            seq = is_duplicate(item.get("error")) if item.get("status") == 409 else None
            if item.get("status") == 201:
                ack = {**item, "tree_size": answer.get("tree_size")}
                result.accepted.append(_submitted(signed, ack))
            elif seq is not None:  # logged before (an earlier attempt): verified like the rest
                result.accepted.append(_submitted(signed, _duplicate_ack(signed, seq)))
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
