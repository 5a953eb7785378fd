"""``ledger card`` and ``ledger verify --card``: dataset cards of a real evidence bundle
(``tests/support/card_world.py``), checked by independent implementations of the formats —
MLCommons' ``mlcroissant`` (Croissant's own validator and record reader) and the SPDX 3 Python
model (``spdx-python-model``: every type, property and reference, and the required properties when
written back) — against what the test knows of each clip; how items not licensed are handled; an
edited card or another bundle fails ``verify --card`` with the first difference named."""

from __future__ import annotations

import copy
import hashlib
import io
import json
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from ledger.cli import main
from ledger.core.checkpoint import open_checkpoint
from ledger.core.evidence import load_bundle, verify_bundle
from ledger.core.note import NoteVerifier
from ledger.report import CARD_FORMATS
from ledger.report.card import check_card
from tests.cli.test_json import schema
from tests.support.card_world import BUYER, EXPECTED, ORIGIN, write_world
from tests.support.factories import json_paths, replace_at

CREATED = "2026-06-12T08:00:00Z"
LICENSED = [c for c in EXPECTED if c.licensed]
DOC = Path(__file__).parents[2] / "docs" / "CARDS.md"


class World:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.bundle, self.manifest, self.vkey = write_world(folder)

    def card(self, fmt: str, *extra: str, name: str = "card.json") -> tuple[int, Path]:
        out = self.folder / name
        code = main(
            ["card", str(self.bundle), "--manifest", str(self.manifest), "--format", fmt,
             "--log-key", self.vkey, "--state", str(self.folder / "state"), "--created",
             CREATED, "-o", str(out), "--force", *extra]
        )  # fmt: skip
        return code, out

    def verify(self, card: Path, *extra: str, bundle: Path | None = None) -> int:
        return main(
            ["verify", str(bundle or self.bundle), "--card", str(card), "--log-key", self.vkey,
             "--state", str(self.folder / "state"), *extra]
        )  # fmt: skip


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def _croissant(path: Path) -> Any:
    """The card through mlcroissant: the validator (raises on any error), its issues and the
    records it reads from the card's inline record set."""
    import mlcroissant as mlc

    with warnings.catch_warnings():
        # rdflib, inside mlcroissant, warns about its own deprecated ConjunctiveGraph
        warnings.simplefilter("ignore", DeprecationWarning)
        dataset = mlc.Dataset(jsonld=str(path))
        records = list(dataset.records("files"))
    return dataset.metadata.ctx.issues, records


