"""A card as an SPDX 3.0.1 JSON-LD document, Dataset profile (and AI profile, with a model)
(docs/CARDS.md): the dataset as a ``dataset_DatasetPackage`` that ``contains`` one
``software_File`` per file (its SHA-256 as a ``Hash``, its media type, its creator as
``originatedBy``, the rest of its record as CycloneDX-style property entries); each licensed
file's ``hasConcludedLicense`` is the custom licence of its grant's terms (an unlicensed one's is
``NoAssertionLicense``); the ``consent-ledger`` blocks (how to verify the card again, the EU
summary) are ``Annotation`` statements holding RFC 8785 JSON. With a model, an ``ai_AIPackage``
is ``trainedOn`` the dataset. No I/O here.
"""

from __future__ import annotations

import json
from typing import Any, Final

from ledger.core.canonical import canonicalize
from ledger.report.card import (
    Card,
    CardFile,
    CardOptions,
    StatedFile,
    file_row,
    modality,
    stated_from_rows,
)
from ledger.report.plain import use_words

CONTEXT: Final = "https://spdx.org/rdf/3.0.1/spdx-context.jsonld"
SPEC_VERSION: Final = "3.0.1"
CREATION_INFO: Final = "_:creationinfo"
NO_ASSERTION_LICENSE: Final = (
    "https://spdx.org/rdf/3.0.1/terms/ExpandedLicensing/NoAssertionLicense"
)
#: The prefix of each file property's name (``consent-ledger:bytes``).
PROP: Final = "consent-ledger:"
#: The file record's fields carried as properties: the others are SPDX's own (the hash, the
#: name, the media type; the creator as ``originatedBy``, the licence as ``hasConcludedLicense``)
#: or the grant's, which the evidence annotation's licences and the agents name.
_FILE_PROPS: Final = (
    "bytes",
    "duration_s",
    "metadata_from",
    "licensed",
    "reason",
    "grant_id",
    "grant_seq",
)
#: SPDX dataset types for the card's modalities.
_DATASET_TYPES: Final = {"video": "video", "audio": "audio", "image": "image", "text": "text"}
EVIDENCE_ANNOTATION: Final = "evidence"
SUMMARY_ANNOTATION: Final = "training-content-summary"


def namespace(card: Card) -> str:
    """The card's element ids start with this, named by the bundle the card comes from (the first
    64 bits of its SHA-256: ids repeat several times per file, and the card names the whole hash
    in its evidence annotation)."""
    return f"urn:consent-ledger:card:{card.bundle_sha256[:16]}:"


