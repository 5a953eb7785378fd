"""tlog-checkpoint bodies and signed checkpoints (c2sp.org/tlog-checkpoint)."""

from __future__ import annotations

import base64
import contextlib
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.core.checkpoint import (
    MAX_TREE_SIZE,
    Checkpoint,
    log_verifier_from_private_key,
    open_checkpoint,
    sign_checkpoint,
)
from ledger.core.errors import (
    BadSignature,
    InvalidKey,
    LedgerError,
    MalformedNote,
    UnverifiedNote,
)
from ledger.core.note import NoteSigner, format_signature_line, open_note, parse_note, sign_note

ORIGIN = "ledger.example/log"
ROOT = bytes(range(32))
ROOT_B64 = base64.b64encode(ROOT).decode()
LOG_KEY = Ed25519PrivateKey.from_private_bytes(b"\x07" * 32)
LOG = NoteSigner.from_private_key(ORIGIN, LOG_KEY)
WITNESS = NoteSigner.from_private_key(
    "witness.example", Ed25519PrivateKey.from_private_bytes(b"\x09" * 32)
)
CP = Checkpoint(ORIGIN, 20852163, ROOT)
URLSAFE_ROOT = base64.urlsafe_b64encode(bytes([0xFB]) * 32).decode()


# --- Body format -----------------------------------------------------------------------------


def test_body_is_the_c2sp_text() -> None:
    assert CP.body() == f"{ORIGIN}\n20852163\n{ROOT_B64}\n"
    with_ext = Checkpoint(ORIGIN, 0, ROOT, ("ext one", "— two"))
    assert with_ext.body() == f"{ORIGIN}\n0\n{ROOT_B64}\next one\n— two\n"


@pytest.mark.parametrize(
    "cp",
    [
        CP,
        Checkpoint(ORIGIN, 0, bytes(32)),
        Checkpoint(ORIGIN, MAX_TREE_SIZE, b"\xff" * 32),
        Checkpoint("x", 1, ROOT, ("a", "b c", "\u00e9\u2014")),
    ],
)
def test_parse_round_trips(cp: Checkpoint) -> None:
    assert Checkpoint.parse(cp.body()) == cp
    assert Checkpoint.parse(cp.body().encode("utf-8")) == cp


def test_c2sp_example_body_parses() -> None:
    body = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    cp = Checkpoint.parse(body)
    assert (cp.origin, cp.tree_size, cp.extensions) == ("example.com/behind-the-sofa", 20852163, ())
    assert cp.body() == body


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("", "empty"),
        (f"{ORIGIN}\n1\n", "two lines"),
        (f"{ORIGIN}\n1\n{ROOT_B64}", "no final newline"),
        (f"\n1\n{ROOT_B64}\n", "empty origin"),
        (f"{ORIGIN}\n\n{ROOT_B64}\n", "empty size"),
        (f"{ORIGIN}\n1\n\n", "empty root"),
        (f"{ORIGIN}\n1\n{ROOT_B64}\n\n", "empty extension line"),
        (f"{ORIGIN}\n1\n{ROOT_B64}\next\n\n", "trailing empty line after extension"),
        (f"{ORIGIN}\n01\n{ROOT_B64}\n", "leading zero"),
        (f"{ORIGIN}\n00\n{ROOT_B64}\n", "zero written twice"),
        (f"{ORIGIN}\n+1\n{ROOT_B64}\n", "plus sign"),
        (f"{ORIGIN}\n-1\n{ROOT_B64}\n", "negative"),
        (f"{ORIGIN}\n 1\n{ROOT_B64}\n", "leading space"),
        (f"{ORIGIN}\n1 \n{ROOT_B64}\n", "trailing space"),
        (f"{ORIGIN}\n1_000\n{ROOT_B64}\n", "underscore (Python int() would take it)"),
        (f"{ORIGIN}\n\u0661\n{ROOT_B64}\n", "Arabic-Indic digit (Python int() would take it)"),
        (f"{ORIGIN}\n0x10\n{ROOT_B64}\n", "hex"),
        (f"{ORIGIN}\n{2**64}\n{ROOT_B64}\n", "2**64 overflows uint64"),
        (f"{ORIGIN}\n{'9' * 5000}\n{ROOT_B64}\n", "5000 digits"),
        (f"{ORIGIN}\n1\n{base64.b64encode(bytes(31)).decode()}\n", "31-byte root"),
        (f"{ORIGIN}\n1\n{base64.b64encode(bytes(33)).decode()}\n", "33-byte root"),
        (f"{ORIGIN}\n1\n{ROOT_B64.rstrip('=')}\n", "unpadded root"),
        (f"{ORIGIN}\n1\n{ROOT_B64[:-2]}9=\n", "non-canonical padding bits"),
        (f"{ORIGIN}\n1\n{ROOT.hex()}\n", "hex root"),
        (f"{ORIGIN}\n1\n{URLSAFE_ROOT}\n", "URL-safe base64"),
        (f"{ORIGIN}\r\n1\n{ROOT_B64}\n", "CRLF"),
        (f"{ORIGIN}\x00\n1\n{ROOT_B64}\n", "NUL in origin"),
        (f"{ORIGIN}\n1\n{ROOT_B64}\nbad\tline\n", "tab in extension"),
        (f"\ud800\n1\n{ROOT_B64}\n", "lone surrogate"),
        (b"\xff\n1\n" + ROOT_B64.encode() + b"\n", "invalid UTF-8 bytes"),
        (None, "not text"),
    ],
)
def test_malformed_bodies(body: Any, why: str) -> None:
    with pytest.raises(MalformedNote) as info:
        Checkpoint.parse(body)
    assert type(info.value) is MalformedNote


