"""A card as MLCommons Croissant 1.0 JSON-LD with its Responsible-AI (RAI 1.0) fields
(docs/CARDS.md): one ``cr:FileObject`` per file (SHA-256, size, media type), a record set
``files`` whose inline records hold each file's verdict, grant, creator and licence, the licences
as ``license`` entries, the RAI fields written from the evidence, and the ``consent-ledger``
blocks (``cl:evidence``: how to verify the card again; ``cl:trainingContentSummary``: the EU
summary) as JSON literals. No I/O here.
"""

from __future__ import annotations

from typing import Any, Final

from ledger.report.card import (
    DROPPED,
    Card,
    CardFile,
    CardOptions,
    StatedFile,
    file_row,
    stated_from_rows,
)
from ledger.report.plain import use_words

CONFORMS_TO: Final = "http://mlcommons.org/croissant/1.0"
#: The card's own terms (a URN: they name, they do not resolve).
CL_NAMESPACE: Final = "urn:consent-ledger:card:v1:"
#: The Croissant 1.0 context as mlcroissant writes it, with the RAI and the card's prefixes.
CONTEXT: Final = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/",
    "equivalentProperty": "cr:equivalentProperty",
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "samplingRate": "cr:samplingRate",
    "sc": "https://schema.org/",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
    "cl": CL_NAMESPACE,
    "cl:evidence": {"@type": "@json"},
    "cl:trainingContentSummary": {"@type": "@json"},
}
RECORD_SET: Final = "files"
#: The record set's fields: name -> Croissant data type (schema.org).
FIELDS: Final = {
    "sha256": "sc:Text",
    "path": "sc:Text",
    "bytes": "sc:Integer",
    "duration_s": "sc:Integer",
    "media_type": "sc:Text",
    "metadata_from": "sc:Text",
    "licensed": "sc:Boolean",
    "reason": "sc:Text",
    "reason_words": "sc:Text",
    "grant_id": "sc:Text",
    "grant_seq": "sc:Integer",
    "grant_statement_hash": "sc:Text",
    "grant_logged_at": "sc:Text",
    "creator": "sc:Text",
    "creator_pseudonym": "sc:Text",
    "licence": "sc:Text",
}


def _field_id(name: str) -> str:
    return f"{RECORD_SET}/{name}"


def _file_object(f: CardFile) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "@type": "cr:FileObject",
        "@id": f"file/{f.sha256}",
        "name": f"file/{f.sha256}",
        "description": f.path or "(no path given)",
        "contentUrl": f.path or f.sha256,
        "encodingFormat": f.media_type,
        "sha256": f.sha256,
    }
    if f.bytes is not None:
        doc["contentSize"] = f"{f.bytes} B"
    if f.duration_s is not None:
        doc["duration"] = f"PT{f.duration_s}S"
    return doc


def _record_set(card: Card) -> dict[str, Any]:
    return {
        "@type": "cr:RecordSet",
        "@id": RECORD_SET,
        "name": RECORD_SET,
        "description": (
            "Each file, its licence verdict (recomputed from the verified log entries), the grant"
            " it rests on, the creator who signed it and its terms (licence label)"
        ),
        "key": {"@id": _field_id("sha256")},
        "field": [
            {
                "@type": "cr:Field",
                "@id": _field_id(name),
                "name": _field_id(name),
                "dataType": data_type,
            }
            for name, data_type in FIELDS.items()
        ],
        "data": [
            {_field_id(name): value for name, value in file_row(f).items()} for f in card.files
        ],
    }


def _rai(card: Card) -> dict[str, Any]:
    """The RAI fields the evidence supports, in words; the rest are the buyer's to add."""
    unlicensed = (
        f"{card.dropped:,} item(s) not licensed were left out (--only-licensed)."
        if card.options.unlicensed == DROPPED
        else f"{card.not_licensed:,} item(s) are listed as NOT licensed, with the reason."
    )
    return {
        "rai:dataCollection": (
            f"Video clips licensed by their creators ({len(card.creators):,} rightsholder(s),"
            " named by pseudonym and key id) to the buyer"
            f" {card.buyer_pseudonym or card.buyer}, each under a grant signed by its creator"
            f" and recorded in the transparency log {card.origin}."
        ),
        "rai:dataCollectionType": ["Licensed from rightsholders"],
        "rai:dataUseCases": [
            f"{use_words(card.use)} ({card.use}): the use the licence evidence answers for."
        ],
        "rai:dataLimitations": [
            f"Licensed for {card.use} as at {card.at}; a revocable grant may end later: check"
            " again with ledger prove.",
            unlicensed,
            "Paths, and sizes, durations and media types not signed in a grant, are as the"
            " buyer's manifest states them.",
        ],
        "rai:personalSensitiveInformation": [
            "The card names creators and the buyer by pseudonym and key id only. What the"
            " clips themselves show is not assessed here."
        ],
        "rai:dataReleaseMaintenancePlan": (
            "Re-verify this card offline with 'ledger verify --card CARD BUNDLE', and the"
            " licences at a later time with 'ledger prove'."
        ),
    }


def render(card: Card) -> dict[str, Any]:
    """The card as Croissant JSON-LD (a dict to write as JSON)."""
    o = card.options
    doc: dict[str, Any] = {
        "@context": CONTEXT,
        "@type": "sc:Dataset",
        "conformsTo": CONFORMS_TO,
        "name": o.name,
        "description": o.description,
        "dateCreated": o.created,
        "license": [
            {
                "@type": "sc:CreativeWork",
                "@id": f"licence/{licence.label}",
                "name": f"{licence.label}: the terms of {len(licence.grants)} grant(s)",
                "description": licence.summary,
            }
            for licence in card.licences
        ],
        "creator": [
            {"@type": "sc:Person", "name": c.pseudonym or "(unregistered)", "identifier": c.key_id}
            for c in card.creators
        ],
        "publisher": {
            "@type": "sc:Organization",
            "name": card.buyer_pseudonym or "(unregistered)",
            "identifier": card.buyer,
        },
        "distribution": [_file_object(f) for f in card.files],
        "recordSet": [_record_set(card)],
        **_rai(card),
        "cl:evidence": card.evidence_with_licences(),
        "cl:trainingContentSummary": card.summary,
    }
    if not doc["license"]:
        del doc["license"]
    if not doc["creator"]:
        del doc["creator"]
    return doc


def read_stated(doc: Any) -> tuple[str, CardOptions, list[StatedFile]]:
    """The bundle hash a Croissant card names, its options and stated files."""
    evidence = doc["cl:evidence"]
    options = CardOptions(
        name=doc["name"],
        description=doc["description"],
        created=doc["dateCreated"],
        unlicensed=evidence["unlicensed"],
        model=evidence["model"],
    )
    [records] = [r for r in doc["recordSet"] if r["@id"] == RECORD_SET]
    rows = stated_from_rows(records["data"], _field_id)
    return evidence["bundle_sha256"], options, rows


class CroissantFormat:
    name = "croissant"

    def render(self, card: Card) -> dict[str, Any]:
        return render(card)

    def read_stated(self, doc: Any) -> tuple[str, CardOptions, list[StatedFile]]:
        return read_stated(doc)
