"""C2SP signed notes against golang.org/x/mod/sumdb/note's vectors and Go's Open semantics."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.core.errors import (
    BadSignature,
    InvalidKey,
    LedgerError,
    MalformedNote,
    UnverifiedNote,
)
from ledger.core.note import (
    ED25519_ALG,
    MAX_SIGNATURES,
    Note,
    NoteSignature,
    NoteSigner,
    NoteVerifier,
    format_signature_line,
    is_valid_key_name,
    note_key_id,
    open_note,
    parse_note,
    sign_note,
)

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parent.parent / "vectors" / "sumdb-note.json").read_text("utf-8")
)
TEXT: str = VECTORS["text"]
PETER_SKEY: str = VECTORS["peter"]["skey"]
PETER_VKEY: str = VECTORS["peter"]["vkey"]
ENOCH_VKEY: str = VECTORS["enoch_vkey"]
BY_PETER: str = VECTORS["signed_note_by_peter"]
BY_BOTH: str = VECTORS["signed_note_by_peter_and_enoch"]
PETER_SIG_LINE = BY_PETER[len(TEXT) + 1 :]
ENOCH_SIG_LINE = BY_BOTH[len(BY_PETER) :]
BAD = VECTORS["must_reject_as_malformed_with_peter_verifier"]

PETER = NoteVerifier.from_vkey(PETER_VKEY)
ENOCH = NoteVerifier.from_vkey(ENOCH_VKEY)


def tamper(line: str) -> str:
    """Go's test mangling: insert "ABCD" at character 60 of a signature line."""
    return line[:60] + "ABCD" + line[60:]


# --- Keys ------------------------------------------------------------------------------------


def test_peter_skey_derives_the_published_vkey() -> None:
    signer = NoteSigner.from_skey(PETER_SKEY)
    assert signer.verifier().to_vkey() == PETER_VKEY
    assert signer.to_skey() == PETER_SKEY
    assert signer.verifier() == PETER


def test_peter_key_id() -> None:
    assert PETER.name == "PeterNeumann"
    assert PETER.key_id == 0xC74F20A3
    assert f"{note_key_id(PETER.name, PETER.public_key):08x}" == "c74f20a3"
    assert note_key_id(PETER.name, PETER.public_key, ED25519_ALG) == PETER.key_id
    assert ENOCH.key_id == 0xAF0CFE78


def test_vkey_round_trips() -> None:
    assert PETER.to_vkey() == PETER_VKEY
    assert ENOCH.to_vkey() == ENOCH_VKEY


def test_signer_repr_hides_the_private_key() -> None:
    signer = NoteSigner.from_skey(PETER_SKEY)
    assert "private_key" not in repr(signer)
    assert "AYEKFALV" not in repr(signer)


def test_generated_key_pair_is_self_consistent() -> None:
    # Go: TestGenerateKey / testSignerAndVerifier.
    signer = NoteSigner.from_private_key("EnochRoot", Ed25519PrivateKey.generate())
    verifier = NoteVerifier.from_vkey(signer.verifier().to_vkey())
    assert NoteSigner.from_skey(signer.to_skey()).verifier() == verifier
    assert (verifier.name, verifier.key_id) == (signer.name, signer.key_id)
    sig = signer.sign(b"hi")
    assert verifier.verify(b"hi", sig)
    assert not verifier.verify(b"hi", bytes([sig[0] ^ 1]) + sig[1:])
    assert not verifier.verify(b"hj", sig)
    assert not verifier.verify(b"hi", sig[:-1])
    with pytest.raises(BadSignature):
        verifier.check(b"hj", sig)


def _all_manglings(key: str) -> list[str]:
    """Go's TestNewVerifier/TestNewSigner: every proper substring and every one-byte increment."""
    out = [key[i:j] for i in range(len(key) + 1) for j in range(i + 1, len(key) + 1)]
    out.remove(key)
    out += [key[:i] + chr(ord(key[i]) + 1) + key[i + 1 :] for i in range(len(key))]
    return out


def test_every_mangled_vkey_is_rejected() -> None:
    for bad in _all_manglings(PETER_VKEY):
        with pytest.raises(InvalidKey):
            NoteVerifier.from_vkey(bad)


def test_every_mangled_skey_is_rejected() -> None:
    for bad in _all_manglings(PETER_SKEY):
        with pytest.raises(InvalidKey):
            NoteSigner.from_skey(bad)


