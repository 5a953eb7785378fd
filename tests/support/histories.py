"""Random histories for property tests: a small cast of keys, clips and grant ids, and
``history(actions)``, a ``MemoryLog`` of the actions in order with no state rules, so that some
entries break them on purpose (the licence map and the evidence tests share it)."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

from ledger.core import builders
from ledger.core.keys import SigningKey
from ledger.core.memlog import MemoryLog
from ledger.core.note import NoteSigner
from ledger.core.statements import SignedStatement

KEYS = [SigningKey.from_seed(bytes([0x40 + i]) * 32) for i in range(5)]
CONTENT = [hashlib.sha256(b"clip %d" % i).hexdigest() for i in range(6)]
GRANT_IDS = [str(uuid.UUID(int=(0xABCDEF << 64) + i)) for i in range(3)]
T0 = datetime(2026, 3, 1, tzinfo=UTC)
LOG_SIGNER = NoteSigner.from_private_key("test.example/log", KEYS[0].private_key)

# One action: (kind, a, b, c) with small integers picking keys, items, grants.
ACTIONS = st.lists(
    st.tuples(
        st.sampled_from(["register", "rotate", "revoke_key", "grant", "accept", "revoke"]),
        st.integers(0, len(KEYS) - 1),
        st.integers(0, len(KEYS) - 1),
        st.integers(0, 63),
    ),
    min_size=0,
    max_size=18,
)


def history(actions: list[tuple[str, int, int, int]]) -> MemoryLog:
    """A log of the actions, in order, with no state rules: some entries break them on purpose
    (unregistered signers, accepts of unknown grants, grant ids reused, keys rotated twice)."""
    log = MemoryLog(LOG_SIGNER)
    grants: list[bytes] = []
    for n, (kind, a, b, c) in enumerate(actions):
        at, nonce = T0 + timedelta(minutes=n), f"{n + 1:032x}"
        signer, other = KEYS[a], KEYS[b if b != a else (a + 1) % len(KEYS)]
        signed: SignedStatement
        if kind == "register":
            signed = builders.party_register(signer, f"party {a}", issued_at=at, nonce=nonce)
        elif kind == "rotate":
            signed = builders.key_rotate(signer, other, issued_at=at, nonce=nonce)
        elif kind == "revoke_key":  # b == a: the signer revokes its own key
            target = KEYS[b].key_id
            signed = builders.key_revoke(signer, target, issued_at=at, nonce=nonce)
        elif kind == "grant":
            items = [
                builders.Item(sha256=h, bytes=1, duration_s=1)
                for i, h in enumerate(CONTENT)
                if (c >> i) & 1 or i == c % len(CONTENT)
            ]
            grant_id = GRANT_IDS[c % len(GRANT_IDS)]
            terms = builders.TermsSpec()
            signed = builders.grant(
                signer, other.key_id, grant_id, items, terms, issued_at=at, nonce=nonce
            )
            grants.append(signed.statement_hash)
        else:
            named = grants[c % len(grants)] if grants else hashlib.sha256(b"%d" % c).digest()
            if kind == "accept":
                signed = builders.grant_accept(signer, named, issued_at=at, nonce=nonce)
            else:
                signed = builders.grant_revoke(signer, named, at, issued_at=at, nonce=nonce)
        log.add(signed, at + timedelta(seconds=1))
    return log
