"""Smoke-test a running server: wait for it, append a statement, verify the signed checkpoint.

Usage: python scripts/smoke_serve.py http://127.0.0.1:8000 [--timeout 300] [--wait-only]
Needs only the runtime packages (urllib, no requests). Exit 0 on success.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from typing import Any


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return bytes(resp.read())


def _post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return dict(json.loads(resp.read()))


def wait_ready(base: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            _get(base + "/readyz")
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                raise SystemExit(f"server at {base} not ready after {timeout:.0f}s") from None
            time.sleep(0.5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("base")
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument(
        "--wait-only",
        action="store_true",
        help="only wait until the server answers (the serve command installs the package "
        "meanwhile; a Python started before that install cannot import it)",
    )
    args = parser.parse_args()
    base = args.base.rstrip("/")
    wait_ready(base, args.timeout)
    if args.wait_only:
        return 0
    from ledger.core import builders, merkle
    from ledger.core.checkpoint import open_checkpoint
    from ledger.core.keys import SigningKey
    from ledger.core.note import NoteVerifier

    signed = builders.party_register(SigningKey.generate(), "Smoke Test")
    appended = _post(base + "/v1/entries", signed.to_json())
    info = json.loads(_get(base + "/v1/log"))
    checkpoint, _ = open_checkpoint(
        _get(base + "/v1/checkpoint"), NoteVerifier.from_vkey(info["verifier_key"])
    )
    proof = json.loads(
        _get(f"{base}/v1/proofs/inclusion?seq={appended['seq']}&tree_size={checkpoint.tree_size}")
    )
    merkle.verify_inclusion(
        appended["seq"],
        checkpoint.tree_size,
        bytes.fromhex(appended["leaf_hash"]),
        [bytes.fromhex(h) for h in proof["hashes"]],
        checkpoint.root_hash,
    )
    print(
        f"smoke ok: entry {appended['seq']} included in signed tree of size {checkpoint.tree_size}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