def _text(value: Any) -> str | None:
    """A text cell as mlcroissant reads it: bytes or str, and NaN (pandas) for a null."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return value if isinstance(value, str) else None


def _spdx(path: Path) -> tuple[Any, Any]:
    """The card through the SPDX 3 model: decoded (types, properties, enumerations), every
    reference linked, and written back (which checks every required property)."""
    import spdx_python_model

    model, objects = spdx_python_model.load_data(json.loads(path.read_text(encoding="utf-8")))
    assert objects.link() == set(), "references to elements the document does not hold"
    model.JSONLDSerializer().write(objects, io.BytesIO())
    return model, objects


# --- the formats' own validators -----------------------------------------------------------------


@pytest.mark.parametrize("policy", ["--include-unlicensed", "--only-licensed"])
def test_croissant_card_is_valid_croissant_and_its_records_are_the_verdicts(
    world: World, policy: str
) -> None:
    code, out = world.card("croissant", policy)
    assert code == 0
    issues, records = _croissant(out)
    assert issues.errors == set()
    # The three recommended properties a card leaves to the dataset's publisher, and nothing else.
    assert {re.search(r'"(\S+)"', w).group(1) for w in issues.warnings} == {  # type: ignore[union-attr]
        "http://mlcommons.org/croissant/citeAs",
        "https://schema.org/datePublished",
        "https://schema.org/version",
    }
    clips = EXPECTED if policy == "--include-unlicensed" else LICENSED
    got = [
        (
            *tuple(
                _text(r[f"files/{name}"])
                for name in ("sha256", "path", "reason", "creator_pseudonym")
            ),
            bool(r["files/licensed"]),
        )
        for r in records
    ]
    assert got == [(c.sha256, c.name, c.reason, c.creator, c.licensed) for c in clips]
    doc = json.loads(out.read_text(encoding="utf-8"))
    objects = [
        (o["sha256"], o["contentSize"], o["duration"], o["encodingFormat"])
        for o in doc["distribution"]
    ]
    assert objects == [(c.sha256, f"{c.bytes} B", f"PT{c.duration_s}S", "video/mp4") for c in clips]
    assert {k for k in doc if k.startswith("rai:")} >= {
        "rai:dataCollection",
        "rai:dataUseCases",
        "rai:dataLimitations",
        "rai:personalSensitiveInformation",
    }


@pytest.mark.parametrize("model", [None, "acme-video-1"])
def test_spdx_card_is_valid_spdx_3_with_each_file_its_hash_creator_and_licence(
    world: World, model: str | None
) -> None:
    code, out = world.card("spdx", "--include-unlicensed", *(["--model", model] if model else []))
    assert code == 0
    m, objects = _spdx(out)
    [dataset] = objects.foreach_type(m.dataset_DatasetPackage)
    assert list(dataset.dataset_datasetType) == [m.dataset_DatasetType.video]
    assert dataset.dataset_datasetSize == sum(c.bytes for c in EXPECTED)
    files = {f.verifiedUsing[0].hashValue: f for f in objects.foreach_type(m.software_File)}
    [contains] = [
        r for r in objects.foreach_type(m.Relationship)
        if r.relationshipType == m.RelationshipType.contains
    ]  # fmt: skip
    assert contains.from_ is dataset
    assert [f.verifiedUsing[0].hashValue for f in contains.to] == [c.sha256 for c in EXPECTED]
    assert set(files) == {c.sha256 for c in EXPECTED}
    concluded = {
        r.from_.verifiedUsing[0].hashValue: r.to[0]
        for r in objects.foreach_type(m.Relationship)
        if r.relationshipType == m.RelationshipType.hasConcludedLicense
    }
    for clip in EXPECTED:
        f = files[clip.sha256]
        assert (f.name, f.contentType) == (clip.name, "video/mp4")
        assert [a.name for a in f.originatedBy] == ([clip.creator] if clip.creator else [])
        props = {
            p.extension_cdxPropName: p.extension_cdxPropValue
            for p in f.extension[0].extension_cdxProperty
        }
        assert props["consent-ledger:bytes"] == str(clip.bytes)
        assert props["consent-ledger:reason"] == clip.reason
        assert props.get("consent-ledger:grant_id") == clip.grant_id
        licence = concluded[clip.sha256]
        if clip.licensed:
            assert isinstance(licence, m.expandedlicensing_CustomLicense)
            assert "AI training" in licence.simplelicensing_licenseText
        else:
            assert (
                licence == "https://spdx.org/rdf/3.0.1/terms/ExpandedLicensing/NoAssertionLicense"
            )
    trained = [
        r for r in objects.foreach_type(m.Relationship)
        if r.relationshipType == m.RelationshipType.trainedOn
    ]  # fmt: skip
    if model is None:
        assert trained == []
    else:
        [relation] = trained
        assert relation.from_.name == model
        assert isinstance(relation.from_, m.ai_AIPackage)
        assert list(relation.to) == [dataset]


# --- what the card says --------------------------------------------------------------------------


def test_the_card_names_its_bundle_and_checkpoint_and_summarises_as_the_eu_template(
    world: World,
) -> None:
    code, out = world.card("croissant", "--include-unlicensed")
    assert code == 0
    doc = json.loads(out.read_text(encoding="utf-8"))
    evidence = doc["cl:evidence"]
    assert evidence["bundle_sha256"] == hashlib.sha256(world.bundle.read_bytes()).hexdigest()
    # the checkpoint verifies on its own under the log key, and is the bundle's
    checkpoint, _ = open_checkpoint(evidence["checkpoint"], NoteVerifier.from_vkey(world.vkey))
    assert (checkpoint.origin, checkpoint.tree_size) == (ORIGIN, evidence["tree_size"])
    assert evidence["checkpoint"] == json.loads(world.bundle.read_bytes())["checkpoint"]
    assert evidence["query"]["buyer"] == BUYER.key_id
    assert (evidence["licensed"], evidence["not_licensed_listed"]) == (3, 2)
    summary = doc["cl:trainingContentSummary"]
    licensed = summary["2.2.1_commercially_licensed"]
    assert (licensed["items"], licensed["seconds"], licensed["minutes"]) == (3, 180, "3.00")
    assert licensed["rightsholders"] == 2
    assert [(r["pseudonym"], r["items"], r["minutes"]) for r in licensed["rightsholders_list"]] == [
        ("Alice Films", 2, "2.50"),
        ("Bob Footage", 1, "0.50"),
    ]
    by_licence = [(lic["licence"], lic["items"]) for lic in licensed["licences"]]
    assert by_licence == [("L1", 2), ("L2", 1)]
    assert summary["not_licensed"]["reasons"] == {"no_grant": 1, "not_accepted": 1}
    [video] = summary["1.3_modalities"]
    assert (video["modality"], video["items"], video["size_band"]) == (
        "video",
        5,
        "Less than 10,000 hours",
    )
    terms = {lic["licence"]: lic["terms"] for lic in evidence["licences"]}
    price = {"amount": "4.00", "currency": "USD", "unit": "per_minute"}
    assert terms["L2"]["consideration"] == price


# --- items not licensed ------------------------------------------------------------------------


def test_unlicensed_items_make_the_card_fail_unless_the_buyer_says_what_to_do(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = world.card("croissant")
    assert code == 5
    assert not out.exists()
    err = capsys.readouterr().err
    assert "2 of 5 item(s) are not licensed (1 no grant, 1 not accepted); no card written" in err
    assert "--include-unlicensed" in err
    assert "--only-licensed" in err


def test_only_licensed_leaves_them_out_and_says_so(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = world.card("croissant", "--only-licensed")
    assert code == 0
    captured = capsys.readouterr()
    assert "--only-licensed: 2 item(s) not licensed left out of the card" in captured.err
    assert "2 not licensed left out (--only-licensed)" in captured.out
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["cl:evidence"]["not_licensed_dropped"] == 2
    assert [o["sha256"] for o in doc["distribution"]] == [c.sha256 for c in LICENSED]
    assert any("left out (--only-licensed)" in text for text in doc["rai:dataLimitations"])


def test_include_unlicensed_lists_them_as_not_licensed(world: World) -> None:
    code, out = world.card("croissant", "--include-unlicensed")
    assert code == 0
    [records] = json.loads(out.read_text(encoding="utf-8"))["recordSet"]
    rows = {r["files/path"]: r for r in records["data"]}
    assert rows["clips/d.mp4"]["files/licensed"] is False
    assert rows["clips/d.mp4"]["files/reason_words"] == "the buyer had not accepted the grant"
    assert rows["clips/e.mp4"]["files/grant_id"] is None


def test_the_two_choices_exclude_each_other(world: World) -> None:
    with pytest.raises(SystemExit) as exit_:
        world.card("croissant", "--only-licensed", "--include-unlicensed")
    assert exit_.value.code == 2


# --- verify --card -------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["croissant", "spdx"])
def test_a_card_as_written_verifies_against_its_bundle(
    world: World, fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert world.card(fmt, "--include-unlicensed", "--model", "m")[0] == 0
    assert world.verify(world.folder / "card.json") == 0
    assert f"card       OK: every claim of the {fmt} card (5 file(s))" in capsys.readouterr().out


def _row(doc: dict[str, Any], n: int) -> dict[str, Any]:
    return doc["recordSet"][0]["data"][n]


def _spdx_file(doc: dict[str, Any], n: int) -> dict[str, Any]:
    return [e for e in doc["@graph"] if e.get("type") == "software_File"][n]


def _spdx_prop(doc: dict[str, Any], n: int, name: str, value: str) -> None:
    for p in _spdx_file(doc, n)["extension"][0]["extension_cdxProperty"]:
        if p["extension_cdxPropName"] == f"consent-ledger:{name}":
            p["extension_cdxPropValue"] = value


#: (format, edit, the path the failure names)
EDITS: list[tuple[str, Callable[[dict[str, Any]], Any], str]] = [
    ("croissant", lambda d: _row(d, 3).update({"files/licensed": True}), "files/licensed"),
    ("croissant", lambda d: _row(d, 3).update({"files/reason": "licensed"}), "files/reason"),
    ("croissant", lambda d: _row(d, 2).update({"files/creator_pseudonym": "Carol"}),
     "files/creator_pseudonym"),
    ("croissant", lambda d: _row(d, 0).update({"files/bytes": 1}), "bytes"),
    ("croissant", lambda d: d["distribution"][1].update({"contentSize": "1 B"}),
     "distribution[1].contentSize"),
    ("croissant", lambda d: d["distribution"][0].update({"sha256": "00" * 32}),
     "distribution[0].sha256"),
    ("croissant", lambda d: d["recordSet"][0]["data"].pop(4), "distribution[4]"),
    ("croissant", lambda d: d["cl:evidence"].update({"tree_size": 99}), "cl:evidence.tree_size"),
    ("croissant", lambda d: d["cl:evidence"]["licences"][1]["terms"]["consideration"].update(
        {"amount": "0.01"}), "consideration.amount"),
    ("croissant", lambda d: d["cl:trainingContentSummary"]["2.2.1_commercially_licensed"]
     .update({"minutes": "300.00"}), "2.2.1_commercially_licensed.minutes"),
    ("croissant", lambda d: d.update({"rai:dataBiases": ["none"]}), "rai:dataBiases"),
    ("spdx", lambda d: _spdx_prop(d, 3, "licensed", "true"), "extension_cdxPropValue"),
    ("spdx", lambda d: _spdx_file(d, 0)["verifiedUsing"][0].update({"hashValue": "11" * 32}),
     "hashValue"),
    ("spdx", lambda d: _spdx_file(d, 2).update({"originatedBy": []}), "originatedBy"),
    ("spdx", lambda d: d["@graph"].pop(), "@graph"),
]  # fmt: skip


@pytest.mark.parametrize(("fmt", "edit", "named"), EDITS)
def test_an_edited_card_fails_with_the_first_difference_named(
    world: World,
    fmt: str,
    edit: Callable[[dict[str, Any]], Any],
    named: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert world.card(fmt, "--include-unlicensed")[0] == 0
    card = world.folder / "card.json"
    doc = json.loads(card.read_text(encoding="utf-8"))
    edited = copy.deepcopy(doc)
    edit(edited)
    assert edited != doc
    card.write_text(json.dumps(edited), encoding="utf-8")
    capsys.readouterr()
    assert world.verify(card) == 1
    out = capsys.readouterr().out
    assert "result     OK" in out  # the bundle itself verified: the card is what failed
    [line] = [line for line in out.splitlines() if line.startswith("card ")]
    assert line.startswith("card       FAILED: card_mismatch: ")
    assert named in line, line


def test_what_the_bundle_cannot_prove_is_not_checked(world: World) -> None:
    """A path is the buyer's word (docs/CARDS.md): renaming a file keeps the card valid."""
    assert world.card("croissant", "--include-unlicensed")[0] == 0
    card = world.folder / "card.json"
    doc = json.loads(card.read_text(encoding="utf-8"))
    _row(doc, 4)["files/path"] = "renamed.mp4"
    doc["distribution"][4].update({"description": "renamed.mp4", "contentUrl": "renamed.mp4"})
    card.write_text(json.dumps(doc), encoding="utf-8")
    assert world.verify(card) == 0


