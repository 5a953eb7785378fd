"""The evidence report as plain values: what both renderers (HTML, PDF) show, and nothing else.

Every string here came out of an untrusted bundle or was derived from it; renderers must escape
all of them. No I/O here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

PASS, FAIL, NOT_CHECKED, NOT_APPLICABLE = "PASS", "FAIL", "NOT CHECKED", "n/a"


class FontsMissing(Exception):
    """The fonts a PDF report embeds are not on this machine; the message says how to get
    them (``pdf.font_files``)."""


@dataclass(frozen=True)
class Step:
    """One verification step the report command re-did: PASS, FAIL or NOT CHECKED.

    NOT CHECKED is a step that an earlier failure made impossible (say, the inclusion proof of a
    leaf whose hash is already wrong); the bundle has failed in that case anyway.
    """

    name: str
    status: str
    detail: str

    @property
    def ok(self) -> bool:
        return self.status == PASS


@dataclass(frozen=True)
class EntryCheck:
    """The checks of one log entry in the bundle (each PASS, FAIL, NOT CHECKED or n/a)."""

    seq: int
    statement: str
    leaf_hash: str
    signatures: str
    inclusion: str
    chain: str
    detail: str

    @property
    def ok(self) -> bool:
        return FAIL not in (self.leaf_hash, self.signatures, self.inclusion, self.chain)


@dataclass(frozen=True)
class Party:
    role: str
    key_id: str
    pseudonym: str
    seq: int | None
    integrated_at: str | None


@dataclass(frozen=True)
class GrantView:
    label: str  # G1, G2, ... in log order
    grant_id: str
    statement_hash: str
    seq: int
    integrated_at: str
    creator: str
    buyer: str
    items: int


@dataclass(frozen=True)
class TermsGroup:
    """Grants whose terms read the same, with those terms in plain language once."""

    label: str  # Terms A, Terms B, ...
    summary: str
    clauses: Sequence[tuple[str, str]]
    grants: Sequence[GrantView]


@dataclass(frozen=True)
class Event:
    """A timeline row: a logged statement, at its log integration time."""

    integrated_at: str
    seq: int | None  # None for the row that marks the time asked about
    kind: str
    description: str


@dataclass(frozen=True)
class ContentRow:
    sha256: str
    bytes: int | None
    duration_s: int | None
    media_type: str
    grants: str
    claimed: str
    recomputed: str
    reason: str
    conflicts: str  # exclusivity conflicts between grants covering it, in words; usually ""
    agrees: bool
    name: str = ""  # the file name(s) the buyer's manifest gives this content ("" without one)
    licensed: bool | None = None  # the recomputed verdict (None: not recomputed)


@dataclass(frozen=True)
class CheckpointView:
    origin: str
    tree_size: int | None
    root_hex: str
    key_name: str
    key_id: str
    verified: bool
    note: str


@dataclass(frozen=True)
class Report:
    """Everything an evidence report shows, in the order it shows it."""

    title: str
    bundle_name: str
    bundle_sha256: str
    generated_at: str
    question: Sequence[tuple[str, str]]
    failures: Sequence[str]
    steps: Sequence[Step]
    entry_checks: Sequence[EntryCheck]
    parties: Sequence[Party]
    terms: Sequence[TermsGroup]
    timeline: Sequence[Event]
    content: Sequence[ContentRow]
    checkpoint: CheckpointView
    reverify: Sequence[tuple[str, str]]
    caveats: Sequence[str] = field(default_factory=tuple)
    notes: Sequence[str] = field(default_factory=tuple)
    #: The answer, first: "1,200 of 5,000 clips licensed for AI training at T; 3,800 not: ..."
    answer: str = ""
    #: Where the log answers (its URL), when the reader's machine knows it; "" otherwise.
    log_url: str = ""

    @property
    def named(self) -> bool:
        """Whether the content rows carry file names (the report was given a manifest)."""
        return any(row.name for row in self.content)

    @property
    def ok(self) -> bool:
        return not self.failures

    def verdict_counts(self) -> list[tuple[str, str, int]]:
        """(recomputed verdict, reason, count), most frequent first."""
        counts: dict[tuple[str, str], int] = {}
        for row in self.content:
            key = (row.recomputed, row.reason)
            counts[key] = counts.get(key, 0) + 1
        return sorted(
            ((v, r, n) for (v, r), n in counts.items()), key=lambda t: (-t[2], t[0], t[1])
        )

    def disagreements(self) -> int:
        return sum(1 for row in self.content if not row.agrees)

    def agreement_text(self) -> str:
        total, differ = len(self.content), self.disagreements()
        return (
            f"{total - differ:,} of {total:,} verdicts stated in the bundle agree with the "
            f"recomputed ones; {differ:,} disagree (in red). The reasons in words are in the "
            "table above; grants are named as in section 3 (G1 is the first)."
        )


# Prose both renderers show, kept here so that the HTML and the PDF say the same thing.
VERIFIED_TEXT: Final = (
    "Every check passed: the checkpoint signature, {entries} log entries and {items} recomputed "
    "verdicts. The report command re-did every check itself from the bundle; it did not rely on "
    "the verdicts the bundle states."
)
FAILED_TEXT: Final = (
    "This bundle must not be relied on. The report command re-did every check and found:"
)
TIMELINE_TEXT: Final = (
    "In log order: the log's integration time (UTC, microseconds) decides what happened first. "
    "Only entries logged at or before the time asked about count."
)
TERMS_TEXT: Final = (
    "Each grant as its creator signed it. Grants whose terms read the same share one table of "
    "terms. A grant licenses its content only once the buyer has accepted it, within its term, "
    "and until a revocation takes effect (docs/LICENSING.md)."
)
ENTRY_CHECKS_TEXT: Final = (
    "Leaf hash: SHA-256(0x00 || leaf) as the bundle states it. Signatures: every Ed25519 "
    "statement signature over the exact signed bytes. Inclusion proof: RFC 9162 proof from the "
    "leaf to the signed checkpoint root. Chain link: the leaf names the previous leaf's hash "
    "(n/a when the previous entry is not in the bundle)."
)
#: What the checks above cannot establish from the bundle alone (docs/LICENSING.md section 6).
LIMITS_TITLE: Final = "What these checks cannot prove (docs/LICENSING.md, section 6)"
LIMITS: Final = (
    "That the log computed its licence map correctly: the map proofs show what the signed map "
    "lists, and that nothing it lists is missing here; that the map lists every entry of the log "
    "is checked by auditors who replay the log (ledger audit recomputes the map and checks its "
    "root in every checkpoint). A wrong map root is a signed statement by the log.",
    "That the checkpoint is the one everybody else sees: compare it with one obtained "
    "independently, check consistency proofs between checkpoints over time (step 5 above), or "
    "verify with a witness policy (the witnesses' cosignatures cover the map root too).",
    "Who the parties are: a key is a pseudonym; identity commitments are resolved outside the log.",
    "Anything about entries logged after the time asked about, or after the checkpoint.",
)

#: Failures listed at the top; the tables below show every one.
MAX_LISTED: Final = 50
