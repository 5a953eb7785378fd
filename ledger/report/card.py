"""Dataset cards: a verified evidence bundle and the buyer's manifest as a card that other tools
read (Croissant with its Responsible-AI fields, ``croissant.py``; SPDX 3.0, ``spdx.py``), and the
check of a card against its bundle (docs/CARDS.md).

A card is a pure function of three things: the bundle (its bytes and its verification report,
whose verdicts are **recomputed** by ``ledger.core.evidence``, never taken from the bundle), what
the manifest states about each file that the bundle cannot prove (``StatedFile``: its path, and
its size, duration and media type where no grant in the bundle signs them), and the options the
buyer chose (``CardOptions``). ``build_card`` makes the ``Card``; each format renders it to JSON
and reads those stated parts back from a card (``CardFormat``). ``check_card`` verifies a card
by reading them back, building the card again from the bundle and comparing the two JSON
documents: any edit to a claim the bundle decides is a difference, named by its path.

What the card cannot prove is said in the card: the path of every file, and the size, duration
and media type of a file no grant in the bundle lists. Where a grant lists a file, its signed
values are used and a manifest that states others is refused (``InvalidManifest``). No I/O here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Final, Protocol

from ledger.core import logstate
from ledger.core.encoding import sha256
from ledger.core.errors import InvalidManifest, LedgerError
from ledger.core.evidence import EvidenceBundle, EvidenceReport
from ledger.core.leaf import Leaf, datetime_from_micros, format_log_time, parse_leaf
from ledger.core.licensing import Verdict, format_instant
from ledger.core.statements import ContentItem, Grant, Terms, statement_hash
from ledger.report.plain import reason_words, term_clauses, terms_summary, use_words

#: The version of the card's own vocabulary (the ``consent-ledger`` block in each format).
CARD_VERSION: Final = "consent-ledger/card/v1"
#: What a card does with items that are not licensed: listed as such, or left out (said so).
LISTED: Final = "listed"
DROPPED: Final = "dropped"
UNLICENSED_POLICIES: Final = (LISTED, DROPPED)
#: The media type a file gets when neither a grant nor the manifest gives one.
UNKNOWN_MEDIA_TYPE: Final = "application/octet-stream"
#: The template the summary follows (its sections keep their numbers).
EU_TEMPLATE: Final = (
    "European Commission, Template for the Public Summary of Training Content for"
    " general-purpose AI models, AI Act (Regulation (EU) 2024/1689) Article 53(1)(d)"
)
#: Card failure codes (``check_card``); the bundle's own failures keep their codes.
CARD_MALFORMED: Final = "card_malformed"
CARD_BUNDLE_MISMATCH: Final = "card_bundle_mismatch"
CARD_MISMATCH: Final = "card_mismatch"


# --- what the card is made of --------------------------------------------------------------------


@dataclass(frozen=True)
class CardOptions:
    """What the buyer chose: the dataset's name and description, the card's creation time
    (RFC 3339 UTC), what happens to unlicensed items, and optionally the model trained on it."""

    name: str
    description: str
    created: str
    unlicensed: str = LISTED
    model: str | None = None

    def __post_init__(self) -> None:
        # A card read back may hold anything: refuse what the command would never write.
        for name in ("name", "description", "created"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"{name} must be a string")
        if self.model is not None and not isinstance(self.model, str):
            raise TypeError("model must be a string or null")
        if self.unlicensed not in UNLICENSED_POLICIES:
            raise ValueError(f"unlicensed must be one of {UNLICENSED_POLICIES}")


@dataclass(frozen=True)
class StatedFile:
    """What the manifest states about a file: the card repeats it, the bundle cannot prove it
    (except where a grant signs the same values, which then must agree)."""

    sha256: str
    path: str = ""
    bytes: int | None = None
    duration_s: int | None = None
    media_type: str | None = None


@dataclass(frozen=True)
class CardGrant:
    """The grant a verdict rests on, as the bundle's verified entries give it."""

    seq: int
    grant_id: str
    statement_hash: str
    logged_at: str
    creator: str  # key id
    pseudonym: str | None
    licence: str  # the label of its terms in ``Card.licences``