def test_another_bundle_or_a_broken_card_fails(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    assert world.card("spdx", "--only-licensed")[0] == 0
    card = world.folder / "card.json"
    other = world.folder / "other.json"
    other.write_bytes(world.bundle.read_bytes() + b"\n")  # the same answer, other bytes
    capsys.readouterr()
    assert world.verify(card, bundle=other) == 1
    assert "card       FAILED: card_bundle_mismatch: the card names the bundle" in (
        capsys.readouterr().out
    )
    card.write_text("{not json", encoding="utf-8")
    assert world.verify(card) == 1
    assert "card_malformed" in capsys.readouterr().out
    card.write_text(json.dumps({"@context": "https://spdx.org/rdf/3.0.1/spdx-context.jsonld"}))
    assert world.verify(card) == 1
    assert "card       FAILED: card_malformed: the spdx card cannot be read" in (
        capsys.readouterr().out
    )


def test_a_tampered_bundle_gives_no_card(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    bundle = json.loads(world.bundle.read_bytes())
    bundle["items"][3]["licensed"] = True
    bundle["items"][3]["reason"] = "licensed"
    world.bundle.write_text(json.dumps(bundle), encoding="utf-8")
    code, out = world.card("croissant", "--include-unlicensed")
    assert code == 1
    assert not out.exists()
    assert "verdict_mismatch" in capsys.readouterr().err


def test_a_manifest_for_other_content_or_contradicting_a_grant_gives_no_card(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    text = world.manifest.read_text(encoding="utf-8")
    lines = text.splitlines()
    world.manifest.write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")
    code, out = world.card("croissant", "--include-unlicensed")
    assert (code, out.exists()) == (1, False)
    assert "query_mismatch" in capsys.readouterr().err
    world.manifest.write_text(text.replace(",6000000,", ",6000001,"), encoding="utf-8")
    code, out = world.card("croissant", "--include-unlicensed")
    assert (code, out.exists()) == (2, False)
    assert "clips/a.mp4: the manifest gives bytes 6000001, the grant that lists this content" in (
        capsys.readouterr().err
    )


# --- --json --------------------------------------------------------------------------------------


def test_card_and_verify_card_print_json_of_their_schemas(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert world.card("spdx", "--only-licensed", "--json")[0] == 0
    doc = json.loads(capsys.readouterr().out)
    Draft202012Validator(schema("card")).validate(doc)
    assert (doc["items"], doc["licensed"], doc["not_licensed_dropped"]) == (3, 3, 2)
    assert doc["minutes"] == "3.00"
    assert world.verify(world.folder / "card.json", "--json") == 0
    result = json.loads(capsys.readouterr().out)
    Draft202012Validator(schema("evidence")).validate(result)
    assert result["card"] == {"format": "spdx", "verified": True, "files": 3, "failures": []}
    assert main(["card", str(world.bundle), "--manifest", str(world.manifest), "--format",
                 "spdx", "--log-key", world.vkey, "--json"]) == 2  # fmt: skip
    assert "--json needs --out" in capsys.readouterr().err


# --- the worked example in docs/CARDS.md -----------------------------------------------------


def test_the_worked_example_in_the_doc_is_what_the_command_writes(world: World) -> None:
    blocks = re.findall(r"^```json card-example\n(.*?)^```$", DOC.read_text("utf-8"), re.M | re.S)
    [example] = blocks
    code, out = world.card(
        "croissant", "--only-licensed", "--name", "acme-clips", "--description",
        "Licensed clips for Acme AI's video model",
    )  # fmt: skip
    assert code == 0
    assert json.loads(example) == json.loads(out.read_text(encoding="utf-8"))


# --- every claim is checked ----------------------------------------------------------------------


def _changed(value: Any) -> Any:
    """Another value of a JSON leaf."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, str):
        return value + "x"
    return "x"


def _unproven(fmt: str, doc: dict[str, Any]) -> set[tuple[Any, ...]]:
    """The leaves a card states without the bundle proving them, each written only once
    (docs/CARDS.md): in Croissant the dataset's name, description and creation time (a path and
    a media type appear twice); in SPDX the dataset's description, each file's name (its path)
    and the media type of a file no grant lists."""
    if fmt == "croissant":
        return {("name",), ("description",), ("dateCreated",)}
    out = set()
    for n, element in enumerate(doc["@graph"]):
        if element.get("type") == "dataset_DatasetPackage":
            out.add(("@graph", n, "description"))
        if element.get("type") == "software_File":
            out.add(("@graph", n, "name"))
            sha = element["verifiedUsing"][0]["hashValue"]
            if not next(c for c in EXPECTED if c.sha256 == sha).grant_id:
                out.add(("@graph", n, "contentType"))
    return out


@pytest.mark.parametrize("fmt", ["croissant", "spdx"])
def test_changing_any_single_value_of_a_card_fails_except_what_it_states_unproven(
    world: World, fmt: str
) -> None:
    """Every leaf of a card, changed alone, makes the check fail, but for the few the card
    states unproven (``_unproven``)."""

    assert world.card(fmt, "--include-unlicensed", "--model", "m")[0] == 0
    doc = json.loads((world.folder / "card.json").read_text(encoding="utf-8"))
    data = world.bundle.read_bytes()
    report = verify_bundle(load_bundle(data), world.vkey)
    assert check_card(doc, data, report, CARD_FORMATS)
    leaves = [p for p in json_paths(doc) if not isinstance(_at(doc, p), (dict, list))]
    assert len(leaves) > 100
    passed = set()
    for path in leaves:
        result = check_card(replace_at(doc, path, _changed(_at(doc, path))), data, report,
                            CARD_FORMATS)  # fmt: skip
        if result:
            passed.add(path)
        else:
            assert result.failures[0][0] in (
                "card_mismatch",
                "card_malformed",
                "card_bundle_mismatch",
            )
    assert passed == _unproven(fmt, doc)


def _at(doc: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        doc = doc[key]
    return doc