def _stamp(text: str) -> str:
    """SPDX's DateTimeStamp: whole seconds, UTC (``2026-03-01T12:00:00Z``)."""
    return text[:19] + "Z"


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _properties(entries: list[tuple[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "type": "extension_CdxPropertiesExtension",
            "extension_cdxProperty": [
                {
                    "type": "extension_CdxPropertyEntry",
                    "extension_cdxPropName": PROP + name,
                    "extension_cdxPropValue": _value(value),
                }
                for name, value in entries
                if value is not None
            ],
        }
    ]


def _agent(kind: str, spdx_id: str, name: str | None, key_id: str, origin: str) -> dict[str, Any]:
    return {
        "type": kind,
        "spdxId": spdx_id,
        "creationInfo": CREATION_INFO,
        "name": name or "(unregistered)",
        "externalIdentifier": [
            {
                "type": "ExternalIdentifier",
                "externalIdentifierType": "other",
                "identifier": key_id,
                "issuingAuthority": origin,
                "comment": "Ed25519 key id (SHA-256 of the public key) in the transparency log",
            }
        ],
    }


def _file(card: Card, f: CardFile, ns: str) -> dict[str, Any]:
    row = file_row(f)
    doc: dict[str, Any] = {
        "type": "software_File",
        "spdxId": f"{ns}file/{f.sha256}",
        "creationInfo": CREATION_INFO,
    }
    if f.path:
        doc["name"] = f.path
    doc["verifiedUsing"] = [{"type": "Hash", "algorithm": "sha256", "hashValue": f.sha256}]
    doc["contentType"] = f.media_type
    doc["software_primaryPurpose"] = "data"
    if f.grant is not None:
        doc["originatedBy"] = [f"{ns}agent/{f.grant.creator}"]
    doc["extension"] = _properties([(name, row[name]) for name in _FILE_PROPS])
    return doc


def _annotation(ns: str, name: str, subject: str, value: Any) -> dict[str, Any]:
    return {
        "type": "Annotation",
        "spdxId": f"{ns}annotation/{name}",
        "creationInfo": CREATION_INFO,
        "annotationType": "other",
        "subject": subject,
        "contentType": "application/json",
        "statement": canonicalize(value).decode("utf-8"),
    }


def _licences(card: Card, ns: str) -> list[dict[str, Any]]:
    return [
        {
            "type": "expandedlicensing_CustomLicense",
            "spdxId": f"{ns}LicenseRef-{lic.label}",
            "creationInfo": CREATION_INFO,
            "name": f"{lic.label}: the terms of {len(lic.grants)} Consent Ledger grant(s)",
            "simplelicensing_licenseText": lic.summary,
            "comment": "grants: " + ", ".join(lic.grants),
        }
        for lic in card.licences
    ]


def _agents(card: Card, ns: str) -> list[dict[str, Any]]:
    people: dict[str, str | None] = {}
    for f in card.files:
        if f.grant is not None:
            people.setdefault(f.grant.creator, f.grant.pseudonym)
    buyer = _agent("Organization", f"{ns}agent/{card.buyer}", card.buyer_pseudonym, card.buyer,
                   card.origin)  # fmt: skip
    return [buyer] + [
        _agent("Person", f"{ns}agent/{key}", name, key, card.origin)
        for key, name in people.items()
        if key != card.buyer
    ]


def _dataset(card: Card, ns: str) -> dict[str, Any]:
    o = card.options
    kinds = sorted({_DATASET_TYPES.get(modality(f.media_type), "other") for f in card.files})
    creators = sorted({f"{ns}agent/{c.key_id}" for c in card.creators})
    doc: dict[str, Any] = {
        "type": "dataset_DatasetPackage",
        "spdxId": f"{ns}dataset",
        "creationInfo": CREATION_INFO,
        "name": o.name,
        "description": o.description,
        "builtTime": _stamp(o.created),
        "suppliedBy": f"{ns}agent/{card.buyer}",
        "software_primaryPurpose": "data",
        "dataset_datasetType": kinds or ["noAssertion"],
        "dataset_datasetSize": sum(f.bytes or 0 for f in card.files),
        "dataset_intendedUse": f"{use_words(card.use)} ({card.use})",
        "dataset_dataCollectionProcess": (
            f"Licensed by {len(card.creators):,} rightsholder(s), each file under a grant its"
            f" creator signed and the buyer accepted, recorded in the transparency log"
            f" {card.origin}; verified at checkpoint {card.tree_size}."
        ),
    }
    if creators:
        doc["originatedBy"] = creators
    return doc


def render(card: Card) -> dict[str, Any]:
    """The card as an SPDX 3.0.1 JSON-LD document (a dict to write as JSON)."""
    ns = namespace(card)
    o = card.options
    dataset = f"{ns}dataset"
    graph: list[dict[str, Any]] = [
        {
            "type": "CreationInfo",
            "@id": CREATION_INFO,
            "specVersion": SPEC_VERSION,
            "created": _stamp(o.created),
            "createdBy": [f"{ns}agent/{card.buyer}"],
            "createdUsing": [f"{ns}tool/ledger-card"],
        },
        {
            "type": "Tool",
            "spdxId": f"{ns}tool/ledger-card",
            "creationInfo": CREATION_INFO,
            "name": "Consent Ledger: ledger card",
        },
        *_agents(card, ns),
        _dataset(card, ns),
        *(_file(card, f, ns) for f in card.files),
        *_licences(card, ns),
    ]
    if card.files:
        graph.append(
            {
                "type": "Relationship",
                "spdxId": f"{ns}relationship/contains",
                "creationInfo": CREATION_INFO,
                "from": dataset,
                "relationshipType": "contains",
                "to": [f"{ns}file/{f.sha256}" for f in card.files],
                "completeness": "complete",
            }
        )
    graph.extend(
        {
            "type": "Relationship",
            "spdxId": f"{ns}relationship/licence/{f.sha256}",
            "creationInfo": CREATION_INFO,
            "from": f"{ns}file/{f.sha256}",
            "relationshipType": "hasConcludedLicense",
            "to": [
                f"{ns}LicenseRef-{f.grant.licence}"
                if f.licensed and f.grant is not None
                else NO_ASSERTION_LICENSE
            ],
        }
        for f in card.files
    )
    if o.model is not None:
        graph.append(
            {
                "type": "ai_AIPackage",
                "spdxId": f"{ns}model",
                "creationInfo": CREATION_INFO,
                "name": o.model,
                "suppliedBy": f"{ns}agent/{card.buyer}",
                "software_primaryPurpose": "model",
            }
        )
        graph.append(
            {
                "type": "Relationship",
                "spdxId": f"{ns}relationship/trainedOn",
                "creationInfo": CREATION_INFO,
                "from": f"{ns}model",
                "relationshipType": "trainedOn",
                "to": [dataset],
            }
        )
    evidence = {
        **card.evidence_with_licences(),
        "name": o.name,
        "created": o.created,
    }
    graph.append(_annotation(ns, EVIDENCE_ANNOTATION, dataset, evidence))
    graph.append(_annotation(ns, SUMMARY_ANNOTATION, dataset, card.summary))
    profiles = ["core", "software", "simpleLicensing", "expandedLicensing", "dataset"]
    if o.model is not None:
        profiles.append("ai")
    document = {
        "type": "SpdxDocument",
        "spdxId": f"{ns}document",
        "creationInfo": CREATION_INFO,
        "name": o.name,
        "profileConformance": profiles,
        "rootElement": [dataset],
        "element": [e["spdxId"] for e in graph if "spdxId" in e],
    }
    return {"@context": CONTEXT, "@graph": [graph[0], document, *graph[1:]]}


def _file_record(element: dict[str, Any]) -> dict[str, Any]:
    [ext] = element["extension"]
    props = {
        e["extension_cdxPropName"].removeprefix(PROP): e["extension_cdxPropValue"]
        for e in ext["extension_cdxProperty"]
    }
    record: dict[str, Any] = {
        "sha256": element["verifiedUsing"][0]["hashValue"],
        "path": element.get("name", ""),
        "media_type": element["contentType"],
        "metadata_from": props.get("metadata_from"),
    }
    for name in ("bytes", "duration_s"):
        value = props.get(name)
        record[name] = None if value is None else int(value)
    return record


def read_stated(doc: Any) -> tuple[str, CardOptions, list[StatedFile]]:
    """The bundle hash an SPDX card names, its options and stated files."""
    graph = doc["@graph"]
    [evidence_doc] = [
        e for e in graph if e.get("spdxId", "").endswith(f":annotation/{EVIDENCE_ANNOTATION}")
    ]
    evidence = json.loads(evidence_doc["statement"])
    [dataset] = [e for e in graph if e.get("type") == "dataset_DatasetPackage"]
    options = CardOptions(
        name=evidence["name"],
        description=dataset["description"],
        created=evidence["created"],
        unlicensed=evidence["unlicensed"],
        model=evidence["model"],
    )
    files = [_file_record(e) for e in graph if e.get("type") == "software_File"]
    return evidence["bundle_sha256"], options, stated_from_rows(files, lambda name: name)


class SpdxFormat:
    name = "spdx"

    def render(self, card: Card) -> dict[str, Any]:
        return render(card)

    def read_stated(self, doc: Any) -> tuple[str, CardOptions, list[StatedFile]]:
        return read_stated(doc)