@dataclass(frozen=True)
class CardFile:
    sha256: str
    path: str
    bytes: int | None
    duration_s: int | None
    media_type: str
    #: ``grant`` when a grant in the bundle signs bytes, duration and media type; else ``manifest``
    metadata_from: str
    licensed: bool
    reason: str
    grant: CardGrant | None


@dataclass(frozen=True)
class Licence:
    """One set of terms (grants whose terms read the same share it), as the creators signed it."""

    label: str
    summary: str
    terms: dict[str, Any]
    grants: tuple[str, ...]  # grant ids


@dataclass(frozen=True)
class Creator:
    key_id: str
    pseudonym: str | None
    items: int
    seconds: int


@dataclass(frozen=True)
class Card:
    """Everything a card says, before it is rendered in a format."""

    options: CardOptions
    bundle_sha256: str
    origin: str
    log_key: str
    checkpoint: str
    tree_size: int
    root_hash: str
    buyer: str
    buyer_pseudonym: str | None
    use: str
    at: str
    files: tuple[CardFile, ...]
    dropped: int
    #: reason -> how many items not licensed for it were left out
    dropped_reasons: dict[str, int]
    licences: tuple[Licence, ...]
    creators: tuple[Creator, ...]
    summary: dict[str, Any]

    @property
    def licensed(self) -> int:
        return sum(f.licensed for f in self.files)

    @property
    def not_licensed(self) -> int:
        return sum(not f.licensed for f in self.files)

    def evidence_json(self) -> dict[str, Any]:
        """The card's ``consent-ledger`` block: how to verify it again, and what it chose."""
        return {
            "card": CARD_VERSION,
            "bundle_sha256": self.bundle_sha256,
            "log": {"origin": self.origin, "verifier_key": self.log_key},
            "checkpoint": self.checkpoint,
            "tree_size": self.tree_size,
            "root_hash": self.root_hash,
            "query": {"buyer": self.buyer, "use": self.use, "at": self.at},
            "buyer_pseudonym": self.buyer_pseudonym,
            "unlicensed": self.options.unlicensed,
            "items": len(self.files) + self.dropped,
            "licensed": self.licensed,
            "not_licensed_listed": self.not_licensed,
            "not_licensed_dropped": self.dropped,
            "model": self.options.model,
            "verify": "ledger verify --card CARD BUNDLE --log-key KEY (docs/CARDS.md)",
        }

    def evidence_with_licences(self) -> dict[str, Any]:
        """``evidence_json`` with every licence the card cites (label, summary, terms, grants):
        the block both formats carry."""
        return {
            **self.evidence_json(),
            "licences": [
                {
                    "licence": lic.label,
                    "summary": lic.summary,
                    "terms": lic.terms,
                    "grants": list(lic.grants),
                }
                for lic in self.licences
            ],
        }


class CardFormat(Protocol):
    """A card format: renders a ``Card`` and reads back what a card states (``read_stated``)."""

    name: str

    def render(self, card: Card) -> dict[str, Any]: ...

    def read_stated(self, doc: Any) -> tuple[str, CardOptions, list[StatedFile]]:
        """The bundle hash the card names, its options and its stated files, in card order.
        Raises ValueError, KeyError or TypeError for a document that is not such a card."""
        ...


# --- building ------------------------------------------------------------------------------------


