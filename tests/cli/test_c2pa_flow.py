"""C2PA through a real log: a camera-signed clip whose manifest forbids AI training, licensed
only with ``--c2pa-override`` (recorded in the grant next to the manifest's hash), bound to its
grant with ``ledger c2pa bind`` (sidecar and embedded), the binding read back by the C2PA
library's reader, and ``ledger status`` finding the grant from the file alone.

Only the SQLite leg: everything here is the client's; the storage backends are the other
suites' business."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import c2pa as c2pa_library
import pytest

from ledger.content import c2pa
from ledger.core.keys import SigningKey
from tests.cli.clitools import assert_one_line_failure, mp4, run_ledger
from tests.cli.test_flow import GRANT_TERMS, grant_ids, party
from tests.cli.test_json import run_json
from tests.support.live import LiveServer

pytestmark = pytest.mark.parametrize("live", ["sqlite"], indirect=True)


def camera_signed(clip: Path, out: Path, entries: dict[str, Any]) -> bytes:
    """What a camera would write: an embedded manifest of its own key (not the creator's),
    created as a digital capture, with a training-mining assertion of ``entries``."""
    camera = SigningKey.generate()
    signer = c2pa_library.Signer.from_callback(
        camera.private_key.sign,
        c2pa_library.C2paSigningAlg.ED25519,
        c2pa.creator_certificates(camera).decode(),
        None,
    )
    definition = {
        "claim_generator_info": [{"name": "test camera", "version": "1"}],
        "assertions": [{"label": "cawg.training-mining", "data": {"entries": entries}}],
    }
    with c2pa_library.Builder(definition) as builder:
        builder.set_intent(
            c2pa_library.C2paBuilderIntent.CREATE,
            c2pa_library.C2paDigitalSourceType.DIGITAL_CAPTURE,
        )
        with open(clip, "rb") as source, open(out, "w+b") as dest:
            return bytes(builder.sign(signer, "video/mp4", source, dest))


def test_a_clip_is_licensed_against_its_manifest_bound_and_found(
    live: LiveServer, user_env: dict[str, str], tmp_path: Path
) -> None:
    env = user_env
    creator_pem, creator = party(tmp_path, env, "C2pa Creator")
    buyer_pem, buyer = party(tmp_path, env, "C2pa Buyer")
    raw = tmp_path / "raw.mp4"
    raw.write_bytes(mp4(1000, 20_000))
    clip = tmp_path / "clip.mp4"
    camera_store = camera_signed(
        raw,
        clip,
        {"cawg.ai_training": {"use": "notAllowed"}, "cawg.ai_inference": {"use": "allowed"}},
    )
    plain = tmp_path / "plain.mp4"
    plain.write_bytes(mp4(1000, 7_000))
    clip_sha = hashlib.sha256(clip.read_bytes()).hexdigest()
    plain_sha = hashlib.sha256(plain.read_bytes()).hexdigest()
    grant = ["grant", "--key", creator_pem, "--buyer", buyer, *GRANT_TERMS]

    # 1. The file's own manifest forbids AI training: refused, then licensed with the override
    refused = run_ledger(*grant, clip, plain, env=env)
    assert_one_line_failure(refused, 2, "nothing signed", "marks ai_training notAllowed")
    made = run_ledger(
        *grant, "--use", "ai_inference", "--c2pa-override", "ai_training", clip, plain, env=env
    )
    assert made.returncode == 0, made.stderr
    [grant_id] = grant_ids(made.stdout)
    shown = json.loads(run_ledger("show", grant_id, "--content", "--json", env=env).stdout)
    items = {item["sha256"]: item for item in shown["grant"]["content"]}
    assert items[clip_sha]["c2pa_hash"] == hashlib.sha256(camera_store).hexdigest()
    assert items[clip_sha]["c2pa_override"] == ["ai_training"]  # and only for that file
    assert items[plain_sha]["c2pa_hash"] is None
    assert items[plain_sha]["c2pa_override"] == []
    accepted = run_ledger("accept", "--yes", "--key", buyer_pem, grant_id, env=env)
    assert accepted.returncode == 0, accepted.stderr
    bind = ["c2pa", "bind", "--key", creator_pem, "--grant", grant_id]

    # 2. Bound: a sidecar; the clip and its SHA-256 unchanged
    bound = run_json("c2pa-bind", *bind, plain, env=env)
    sidecar = tmp_path / "plain.c2pa"
    assert bound["manifest"] == str(sidecar)
    assert bound["manifest_hash"] == hashlib.sha256(sidecar.read_bytes()).hexdigest()
    assert hashlib.sha256(plain.read_bytes()).hexdigest() == plain_sha
    seq = bound["seq"]
    # the library's own reader, given the clip and our sidecar
    with open(plain, "rb") as stream:
        reader = c2pa_library.Reader("video/mp4", stream, sidecar.read_bytes())
        assert reader.get_validation_state() == "Valid"
        manifest = reader.get_active_manifest()
    assertions = {a["label"]: a["data"] for a in manifest["assertions"]}
    assert assertions["org.consent-ledger.grant"] == {
        "origin": live.origin,
        "grant_id": grant_id,
        "seq": seq,
        "statement_hash": bound["statement_hash"],
        "content_sha256": plain_sha,
    }
    entries = assertions["cawg.training-mining"]["entries"]
    assert entries["cawg.ai_training"]["use"] == "constrained"
    assert entries["cawg.ai_inference"]["use"] == "constrained"
    assert buyer in entries["cawg.ai_training"]["constraint_info"]
    assert entries["cawg.data_mining"] == {"use": "notAllowed"}
    assert manifest["signature_info"]["common_name"] == creator
    again = run_ledger(*bind, plain, env=env)
    assert_one_line_failure(again, 2, "exists", "--force")

    # 3. ledger status finds the grant (and its buyer) from the file
    status = run_ledger("status", plain, "--use", "ai_training", env=env)
    assert status.returncode == 0, status.stderr
    assert f"bound grant     {grant_id}  seq {seq}" in status.stdout
    assert f"{plain_sha}  LICENSED" in status.stdout
    not_granted = run_ledger("status", plain, "--use", "data_mining", env=env)
    assert "NOT licensed" in not_granted.stdout

    # 4. A clip with its camera's manifest is bound embedded: a copy with other bytes, taken as
    # the clip because the creator's key signed it; the camera's manifest is its ingredient
    assert_one_line_failure(run_ledger(*bind, clip, env=env), 2, "already embeds", "--embed")
    copy = tmp_path / "copy.mp4"
    embedded = run_json("c2pa-bind", *bind, clip, "--embed", "--out", copy, env=env)
    assert embedded["where"] == "embedded"
    assert hashlib.sha256(copy.read_bytes()).hexdigest() != clip_sha
    with c2pa_library.Reader(str(copy)) as reader:
        assert reader.get_validation_state() == "Valid"
        ingredients = reader.get_active_manifest()["ingredients"]
    assert [i["relationship"] for i in ingredients] == ["parentOf"]
    assert "active_manifest" in ingredients[0]  # the camera's own manifest, carried along
    via_copy = run_ledger("status", copy, "--use", "ai_training", env=env)
    assert via_copy.returncode == 0, via_copy.stderr
    assert f"{clip_sha}  LICENSED" in via_copy.stdout
    assert "signed by the grant's creator key" in via_copy.stderr

    # 5. Another creator cannot bind it, and a changed clip's manifest is not used
    other_pem, _ = party(tmp_path, env, "C2pa Other")
    theirs = run_ledger(
        *bind[:2], "--key", other_pem, "--grant", grant_id, plain, "--force", env=env
    )
    assert theirs.returncode != 0
    assert "Traceback" not in theirs.stderr
    assert hashlib.sha256(sidecar.read_bytes()).hexdigest() == bound["manifest_hash"]
    data = bytearray(plain.read_bytes())
    data[data.rindex(b"frame-data") + 2] ^= 1
    plain.write_bytes(bytes(data))
    changed = run_ledger("status", plain, env=env)
    assert_one_line_failure(changed, 2, "--buyer is required")
    assert "is Invalid" in changed.stderr