@pytest.mark.parametrize(
    ("kwargs", "why"),
    [
        ({"origin": ""}, "empty origin"),
        ({"origin": "a\nb"}, "newline in origin"),
        ({"tree_size": -1}, "negative size"),
        ({"tree_size": 2**64}, "size above uint64"),
        ({"tree_size": True}, "bool size"),
        ({"tree_size": "1"}, "str size"),
        ({"root_hash": bytes(31)}, "short root"),
        ({"root_hash": bytearray(32)}, "bytearray root"),
        ({"extensions": ("",)}, "empty extension"),
        ({"extensions": ("a\nb",)}, "newline in extension"),
        ({"extensions": ["a"]}, "list, not tuple"),
    ],
)
def test_constructor_refuses_what_body_could_not_encode(kwargs: dict[str, Any], why: str) -> None:
    fields: dict[str, Any] = {"origin": ORIGIN, "tree_size": 1, "root_hash": ROOT} | kwargs
    with pytest.raises(MalformedNote):
        Checkpoint(**fields)


# --- Signed checkpoints ----------------------------------------------------------------------


def test_sign_and_open_round_trip() -> None:
    note = sign_checkpoint(CP, LOG)
    assert note.startswith(CP.body() + "\n\u2014 " + ORIGIN + " ")
    cp, opened = open_checkpoint(note, LOG.verifier())
    assert cp == CP
    assert [s.name for s in opened.signatures] == [ORIGIN]
    assert open_checkpoint(note.encode("utf-8"), LOG.verifier())[0] == CP


def test_log_verifier_from_private_key() -> None:
    verifier = log_verifier_from_private_key(ORIGIN, LOG_KEY)
    assert verifier == LOG.verifier()
    assert verifier.name == ORIGIN


def test_extension_lines_are_preserved_and_signed() -> None:
    cp = Checkpoint(ORIGIN, 5, ROOT, ("witness-hint 1", "\u00e9t\u00e9"))
    note = sign_checkpoint(cp, LOG)
    assert open_checkpoint(note, LOG.verifier())[0].extensions == cp.extensions
    with pytest.raises(BadSignature):
        open_checkpoint(note.replace("witness-hint 1", "witness-hint 2"), LOG.verifier())
    stripped = note.replace("witness-hint 1\n", "")
    with pytest.raises(BadSignature):
        open_checkpoint(stripped, LOG.verifier())


def test_a_checkpoint_signed_by_another_key_is_refused() -> None:
    impostor = NoteSigner.from_private_key(ORIGIN, Ed25519PrivateKey.generate())
    with pytest.raises(UnverifiedNote):
        open_checkpoint(sign_checkpoint(CP, impostor), LOG.verifier())