class _Bundle:
    """The verified entries of a bundle, read for the card: grants by seq, pseudonyms."""

    def __init__(self, bundle: EvidenceBundle) -> None:
        self.leaves: dict[int, Leaf] = {e.seq: parse_leaf(e.leaf) for e in bundle.entries}
        state, _ = logstate.replay(
            (
                leaf.signed.statement,
                statement_hash(leaf.signed.statement_bytes),
                datetime_from_micros(leaf.integrated_at),
            )
            for _, leaf in sorted(self.leaves.items())
        )
        self.pseudonyms = {k: key.pseudonym for k, key in state.keys.items() if key is not None}
        #: terms clauses -> (label, terms, the ids of the card's grants with these terms)
        self.licences: dict[tuple[tuple[str, str], ...], tuple[str, Terms, list[str]]] = {}
        self._grants: dict[int, tuple[CardGrant, dict[str, ContentItem]] | None] = {}

    def grant(self, seq: int | None) -> tuple[CardGrant, dict[str, ContentItem]] | None:
        """The grant at ``seq`` as the card names it, and its content by hash (read once per
        grant: a grant lists up to thousands of the card's files)."""
        if seq is None:
            return None
        if seq not in self._grants:
            self._grants[seq] = self._read_grant(seq)
        return self._grants[seq]

    def _read_grant(self, seq: int) -> tuple[CardGrant, dict[str, ContentItem]] | None:
        leaf = self.leaves.get(seq)
        stmt = None if leaf is None else leaf.signed.statement
        if leaf is None or not isinstance(stmt, Grant):
            return None
        clauses = tuple(term_clauses(stmt.terms))
        if clauses not in self.licences:
            self.licences[clauses] = (f"L{len(self.licences) + 1}", stmt.terms, [])
        label, _, ids = self.licences[clauses]
        ids.append(stmt.grant_id)
        grant = CardGrant(
            seq=leaf.seq,
            grant_id=stmt.grant_id,
            statement_hash=statement_hash(leaf.signed.statement_bytes).hex(),
            logged_at=format_log_time(leaf.integrated_at),
            creator=stmt.signer,
            pseudonym=self.pseudonyms.get(stmt.signer),
            licence=label,
        )
        return grant, {item.sha256: item for item in stmt.content}


def terms_json(terms: Terms) -> dict[str, Any]:
    """A grant's terms as JSON (docs/CLI.md's grant schema): times RFC 3339, amounts strings."""
    c = terms.consideration
    return {
        "uses": list(terms.uses),
        "prohibitions": list(terms.prohibitions),
        "exclusive": terms.exclusive,
        "territory": list(terms.territory),
        "start": terms.start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "end": None if terms.end is None else terms.end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "revocable": terms.revocable,
        "notice_days": terms.notice_days,
        "consideration": {"amount": str(c.amount), "currency": c.currency, "unit": c.unit},
        "attribution": terms.attribution,
        "sublicensing": terms.sublicensing,
    }


def _metadata(
    stated: StatedFile, signed: ContentItem | None
) -> tuple[int | None, int | None, str, str]:
    """bytes, duration, media type and where they come from: the grant's signed values (the
    manifest's must agree), else the manifest's."""
    if signed is None:
        media_type = stated.media_type or UNKNOWN_MEDIA_TYPE
        return stated.bytes, stated.duration_s, media_type, "manifest"
    if (
        (stated.bytes is not None and stated.bytes != signed.bytes)
        or (stated.duration_s is not None and stated.duration_s != signed.duration_s)
        or (stated.media_type is not None and stated.media_type != signed.media_type)
    ):
        _contradiction(stated, signed)
    return signed.bytes, signed.duration_s, signed.media_type, "grant"


def _contradiction(stated: StatedFile, signed: ContentItem) -> None:
    """Raise InvalidManifest naming the first value the manifest states otherwise than the grant."""
    for name in ("bytes", "duration_s", "media_type"):
        mine, theirs = getattr(stated, name), getattr(signed, name)
        if mine is not None and mine != theirs:
            raise InvalidManifest(
                f"{stated.path or stated.sha256}: the manifest gives {name} {mine}, the grant"
                f" that lists this content signs {theirs}: fix the manifest (ledger hash)"
            )


def build_card(
    bundle_data: bytes,
    report: EvidenceReport,
    options: CardOptions,
    stated: Iterable[StatedFile],
) -> Card:
    """The card for a bundle (its bytes, and ``report``, its verification, which must hold).

    ``stated`` gives what the manifest says of each content (first one wins; a content without
    one gets an empty path and unknown values). With ``options.unlicensed == DROPPED`` items not
    licensed are left out and counted. Raises ValueError for a report that did not verify and
    InvalidManifest for stated values that contradict a grant's signed ones.
    """
    bundle = report.bundle
    cp = report.checkpoint
    if not report or bundle is None or cp is None:
        raise ValueError("a card is built only from a bundle that verified")
    given: dict[str, StatedFile] = {}
    for s in stated:
        given.setdefault(s.sha256, s)
    entries = _Bundle(bundle)
    files: list[CardFile] = []
    dropped: dict[str, int] = {}
    for verdict in report.verdicts:
        if not verdict.licensed and options.unlicensed == DROPPED:
            dropped[verdict.reason] = dropped.get(verdict.reason, 0) + 1
            continue
        files.append(_file(verdict, given, entries))
    ordered = tuple(
        Licence(label, terms_summary(terms), terms_json(terms), tuple(ids))
        for label, terms, ids in entries.licences.values()
    )
    q = bundle.query
    card = Card(
        options=options,
        bundle_sha256=sha256(bundle_data).hex(),
        origin=bundle.origin,
        log_key=bundle.verifier_key,
        checkpoint=bundle.checkpoint,
        tree_size=cp.tree_size,
        root_hash=cp.root_hash.hex(),
        buyer=q.buyer,
        buyer_pseudonym=entries.pseudonyms.get(q.buyer),
        use=q.use,
        at=format_instant(q.at),
        files=tuple(files),
        dropped=sum(dropped.values()),
        dropped_reasons=dict(sorted(dropped.items())),
        licences=ordered,
        creators=_creators(files),
        summary={},
    )
    card.summary.update(training_summary(card))
    return card


