"""Benchmark the offline verifier: bundle entries verified per second on one core.

Builds an in-memory log (``ledger.core.memlog``) of ``--grants`` one-clip grants, each accepted,
between two registered parties, and an evidence bundle citing every entry; then times
``verify_bundle`` (strict JSON already parsed; checkpoint, leaf hashes, leaf parsing, statement
signatures, inclusion proofs, chain links and the recomputed verdicts all included) once per
signature primitive, and raw Ed25519 verification for reference:

    python scripts/bench_verify.py --grants 5000

Target: >= 10,000 entries/s per core. Everything runs in this one process (single core). Each
figure is the best of ``--repeat`` runs (a shared machine slows some runs down); the CPU time of
that run is printed too (it excludes time spent waiting for a core that another process holds).
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ledger.core import builders
from ledger.core.checkpoint import open_checkpoint
from ledger.core.evidence import EvidenceQuery, cryptography_check, verify_bundle
from ledger.core.evidence.parse import parse_bundle
from ledger.core.keys import SigningKey
from ledger.core.leaf import micros_from_datetime
from ledger.core.licmap import checkpoint_map_root, encode_seqs
from ledger.core.memlog import MemoryLog
from ledger.core.note import NoteSigner, NoteVerifier
from ledger.core.statements import STATEMENT_SIGNING_CONTEXT
from ledger.core.vmap import encode_proof, verify_membership, verify_non_membership
from ledger.sigverify import nacl_available, nacl_check

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def build(grants: int) -> tuple[dict[str, object], str, int]:
    creator, buyer = SigningKey.generate(), SigningKey.generate()
    log = MemoryLog(
        NoteSigner.from_private_key("bench.example/log", SigningKey.generate().private_key)
    )
    log.add(builders.party_register(creator, "creator", issued_at=T0), T0)
    log.add(builders.party_register(buyer, "buyer", issued_at=T0), T0)
    clips = []
    for i in range(grants):
        clip = f"{i:064x}"
        clips.append(clip)
        item = [builders.Item(clip, 10_000_000, 60)]
        g = builders.grant(
            creator, buyer.key_id, str(uuid.uuid4()), item, builders.TermsSpec(), issued_at=T0
        )
        log.add(g, T0 + timedelta(seconds=i))
        log.add(
            builders.grant_accept(buyer, g.statement_hash, issued_at=T0), T0 + timedelta(seconds=i)
        )
    at = micros_from_datetime(T0 + timedelta(days=365))
    bundle = log.bundle(EvidenceQuery(buyer.key_id, "ai_training", at), clips).to_json()
    return bundle, log.verifier_key, len(log.leaves)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grants", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per back end; the best counts")
    args = parser.parse_args(argv)
    bundle, vkey, entries = build(args.grants)
    print(f"bundle: {entries} entries, {args.grants} items")
    checks = [("cryptography", cryptography_check)]
    if nacl_available():
        checks.append(("pynacl", nacl_check))
    else:
        print("pynacl: not installed (pip install PyNaCl to measure it)")
    key = SigningKey.generate()
    message = STATEMENT_SIGNING_CONTEXT + b"x" * 600
    signature = key.sign(b"", message)
    for name, check in checks:
        start = time.perf_counter()
        for _ in range(5000):
            check(key.public_key.raw, message, signature)
        raw = 5000 / (time.perf_counter() - start)
        runs = []
        for _ in range(max(1, args.repeat)):
            start, cpu = time.perf_counter(), time.process_time()
            report = verify_bundle(bundle, vkey, check=check)
            runs.append((time.perf_counter() - start, time.process_time() - cpu))
            assert report, report.failures
        elapsed, cpu = min(runs)
        print(
            f"{name:<13} {entries / elapsed:>9,.0f} entries/s  ({elapsed:.2f} s, CPU {cpu:.2f} s; "
            f"raw Ed25519 {raw:,.0f}/s)  target >= 10,000 entries/s"
        )
    map_proofs(bundle, vkey, args.repeat)
    return 0


def map_proofs(bundle: dict[str, object], vkey: str, repeat: int) -> None:
    """The bundle's map proofs alone (FORMAT §14.5, from their bytes): CPU time per proof, best
    of ``5 * repeat`` rounds (robust to a busy machine)."""
    parsed = parse_bundle(bundle)
    root = checkpoint_map_root(open_checkpoint(parsed.checkpoint, NoteVerifier.from_vkey(vkey))[0])
    members = [(m.key, encode_seqs(m.seqs) if m.seqs else None, m.proof) for m in parsed.map]
    raw = [(key, value, encode_proof(proof)) for key, value, proof in members]
    best = float("inf")
    for _ in range(5 * max(1, repeat)):
        cpu = time.process_time()
        for key, value, proof in raw:
            if value is None:
                verify_non_membership(root, key, proof)
            else:
                verify_membership(root, key, value, proof)
        best = min(best, time.process_time() - cpu)
    print(
        f"map proofs    {len(raw):,} proofs from bytes: {best / len(raw) * 1e6:.1f} us each "
        f"(CPU, best of {5 * max(1, repeat)})"
    )


if __name__ == "__main__":
    sys.exit(main())
