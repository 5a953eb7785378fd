"""C2PA on clips, without a server: ``ledger hash`` on public sample files of the C2PA
reference implementation (tests/vectors/c2pa/), manifests our code signs read back by the C2PA
library's own reader, the manifest store's bytes (``c2pa_hash``, docs/FORMAT.md §3.7) checked
against what the library signs, tampered files refused, and ``ledger grant`` refusing what a
file's own manifest forbids before anything is signed or sent."""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path
from typing import Any

import c2pa as c2pa_library
import pytest
from jsonschema import Draft202012Validator

from ledger.content import c2pa
from ledger.content.manifest import read_manifest
from ledger.core.keys import SigningKey
from tests.cli.clitools import assert_one_line_failure, mp4, run_ledger
from tests.cli.test_json import schema

VECTORS = Path(__file__).parents[1] / "vectors" / "c2pa"
CAWG_JPEG = VECTORS / "c2pa-rs" / "C_with_CAWG_data.jpg"
SIGNED_WAV = VECTORS / "c2pa-python" / "sample1_signed.wav"
TEST_SIGNER = "C2PA Signer, issued by C2PA Test Signing Cert"
GRANT_ID = "6f1d2c3b-4a59-4e68-8a7b-9c0d1e2f3a4b"
BINDING = c2pa.GrantBinding("example.org/log", GRANT_ID, 7, "ab" * 32, "cd" * 32)