def _file(verdict: Verdict, given: Mapping[str, StatedFile], entries: _Bundle) -> CardFile:
    stated = given.get(verdict.sha256) or StatedFile(verdict.sha256)
    found = entries.grant(verdict.grant_seq)
    grant, signed = (None, None) if found is None else (found[0], found[1].get(verdict.sha256))
    size, duration, media_type, source = _metadata(stated, signed)
    return CardFile(
        sha256=verdict.sha256,
        path=stated.path,
        bytes=size,
        duration_s=duration,
        media_type=media_type,
        metadata_from=source,
        licensed=verdict.licensed,
        reason=verdict.reason,
        grant=grant,
    )


def _creators(files: Sequence[CardFile]) -> tuple[Creator, ...]:
    """The rightsholders of the licensed files, in order of their first file."""
    found: dict[str, list[Any]] = {}
    for f in files:
        if f.licensed and f.grant is not None:
            entry = found.setdefault(f.grant.creator, [f.grant.pseudonym, 0, 0])
            entry[1] += 1
            entry[2] += f.duration_s or 0
    return tuple(Creator(k, p, n, s) for k, (p, n, s) in found.items())


# --- the EU training-content summary -------------------------------------------------------------

#: The template's size bands per modality (section 1.3), by the unit it counts in.
_HOURS: Final = (
    (10_000, "Less than 10,000 hours"),
    (1_000_000, "10,000 to 1 million hours"),
    (None, "More than 1 million hours"),
)
_BANDS: Final = {
    "video": ("hours", _HOURS),
    "audio": ("hours", _HOURS),
    "image": (
        "items",
        (
            (1_000_000, "Less than 1 million images"),
            (1_000_000_000, "1 million to 1 billion images"),
            (None, "More than 1 billion images"),
        ),
    ),
}


def modality(media_type: str) -> str:
    """``video``, ``audio``, ``image``, ``text`` or ``other``, from a media type's top level."""
    top = media_type.split("/", 1)[0]
    return top if top in ("video", "audio", "image", "text") else "other"


def minutes(seconds: int) -> str:
    """Seconds as minutes, a decimal string with two places (``"90.50"``): amounts are strings."""
    return str((Decimal(seconds) / 60).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN))


def _band(kind: str, items: int, seconds: int) -> str | None:
    unit_bands = _BANDS.get(kind)
    if unit_bands is None:
        return None
    unit, bands = unit_bands
    amount = seconds / 3600 if unit == "hours" else items
    for limit, words in bands:
        if limit is None or amount < limit:
            return words
    return None  # pragma: no cover - the last band has no limit


def _totals(files: Sequence[CardFile]) -> dict[str, Any]:
    seconds = sum(f.duration_s or 0 for f in files)
    return {
        "items": len(files),
        "seconds": seconds,
        "minutes": minutes(seconds),
        "duration_unknown": sum(f.duration_s is None for f in files),
        "bytes": sum(f.bytes or 0 for f in files),
        "bytes_unknown": sum(f.bytes is None for f in files),
    }


def _modalities(files: Sequence[CardFile]) -> list[dict[str, Any]]:
    by_kind: dict[str, list[CardFile]] = {}
    for f in files:
        by_kind.setdefault(modality(f.media_type), []).append(f)
    out = []
    for kind, members in sorted(by_kind.items()):
        totals = _totals(members)
        band = _band(kind, totals["items"], totals["seconds"])
        out.append({"modality": kind, **totals, "size_band": band})
    return out


