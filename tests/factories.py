"""Deterministic test data shared by every test layer."""

from __future__ import annotations

from datetime import UTC, datetime

from ledger.core.keys import SigningKey

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def seeded_key(n: int) -> SigningKey:
    """A deterministic key: seed = 32 bytes of value n (for golden data and readable tests)."""
    return SigningKey.from_seed(bytes([n]) * 32)