def hash_json(*paths: Path) -> list[dict[str, Any]]:
    """``ledger hash --json``'s items, the output checked against its schema in docs/CLI.md."""
    result = run_ledger("hash", *paths, "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    Draft202012Validator(schema("hash")).validate(doc)
    items: list[dict[str, Any]] = doc["items"]
    return items


# --- public sample files -------------------------------------------------------------------------


def test_public_samples_say_what_they_allow(tmp_path: Path) -> None:
    jpeg, wav = hash_json(CAWG_JPEG, SIGNED_WAV)
    assert jpeg["c2pa"]["state"] == wav["c2pa"]["state"] == c2pa.VALID
    assert jpeg["c2pa"]["signer"] == wav["c2pa"]["signer"] == TEST_SIGNER
    assert "signingCredential.untrusted" in jpeg["c2pa"]["problems"]
    assert jpeg["c2pa"]["training"] == {
        "ai_generative_training": {"use": "notAllowed"},
        "ai_inference": {"use": "notAllowed"},
    }
    assert wav["c2pa"]["training"] == {
        use: {"use": "notAllowed"}
        for use in ("ai_generative_training", "ai_inference", "ai_training", "data_mining")
    }
    # a JPEG splits its store over APP11 segments: no hash is claimed for it
    assert jpeg["c2pa"]["manifest_hash"] is None
    assert wav["c2pa"]["manifest_hash"] is not None
    shown = run_ledger("hash", CAWG_JPEG).stdout.splitlines()
    assert shown[1:] == [
        f"  c2pa Valid (embedded), signed by {TEST_SIGNER}",
        "  c2pa problems: cawg.x509.credential.untrusted, signingCredential.untrusted",
        "  c2pa ai_generative_training notAllowed",
        "  c2pa ai_inference notAllowed",
    ]


def test_the_wav_store_extracted_is_the_store_the_library_reads(tmp_path: Path) -> None:
    """The bytes hashed as ``c2pa_hash`` are the manifest store: given to the library as the
    asset's manifest data, they validate for that asset as the embedded one does."""
    data = SIGNED_WAV.read_bytes()
    with open(SIGNED_WAV, "rb") as f:
        start, end = c2pa.riff_store_chunk(f, len(data)) or (0, 0)
    store = data[start:end]
    assert store[4:8] == b"jumb"
    [wav] = hash_json(SIGNED_WAV)
    assert wav["c2pa"]["manifest_hash"] == hashlib.sha256(store).hexdigest()
    # the asset without its C2PA chunk, read with the extracted store given as a sidecar
    with open(SIGNED_WAV, "rb") as stream:
        reader = c2pa_library.Reader("audio/wav", stream, store)
        assert reader.get_validation_state() == "Valid"
        labels = [a["label"] for a in reader.get_active_manifest()["assertions"]]
    assert "cawg.training-mining" in labels


def test_manifest_columns_round_trip(tmp_path: Path) -> None:
    clip = tmp_path / "plain.mp4"
    clip.write_bytes(mp4())
    for name in ("m.csv", "m.json"):
        result = run_ledger("hash", CAWG_JPEG, SIGNED_WAV, clip, "--out", tmp_path / name)
        assert result.returncode == 0, result.stderr
    csv_items, json_items = read_manifest(tmp_path / "m.csv"), read_manifest(tmp_path / "m.json")
    header = (tmp_path / "m.csv").read_text(encoding="utf-8").splitlines()[0]
    assert (
        header == "sha256,bytes,duration_s,media_type,path,c2pa,c2pa_signer,c2pa_training,c2pa_hash"
    )
    jpeg, wav, plain = csv_items
    assert plain.c2pa == c2pa.C2paSummary(c2pa.NONE)
    assert jpeg.c2pa is not None
    assert wav.c2pa is not None
    assert [p.use for p in wav.c2pa.uses(c2pa.NOT_ALLOWED)] == sorted(
        ["ai_generative_training", "ai_inference", "ai_training", "data_mining"]
    )
    for from_csv, from_json in zip(csv_items, json_items, strict=True):
        assert from_csv.c2pa is not None
        assert from_json.c2pa is not None
        # CSV keeps state, signer, training and hash; JSON keeps everything
        assert (from_csv.c2pa.state, from_csv.c2pa.signer, from_csv.c2pa.training) == (
            from_json.c2pa.state,
            from_json.c2pa.signer,
            from_json.c2pa.training,
        )
        assert from_csv.c2pa.manifest_hash == from_json.c2pa.manifest_hash


# --- manifests we sign, read back by the library -------------------------------------------------


@pytest.fixture(scope="module")
def creator() -> SigningKey:
    return SigningKey.from_seed(bytes(range(32)))


def _request(constraint: str | None = "only for the buyer of grant 6f1d2c3b") -> c2pa.BindRequest:
    return c2pa.BindRequest(BINDING, ("ai_training", "ai_inference"), "clip.mp4", constraint)


def _library_view(path: Path, sidecar: bytes | None = None) -> tuple[str, dict[str, Any]]:
    """The C2PA library's own reading: validation state and active manifest's assertions."""
    if sidecar is None:
        reader = c2pa_library.Reader(str(path))
    else:
        with open(path, "rb") as stream:
            reader = c2pa_library.Reader("video/mp4", stream, sidecar)
    with reader:
        manifest = reader.get_active_manifest()
        assertions = {a["label"]: a["data"] for a in manifest["assertions"]}
        return reader.get_validation_state(), {**assertions, "_sig": manifest["signature_info"]}


def test_a_sidecar_we_sign_is_read_back_by_the_library(tmp_path: Path, creator: SigningKey) -> None:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(mp4())
    before = clip.read_bytes()
    store = c2pa.bind(creator, clip, "video/mp4", _request())
    assert clip.read_bytes() == before  # the clip is left as it is
    state, assertions = _library_view(clip, store)
    assert state == "Valid"
    assert assertions[c2pa.GRANT_ASSERTION] == BINDING.to_json()
    entries = assertions["cawg.training-mining"]["entries"]
    assert entries["cawg.ai_training"] == {
        "use": "constrained",
        "constraint_info": "only for the buyer of grant 6f1d2c3b",
    }
    assert entries["cawg.data_mining"] == {"use": "notAllowed"}
    assert entries["cawg.ai_generative_training"] == {"use": "notAllowed"}
    assert assertions["_sig"]["alg"] == "Ed25519"
    assert assertions["_sig"]["common_name"] == creator.key_id
    # our reader: the same, plus the signing key read from the certificate in the store
    c2pa.sidecar_path(clip).write_bytes(store)
    folder = run_ledger("hash", tmp_path, "--json")  # the sidecar is read, not hashed itself
    assert [Path(i["path"]).name for i in json.loads(folder.stdout)["items"]] == ["clip.mp4"]
    assert "left out 1 C2PA sidecar manifest(s), read with their clips" in folder.stderr
    found = c2pa.read_file(clip)
    assert found.where == "sidecar"
    assert found.binding == BINDING
    assert found.signer_key == creator.key_id
    assert found.manifest_hash == hashlib.sha256(store).hexdigest()
    assert "signingCredential.untrusted" in found.problems  # no CA vouches for a creator key


def test_an_embedded_store_is_the_one_the_library_signed(
    tmp_path: Path, creator: SigningKey
) -> None:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(mp4(1000, 30_000))
    out = tmp_path / "bound.mp4"
    store = c2pa.bind(creator, clip, "video/mp4", _request(None), embed_to=out)
    data = out.read_bytes()
    with open(out, "rb") as f:
        start, end = c2pa.c2pa_store_box(f, len(data)) or (0, 0)
    assert data[start:end] == store  # docs/FORMAT.md §3.7: the uuid box after its offset field
    state, assertions = _library_view(out)
    assert state == "Valid"
    assert assertions[c2pa.GRANT_ASSERTION] == BINDING.to_json()
    assert assertions["cawg.training-mining"]["entries"]["cawg.ai_training"] == {"use": "allowed"}
    [item] = hash_json(out)
    assert item["c2pa"]["manifest_hash"] == hashlib.sha256(store).hexdigest()
    assert item["c2pa"]["signer_key"] == creator.key_id
    assert item["duration_s"] == 30  # the clip's own boxes are still read


def _flip_last_media_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    at = data.rindex(b"frame-data") + 3
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_tampered_signed_file_is_refused(tmp_path: Path, creator: SigningKey) -> None:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(mp4())
    out = tmp_path / "bound.mp4"
    c2pa.bind(creator, clip, "video/mp4", _request(), embed_to=out)
    assert c2pa.read_file(out).valid
    _flip_last_media_byte(out)
    found = c2pa.read_file(out)
    assert found.state == c2pa.INVALID
    assert "assertion.bmffHash.mismatch" in found.problems
    # a sidecar no longer matches a clip changed after it was bound
    c2pa.sidecar_path(clip).write_bytes(c2pa.bind(creator, clip, "video/mp4", _request()))
    assert c2pa.read_file(clip).valid
    _flip_last_media_byte(clip)
    assert c2pa.read_file(clip).state == c2pa.INVALID
    # and a public sample with one byte of its audio changed
    wav = tmp_path / "sample.wav"
    data = bytearray(SIGNED_WAV.read_bytes())
    data[len(data) // 2] ^= 0x01
    wav.write_bytes(bytes(data))
    [item] = hash_json(wav)
    assert item["c2pa"]["state"] == "Invalid"
    assert item["c2pa"]["training"]  # still shown, and not relied on (below)


def test_plain_mp4_needs_no_library_call_and_odd_boxes_do_not_raise(tmp_path: Path) -> None:
    """Without a C2PA box an ISO BMFF file is NONE by its boxes alone; damaged boxes end the
    walk without an error."""
    for data in (mp4(), mp4()[:20], b"\x00\x00\x00\x01ftyp" + bytes(4), b"\x00\x00\x00\x08uuid"):
        path = tmp_path / "x.mp4"
        path.write_bytes(data)
        with open(path, "rb") as f:
            assert c2pa.c2pa_store_box(f, len(data)) is None
    assert c2pa.read_file(tmp_path / "x.mp4").state in (c2pa.NONE, c2pa.UNREADABLE)


def test_certificates_hold_the_creator_key(creator: SigningKey) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    leaf, ca = x509.load_pem_x509_certificates(c2pa.creator_certificates(creator))
    raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
    for cert in (leaf, ca):
        assert cert.public_key().public_bytes(*raw) == creator.public_key.raw
        assert cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == (
            creator.key_id
        )
    assert leaf.issuer == ca.subject
    leaf.verify_directly_issued_by(ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


# --- ledger grant refuses what a file's own manifest forbids ------------------------------------


GRANT_ARGS = ["--price", "1", "--currency", "USD", "--per", "clip", "--end", "2030-12-31"]


@pytest.fixture
def nowhere(tmp_path: Path) -> dict[str, str]:
    """No log at all: every refusal below happens before anything is signed or sent."""
    return {"LEDGER_URL": "http://127.0.0.1:9", "XDG_CONFIG_HOME": str(tmp_path / "config")}


def _grant(tmp_path: Path, env: dict[str, str], *args: Any) -> Any:
    pem = tmp_path / "c.pem"
    if not pem.exists():
        assert run_ledger("keygen", "--out", pem).returncode == 0
    buyer = "ef" * 32
    return run_ledger("grant", "--key", pem, "--buyer", buyer, *GRANT_ARGS, *args, env=env)


def test_grant_refuses_a_use_the_file_forbids(tmp_path: Path, nowhere: dict[str, str]) -> None:
    refused = _grant(tmp_path, nowhere, "--use", "ai_training", "--duration", "6", SIGNED_WAV)
    assert_one_line_failure(refused, 2, "nothing signed", "marks ai_training notAllowed")
    assert "--c2pa-override ai_training" in refused.stderr
    assert TEST_SIGNER in refused.stderr
    # a use the file does not forbid is not refused by it (it fails later: no log here)
    fine = _grant(tmp_path, nowhere, "--use", "ai_training", "--duration", "6", CAWG_JPEG)
    assert "nothing signed" not in fine.stderr
    assert fine.returncode == 3, fine.stderr
    # the manifest written by ledger hash says the same
    manifest = tmp_path / "m.csv"
    assert run_ledger("hash", SIGNED_WAV, "--out", manifest).returncode == 0
    again = _grant(
        tmp_path, nowhere, "--use", "data_mining", "--duration", "6", "--manifest", manifest
    )
    assert_one_line_failure(again, 2, "marks data_mining notAllowed")


@pytest.mark.parametrize(
    ("args", "said"),
    [
        # an override is recorded next to the manifest's hash; a JPEG's cannot be taken
        (["--use", "ai_inference", "--c2pa-override", "ai_inference", CAWG_JPEG], "cannot record"),
        # an override of a use not granted, or of nothing forbidden, is a mistake
        (["--use", "ai_training", "--c2pa-override", "ai_inference", CAWG_JPEG], "not license"),
        (["--use", "ai_training", "--c2pa-override", "ai_training", CAWG_JPEG], "nothing to"),
    ],
)
def test_grant_overrides_only_what_it_can_record(
    tmp_path: Path, nowhere: dict[str, str], args: list[Any], said: str
) -> None:
    assert_one_line_failure(_grant(tmp_path, nowhere, "--duration", "6", *args), 2, said)


def test_grant_takes_an_override_and_shows_constraints(
    tmp_path: Path, nowhere: dict[str, str], creator: SigningKey
) -> None:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(mp4())
    c2pa.sidecar_path(clip).write_bytes(c2pa.bind(creator, clip, "video/mp4", _request()))
    shown = _grant(tmp_path, nowhere, "--use", "ai_training", "--use", "data_mining", clip)
    assert_one_line_failure(shown, 2, "marks data_mining notAllowed")
    assert "constrains ai_training: only for the buyer of grant 6f1d2c3b" in shown.stderr
    taken = _grant(
        tmp_path, nowhere, "--use", "data_mining", "--c2pa-override", "data_mining", clip
    )
    assert "licensing data_mining against its C2PA manifest (--c2pa-override)" in taken.stderr
    assert taken.returncode == 3, taken.stderr  # signed, then no log to send it to
    # an invalid manifest's word is not taken, and it says so
    _flip_last_media_byte(clip)
    ignored = _grant(tmp_path, nowhere, "--use", "data_mining", clip)
    assert "is Invalid" in ignored.stderr
    assert "not relied on" in ignored.stderr
    assert ignored.returncode == 3, ignored.stderr


def test_the_layout_of_an_iso_bmff_store_box() -> None:
    """docs/FORMAT.md §3.7, byte by byte: size, ``uuid``, the C2PA user type, version and
    flags, ``manifest`` and a zero byte, an 8-byte offset, then the store."""
    import io

    store = b"\x00\x00\x00\x10jumb" + b"\x00\x00\x00\x08jumd"
    body = c2pa.C2PA_BOX_UUID + bytes(4) + b"manifest\x00" + bytes(8) + store
    ftyp = struct.pack(">I4s", 16, b"ftyp") + b"isom" + bytes(4)
    data = ftyp + struct.pack(">I4s", 8 + len(body), b"uuid") + body
    assert c2pa.c2pa_store_box(io.BytesIO(data), len(data)) == (len(data) - 16, len(data))
