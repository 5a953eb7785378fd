"""Verify an evidence bundle offline, with the pure core only (no web or database library).

    python scripts/verify_evidence.py BUNDLE --log-key 'origin+1234abcd+AQ...' [--policy FILE]

Checks the checkpoint signature under the log key, every inclusion proof, every statement signature
and chain link, the licence-map proofs that no entry the verdicts rest on was left out, and
recomputes every verdict from the entries (docs/FORMAT.md §13). Prints what it
checked, the verdicts and each failure. Exit 0 only when every check holds (a "not licensed"
verdict is a result, not a failure), 1 when a check fails, 2 for a usage error. Uses PyNaCl for
signatures when it is installed (``--no-accel``: ``cryptography`` only). ``--policy``: a witness
policy whose quorum the checkpoint's cosignatures must meet; each witness's time is printed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ledger.core.errors import LedgerError
from ledger.core.evidence import gc_paused, load_bundle, summary_lines, verify_bundle
from ledger.core.policy import parse_policy
from ledger.sigverify import signature_check


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--log-key", required=True, help="the log's verifier key")
    parser.add_argument("--no-accel", action="store_true", help="cryptography only")
    parser.add_argument("--policy", type=Path, help="a witness policy (c2sp.org/tlog-policy)")
    args = parser.parse_args(argv)
    try:
        data = args.bundle.read_bytes()
        policy = None if args.policy is None else parse_policy(args.policy.read_bytes())
    except OSError as e:
        print(f"verify_evidence: cannot read {e.filename}: {e.strerror}", file=sys.stderr)
        return 2
    except LedgerError as e:
        print(f"verify_evidence: {args.policy}: {e.message}", file=sys.stderr)
        return 2
    try:
        with gc_paused():  # a large bundle is many small objects, all kept (see verify_bundle)
            bundle = load_bundle(data)
    except LedgerError as e:
        print(f"result     FAILED: bundle_malformed: {e.message}")
        return 1
    name, check = signature_check(accelerate=not args.no_accel)
    report = verify_bundle(bundle, args.log_key, check=check, policy=policy)
    print(f"signatures {name}")
    for line in summary_lines(report):
        print(line)
    return 0 if report else 1


if __name__ == "__main__":
    sys.exit(main())