def _vkey_with_material(name: str, material: bytes) -> str:
    """A vkey whose id is computed correctly over arbitrary ``alg || key`` bytes."""
    key_id = note_key_id(name, material[1:], material[0])
    return f"{name}+{key_id:08x}+{base64.b64encode(material).decode()}"


@pytest.mark.parametrize(
    ("vkey", "why"),
    [
        (_vkey_with_material("PeterNeumann", bytes([1]) + PETER.public_key + b"\0"), "33-byte key"),
        (_vkey_with_material("PeterNeumann", bytes([1]) + PETER.public_key[:31]), "31-byte key"),
        (_vkey_with_material("PeterNeumann", bytes([0x65]) + PETER.public_key), "unknown alg"),
        (_vkey_with_material("PeterNeumann", bytes([1])), "algorithm byte only"),
        ("PeterNeumann+c74f20a3+", "empty key data"),
        ("PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "uppercase id"),
        ("PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "7-digit id"),
        ("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW\n", "trailing LF"),
        ("Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "space in name"),
        ("+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "empty name"),
        ("PeterNeumann+af0cfe78+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "another key's id"),
        ("EnochRoot+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "another name"),
        ("", "empty string"),
    ],
)
def test_bad_vkeys_are_invalid_key(vkey: str, why: str) -> None:
    with pytest.raises(InvalidKey):
        NoteVerifier.from_vkey(vkey)


def test_bad_skey_algorithm_and_prefix() -> None:
    with pytest.raises(InvalidKey):
        NoteSigner.from_skey(PETER_SKEY.replace("PRIVATE+KEY+", "PRIVATE+KEYS+"))
    with pytest.raises(InvalidKey):
        NoteSigner.from_skey(PETER_VKEY)  # a public key is not a signer key


def test_verifier_constructor_checks_the_key_id() -> None:
    with pytest.raises(InvalidKey):
        NoteVerifier(PETER.name, PETER.key_id ^ 1, PETER.public_key)
    with pytest.raises(InvalidKey):
        NoteVerifier(PETER.name, PETER.key_id, PETER.public_key[:31])
    with pytest.raises(InvalidKey):
        NoteSigner("PeterNeumann", 0, Ed25519PrivateKey.generate())
    with pytest.raises(InvalidKey):
        NoteSigner.from_private_key("PeterNeumann", "not a key")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("PeterNeumann", True),
        ("example.com/log", True),
        ("emoji-\U0001f600", True),
        ("del\x7fchar", True),  # Go only bans Unicode spaces and '+'
        ("", False),
        ("a+b", False),
        ("a b", False),
        ("a\tb", False),
        ("a\u00a0b", False),  # NO-BREAK SPACE
        ("a\u0085b", False),  # NEXT LINE
        ("a\u2009b", False),  # THIN SPACE
        ("a\u3000b", False),  # IDEOGRAPHIC SPACE
        ("a\ud800b", False),  # lone surrogate: not UTF-8
    ],
)
def test_key_name_rules_follow_go(name: str, valid: bool) -> None:
    assert is_valid_key_name(name) is valid


# --- Signing ---------------------------------------------------------------------------------


def test_signing_reproduces_gos_note_byte_for_byte() -> None:
    # Ed25519 is deterministic (RFC 8032), so the signature line is fixed.
    assert sign_note(TEXT, NoteSigner.from_skey(PETER_SKEY)) == BY_PETER


def test_sign_then_open_with_several_signers() -> None:
    a = NoteSigner.from_private_key("a.example/log", Ed25519PrivateKey.generate())
    b = NoteSigner.from_private_key("b.example/witness", Ed25519PrivateKey.generate())
    note = sign_note("hello\n\nworld\n", a, b)
    opened = open_note(note, [a.verifier(), b.verifier()])
    assert opened.text == "hello\n\nworld\n"
    assert [(s.name, s.key_id) for s in opened.signatures] == [
        (a.name, a.key_id),
        (b.name, b.key_id),
    ]
    assert format_signature_line(opened.signatures[0]) in note


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("no final newline", "text must end in a newline (Go: Sign with short text)"),
        ("", "empty text"),
        ("tab\there\n", "ASCII control character"),
        ("carriage\r\n", "carriage return"),
        ("lone \ud800 surrogate\n", "not UTF-8"),
    ],
)
def test_sign_rejects_bad_text(text: str, why: str) -> None:
    with pytest.raises(MalformedNote):
        sign_note(text, NoteSigner.from_skey(PETER_SKEY))


def test_sign_needs_one_to_max_signers() -> None:
    signer = NoteSigner.from_skey(PETER_SKEY)
    with pytest.raises(MalformedNote):
        sign_note(TEXT)
    with pytest.raises(MalformedNote):
        sign_note(TEXT, *[signer] * (MAX_SIGNATURES + 1))


# --- Opening the Go vectors ------------------------------------------------------------------


def test_note_by_peter_and_enoch_opens_with_both_verifiers() -> None:
    opened = open_note(BY_BOTH, [PETER, ENOCH])
    assert opened.text == TEXT
    assert [(s.name, s.key_id) for s in opened.signatures] == [
        ("PeterNeumann", 0xC74F20A3),
        ("EnochRoot", 0xAF0CFE78),
    ]
    assert opened.unverified == ()


@pytest.mark.parametrize(("known", "unknown"), [(PETER, ENOCH), (ENOCH, PETER)])
def test_note_opens_with_one_verifier_and_keeps_the_other_as_unverified(
    known: NoteVerifier, unknown: NoteVerifier
) -> None:
    opened = open_note(BY_BOTH.encode("utf-8"), [known])
    assert [(s.name, s.key_id) for s in opened.signatures] == [(known.name, known.key_id)]
    assert [(s.name, s.key_id) for s in opened.unverified] == [(unknown.name, unknown.key_id)]


def test_no_known_key_is_unverified_note() -> None:
    with pytest.raises(UnverifiedNote) as info:
        open_note(BY_BOTH, [])
    assert info.value.details["unverified_keys"] == ["PeterNeumann+c74f20a3", "EnochRoot+af0cfe78"]


def test_a_signature_by_a_known_name_with_another_id_is_ignored() -> None:
    # signed-note §Signatures: unknown unless both name and id match.
    other = NoteSigner.from_private_key("PeterNeumann", Ed25519PrivateKey.generate())
    with pytest.raises(UnverifiedNote):
        open_note(sign_note(TEXT, other), [PETER])


GO_RAW_FF = b"\xff" + BAD[4][1:].encode("utf-8")  # Go's original badMsgs[4]; see the README


@pytest.mark.parametrize(
    ("note", "error"),
    [
        pytest.param(BAD[0], MalformedNote, id="text only, no blank line"),
        pytest.param(BAD[1], MalformedNote, id="blank line but no signature lines"),
        pytest.param(BAD[2], MalformedNote, id="signature line without final newline"),
        pytest.param(BAD[3], MalformedNote, id="U+0001 control character"),
        # JSON turned Go's raw 0xff byte into U+00FF, which is valid UTF-8: the note is
        # well formed, but Peter's signature does not cover the changed text.
        pytest.param(BAD[4], BadSignature, id="U+00FF as stored in the JSON"),
        pytest.param(GO_RAW_FF, MalformedNote, id="raw 0xff byte as in Go: invalid UTF-8"),
        pytest.param(BAD[5], MalformedNote, id="name with a space and no final newline"),
        pytest.param(BAD[6], MalformedNote, id="line after the signatures"),
        pytest.param(BAD[7], MalformedNote, id="101 signatures"),
        pytest.param(
            VECTORS["must_reject_invalid_signature_with_peter_verifier"],
            BadSignature,
            id="invalid signature by a known key",
        ),
    ],
)
def test_go_bad_messages(note: str | bytes, error: type[LedgerError]) -> None:
    with pytest.raises(error) as info:
        open_note(note, [PETER])
    assert type(info.value) is error


def test_the_vector_table_covers_every_vector() -> None:
    assert len(BAD) == 8


def test_too_many_signatures_even_with_no_known_key() -> None:
    with pytest.raises(MalformedNote):
        open_note(TEXT + "\n" + PETER_SIG_LINE * 101, [])
    assert len(open_note(TEXT + "\n" + PETER_SIG_LINE * 100, [PETER]).signatures) == 1


def test_duplicate_signatures_are_dropped_as_in_go() -> None:
    # Go's TestOpen "Duplicated verified and unverified signatures".
    note = TEXT + "\n" + PETER_SIG_LINE * 2 + ENOCH_SIG_LINE * 2 + tamper(ENOCH_SIG_LINE)
    opened = open_note(note, [PETER])
    assert [s.name for s in opened.signatures] == ["PeterNeumann"]
    assert [s.name for s in opened.unverified] == ["EnochRoot", "EnochRoot"]
    assert opened.unverified[0] != opened.unverified[1]
    assert len(parse_note(note)[1]) == 5  # parse_note keeps every line


def test_a_repeated_known_key_signature_is_not_checked_again() -> None:
    # Go drops the second signature by a known key before verifying it.
    note = TEXT + "\n" + PETER_SIG_LINE + tamper(PETER_SIG_LINE)
    assert len(open_note(note, [PETER]).signatures) == 1
    with pytest.raises(BadSignature):  # ... but the first one is always checked
        open_note(TEXT + "\n" + tamper(PETER_SIG_LINE) + PETER_SIG_LINE, [PETER])


def test_a_bad_signature_by_a_known_key_rejects_the_whole_note() -> None:
    note = TEXT + "\n" + PETER_SIG_LINE + tamper(ENOCH_SIG_LINE)
    with pytest.raises(BadSignature) as info:
        open_note(note, [PETER, ENOCH])
    assert info.value.details["key"] == "EnochRoot+af0cfe78"
    assert len(open_note(note, [PETER]).unverified) == 1  # unknown keys are not checked


def _colliding_verifiers() -> tuple[NoteVerifier, NoteVerifier]:
    """Two keys whose name and 32-bit id collide (found by a birthday search)."""
    name = "collide.example"
    keys = [hashlib.sha256(b"seed%d" % i).digest() for i in (42766, 46954)]
    a, b = (NoteVerifier.from_public_key(name, k) for k in keys)
    assert a.key_id == b.key_id == 0x86ED55CF
    return a, b


def test_ambiguous_known_keys_are_refused_when_used() -> None:
    # Go: VerifierList + Open give "ambiguous key" only for a signature by that key.
    a, b = _colliding_verifiers()
    line = format_signature_line(NoteSignature(a.name, a.key_id, b"\0" * 64))
    with pytest.raises(InvalidKey, match="ambiguous"):
        open_note(TEXT + "\n" + line, [PETER, a, b])
    assert open_note(BY_PETER, [a, PETER, b]).text == TEXT  # unused: fine
    assert open_note(BY_PETER, [PETER, PETER]).text == TEXT  # identical duplicates are one key


def test_c2sp_example_verifies() -> None:
    example = VECTORS["c2sp_example"]
    verifier = NoteVerifier.from_vkey(example["vkey"])
    assert verifier.to_vkey() == example["vkey"]
    opened = open_note(example["signed_note"], [verifier])
    assert opened == Note(
        "This is an example message.\n", (parse_note(example["signed_note"])[1][0],), ()
    )


# --- Grammar details -------------------------------------------------------------------------


def _peter_line_with(name: str = "PeterNeumann", b64: str | None = None) -> str:
    blob = b64 if b64 is not None else PETER_SIG_LINE.split(" ")[2].rstrip("\n")
    return f"\u2014 {name} {blob}\n"


@pytest.mark.parametrize(
    ("note", "why"),
    [
        (TEXT + "\n" + _peter_line_with("Peter+Neumann"), "plus in name"),
        (TEXT + "\n" + _peter_line_with("Peter\u00a0Neumann"), "NBSP in name"),
        (TEXT + "\n" + _peter_line_with(""), "empty name"),
        (TEXT + "\n" + _peter_line_with(b64=""), "empty signature"),
        (TEXT + "\n" + _peter_line_with(b64="AAAAAA=="), "4 bytes: id but no signature"),
        (TEXT + "\n" + _peter_line_with(b64="AAAAAAB="), "non-canonical base64 padding bits"),
        (TEXT + "\n" + _peter_line_with(b64="AAAAAAA"), "unpadded base64"),
        (TEXT + "\n" + PETER_SIG_LINE.replace(" x08go", "  x08go"), "two spaces"),
        (TEXT + "\n" + PETER_SIG_LINE.replace("\u2014", "-"), "hyphen for em dash"),
        (TEXT + "\n" + PETER_SIG_LINE.replace("\u2014 ", "\u2014"), "no space after em dash"),
        (TEXT + "\n" + PETER_SIG_LINE + "\n", "blank line after signatures"),
        (TEXT + "\n" + PETER_SIG_LINE.replace("\n", "\r\n"), "CRLF"),
        ("\n" + PETER_SIG_LINE, "no blank line at all before the signature"),
        (b"\xc0\xaf" + BY_PETER.encode(), "overlong UTF-8"),
        (b"\xed\xa0\x80" + BY_PETER.encode(), "UTF-8-encoded surrogate"),
        ("\ud800" + BY_PETER, "str with a lone surrogate"),
        (None, "not str or bytes"),
    ],
)
def test_grammar_violations_are_malformed(note: Any, why: str) -> None:
    with pytest.raises(MalformedNote):
        parse_note(note)
    with pytest.raises(MalformedNote):
        open_note(note, [PETER])


def test_text_may_contain_blank_lines_del_and_unicode() -> None:
    # signed-note §Format: the text ends at the last blank line; only ASCII controls are banned.
    text = "first\n\n\nthird \x7f \u0085 \u2028 \u2014 fake\n\n"
    signer = NoteSigner.from_skey(PETER_SKEY)
    opened = open_note(sign_note(text, signer), [PETER])
    assert opened.text == text


def test_parse_note_returns_text_and_signatures_without_verifying() -> None:
    text, sigs = parse_note(TEXT + "\n" + tamper(PETER_SIG_LINE))
    assert text == TEXT
    assert sigs[0].name == "PeterNeumann"
    assert sigs[0].key_id == PETER.key_id
    assert len(sigs[0].signature) == 67


def test_format_signature_line_round_trips() -> None:
    _, sigs = parse_note(BY_BOTH)
    assert "".join(format_signature_line(s) for s in sigs) == BY_BOTH[len(TEXT) + 1 :]


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (("a b", 1, b"x"), "bad name"),
        (("a", -1, b"x"), "negative id"),
        (("a", 2**32, b"x"), "id above uint32"),
        (("a", True, b"x"), "bool id"),
        (("a", 1, b""), "empty signature"),
    ],
)
def test_note_signature_constructor_checks(args: tuple[Any, ...], why: str) -> None:
    with pytest.raises(MalformedNote):
        NoteSignature(*args)


