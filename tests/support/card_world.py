"""A small, deterministic dataset for the dataset-card tests and docs/CARDS.md's worked example.

Two creators license clips to one buyer through an in-memory log (``ledger.core.memlog``; seeded
keys, fixed times and nonces, so the bundle is the same bytes on every run):

- "Alice Films" grants ``a.mp4`` (60 s) and ``b.mp4`` (90 s) under terms 1, accepted;
- "Bob Footage" grants ``c.mp4`` (30 s) under terms 2 (another price), accepted;
- "Alice Films" grants ``d.mp4`` (45 s) under terms 1, never accepted: ``not_accepted``;
- ``e.mp4`` has no grant: ``no_grant``.

``EXPECTED`` is what the test knows about each clip, written down independently of the card code.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ledger.core import builders
from ledger.core.evidence import EvidenceQuery
from ledger.core.leaf import micros_from_datetime
from ledger.core.memlog import MemoryLog
from ledger.core.note import NoteSigner
from tests.support.factories import seeded_key

ALICE, BOB, BUYER, LOG_KEY = (seeded_key(n) for n in (21, 22, 23, 24))
ORIGIN = "cards.example/log"
T0 = datetime(2026, 6, 1, 9, 0, 0, tzinfo=UTC)
AT = T0 + timedelta(days=10)
TERMS_1 = builders.TermsSpec(uses=("ai_training", "data_mining"), amount="2.50")
TERMS_2 = builders.TermsSpec(uses=("ai_training",), amount="4.00", attribution=True)


@dataclass(frozen=True)
class Clip:
    name: str
    sha256: str
    bytes: int
    duration_s: int
    licensed: bool
    reason: str
    creator: str | None  # pseudonym
    grant_id: str | None


def _sha(n: int) -> str:
    return f"{n:02x}" * 32


GRANT_A, GRANT_C, GRANT_D = (str(uuid.UUID(int=n)) for n in (101, 102, 103))
EXPECTED = (
    Clip("clips/a.mp4", _sha(0xA1), 6_000_000, 60, True, "licensed", "Alice Films", GRANT_A),
    Clip("clips/b.mp4", _sha(0xB1), 9_000_000, 90, True, "licensed", "Alice Films", GRANT_A),
    Clip("clips/c.mp4", _sha(0xC1), 3_000_000, 30, True, "licensed", "Bob Footage", GRANT_C),
    Clip("clips/d.mp4", _sha(0xD1), 4_500_000, 45, False, "not_accepted", "Alice Films", GRANT_D),
    Clip("clips/e.mp4", _sha(0xE1), 1_234, 12, False, "no_grant", None, None),
)


def _item(clip: Clip) -> builders.Item:
    return builders.Item(clip.sha256, clip.bytes, clip.duration_s)


def build_log() -> MemoryLog:
    log = MemoryLog(NoteSigner.from_private_key(ORIGIN, LOG_KEY.private_key))
    at = iter(T0 + timedelta(seconds=n) for n in range(100))
    nonce = iter(f"{n:032x}" for n in range(1, 100))
    for key, name in ((ALICE, "Alice Films"), (BOB, "Bob Footage"), (BUYER, "Acme AI")):
        log.add(builders.party_register(key, name, issued_at=T0, nonce=next(nonce)), next(at))
    a, b, c, d, _ = EXPECTED
    grants = (
        (ALICE, GRANT_A, [a, b], TERMS_1, True),
        (BOB, GRANT_C, [c], TERMS_2, True),
        (ALICE, GRANT_D, [d], TERMS_1, False),
    )
    for creator, grant_id, clips, terms, accepted in grants:
        g = builders.grant(
            creator, BUYER.key_id, grant_id, [_item(x) for x in clips], terms,
            issued_at=T0, nonce=next(nonce),
        )  # fmt: skip
        log.add(g, next(at))
        if accepted:
            accept = builders.grant_accept(BUYER, g.statement_hash, issued_at=T0, nonce=next(nonce))
            log.add(accept, next(at))
    return log


def bundle_bytes() -> bytes:
    """The complete evidence bundle for every clip, as ``ledger prove`` writes it."""
    query = EvidenceQuery(BUYER.key_id, "ai_training", micros_from_datetime(AT))
    return build_log().bundle(query, [c.sha256 for c in EXPECTED]).to_bytes()


def log_key() -> str:
    return build_log().verifier_key


def manifest_text() -> str:
    """The buyer's manifest, as ``ledger hash --out dataset.csv`` writes it."""
    rows = [f"{c.sha256},{c.bytes},{c.duration_s},video/mp4,{c.name}" for c in EXPECTED]
    return "sha256,bytes,duration_s,media_type,path\n" + "\n".join(rows) + "\n"


def write_world(folder: Path) -> tuple[Path, Path, str]:
    """The bundle and the manifest in ``folder``; returns their paths and the log key."""
    bundle, manifest = folder / "bundle.json", folder / "dataset.csv"
    bundle.write_bytes(bundle_bytes())
    manifest.write_text(manifest_text(), encoding="utf-8")
    return bundle, manifest, log_key()