def test_a_checkpoint_with_another_origin_is_refused() -> None:
    other = Checkpoint("other.example/log", CP.tree_size, CP.root_hash)
    with pytest.raises(InvalidKey):
        sign_checkpoint(other, LOG)  # we never sign one
    forged = sign_note(other.body(), LOG)  # but a note signer could
    with pytest.raises(UnverifiedNote, match="origin"):
        open_checkpoint(forged, LOG.verifier())


def test_a_witness_signature_alone_does_not_open_a_checkpoint() -> None:
    note = sign_note(CP.body(), WITNESS)
    with pytest.raises(UnverifiedNote):
        open_checkpoint(note, LOG.verifier(), [WITNESS.verifier()])


def test_cosigned_checkpoint_reports_both_signatures() -> None:
    note = sign_note(CP.body(), LOG, WITNESS)
    cp, opened = open_checkpoint(note, LOG.verifier(), [WITNESS.verifier()])
    assert cp == CP
    assert [s.name for s in opened.signatures] == [ORIGIN, "witness.example"]
    only_log = open_checkpoint(note, LOG.verifier())[1]
    assert [s.name for s in only_log.unverified] == ["witness.example"]


def test_a_bad_witness_signature_rejects_the_checkpoint() -> None:
    note = sign_checkpoint(CP, LOG)
    _, sigs = parse_note(sign_note(CP.body() + "x\n", WITNESS))  # signs other text
    with pytest.raises(BadSignature):
        open_checkpoint(note + format_signature_line(sigs[0]), LOG.verifier(), [WITNESS.verifier()])


def test_a_signed_note_that_is_not_a_checkpoint_is_malformed() -> None:
    note = sign_note(f"{ORIGIN}\n01\n{ROOT_B64}\n", LOG)
    assert open_note(note, [LOG.verifier()]).text  # a fine note ...
    with pytest.raises(MalformedNote):  # ... but not a checkpoint
        open_checkpoint(note, LOG.verifier())


def test_tampered_size_or_root_fails_the_signature() -> None:
    note = sign_checkpoint(CP, LOG)
    with pytest.raises(BadSignature):
        open_checkpoint(note.replace("20852163", "20852164"), LOG.verifier())


def test_log_verifier_must_be_a_verifier() -> None:
    with pytest.raises(InvalidKey):
        open_checkpoint(sign_checkpoint(CP, LOG), "ledger.example/log+00000000+AA==")  # type: ignore[arg-type]


# --- Robustness ------------------------------------------------------------------------------

ROBUST = settings(max_examples=300, deadline=None, database=None)
SIGNED = sign_note(Checkpoint(ORIGIN, 7, ROOT, ("ext",)).body(), LOG, WITNESS)


@st.composite
def mutated(draw: st.DrawFn, original: str) -> bytes:
    """A valid input with a few random byte deletions, insertions and substitutions."""
    data = bytearray(original.encode("utf-8"))
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(data)))
        byte = draw(st.integers(0, 255))
        if pos == len(data) or draw(st.booleans()):
            data.insert(pos, byte)
        elif draw(st.booleans()):
            del data[pos]
        else:
            data[pos] = byte
    return bytes(data)


@ROBUST
@given(st.one_of(st.binary(), st.text(), mutated(CP.body()), mutated(SIGNED.split("\n\n")[0])))
def test_parse_raises_only_malformed_note(data: str | bytes) -> None:
    try:
        cp = Checkpoint.parse(data)
    except MalformedNote:
        return
    assert cp.body() == (data.decode("utf-8") if isinstance(data, bytes) else data)


@ROBUST
@given(st.one_of(st.binary(), st.text(), mutated(SIGNED)))
def test_open_checkpoint_raises_only_ledger_errors(data: str | bytes) -> None:
    with contextlib.suppress(LedgerError):
        open_checkpoint(data, LOG.verifier(), [WITNESS.verifier()])


@ROBUST
@given(
    st.builds(
        Checkpoint,
        origin=st.just(ORIGIN),
        tree_size=st.integers(0, MAX_TREE_SIZE),
        root_hash=st.binary(min_size=32, max_size=32),
        extensions=st.lists(
            st.text(st.characters(min_codepoint=0x20, exclude_categories=["Cs"]), min_size=1),
            max_size=3,
        ).map(tuple),
    )
)
def test_any_checkpoint_round_trips_through_a_signed_note(cp: Checkpoint) -> None:
    assert open_checkpoint(sign_checkpoint(cp, LOG), LOG.verifier())[0] == cp
