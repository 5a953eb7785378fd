"""The log's own Ed25519 signing key: a PKCS8 PEM file (mode 0600), never in the database."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from ledger.core.keys import SigningKey


def load_or_create_log_key(path: Path) -> SigningKey:
    """Load the key at ``path``; on first start generate it.

    Creation is atomic and race-free across processes: the key is written to a private temporary
    file and hard-linked into place, so a concurrent starter either wins or loads the winner's key.
    """
    path = Path(path)
    if path.exists():
        return SigningKey.load(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = SigningKey.generate()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".log-key-")  # mkstemp uses mode 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(key.to_pem())
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        os.unlink(tmp)
    return SigningKey.load(path)
