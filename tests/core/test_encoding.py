"""Strict hex and base64: ``ledger.core.encoding``."""

from __future__ import annotations

import base64
import binascii

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.core.encoding import b64_decode, b64_encode
from ledger.core.errors import InvalidEncoding


def _b64_decode_reference(text: object, size: int | None, what: str) -> bytes:
    """b64_decode as it was before its fast path: the checks that word every refusal."""
    if not isinstance(text, str) or not text.isascii():
        raise InvalidEncoding(f"{what} must be base64 text")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise InvalidEncoding(f"{what} is not valid base64") from e
    if base64.b64encode(data).decode("ascii") != text:
        raise InvalidEncoding(f"{what} is not canonical base64")
    if size is not None and len(data) != size:
        raise InvalidEncoding(f"{what} must decode to {size} bytes")
    return data


def _outcome(func: object, *args: object) -> tuple[str, object]:
    try:
        return "ok", func(*args)  # type: ignore[operator]
    except InvalidEncoding as e:
        return "refused", e.message


def _mangled(data: bytes, edits: list[tuple[int, str]]) -> str:
    text = list(base64.b64encode(data).decode("ascii"))
    for position, char in edits:
        text.insert(position % (len(text) + 1), char)
    return "".join(text)


_EDITS = st.lists(
    st.tuples(st.integers(0, 200), st.sampled_from([*"=A/+-_ \n\r\t.é", "==", "\x00"])),
    max_size=3,
)


@settings(max_examples=500, database=None)
@given(data=st.binary(max_size=70), edits=_EDITS, size=st.sampled_from([None, 0, 1, 32, 64]))
def test_b64_decode_accepts_and_refuses_as_before(
    data: bytes, edits: list[tuple[int, str]], size: int | None
) -> None:
    text = _mangled(data, edits)
    expected = _outcome(_b64_decode_reference, text, size, "sig")
    assert _outcome(lambda t: b64_decode(t, size=size, what="sig"), text) == expected


@settings(max_examples=300, database=None)
@given(text=st.text(alphabet="ABCDab01+/=-_ \n", max_size=12))
def test_b64_decode_of_short_texts_as_before(text: str) -> None:
    expected = _outcome(_b64_decode_reference, text, None, "v")
    assert _outcome(lambda t: b64_decode(t, what="v"), text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("QQ==", None),
        ("QR==", "not canonical"),  # padding bits set
        ("QQ", "not valid"),  # padding missing
        ("Q Q==", "not valid"),
        ("QQ==QQ==", "not valid"),
        ("QQ=\n", "not valid"),
        ("\uff31\uff31==", "must be base64 text"),  # fullwidth Q
        (b"QQ==", "must be base64 text"),
    ],
)
def test_b64_decode_table(text: object, message: str | None) -> None:
    if message is None:
        assert b64_decode(text) == b"A"
        return
    with pytest.raises(InvalidEncoding, match=message):
        b64_decode(text)


def test_b64_round_trip_and_size() -> None:
    for data in (b"", b"\x00", b"\xff" * 31, bytes(range(64))):
        assert b64_decode(b64_encode(data), size=len(data)) == data
        assert b64_encode(data) == base64.b64encode(data).decode("ascii")
    with pytest.raises(InvalidEncoding, match="must decode to 3 bytes"):
        b64_decode(b64_encode(b"ab"), size=3)