def training_summary(card: Card) -> dict[str, Any]:
    """The card's files in the shape of the EU training-content summary (its sections 1.3, 2.2.1
    and 3.1, numbered as in the template): the parts a licence log can prove. The provider's own
    sections (who they are, the model, other sources) are theirs to fill in."""
    licensed = [f for f in card.files if f.licensed]
    listed = [f for f in card.files if not f.licensed]
    by_licence: dict[str, list[CardFile]] = {}
    for f in licensed:
        if f.grant is not None:
            by_licence.setdefault(f.grant.licence, []).append(f)
    licences = []
    for licence in card.licences:
        members = by_licence.get(licence.label)
        if members:
            licences.append(
                {"licence": licence.label, "terms": licence.summary, **_totals(members)}
            )
    reasons = dict(card.dropped_reasons)
    for f in listed:
        reasons[f.reason] = reasons.get(f.reason, 0) + 1
    acquired = [f.grant.logged_at for f in licensed if f.grant is not None]
    return {
        "template": EU_TEMPLATE,
        "scope": (
            "The parts of the summary this dataset's licence evidence proves: the provider"
            " completes the other sections (provider and model identification, other sources)."
        ),
        "1.2_model": card.options.model,
        "1.3_modalities": _modalities(card.files),
        "1.3_latest_acquisition": max(acquired) if acquired else None,
        "2.2.1_commercially_licensed": {
            "description": (
                f"Content licensed by its rightsholders for {use_words(card.use)}, each item"
                " under a grant its creator signed and the buyer accepted, recorded in the"
                f" transparency log {card.origin}"
            ),
            "rightsholders": len(card.creators),
            **_totals(licensed),
            "licences": licences,
            "rightsholders_list": [
                {
                    "key_id": c.key_id,
                    "pseudonym": c.pseudonym,
                    "items": c.items,
                    "minutes": minutes(c.seconds),
                }
                for c in card.creators
            ],
        },
        "not_licensed": {
            "policy": card.options.unlicensed,
            "listed": _totals(listed),
            "dropped": card.dropped,
            "reasons": dict(sorted(reasons.items())),
        },
        "3.1_reservation_of_rights": (
            f"Every licensed item is covered by a grant that permits {card.use}"
            f" ({use_words(card.use)}) at {card.at}, verified offline against checkpoint"
            f" {card.tree_size} of {card.origin}; items not licensed are "
            + ("listed as such." if card.options.unlicensed == LISTED else "left out.")
        ),
    }


def file_row(f: CardFile) -> dict[str, Any]:
    """One file as a flat record (both formats carry these fields)."""
    g = f.grant
    return {
        "sha256": f.sha256,
        "path": f.path,
        "bytes": f.bytes,
        "duration_s": f.duration_s,
        "media_type": f.media_type,
        "metadata_from": f.metadata_from,
        "licensed": f.licensed,
        "reason": f.reason,
        "reason_words": reason_words(f.reason),
        "grant_id": None if g is None else g.grant_id,
        "grant_seq": None if g is None else g.seq,
        "grant_statement_hash": None if g is None else g.statement_hash,
        "grant_logged_at": None if g is None else g.logged_at,
        "creator": None if g is None else g.creator,
        "creator_pseudonym": None if g is None else g.pseudonym,
        "licence": None if g is None else g.licence,
    }


# --- checking a card -----------------------------------------------------------------------------


@dataclass
class CardReport:
    """What ``check_card`` found: True when the card is exactly what its bundle gives."""

    failures: list[tuple[str, str]] = field(default_factory=list)
    format: str | None = None
    card: Card | None = None

    def __bool__(self) -> bool:
        return not self.failures

    def fail(self, code: str, message: str) -> None:
        self.failures.append((code, message))


def detect_format(doc: Any, formats: Mapping[str, CardFormat]) -> CardFormat | None:
    """The format of a parsed card: SPDX names its context URL, Croissant conforms to it."""
    if not isinstance(doc, dict):
        return None
    context = doc.get("@context")
    if isinstance(context, str) and "spdx.org/rdf/3" in context:
        return formats.get("spdx")
    conforms = doc.get("conformsTo")
    if isinstance(conforms, str) and conforms.startswith("http://mlcommons.org/croissant/"):
        return formats.get("croissant")
    return None


