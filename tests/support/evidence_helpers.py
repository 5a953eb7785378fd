"""A small signed log and an honest evidence bundle over it, shared by the verifier tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ledger.core import builders
from ledger.core.evidence import EvidenceQuery, cryptography_check
from ledger.core.leaf import micros_from_datetime
from ledger.core.memlog import MemoryLog
from ledger.core.note import NoteSigner
from ledger.sigverify import nacl_check
from tests.support.factories import seeded_key

C, B, LOG, FOREIGN = (seeded_key(n) for n in (1, 2, 7, 8))
T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
LICENSED, REFUSED, UNKNOWN = "ab" * 32, "cd" * 32, "ef" * 32
ORIGIN = "test.example/log"
CHECKS = [pytest.param(cryptography_check, id="cryptography"), pytest.param(nacl_check, id="nacl")]


def build_log() -> MemoryLog:
    """C and B registered; one grant per clip, accepted; the REFUSED clip's grant expired."""
    log = MemoryLog(NoteSigner.from_private_key(ORIGIN, LOG.private_key))
    log.add(builders.party_register(C, "creator", issued_at=T0), T0)
    log.add(builders.party_register(B, "buyer", issued_at=T0), T0)
    for n, (clip, end) in enumerate(((LICENSED, None), (REFUSED, T0 + timedelta(hours=1)))):
        terms = builders.TermsSpec(start=T0 - timedelta(days=1), end=end)
        items = [builders.Item(clip, 1000, 60)]
        g = builders.grant(C, B.key_id, str(uuid.UUID(int=n + 1)), items, terms, issued_at=T0)
        at = T0 + timedelta(seconds=2 * n + 1)
        log.add(g, at)
        log.add(builders.grant_accept(B, g.statement_hash, issued_at=T0), at)
    return log


LOG_ = build_log()
AT = micros_from_datetime(T0 + timedelta(days=1))
BUNDLE: dict[str, Any] = LOG_.bundle(
    EvidenceQuery(B.key_id, "ai_training", AT), [LICENSED, REFUSED, UNKNOWN, LICENSED]
).to_json()


def build_receipts_log() -> MemoryLog:
    """``build_log`` and one more party, registered after: a bundle about the same question does
    not carry that entry (seq 6), whose receipt is then one for an entry not in the bundle."""
    log = build_log()
    log.add(builders.party_register(seeded_key(3), "other", issued_at=T0), T0 + timedelta(hours=2))
    return log


R_LOG = build_receipts_log()
#: ``BUNDLE``'s question over ``R_LOG``, with a COSE receipt per entry (FORMAT §13.2).
R_BUNDLE: dict[str, Any] = R_LOG.bundle(
    EvidenceQuery(B.key_id, "ai_training", AT),
    [LICENSED, REFUSED, UNKNOWN, LICENSED],
    receipts=True,
).to_json()
