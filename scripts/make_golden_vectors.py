"""Build the golden vectors of docs/FORMAT.md §7 and write tests/vectors/golden.json.

Everything is deterministic: keys come from fixed 32-byte seeds, statements carry fixed issued_at
values and nonces, and Ed25519 signatures are deterministic (RFC 8032). The vectors are built with
the pure core only (builders, Leaf, merkle, checkpoint, the licence map), so a change to any byte
the core produces shows up as a diff of golden.json.

Usage::

    python scripts/make_golden_vectors.py           # (re)write tests/vectors/golden.json
    python scripts/make_golden_vectors.py --check   # exit 1 if the file differs from the code
    python scripts/make_golden_vectors.py --update-doc  # also refill docs/FORMAT.md §7 blocks
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a plain script from anywhere
    sys.path.insert(0, str(ROOT))

from ledger.core import builders, merkle  # noqa: E402
from ledger.core.checkpoint import sign_checkpoint  # noqa: E402
from ledger.core.iso import ISO_3166_ALPHA2, ISO_4217  # noqa: E402
from ledger.core.keys import SigningKey  # noqa: E402
from ledger.core.leaf import (  # noqa: E402
    GENESIS_PREV_HASH,
    LEAF_MAGIC,
    Leaf,
    format_log_time,
    leaf_hash,
    micros_from_datetime,
)
from ledger.core.licmap import derive_map, map_checkpoint  # noqa: E402
from ledger.core.note import NoteSigner  # noqa: E402
from ledger.core.statements import (  # noqa: E402
    STATEMENT_HASH_CONTEXT,
    STATEMENT_SIGNING_CONTEXT,
    SignedStatement,
)

GOLDEN_PATH = ROOT / "tests" / "vectors" / "golden.json"
FORMAT_PATH = ROOT / "docs" / "FORMAT.md"

ORIGIN = "ledger.example/log"
SEEDS = {"creator": 0x01, "buyer": 0x02, "log": 0x03, "creator_new": 0x04}
#: issued_at of entry n is T0 + n minutes; the log integrates it 1.25 s later.
T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
INTEGRATION_DELAY = timedelta(seconds=1, microseconds=250_000)
GRANT_ID = "6f1d2c3b-4a59-4e68-8a7b-9c0d1e2f3a4b"
INCLUSION = (2, 7)  # (seq, tree_size)
CONSISTENCY = (3, 7)  # (first, second)


def seeded(name: str) -> SigningKey:
    return SigningKey.from_seed(bytes([SEEDS[name]]) * 32)


def nonce(n: int) -> str:
    return f"{n:032x}"


def issued(seq: int) -> datetime:
    return T0 + timedelta(minutes=seq)


def _content_hash(label: bytes) -> str:
    return hashlib.sha256(label).hexdigest()


def build_statements() -> list[SignedStatement]:
    """The seven statements of the worked example, in log order."""
    creator, buyer, new = seeded("creator"), seeded("buyer"), seeded("creator_new")
    items = [
        builders.Item(
            sha256=_content_hash(b"example clip 1"),
            bytes=10_485_760,
            duration_s=60,
            media_type="video/mp4",
            c2pa_hash=_content_hash(b"example clip 1 c2pa manifest"),
        ),
        builders.Item(
            sha256=_content_hash(b"example clip 2"),
            bytes=52_428_800,
            duration_s=300,
            media_type="video/quicktime",
        ),
    ]
    terms = builders.TermsSpec(
        uses=("ai_training", "ai_inference"),
        start=datetime(2026, 3, 1, tzinfo=UTC),
        end=datetime(2027, 3, 1, tzinfo=UTC),
        prohibitions=("replicate_likeness", "replicate_voice"),
        exclusive=False,
        territory=("GB", "US"),
        revocable=True,
        notice_days=30,
        amount="2.50",
        currency="USD",
        unit="per_minute",
        attribution=True,
        sublicensing=False,
    )
    register_creator = builders.party_register(
        creator,
        "Ada Films",
        identity_commitment=_content_hash(b"example identity commitment"),
        issued_at=issued(0),
        nonce=nonce(1),
    )
    register_buyer = builders.party_register(
        buyer, "Example AI Lab", issued_at=issued(1), nonce=nonce(2)
    )
    grant = builders.grant(
        creator, buyer.key_id, GRANT_ID, items, terms, issued_at=issued(2), nonce=nonce(3)
    )
    accept = builders.grant_accept(buyer, grant.statement_hash, issued_at=issued(3), nonce=nonce(4))
    revoke = builders.grant_revoke(
        creator,
        grant.statement_hash,
        datetime(2026, 4, 1, tzinfo=UTC),
        issued_at=issued(4),
        nonce=nonce(5),
    )
    rotate = builders.key_rotate(creator, new, issued_at=issued(5), nonce=nonce(6))
    # The rotation ended the old key, so the party's one valid key revokes itself.
    key_revoke = builders.key_revoke(
        new, new.key_id, "compromised", issued_at=issued(6), nonce=nonce(7)
    )
    return [register_creator, register_buyer, grant, accept, revoke, rotate, key_revoke]


def _key_vectors(key: SigningKey, seed: int) -> dict[str, str]:
    return {
        "seed_hex": (bytes([seed]) * 32).hex(),
        "public_key_hex": key.public_key.raw.hex(),
        "public_key_b64": key.public_key.b64,
        "key_id": key.key_id,
    }


def _entry_vectors(leaf: Leaf, data: bytes) -> dict[str, Any]:
    signed = leaf.signed
    return {
        "seq": leaf.seq,
        "type": signed.type_name,
        "integrated_at": leaf.integrated_at,
        "integrated_at_text": format_log_time(leaf.integrated_at),
        "prev_leaf_hash": leaf.prev_hash.hex(),
        "statement_json": signed.statement_bytes.decode("utf-8"),
        "statement_length": len(signed.statement_bytes),
        "statement_hash": signed.statement_hash.hex(),
        "signing_message_hex": (STATEMENT_SIGNING_CONTEXT + signed.statement_bytes).hex(),
        "signers": [s.public_key.key_id for s in signed.signatures],
        "signatures": [s.to_json()["signature"] for s in signed.signatures],
        "envelope": signed.to_json(),
        "leaf_hex": data.hex(),
        "leaf_length": len(data),
        "leaf_hash": leaf_hash(data).hex(),
    }


def build() -> dict[str, Any]:
    """Every golden vector, as the JSON-ready dict written to golden.json."""
    leaves: list[bytes] = []
    parsed: list[Leaf] = []
    entries: list[dict[str, Any]] = []
    prev = GENESIS_PREV_HASH
    for seq, signed in enumerate(build_statements()):
        integrated_at = micros_from_datetime(issued(seq) + INTEGRATION_DELAY)
        leaf = Leaf(seq, integrated_at, prev, signed)
        data = leaf.to_bytes()
        leaves.append(data)
        parsed.append(leaf)
        entries.append(_entry_vectors(leaf, data))
        prev = leaf_hash(data)

    store = merkle.MemoryHashStore()
    store.append_leaf_hashes([leaf_hash(d) for d in leaves])
    roots = {str(n): merkle.tree_hash(n, store).hex() for n in range(len(leaves) + 1)}
    seq, size = INCLUSION
    first, second = CONSISTENCY

    log_key = seeded("log")
    signer = NoteSigner.from_private_key(ORIGIN, log_key.private_key)
    map_root = derive_map(parsed).root  # the licence map of the log (FORMAT §14.8)
    checkpoint = map_checkpoint(ORIGIN, len(leaves), merkle.tree_hash(len(leaves), store), map_root)
    keys = {name: _key_vectors(seeded(name), seed) for name, seed in SEEDS.items()}
    keys["log"].update(
        note_key_name=ORIGIN,
        note_key_id=f"{signer.key_id:08x}",
        verifier_key=signer.verifier().to_vkey(),
    )
    return {
        "description": "Consent Ledger v1 golden vectors; see docs/FORMAT.md section 7. "
        "Generated by scripts/make_golden_vectors.py: do not edit by hand.",
        "contexts": {
            "statement_signing": STATEMENT_SIGNING_CONTEXT.hex(),
            "statement_hash": STATEMENT_HASH_CONTEXT.hex(),
            "leaf_magic": LEAF_MAGIC.hex(),
            "merkle_leaf_prefix": merkle.LEAF_PREFIX.hex(),
            "merkle_node_prefix": merkle.NODE_PREFIX.hex(),
        },
        "log_origin": ORIGIN,
        "keys": keys,
        "entries": entries,
        "roots": roots,
        "inclusion_proof": {
            "seq": seq,
            "tree_size": size,
            "hashes": [h.hex() for h in merkle.inclusion_proof(size, seq, store)],
        },
        "consistency_proof": {
            "first": first,
            "second": second,
            "hashes": [h.hex() for h in merkle.consistency_proof(first, second, store)],
        },
        "map_root": map_root.hex(),
        "checkpoint_body": checkpoint.body(),
        "checkpoint_note": sign_checkpoint(checkpoint, signer),
        "iso_3166_alpha2": sorted(ISO_3166_ALPHA2),
        "iso_4217": sorted(ISO_4217),
    }


def render(vectors: dict[str, Any]) -> str:
    return json.dumps(vectors, indent=2, ensure_ascii=False) + "\n"


# --- docs/FORMAT.md: the worked examples are the golden values, laid out for reading ----------

_DOC_BLOCK_RE = re.compile(r"(<!-- vector: (\S+) -->\n```[a-z]*\n)(.*?)(^```$)", re.S | re.M)
_HEX_RE = re.compile(r"[0-9a-f]+")


def _golden_value(vectors: dict[str, Any], name: str) -> Any:
    value: Any = vectors
    for part in name.split("."):
        value = value[int(part)] if isinstance(value, list) else value[part]
    return value


def _wrap(hex_text: str, width: int = 64) -> str:
    return "\n".join(hex_text[i : i + width] for i in range(0, len(hex_text), width))


def _leaf_block(hex_text: str) -> str:
    """One §4.1 field per line; the statement and each signature wrapped at 32 bytes."""
    data = bytes.fromhex(hex_text)
    n = int.from_bytes(data[71:75], "big")
    fields = [data[:23], data[23:31], data[31:39], data[39:71], data[71:75]]
    lines = [f.hex() for f in fields] + [
        _wrap(data[75 : 75 + n].hex()),
        data[75 + n : 76 + n].hex(),
    ]
    for offset in range(76 + n, len(data), 96):
        lines += [data[offset : offset + 32].hex(), _wrap(data[offset + 32 : offset + 96].hex())]
    return "\n".join(lines)


def doc_block(name: str, value: Any) -> str:
    """How docs/FORMAT.md shows the vector ``name`` (tests/core/test_golden.py reads it back)."""
    if name.endswith("leaf_hex"):
        return _leaf_block(value)
    if name.endswith("signing_message_hex"):  # the context string on a line of its own
        cut = 2 * len(STATEMENT_SIGNING_CONTEXT)
        return f"{value[:cut]}\n{_wrap(value[cut:])}"
    if isinstance(value, dict):
        return json.dumps(value, indent=2, ensure_ascii=False)
    if isinstance(value, list):
        per_line = 20 if name.startswith("iso_") else 1
        return "\n".join(" ".join(value[i : i + per_line]) for i in range(0, len(value), per_line))
    if isinstance(value, int):
        return str(value)
    return _wrap(value) if _HEX_RE.fullmatch(value) else value.rstrip("\n")


def update_doc(doc: str, vectors: dict[str, Any]) -> str:
    """Refill every ``<!-- vector: NAME -->`` block of the document with the golden value."""

    def fill(m: re.Match[str]) -> str:
        return (
            m.group(1)
            + doc_block(m.group(2), _golden_value(vectors, m.group(2)))
            + "\n"
            + m.group(4)
        )

    return _DOC_BLOCK_RE.sub(fill, doc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if golden.json differs from the code"
    )
    parser.add_argument(
        "--update-doc",
        action="store_true",
        help="also rewrite the worked examples of docs/FORMAT.md from the vectors",
    )
    args = parser.parse_args(argv)
    vectors = build()
    text = render(vectors)
    if args.check:
        current = GOLDEN_PATH.read_text(encoding="utf-8") if GOLDEN_PATH.exists() else None
        if current != text:
            print(f"{GOLDEN_PATH} is out of date: the core now produces different bytes")
            return 1
        print(f"{GOLDEN_PATH} is up to date")
        return 0
    GOLDEN_PATH.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {GOLDEN_PATH}")
    if args.update_doc:
        FORMAT_PATH.write_text(update_doc(FORMAT_PATH.read_text("utf-8"), vectors), "utf-8")
        print(f"updated the worked examples in {FORMAT_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