def check_card(
    doc: Any,
    bundle_data: bytes,
    report: EvidenceReport,
    formats: Mapping[str, CardFormat],
) -> CardReport:
    """Check a parsed card against its bundle (``bundle_data``, verified in ``report``, which the
    caller has already checked holds): the card names this bundle, and every claim it makes is
    what the bundle gives, rendered the same way. The first difference fails ``card_mismatch``.
    Never raises for any ``doc``."""
    result = CardReport()
    fmt = detect_format(doc, formats)
    if fmt is None:
        result.fail(CARD_MALFORMED, "not a card: neither Croissant JSON-LD nor SPDX 3 JSON-LD")
        return result
    result.format = fmt.name
    try:
        named, options, stated = fmt.read_stated(doc)
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as e:
        result.fail(CARD_MALFORMED, f"the {fmt.name} card cannot be read: {e}")
        return result
    digest = sha256(bundle_data).hex()
    if named != digest:
        result.fail(
            CARD_BUNDLE_MISMATCH,
            f"the card names the bundle {named}, and this bundle's SHA-256 is {digest}:"
            " give the bundle the card was made from",
        )
        return result
    try:
        card = build_card(bundle_data, report, options, stated)
    except LedgerError as e:
        result.fail(CARD_MISMATCH, e.message)
        return result
    result.card = card
    difference = first_difference(doc, fmt.render(card))
    if difference is not None:
        result.fail(CARD_MISMATCH, difference)
    return result


def first_difference(card: Any, expected: Any, path: str = "") -> str | None:
    """The first place, in document order, where a card differs from the card its bundle gives:
    ``at distribution[3].sha256: the card says "ab...", the bundle gives "cd..."``."""
    if isinstance(card, dict) and isinstance(expected, dict):
        return _dict_difference(card, expected, path)
    if isinstance(card, list) and isinstance(expected, list):
        return _list_difference(card, expected, path)
    if type(card) is not type(expected) or card != expected:
        where = path or "the top level"
        return f"at {where}: the card says {_show(card)}, the bundle gives {_show(expected)}"
    return None


def _dict_difference(card: dict[str, Any], expected: dict[str, Any], path: str) -> str | None:
    for key in list(expected) + [k for k in card if k not in expected]:
        inner = f"{path}.{key}" if path else str(key)
        if key not in card:
            return f"at {inner}: missing from the card; the bundle gives {_show(expected[key])}"
        if key not in expected:
            return f"at {inner}: the card says {_show(card[key])}, which the bundle does not give"
        found = first_difference(card[key], expected[key], inner)
        if found is not None:
            return found
    return None


def _list_difference(card: list[Any], expected: list[Any], path: str) -> str | None:
    for i, (a, b) in enumerate(zip(card, expected, strict=False)):
        found = first_difference(a, b, f"{path}[{i}]")
        if found is not None:
            return found
    if len(card) != len(expected):
        where = path or "the top level"
        return f"at {where}: the card lists {len(card)} entries, the bundle gives {len(expected)}"
    return None


def _show(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- shared by the formats -----------------------------------------------------------------------


def stated_from_rows(
    rows: Iterable[Mapping[str, Any]], key: Callable[[str], str]
) -> list[StatedFile]:
    """Stated files from a card's file records (``key`` maps a field name to the record's key).
    Sizes and durations must be integers or null, as ``file_row`` writes them."""
    out = []
    for row in rows:
        values = {name: row[key(name)] for name in ("sha256", "path", "bytes", "duration_s")}
        for name in ("bytes", "duration_s"):
            if values[name] is not None and (
                not isinstance(values[name], int) or isinstance(values[name], bool)
            ):
                raise TypeError(f"{name} must be an integer or null")
        if not isinstance(values["sha256"], str) or not isinstance(values["path"], str):
            raise TypeError("sha256 and path must be strings")
        media = row[key("media_type")]
        from_grant = row[key("metadata_from")] == "grant"
        out.append(
            StatedFile(
                values["sha256"],
                values["path"],
                None if from_grant else values["bytes"],
                None if from_grant else values["duration_s"],
                None if from_grant or media == UNKNOWN_MEDIA_TYPE else media,
            )
        )
    return out
