"""tests/vectors/tlog.json is what scripts/make_tlog_vectors.py makes, and docs/FORMAT.md §9-§12
show exactly its values; the cosignature example checks with cryptography alone."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

REPO = Path(__file__).resolve().parent.parent.parent
VECTORS: dict[str, Any] = json.loads((REPO / "tests" / "vectors" / "tlog.json").read_text())
GEN = VECTORS["generated"]
DOC = (REPO / "docs" / "FORMAT.md").read_text(encoding="utf-8")
_BLOCK_RE = re.compile(r"<!-- tlog-vector: (\S+) -->\n```[a-z]*\n(.*?)^```$", re.S | re.M)


def test_the_script_reproduces_the_vectors() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/make_tlog_vectors.py", "--check"],
        cwd=REPO,
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_every_format_md_example_equals_its_vector() -> None:
    blocks = _BLOCK_RE.findall(DOC)
    assert {name for name, _ in blocks} == {
        "tile_hex",
        "entry_bundle_hex",
        "checkpoint_note",
        "witness_vkey",
        "cosigned_message",
        "cosigned_note",
        "policy",
        "proof_file",
    }
    for name, block in blocks:
        value = GEN[name] if GEN[name].endswith("\n") else GEN[name] + "\n"
        assert block == value, f"FORMAT.md example {name!r} is stale"


def test_the_cosignature_example_checks_from_the_document_alone() -> None:
    # §10.1: vkey = name + key id + base64(0x04 || key); §10.2: blob = id || u64 t || signature.
    name, key_id_hex, material = GEN["witness_vkey"].split("+", 2)
    raw = base64.b64decode(material)
    assert raw[0] == 0x04
    digest = hashlib.sha256(name.encode() + b"\n" + raw).digest()
    assert digest[:4].hex() == key_id_hex
    line = GEN["cosigned_note"].rstrip("\n").split("\n")[-1]
    blob = base64.b64decode(line.split(" ")[2])
    assert blob[:4].hex() == key_id_hex
    t = int.from_bytes(blob[4:12], "big")
    body = GEN["checkpoint_note"].split("\n\n")[0] + "\n"
    message = f"cosignature/v1\ntime {t}\n{body}".encode()
    assert message.decode() == GEN["cosigned_message"]
    Ed25519PublicKey.from_public_bytes(raw[1:]).verify(blob[12:], message)


def test_the_published_path_example_is_in_the_document() -> None:
    assert VECTORS["published"]["spec_tiles"]["index_1234067_path"] in DOC
