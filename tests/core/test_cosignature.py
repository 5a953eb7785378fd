"""Witness cosignatures (c2sp.org/tlog-cosignature): vectors and tampering. ``core.cosignature``."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.core.cosignature import (
    COSIGNATURE_V1_ALG,
    Cosignature,
    CosignatureVerifier,
    Cosigner,
    cosignature_key_id,
    cosigned_message,
)
from ledger.core.encoding import b64_decode
from ledger.core.errors import BadSignature, InvalidKey, MalformedNote
from ledger.core.note import NoteSignature, NoteVerifier, open_note, parse_note
from tests.core.tlog_vectors import GEN, PUB


def _witness() -> Cosigner:
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(GEN["witness_seed_hex"]))
    return Cosigner(GEN["witness_name"], key)


def _body() -> str:
    return parse_note(GEN["checkpoint_note"])[0]


def test_the_spec_example_cosignature_parses_to_its_key_id_and_time() -> None:
    vec = PUB["spec_cosigned_checkpoint"]
    text, sigs = parse_note(vec["note"])
    cosig = Cosignature.from_note_signature(sigs[1])
    assert cosig.name == vec["witness_name"]
    assert f"{cosig.key_id:08x}" == vec["key_id_hex"]
    assert cosig.timestamp == vec["timestamp"]
    assert len(cosig.signature) == 64
    assert cosigned_message(text, cosig.timestamp).decode() == vec["signed_message"]
    assert cosig.line() == vec["note"].split("\n")[-2] + "\n"


def test_the_formats_timestamp_vectors() -> None:
    vec = PUB["formats_timestamp"]
    blob = b64_decode(vec["ok_signature_b64"])
    sig = NoteSignature("w", int.from_bytes(blob[:4], "big"), blob[4:])
    assert Cosignature.from_note_signature(sig).timestamp == vec["ok_timestamp"]
    blob = b64_decode(vec["not_a_cosignature_b64"])
    with pytest.raises(MalformedNote):
        Cosignature.from_note_signature(NoteSignature("w", 1, blob[4:]))


def test_the_formats_vkeys() -> None:
    vec = PUB["formats_vkeys"]
    verifier = CosignatureVerifier.from_vkey(vec["witness_vkey_ok"])
    assert verifier.to_vkey() == vec["witness_vkey_ok"]
    assert verifier.key_id == cosignature_key_id("remora.n621.de", verifier.public_key)
    for name, vkey in vec["refused"].items():
        with pytest.raises(InvalidKey):
            CosignatureVerifier.from_vkey(vkey)
        assert name


def test_our_vector_is_reproduced_and_verifies() -> None:
    witness = _witness()
    assert witness.verifier().to_vkey() == GEN["witness_vkey"]
    cosig = witness.cosign(_body(), GEN["timestamp"])
    assert cosig.line() == GEN["cosignature_line"]
    assert cosigned_message(_body(), GEN["timestamp"]).decode() == GEN["cosigned_message"]
    verifier = CosignatureVerifier.from_vkey(GEN["witness_vkey"])
    _, sigs = parse_note(GEN["cosigned_note"])
    assert verifier.verify(_body(), sigs[-1]).timestamp == GEN["timestamp"]


def test_the_key_id_uses_algorithm_byte_0x04() -> None:
    witness = _witness()
    public = witness.verifier().public_key
    assert COSIGNATURE_V1_ALG == 0x04
    # The same key as an ordinary note key (0x01) has another id: neither passes for the other.
    assert witness.key_id != NoteVerifier.from_public_key(witness.name, public).key_id


def test_a_cosignature_does_not_pass_as_a_note_signature() -> None:
    witness = _witness()
    as_note_key = NoteVerifier.from_public_key(witness.name, witness.verifier().public_key)
    from ledger.core.errors import UnverifiedNote

    with pytest.raises(UnverifiedNote):  # different key id: the line is ignored, nothing verifies
        open_note(
            GEN["cosigned_note"].replace(GEN["checkpoint_note"].split("\n")[-2] + "\n", ""),
            [as_note_key],
        )


def _flip(b64line: str, index: int) -> str:
    name, blob64 = b64line[2:].rstrip("\n").split(" ")
    blob = bytearray(b64_decode(blob64))
    blob[index] ^= 1
    import base64

    return f"— {name} {base64.b64encode(bytes(blob)).decode()}\n"


@pytest.mark.parametrize(
    ("tamper", "error"),
    [
        (lambda body, line: (body.replace("\n3\n", "\n4\n"), line), BadSignature),
        (lambda body, line: (body + "extension\n", line), BadSignature),  # extensions are signed
        (lambda body, line: (body, _flip(line, 4 + 7)), BadSignature),  # timestamp changed
        (lambda body, line: (body, _flip(line, 4 + 8)), BadSignature),  # signature changed
        (lambda body, line: (body, _flip(line, 0)), InvalidKey),  # key id: not this witness
    ],
    ids=["tree size", "extension line", "timestamp", "signature", "key id"],
)
def test_tampering_is_refused(tamper: Any, error: type[Exception]) -> None:
    body, line = tamper(_body(), GEN["cosignature_line"])
    _, sigs = parse_note(body + "\n" + line)
    with pytest.raises(error):
        CosignatureVerifier.from_vkey(GEN["witness_vkey"]).verify(body, sigs[0])


@pytest.mark.parametrize("timestamp", [-1, 2**63, True])
def test_timestamps_out_of_range_are_refused(timestamp: Any) -> None:
    with pytest.raises(MalformedNote):
        _witness().cosign(_body(), timestamp)
