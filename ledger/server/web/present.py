"""What the explorer's pages show of the read use cases' answers: plain values for templates.

Everything here is derived from the same dictionaries the JSON API serves (the pages' twins) and
from the signed bytes they carry; nothing decides anything. The grant terms are worded by the
evidence report's own functions (``ledger.report.plain``), so a page and a report say the same.
No I/O here.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ledger.core.checkpoint import Checkpoint
from ledger.core.cosignature import TIMESTAMP_SIZE, Cosignature
from ledger.core.encoding import b64_decode
from ledger.core.errors import LedgerError
from ledger.core.leaf import split_leaf
from ledger.core.note import NoteVerifier, parse_note
from ledger.core.statements import USES, Grant, parse_statement
from ledger.report.plain import term_clauses, use_words

#: Said on every page, beside the links to what proves it.
DISCLAIMER = (
    "A web page proves nothing by itself: whoever runs this server could show anything here. "
    "Download the proof and verify it on your own machine with the ledger command shown, under "
    "the log key you trust."
)


def pretty_json(value: Any) -> str:
    """JSON for people: indented, keys sorted, non-ASCII kept as written."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


def duration(seconds: int) -> str:
    """``1:02:03`` or ``2:03`` (minutes and seconds)."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def prev_hash(entry: dict[str, Any]) -> str:
    """The chain link of an entry: the leaf hash of the entry before it, from its own leaf."""
    return split_leaf(b64_decode(entry["leaf"])).prev_hash.hex()


def leaf_bytes(entry: dict[str, Any]) -> bytes:
    return b64_decode(entry["leaf"])


@dataclass(frozen=True)
class GrantView:
    """A grant statement's items and terms as a page shows them."""

    items: list[dict[str, Any]]
    clauses: list[tuple[str, str]]
    uses: list[str]


def grant_view(statement: dict[str, Any]) -> GrantView:
    """The items (with durations in words) and the plain-language terms of a logged grant."""
    grant = parse_statement(statement)
    if not isinstance(grant, Grant):  # the grants table holds only grant entries
        raise TypeError(f"entry holds a {type(grant).__name__}, not a grant")
    items = [
        {
            "sha256": item.sha256,
            "bytes": item.bytes,
            "duration": duration(item.duration_s),
            "duration_s": item.duration_s,
            "media_type": item.media_type,
        }
        for item in grant.content
    ]
    return GrantView(items, term_clauses(grant.terms), sorted(grant.terms.uses))


def all_uses() -> list[tuple[str, str]]:
    """Every use of the vocabulary, with its words, in a fixed order."""
    return [(use, use_words(use)) for use in sorted(USES)]


@dataclass(frozen=True)
class SignatureLine:
    name: str
    key_hash: str
    role: str  # "log", "witness" or "other"
    time: str | None  # a witness's cosignature time, UTC


@dataclass(frozen=True)
class NoteView:
    text: str
    checkpoint: Checkpoint
    signatures: list[SignatureLine]


def note_view(note: str, log_vkey: str) -> NoteView:
    """A signed checkpoint note split for display: its body and each signature line, the log's
    own told apart from witnesses' cosignatures (with the time each witness states). Nothing is
    verified here: a page cannot prove a signature to its reader (``DISCLAIMER``)."""
    body, sigs = parse_note(note)
    log = NoteVerifier.from_vkey(log_vkey)
    lines = []
    for sig in sigs:
        role, when = "other", None
        if sig.name == log.name and sig.key_id == log.key_id:
            role = "log"
        elif len(sig.signature) == TIMESTAMP_SIZE + 64:
            try:
                stamp = Cosignature.from_note_signature(sig).timestamp
                role, when = "witness", _utc(stamp)
            except LedgerError:
                pass
        lines.append(SignatureLine(sig.name, f"{sig.key_id:08x}", role, when))
    return NoteView(note, Checkpoint.parse(body), lines)


def _utc(seconds: int) -> str:
    try:
        return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, ValueError, OSError):
        return f"{seconds} (seconds since 1970, out of range)"


def command(*words: str) -> str:
    """A shell command line, each word quoted as the shell needs."""
    return " ".join(shlex.quote(w) for w in words)


def log_commands(server: str, log_key: str) -> list[str]:
    """Check the log's latest checkpoint against the last one this machine saw; audit it all."""
    return [
        command("ledger", "log", "--url", server, "--log-key", log_key),
        command("ledger", "audit", "--url", server, "--log-key", log_key),
    ]


def entry_commands(server: str, log_key: str, seq: int) -> list[str]:
    """Fetch entry ``seq``'s proof file, then verify it offline."""
    name = f"entry-{seq}.tlog-proof"
    return [
        command(
            "ledger",
            "prove",
            "--entry",
            str(seq),
            "--out",
            name,
            "--url",
            server,
            "--log-key",
            log_key,
        ),
        command("ledger", "verify-proof", name, "--log-key", log_key),
    ]


def evidence_commands(
    server: str, log_key: str, content: list[str] | None, buyer: str, use: str, at: str | None
) -> list[str]:
    """Fetch an evidence bundle (``content`` None: a manifest of your own), verify it offline,
    and word it for people."""
    what = ["--manifest", "MANIFEST.csv"] if content is None else ["--content", *content]
    when = [] if at is None else ["--at", at]
    return [
        command(
            "ledger",
            "prove",
            *what,
            "--buyer",
            buyer,
            "--use",
            use,
            *when,
            "--out",
            "evidence.json",
            "--url",
            server,
            "--log-key",
            log_key,
        ),
        command("ledger", "verify", "evidence.json", "--log-key", log_key),
        command("ledger", "report", "evidence.json", "--log-key", log_key, "--out", "report.html"),
    ]


def account_commands(
    server: str, log_key: str, key_id: str, start: str | None, end: str | None
) -> list[str]:
    """Fetch the party's statement of account with its proofs and verify it offline (any key id
    of the party will do; nothing is signed)."""
    period = [*(["--from", start] if start else []), *(["--to", end] if end else [])]
    return [
        command(
            "ledger", "account", "--key", key_id, *period, "--url", server, "--log-key", log_key
        ),
    ]
