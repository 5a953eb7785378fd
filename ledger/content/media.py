"""What a media file is and how long it lasts, read from its own bytes without external tools.

``media_type`` looks at the first bytes (magic numbers), then at the file name's extension.
``mp4_duration`` reads the ISO BMFF (MP4/MOV/M4V) box tree down to ``moov/mvhd`` (ISO/IEC
14496-12 §8.2.2): ``duration / timescale`` seconds, rounded up to whole seconds. It seeks over
boxes instead of reading them, so ``mdat`` before ``moov`` costs nothing. Both return None when
they cannot tell; neither raises for odd input (only OSError from the file itself).
"""

from __future__ import annotations

import mimetypes
import re
import struct
from typing import BinaryIO, Final

#: How much of the file ``media_type`` needs (an MPEG-TS sync byte repeats at 188).
SNIFF_BYTES: Final = 192
_MEDIA_TYPE_RE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,62}/[a-z0-9][a-z0-9!#$&^_.+-]{0,62}")
#: ``ftyp`` major brands that are not plain MP4.
_BRANDS: Final = {
    b"qt  ": "video/quicktime",
    b"M4V ": "video/x-m4v",
    b"M4VH": "video/x-m4v",
    b"M4VP": "video/x-m4v",
    b"M4A ": "audio/mp4",
    b"M4B ": "audio/mp4",
    b"3gp4": "video/3gpp",
    b"3gp5": "video/3gpp",
    b"3g2a": "video/3gpp2",
    b"heic": "image/heic",
    b"avif": "image/avif",
}
_MAGIC: Final = (
    (0, b"\x1a\x45\xdf\xa3", "video/x-matroska"),  # refined to webm by extension below
    (0, b"OggS", "application/ogg"),
    (0, b"fLaC", "audio/flac"),
    (0, b"ID3", "audio/mpeg"),
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"GIF8", "image/gif"),
    (0, b"%PDF-", "application/pdf"),
    (0, b"\x00\x00\x01\xba", "video/mpeg"),
    (0, b"\x00\x00\x01\xb3", "video/mpeg"),
)
_RIFF: Final = {b"AVI ": "video/x-msvideo", b"WAVE": "audio/wav", b"WEBP": "image/webp"}
_BOX_HEADER: Final = struct.Struct(">I4s")
#: A bound on the boxes walked at one level: a crafted file cannot make the walk unbounded.
_MAX_BOXES: Final = 100_000


def media_type(head: bytes, name: str) -> str | None:
    """The media type of a file that starts with ``head`` (SNIFF_BYTES) and is named ``name``."""
    sniffed = _sniff(head)
    if sniffed == "video/x-matroska" and name.lower().endswith(".webm"):
        sniffed = "video/webm"
    if sniffed is None:
        guessed, _ = mimetypes.guess_type(name, strict=False)
        sniffed = guessed.lower() if guessed else None
    return sniffed if sniffed and _MEDIA_TYPE_RE.fullmatch(sniffed) else None


def _sniff(head: bytes) -> str | None:
    if head[4:8] == b"ftyp":
        return _BRANDS.get(head[8:12], "video/mp4")
    if head[:4] == b"RIFF":
        return _RIFF.get(head[8:12])
    # MPEG transport stream: a sync byte every 188 bytes.
    if len(head) > 188 and head[0] == 0x47 and head[188] == 0x47:
        return "video/mp2t"
    for offset, magic, kind in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return kind
    return None


def is_iso_bmff(head: bytes) -> bool:
    return head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip")


def mp4_duration(f: BinaryIO, file_size: int) -> int | None:
    """Whole seconds (rounded up) from ``moov/mvhd`` of an ISO BMFF file, or None if unknown."""
    moov = _find_box(f, 0, file_size, b"moov")
    if moov is None:
        return None
    mvhd = _find_box(f, moov[0], moov[1], b"mvhd")
    if mvhd is None:
        return None
    start, end = mvhd
    f.seek(start)
    body = f.read(min(end - start, 32))
    return _mvhd_seconds(body)


def _mvhd_seconds(body: bytes) -> int | None:
    """ISO/IEC 14496-12 §8.2.2.2: version 1 has 64-bit times and duration, version 0 32-bit."""
    if len(body) < 4:
        return None
    if body[0] == 1 and len(body) >= 32:
        timescale, duration = struct.unpack_from(">IQ", body, 4 + 16)
        unknown = 2**64 - 1
    elif body[0] == 0 and len(body) >= 20:
        timescale, duration = struct.unpack_from(">II", body, 4 + 8)
        unknown = 2**32 - 1
    else:
        return None
    if timescale == 0 or duration == unknown:
        return None
    seconds: int = -(-duration // timescale)
    return seconds


def _find_box(f: BinaryIO, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    """The (payload start, end) of the first box of type ``kind`` between ``start`` and ``end``."""
    offset = start
    for _ in range(_MAX_BOXES):
        if offset + 8 > end:
            return None
        f.seek(offset)
        header = f.read(16)
        if len(header) < 8:
            return None
        size, box_type = _BOX_HEADER.unpack_from(header)
        payload = offset + 8
        if size == 1:  # a 64-bit largesize follows the type
            if len(header) < 16:
                return None
            (size,) = struct.unpack_from(">Q", header, 8)
            payload = offset + 16
        elif size == 0:  # the box extends to the end of its container
            size = end - offset
        if size < payload - offset or offset + size > end:
            return None
        if box_type == kind:
            return payload, offset + size
        offset += size
    return None
