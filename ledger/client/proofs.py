"""Fetching tlog-proof files from a log (client side; the format lives in ``core/tlogproof.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from ledger.client.http import LogClient
from ledger.core.checkpoint import Checkpoint
from ledger.core.errors import MalformedProof
from ledger.core.merkle import leaf_hash, verify_inclusion
from ledger.core.note import NoteVerifier, parse_note
from ledger.core.tlogproof import ProofReport, parse_proof, verify_proof


def write_entry_proof(
    client: LogClient,
    seq: int,
    out: str | Path | BinaryIO,
    log_verifier: NoteVerifier | None = None,
) -> ProofReport | None:
    """Fetch entry ``seq``'s tlog-proof@v1 file and write it to ``out`` (a path or binary file).

    The proof is checked before it is written: with ``log_verifier`` fully (signature and
    inclusion, the report is returned); without, the inclusion proof is checked against the root
    the checkpoint names (a self-consistency check; the report is then None). Raises ServerError
    (network, 4xx/5xx), MalformedProof, ProofError, and the signature errors of ``verify_proof``.
    """
    text = client.entry_proof(seq)
    report = None
    if log_verifier is not None:
        report = verify_proof(text, log_verifier)
    else:
        proof = parse_proof(text)
        if proof.extra is None:
            raise MalformedProof("the log's proof file carries no leaf")
        cp = Checkpoint.parse(parse_note(proof.note)[0])
        hashes = list(proof.hashes)
        verify_inclusion(proof.index, cp.tree_size, leaf_hash(proof.extra), hashes, cp.root_hash)
    data = text.encode("utf-8")
    if isinstance(out, str | Path):
        Path(out).write_bytes(data)
    else:
        out.write(data)
    return report
