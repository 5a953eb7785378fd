"""Offline proof files (c2sp.org/tlog-proof@v1) for one log entry.

    c2sp.org/tlog-proof@v1
    extra <base64 of the entry's leaf bytes>
    index <seq>
    <base64 inclusion proof hash>     (zero or more, from the leaf's sibling up)
    <blank line>
    <the checkpoint note, verbatim, with the log signature and any cosignatures>

The spec's ``extra`` line is opaque and unauthenticated; this ledger puts the entry's exact leaf
bytes there, so a proof file is self-contained: the verifier hashes the leaf
(SHA-256(0x00 || leaf)) and checks the inclusion proof up to the checkpoint's root, which makes
the leaf authenticated by the log's signature. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from .checkpoint import Checkpoint, open_checkpoint
from .encoding import HASH_SIZE, b64_decode, b64_encode
from .errors import InvalidEncoding, MalformedProof
from .merkle import leaf_hash, verify_inclusion
from .note import NoteVerifier, parse_note
from .policy import WitnessPolicy, verify_cosigned_checkpoint

PROOF_HEADER = "c2sp.org/tlog-proof@v1"
MAX_PROOF_HASHES = 63
_INDEX_RE = re.compile(r"index (0|[1-9][0-9]{0,19})")


@dataclass(frozen=True)
class TlogProof:
    """A parsed proof file: entry index, inclusion proof, checkpoint note, optional extra data."""

    index: int
    hashes: tuple[bytes, ...]
    note: str
    extra: bytes | None = None


def format_proof(index: int, hashes: Sequence[bytes], note: str, extra: bytes | None = None) -> str:
    """The proof file text; raises MalformedProof for a hash that is not 32 bytes."""
    if any(len(h) != HASH_SIZE for h in hashes):
        raise MalformedProof(f"proof hashes are {HASH_SIZE} bytes")
    lines = [PROOF_HEADER]
    if extra is not None:
        lines.append(f"extra {b64_encode(extra)}")
    lines.append(f"index {index}")
    lines.extend(b64_encode(h) for h in hashes)
    return "\n".join(lines) + "\n\n" + note


def parse_proof(text: str | bytes) -> TlogProof:
    """Parse a proof file strictly (tlog-proof §Format); raises MalformedProof.

    The note after the blank line is only split off here; ``verify_proof`` opens it.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise MalformedProof("a proof file is UTF-8 text") from e
    head, sep, note = text.partition("\n\n")
    if not sep or not note:
        raise MalformedProof("a proof file has a blank line before the checkpoint")
    lines = head.split("\n")
    if lines[0] != PROOF_HEADER:
        raise MalformedProof(f"a proof file starts with {PROOF_HEADER}")
    rest = lines[1:]
    extra = None
    if rest and rest[0].startswith("extra "):
        extra = _b64(rest[0][len("extra ") :], None, "extra data")
        rest = rest[1:]
    if not rest or not _INDEX_RE.fullmatch(rest[0]):
        raise MalformedProof("an index line 'index <n>' (no leading zeros) must follow")
    hashes = tuple(_b64(line, HASH_SIZE, "proof hash") for line in rest[1:])
    if len(hashes) > MAX_PROOF_HASHES:
        raise MalformedProof(f"more than {MAX_PROOF_HASHES} proof hashes")
    return TlogProof(int(rest[0][len("index ") :]), hashes, note, extra)


def _b64(text: str, size: int | None, what: str) -> bytes:
    try:
        return b64_decode(text, size=size, what=what)
    except InvalidEncoding as e:
        raise MalformedProof(f"{what} is not canonical base64") from e


@dataclass(frozen=True)
class ProofReport:
    """What a verified proof file establishes."""

    index: int
    leaf: bytes
    checkpoint: Checkpoint
    #: Witness policy name -> cosignature time (POSIX seconds); empty without a policy.
    witness_times: dict[str, int] = field(default_factory=dict)


def verify_proof(
    text: str | bytes,
    log_verifier: NoteVerifier,
    *,
    leaf: bytes | None = None,
    policy: WitnessPolicy | None = None,
) -> ProofReport:
    """Verify a proof file offline and return what it proves; raises on any failure.

    Steps: (1) parse the file; (2) the leaf is ``leaf`` if given, else the ``extra`` data (one of
    the two is required, and if both are present they must be equal); (3) the checkpoint is
    signed by the log (and, with ``policy``, cosigned to its quorum); (4) the inclusion proof
    leads from SHA-256(0x00 || leaf) at ``index`` to the checkpoint's root (RFC 9162 §2.1.3.2).
    Raises MalformedProof, MalformedNote, UnverifiedNote, BadSignature, QuorumNotMet,
    InvalidParameter (index beyond the tree) or ProofError.
    """
    proof = parse_proof(text)
    entry = _leaf_of(proof, leaf)
    parse_note(proof.note)
    if policy is not None:
        cosigned = verify_cosigned_checkpoint(proof.note, policy, log_verifier)
        cp, times = cosigned.checkpoint, cosigned.witness_times
    else:
        cp, times = open_checkpoint(proof.note, log_verifier)[0], {}
    verify_inclusion(proof.index, cp.tree_size, leaf_hash(entry), list(proof.hashes), cp.root_hash)
    return ProofReport(proof.index, entry, cp, times)


def _leaf_of(proof: TlogProof, leaf: bytes | None) -> bytes:
    if leaf is None and proof.extra is None:
        raise MalformedProof("the proof carries no leaf (extra line) and none was given")
    if leaf is not None and proof.extra is not None and leaf != proof.extra:
        raise MalformedProof("the leaf given differs from the leaf in the proof's extra line")
    return leaf if leaf is not None else proof.extra  # type: ignore[return-value]
