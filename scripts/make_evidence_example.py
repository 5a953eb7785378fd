"""Build the worked example of docs/FORMAT.md §13: an evidence bundle over the §7 example log.

The seven statements of §7 (``make_golden_vectors.build_statements``) are integrated at the §7 log
times into an in-memory log signed with the §7 log key; the bundle answers "were example clips 1
and 2, and a third clip, licensed to the buyer for ai_training at 2026-03-15T00:00:00Z?".
Everything is deterministic, so the bytes are fixed.

    python scripts/make_evidence_example.py               # print the bundle
    python scripts/make_evidence_example.py --update-doc  # refill the blocks in docs/FORMAT.md
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "scripts"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import make_golden_vectors as golden  # noqa: E402

from ledger.core.evidence import EvidenceQuery  # noqa: E402
from ledger.core.leaf import micros_from_datetime  # noqa: E402
from ledger.core.memlog import MemoryLog  # noqa: E402
from ledger.core.note import NoteSigner  # noqa: E402

FORMAT_PATH = ROOT / "docs" / "FORMAT.md"
AT = datetime(2026, 3, 15, tzinfo=UTC)
UNGRANTED = hashlib.sha256(b"example clip 3").hexdigest()


def example_log() -> MemoryLog:
    signer = NoteSigner.from_private_key(golden.ORIGIN, golden.seeded("log").private_key)
    log = MemoryLog(signer)
    for seq, signed in enumerate(golden.build_statements()):
        log.add(signed, golden.issued(seq) + golden.INTEGRATION_DELAY)
    return log


def build(*, receipts: bool = False) -> tuple[str, dict[str, Any]]:
    """(the log's verifier key, the bundle as JSON); with ``receipts``, the same bundle carrying
    each entry's COSE receipt (FORMAT §13.2)."""
    log = example_log()
    clips = [golden._content_hash(b"example clip 1"), golden._content_hash(b"example clip 2")]
    query = EvidenceQuery(golden.seeded("buyer").key_id, "ai_training", micros_from_datetime(AT))
    return log.verifier_key, log.bundle(query, [*clips, UNGRANTED], receipts=receipts).to_json()


def blocks() -> dict[str, str]:
    vkey, bundle = build()
    text = json.dumps(bundle, indent=2, ensure_ascii=False)
    receipts = build(receipts=True)[1]["receipts"]
    return {
        "log_key": vkey + "\n",
        "bundle": text + "\n",
        "receipts": json.dumps(receipts, indent=2, ensure_ascii=False) + "\n",
    }


TAG = "evidence-example"


def _block_re(tag: str) -> re.Pattern[str]:
    """The fenced blocks after ``<!-- TAG: NAME -->`` markers (also make_map_example.py's)."""
    return re.compile(rf"(<!-- {tag}: (\S+) -->\n```[a-z]*\n)(.*?)(^```$)", re.S | re.M)


def doc_blocks(doc: str, tag: str = TAG) -> dict[str, str]:
    return {m.group(2): m.group(3) for m in _block_re(tag).finditer(doc)}


def refill(doc: str, fresh: dict[str, str], tag: str = TAG) -> str:
    """``doc`` with the blocks of ``tag`` replaced by ``fresh``, block by block."""
    return _block_re(tag).sub(lambda m: m.group(1) + fresh[m.group(2)] + m.group(4), doc)


def block_script(
    blocks: Callable[[], dict[str, str]], tag: str, description: str, argv: list[str] | None
) -> int:
    """The ``main`` of a script that builds the blocks of ``tag`` in docs/FORMAT.md: prints them,
    or with ``--update-doc`` refills them in place."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--update-doc", action="store_true")
    args = parser.parse_args(argv)
    if args.update_doc:
        doc = FORMAT_PATH.read_text(encoding="utf-8")
        FORMAT_PATH.write_text(refill(doc, blocks(), tag), "utf-8")
    else:
        for name, text in blocks().items():
            sys.stdout.write(f"--- {name}\n{text}")
    return 0


def update_doc(doc: str) -> str:
    return refill(doc, blocks())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update-doc", action="store_true")
    args = parser.parse_args(argv)
    if args.update_doc:
        FORMAT_PATH.write_text(update_doc(FORMAT_PATH.read_text(encoding="utf-8")), "utf-8")
    else:
        sys.stdout.write(blocks()["bundle"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
