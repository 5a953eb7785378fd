"""Audit a whole Consent Ledger log; the same as ``ledger audit`` (see ``ledger audit --help``).

    python scripts/audit.py http://127.0.0.1:8000 --log-key VKEY          # from the server's API
    python scripts/audit.py --database postgresql+psycopg://... --log-key VKEY   # operators
    python scripts/audit.py URL --log-key VKEY --follow --interval 30      # keep watching

Exit codes: 0 ok, 1 verification failed (the first bad seq and what is wrong are printed),
2 usage error, 3 server, network or database error.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ledger.cli import main


def run(argv: list[str]) -> int:
    if argv and not argv[0].startswith("-"):  # the server URL, positional here
        argv = ["--url", argv[0], *argv[1:]]
    return main(["audit", *argv])


if __name__ == "__main__":
    raise SystemExit(run(sys.argv[1:]))