# --- Robustness: nothing but LedgerError escapes ---------------------------------------------

ROBUST = settings(max_examples=300, deadline=None, database=None)


@st.composite
def mutated(draw: st.DrawFn, original: str) -> bytes:
    """A valid input with a few random byte deletions, insertions and substitutions."""
    data = bytearray(original.encode("utf-8"))
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["delete", "insert", "replace"]))
        byte = draw(st.integers(0, 255))
        if op == "insert" or pos == len(data):
            data.insert(pos, byte)
        elif op == "delete":
            del data[pos]
        else:
            data[pos] = byte
    return bytes(data)


def _only_ledger_errors(func: Any, *args: Any) -> None:
    with contextlib.suppress(LedgerError):
        func(*args)


@ROBUST
@given(st.one_of(st.binary(), st.text(), mutated(BY_BOTH), mutated(BY_PETER)))
def test_open_and_parse_note_raise_only_ledger_errors(data: str | bytes) -> None:
    _only_ledger_errors(open_note, data, [PETER, ENOCH])
    _only_ledger_errors(open_note, data, [])
    _only_ledger_errors(parse_note, data)


@ROBUST
@given(st.one_of(st.text(), mutated(BY_BOTH)))
def test_mutated_str_notes_raise_only_ledger_errors(data: str | bytes) -> None:
    text = data.decode("utf-8", "surrogateescape") if isinstance(data, bytes) else data
    _only_ledger_errors(open_note, text, [PETER, ENOCH])


@ROBUST
@given(st.one_of(st.text(), mutated(PETER_VKEY), mutated(ENOCH_VKEY)))
def test_from_vkey_raises_only_invalid_key(data: str | bytes) -> None:
    text = data.decode("utf-8", "surrogateescape") if isinstance(data, bytes) else data
    try:
        verifier = NoteVerifier.from_vkey(text)
    except InvalidKey:
        return
    assert verifier.to_vkey() == text  # whatever parses is in its one canonical spelling


@ROBUST
@given(st.one_of(st.text(), mutated(PETER_SKEY)))
def test_from_skey_raises_only_invalid_key(data: str | bytes) -> None:
    text = data.decode("utf-8", "surrogateescape") if isinstance(data, bytes) else data
    try:
        signer = NoteSigner.from_skey(text)
    except InvalidKey:
        return
    assert signer.to_skey() == text


@ROBUST
@given(st.text())
def test_sign_then_open_round_trips_or_refuses_cleanly(text: str) -> None:
    signer = NoteSigner.from_skey(PETER_SKEY)
    try:
        note = sign_note(text, signer)
    except MalformedNote:
        return
    assert open_note(note, [PETER]).text == text
