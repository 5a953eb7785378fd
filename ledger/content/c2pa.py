"""C2PA manifests on clips: what a file says about itself, and a manifest that names its grant.

Reading and signing go through the maintained C2PA library, ``c2pa-python`` (the optional extra
``consent-ledger[c2pa]``), imported only when a file may carry a manifest: without it, ``ledger
hash`` still tells a plain MP4/MOV from one with a manifest (by its boxes) and says that it could
not read the others. What this module decides itself, without the library:

- whether a file may carry a manifest (``c2pa_store_box``: an ISO BMFF file's top-level C2PA
  ``uuid`` box, found by seeking over boxes; a ``.c2pa`` sidecar next to the file), so files
  without one cost a few seeks (docs/BENCHMARKS.md);
- the manifest's hash (``c2pa_hash``, docs/FORMAT.md §3.7): SHA-256 of the manifest store's
  bytes, the JUMBF superbox — a sidecar's whole content, or the same bytes embedded in an ISO
  BMFF file's box or a RIFF file's chunk. Other containers split or wrap the store (JPEG APP11
  segments...): their hash is None;
- the training-and-data-mining assertion (CAWG ``cawg.training-mining``, formerly
  ``c2pa.training-mining``) of the active manifest, per use of our vocabulary (``USES``).

Signing (``bind``) uses the creator's Ed25519 key with a certificate chain made here for that
key (``creator_certificates``): C2PA signers need X.509 certificates, and nobody but the creator
vouches for this one, so validators call the signer untrusted (README, *C2PA on clips*;
docs/FORMAT.md §3.7).
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, Final

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ledger.content.media import SNIFF_BYTES, is_iso_bmff, media_type
from ledger.core import cbor
from ledger.core.errors import C2paFailed, C2paUnavailable
from ledger.core.keys import SigningKey, key_id
from ledger.core.statements import USES

#: The user type of the ISO BMFF ``uuid`` box that holds a C2PA manifest store (C2PA 2.1
#: §A.4.2), the purpose of the one holding the store, and where its JUMBF bytes start in it.
C2PA_BOX_UUID: Final = bytes.fromhex("d8fec3d61b0e483c92975828877ec481")
_MANIFEST_PURPOSE: Final = b"manifest\x00"
#: size+type 8, user type 16, version and flags 4, the purpose, then a 64-bit merkle offset.
_STORE_OFFSET: Final = 8 + 16 + 4 + len(_MANIFEST_PURPOSE) + 8
_MAX_TOP_BOXES: Final = 100_000
#: The RIFF chunk id of a manifest store (C2PA 2.1 §A.3.4: WAV, AVI, WebP).
RIFF_C2PA_CHUNK: Final = b"C2PA"
#: Files up to this size are walked in memory (docs/BENCHMARKS.md, bench_hash_c2pa).
_SMALL_FILE: Final = 256 * 1024
#: Labels of the training-and-data-mining assertion: the CAWG one, then the C2PA 1.x one.
TRAINING_MINING_LABELS: Final = ("cawg.training-mining", "c2pa.training-mining")
#: Entry key prefixes of that assertion (``cawg.ai_training``, ``c2pa.ai_training``).
_ENTRY_PREFIXES: Final = ("cawg.", "c2pa.")
ALLOWED, NOT_ALLOWED, CONSTRAINED = "allowed", "notAllowed", "constrained"
#: Our assertion naming the grant a manifest binds the file to (docs/FORMAT.md §3.7).
GRANT_ASSERTION: Final = "org.consent-ledger.grant"
#: Validation states (the C2PA library's): the signature and hashes check (Valid), and the
#: signer is also on the trust list (Trusted); NONE: the file carries no manifest.
NONE, INVALID, VALID, TRUSTED = "none", "Invalid", "Valid", "Trusted"
#: The file carries a manifest the library could not read at all.
UNREADABLE = "unreadable"
SIDECAR_SUFFIX: Final = ".c2pa"


@dataclass(frozen=True)
class UsePolicy:
    """One entry of a training-mining assertion: ``use`` is ours (``ai_training``) where the
    entry is in our vocabulary, else the entry's own key; ``value`` allowed / notAllowed /
    constrained (as the file spells it); ``constraint`` the constraint text, if any."""

    use: str
    value: str
    constraint: str | None = None


@dataclass(frozen=True)
class GrantBinding:
    """What our assertion names: the log, the grant, its entry and its statement hash."""

    origin: str
    grant_id: str
    seq: int
    statement_hash: str
    #: the SHA-256 of the clip as the grant lists it (an embedded copy has other bytes)
    content_sha256: str

    def to_json(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "grant_id": self.grant_id,
            "seq": self.seq,
            "statement_hash": self.statement_hash,
            "content_sha256": self.content_sha256,
        }


@dataclass(frozen=True)
class C2paSummary:
    """What a file's C2PA manifest says: ``state`` (NONE, INVALID, VALID, TRUSTED, UNREADABLE),
    the active manifest's signer, its training-mining entries, the manifest store's hash
    (None where this module cannot extract the store), where it was found (``embedded`` or
    ``sidecar``), our grant binding if any, and the validation failure codes."""

    state: str
    signer: str | None = None
    training: tuple[UsePolicy, ...] = ()
    manifest_hash: str | None = None
    where: str | None = None
    binding: GrantBinding | None = None
    problems: tuple[str, ...] = ()
    #: the key id of the Ed25519 key whose certificate signs the active manifest (None: not
    #: Ed25519, or the store could not be extracted): ``signer`` is a name, this is the key
    signer_key: str | None = None

    @property
    def valid(self) -> bool:
        """The manifest validates (VALID or TRUSTED): its assertions are the file's own word."""
        return self.state in (VALID, TRUSTED)

    def uses(self, value: str) -> list[UsePolicy]:
        return [p for p in self.training if p.value == value]

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "signer": self.signer,
            "training": training_json(self.training),
            "manifest_hash": self.manifest_hash,
            "where": self.where,
            "grant": None if self.binding is None else self.binding.to_json(),
            "problems": list(self.problems),
            "signer_key": self.signer_key,
        }


def training_json(training: tuple[UsePolicy, ...]) -> dict[str, Any]:
    """The entries as ``{use: {"use": value[, "constraint_info": text]}}``, the CAWG shape."""
    out: dict[str, Any] = {}
    for p in training:
        entry: dict[str, str] = {"use": p.value}
        if p.constraint is not None:
            entry["constraint_info"] = p.constraint
        out[p.use] = entry
    return out


def training_from_json(entries: object) -> tuple[UsePolicy, ...]:
    """Entries of a training-mining assertion (CAWG shape, any key prefix) as ``UsePolicy``;
    entries that are not objects with a string ``use`` are left out. Sorted by use."""
    if not isinstance(entries, Mapping):
        return ()
    found = []
    for key, entry in entries.items():
        if not isinstance(key, str) or not isinstance(entry, Mapping):
            continue
        value, text = entry.get("use"), entry.get("constraint_info")
        if not isinstance(value, str):
            continue
        use = next((key[len(p) :] for p in _ENTRY_PREFIXES if key.startswith(p)), key)
        found.append(UsePolicy(use, value, text if isinstance(text, str) else None))
    return tuple(sorted(found, key=lambda p: p.use))


# --- finding a manifest without the library ------------------------------------------------------


def sidecar_path(path: Path) -> Path:
    """Where a file's sidecar manifest lives: the same name with ``.c2pa`` as its extension
    (``clip.mp4`` → ``clip.c2pa``), as the C2PA library looks for it."""
    return path.with_suffix(SIDECAR_SUFFIX)


def c2pa_store_box(f: BinaryIO, size: int) -> tuple[int, int] | None:
    """(start, end) of the manifest store in an ISO BMFF file: the JUMBF bytes of its top-level
    C2PA ``uuid`` box of purpose ``manifest``; None if it has none. Seeks over boxes only."""
    offset = 0
    for _ in range(_MAX_TOP_BOXES):
        if offset + 8 > size:
            return None
        f.seek(offset)
        header = f.read(8 + 16 + 4 + len(_MANIFEST_PURPOSE))
        if len(header) < 8:
            return None
        box_size, kind = struct.unpack_from(">I4s", header)
        head = 8
        if box_size == 1:
            if len(header) < 16:
                return None
            (box_size,) = struct.unpack_from(">Q", header, 8)
            head = 16
        elif box_size == 0:
            box_size = size - offset
        if box_size < head or offset + box_size > size:
            return None
        if (
            kind == b"uuid"
            and head == 8
            and header[8:24] == C2PA_BOX_UUID
            and header[28 : 28 + len(_MANIFEST_PURPOSE)] == _MANIFEST_PURPOSE
            and box_size > _STORE_OFFSET
        ):
            return offset + _STORE_OFFSET, offset + box_size
        offset += box_size
    return None


def riff_store_chunk(f: BinaryIO, size: int) -> tuple[int, int] | None:
    """(start, end) of the manifest store in a RIFF file (WAV, AVI, WebP): the data of its
    top-level ``C2PA`` chunk; None if it has none. Seeks over chunks only."""
    f.seek(0)
    header = f.read(12)
    if len(header) < 12 or header[:4] != b"RIFF":
        return None
    offset, end = 12, min(size, 8 + struct.unpack_from("<I", header, 4)[0])
    for _ in range(_MAX_TOP_BOXES):
        if offset + 8 > end:
            return None
        f.seek(offset)
        chunk = f.read(8)
        kind, length = chunk[:4], struct.unpack_from("<I", chunk, 4)[0]
        if offset + 8 + length > end:
            return None
        if kind == RIFF_C2PA_CHUNK:
            return offset + 8, offset + 8 + length
        offset += 8 + length + (length & 1)  # chunks are padded to an even length
    return None


def jpeg_has_jumbf(f: BinaryIO, size: int) -> bool:
    """Whether a JPEG has an APP11 segment holding JUMBF (ISO/IEC 19566-5: ``JP`` then box
    instance and sequence numbers), as a C2PA store is carried; walks the marker segments up to
    the start of the scan, seeking over each. False for a JPEG whose segments do not parse."""
    offset = 2
    for _ in range(_MAX_TOP_BOXES):
        f.seek(offset)
        header = f.read(6)
        if len(header) < 4 or header[0] != 0xFF:
            return False
        marker = header[1]
        if marker == 0xFF:  # fill byte
            offset += 1
            continue
        if marker in (0xD9, 0xDA):  # end of image, start of scan: no more APPn segments
            return False
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # no length
            offset += 2
            continue
        (length,) = struct.unpack_from(">H", header, 2)
        if marker == 0xEB and header[4:6] == b"JP":
            return True
        offset += 2 + length
        if length < 2 or offset > size:
            return False
    return False


def _library_reads(media_type: str | None) -> bool:
    """Whether the C2PA library reads files of ``media_type`` (its own list, asked once)."""
    if media_type is None:
        return True  # let the library look at the bytes
    return media_type in _supported_types()


@functools.cache
def _supported_types() -> frozenset[str]:
    return frozenset(library().Reader.get_supported_mime_types())


def _bytes_between(f: BinaryIO, start: int, end: int) -> bytes:
    f.seek(start)
    return f.read(end - start)


def c2pa_hash_of(store: bytes) -> str:
    """docs/FORMAT.md §3.7: a grant item's ``c2pa_hash`` is the SHA-256 of the store's bytes."""
    return hashlib.sha256(store).hexdigest()


# --- the active manifest's signing key, from the store's own bytes ------------------------------
#
# The C2PA library checks the claim signature against the certificate the signature carries, but
# does not say which key that certificate holds; a certificate's name is whatever its maker
# wrote. The key is read here: JUMBF boxes (ISO/IEC 19566-5) down to the last manifest's
# ``c2pa.signature`` box, its COSE_Sign1 (RFC 9052), the ``x5chain`` header (label 33, RFC 9360)
# and the first certificate's public key.

_X5CHAIN: Final = 33


def _boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, end) of each JUMBF/ISO box between ``start`` and ``end``."""
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        head = 8
        if size == 1 and pos + 16 <= end:
            (size,) = struct.unpack_from(">Q", data, pos + 8)
            head = 16
        elif size == 0:
            size = end - pos
        if size < head or pos + size > end:
            raise ValueError(f"a JUMBF box at byte {pos} overruns its container")
        yield kind, pos + head, pos + size
        pos += size


def _superboxes(data: bytes, start: int, end: int) -> list[tuple[str | None, int, int]]:
    """The ``jumb`` superboxes between ``start`` and ``end``, each with its ``jumd`` label."""
    found = []
    for kind, s, e in _boxes(data, start, end):
        if kind == b"jumb":
            found.append((_label(data, s, e), s, e))
    return found


def _label(data: bytes, start: int, end: int) -> str | None:
    for kind, s, e in _boxes(data, start, end):  # the description box comes first
        if kind != b"jumd" or e - s < 17 or not data[s + 16] & 0x02:
            return None
        z = data.index(b"\x00", s + 17, e)
        return data[s + 17 : z].decode("utf-8", "replace")
    return None


def signer_key(store: bytes) -> str | None:
    """The key id (docs/FORMAT.md §2.2) of the Ed25519 certificate that signs the active
    (last) manifest of a manifest store; None if the signer's key is not Ed25519 or the store
    cannot be walked. Reads only; whether the signature holds is the library's check."""
    try:
        [(label, s, e)] = _superboxes(store, 0, len(store))
        if label != "c2pa":
            return None
        _, ms, me = _superboxes(store, s, e)[-1]
        _, ss, se = next(b for b in _superboxes(store, ms, me) if b[0] == "c2pa.signature")
        payload = next(store[bs:be] for kind, bs, be in _boxes(store, ss, se) if kind == b"cbor")
        sign1 = cbor.decode(payload)
        sign1 = sign1.value if isinstance(sign1, cbor.Tag) else sign1
        headers = cbor.decode(sign1[0]) if sign1[0] else {}
        chain = headers.get(_X5CHAIN, sign1[1].get(_X5CHAIN))
        der = chain[0] if isinstance(chain, list) else chain
        public = x509.load_der_x509_certificate(der).public_key()
    except (ValueError, StopIteration, IndexError, KeyError, TypeError, AttributeError):
        return None
    if not isinstance(public, Ed25519PublicKey):
        return None
    return key_id(public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


# --- reading with the library --------------------------------------------------------------------


@functools.cache
def library() -> Any:
    """The ``c2pa`` module; C2paUnavailable saying how to install it."""
    try:
        import c2pa  # noqa: PLC0415 (optional: loaded only when a file needs it)
    except ImportError as e:
        raise C2paUnavailable(
            "reading and writing C2PA manifests needs the c2pa-python library:"
            " pip install 'consent-ledger[c2pa]'"
        ) from e
    return c2pa


@functools.cache
def have_library() -> bool:
    try:
        library()
    except C2paUnavailable:
        return False
    return True


def inspect(
    path: Path, f: BinaryIO, head: bytes, size: int, media_type: str | None
) -> C2paSummary | None:
    """What ``path`` (open as ``f``, ``size`` bytes, starting with ``head``) says through C2PA:
    NONE when it carries no manifest, None when it cannot be told without the library (it is
    not installed, and the file is not ISO BMFF or has a sidecar). Never raises for odd input;
    OSError from the files themselves."""
    name = os.fspath(path)
    base, ext = os.path.splitext(name)
    sidecar = base + SIDECAR_SUFFIX  # sidecar_path, without pathlib's cost on every file
    if ext != SIDECAR_SUFFIX and os.path.isfile(sidecar):
        with open(sidecar, "rb") as g:
            store = g.read()
        return _read(path, media_type, store, "sidecar", store) if have_library() else None
    embedded: bytes | None = None
    if size <= _SMALL_FILE:  # one read instead of a few small ones: they cost more than it
        f.seek(0)
        f = io.BytesIO(f.read())
    if is_iso_bmff(head) or head[:4] == b"RIFF":
        box = c2pa_store_box(f, size) if is_iso_bmff(head) else riff_store_chunk(f, size)
        if box is None:
            return C2paSummary(NONE)
        embedded = _bytes_between(f, *box)
    elif head[:3] == b"\xff\xd8\xff" and not jpeg_has_jumbf(f, size):
        return C2paSummary(NONE)
    if not have_library():
        return None
    if embedded is None and not _library_reads(media_type):
        return C2paSummary(NONE)  # a format C2PA does not define (MKV, MPEG-TS, text...)
    return _read(path, media_type, None, "embedded", embedded)


def read_file(path: Path) -> C2paSummary:
    """``inspect`` for one file by name; C2paUnavailable where only the library could tell."""
    with open(path, "rb") as f:
        head = f.read(SNIFF_BYTES)
        size = f.seek(0, 2)
        found = inspect(path, f, head, size, media_type(head, path.name))
    if found is None:
        library()  # raises, saying how to install it
        raise AssertionError("inspect returns None only without the library")
    return found


def _read(
    path: Path, media_type: str | None, sidecar: bytes | None, where: str, store: bytes | None
) -> C2paSummary:
    """The library's reading of ``path`` (with its ``sidecar`` store, if given); ``store`` is
    the store's bytes where this module could extract them, for its hash and signer key."""
    c2pa = library()
    try:
        if sidecar is not None:
            with open(path, "rb") as stream:
                reader = c2pa.Reader(media_type or path.suffix.lstrip("."), stream, sidecar)
                return _summary(reader, store, where)
        reader = c2pa.Reader.try_create(str(path))
        if reader is None:
            return C2paSummary(NONE)
        with reader:
            return _summary(reader, store, where)
    except c2pa.C2paError as e:
        problem = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        if "NotSupported" in type(e).__name__:
            return C2paSummary(NONE)
        return C2paSummary(UNREADABLE, where=where, problems=(problem,))


def _summary(reader: Any, store: bytes | None, where: str) -> C2paSummary:
    state = reader.get_validation_state() or INVALID
    manifest = reader.get_active_manifest() or {}
    results = reader.get_validation_results() or {}
    failures = (results.get("activeManifest") or {}).get("failure") or []
    problems = tuple(sorted({str(x.get("code")) for x in failures if isinstance(x, dict)}))
    training: tuple[UsePolicy, ...] = ()
    binding = None
    for assertion in manifest.get("assertions") or []:
        label, data = assertion.get("label"), assertion.get("data")
        if label in TRAINING_MINING_LABELS and not training and isinstance(data, Mapping):
            training = training_from_json(data.get("entries"))
        elif label == GRANT_ASSERTION and binding is None:
            binding = _binding(data)
    return C2paSummary(
        state=state if state in (INVALID, VALID, TRUSTED) else INVALID,
        signer=_signer(manifest.get("signature_info")),
        training=training,
        manifest_hash=None if store is None else c2pa_hash_of(store),
        where=where,
        binding=binding,
        problems=problems,
        signer_key=None if store is None else signer_key(store),
    )


def _signer(info: object) -> str | None:
    if not isinstance(info, Mapping):
        return None
    name, issuer = info.get("common_name"), info.get("issuer")
    parts = [str(name)] if name else []
    if issuer:
        parts.append(f"issued by {issuer}")
    return ", ".join(parts) or None


def _binding(data: object) -> GrantBinding | None:
    if not isinstance(data, Mapping):
        return None
    origin, grant_id = data.get("origin"), data.get("grant_id")
    seq, statement_hash = data.get("seq"), data.get("statement_hash")
    content = data.get("content_sha256")
    if not (
        isinstance(origin, str)
        and isinstance(grant_id, str)
        and type(seq) is int
        and isinstance(statement_hash, str)
        and isinstance(content, str)
    ):
        return None
    return GrantBinding(origin, grant_id, seq, statement_hash, content)


# --- signing: a manifest that binds a clip to its grant ------------------------------------------


def creator_certificates(key: SigningKey, now: datetime | None = None) -> bytes:
    """A PEM chain for ``key``: an end-entity certificate for the key, issued by a CA
    certificate for the same key. Both name the key id (CN) and nothing else about the creator.

    C2PA refuses a self-signed end-entity certificate, so the chain has two links; both are
    the creator's own word, and a validator without them on its trust list calls the signer
    untrusted (``signingCredential.untrusted``) — which is honest: the key is vouched for by
    the log's key registrations, not by a certificate authority."""
    private = key.private_key
    public = private.public_key()
    now = now or datetime.now(UTC)

    def name(unit: str) -> x509.Name:
        return x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, key.key_id),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Consent Ledger creator key"),
            ]
        )

    def cert(subject: x509.Name, ca: bool) -> x509.Certificate:
        usage = x509.KeyUsage(
            digital_signature=not ca,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=ca,
            crl_sign=ca,
            encipher_only=False,
            decipher_only=False,
        )
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(name("creator CA"))
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(usage, critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        )
        if not ca:
            eku = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION])
            builder = builder.add_extension(eku, critical=False).add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False
            )
        return builder.sign(private, None)

    chain = [cert(name("creator"), ca=False), cert(name("creator CA"), ca=True)]
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain)


@dataclass(frozen=True)
class BindRequest:
    """What ``bind`` writes into the manifest: the grant's names, its uses (constrained by
    ``constraint``, else allowed) and the other uses of our vocabulary (notAllowed: the grant
    does not license them)."""

    binding: GrantBinding
    uses: tuple[str, ...]
    title: str
    constraint: str | None = None


def manifest_definition(request: BindRequest, generator_version: str) -> dict[str, Any]:
    """The manifest ``bind`` signs: a training-mining assertion matching the grant's uses, our
    grant assertion, and an ``opened`` action on the clip itself as parent ingredient."""
    entries: dict[str, Any] = {}
    for use in sorted(USES):
        if use in request.uses:
            entry: dict[str, str] = {"use": CONSTRAINED if request.constraint else ALLOWED}
            if request.constraint:
                entry["constraint_info"] = request.constraint
        else:
            entry = {"use": NOT_ALLOWED}
        entries[f"cawg.{use}"] = entry
    return {
        "claim_generator_info": [{"name": "consent-ledger", "version": generator_version}],
        "title": request.title,
        "assertions": [
            {"label": TRAINING_MINING_LABELS[0], "data": {"entries": entries}},
            {"label": GRANT_ASSERTION, "data": request.binding.to_json()},
        ],
    }


def bind(
    key: SigningKey,
    path: Path,
    media_type: str,
    request: BindRequest,
    *,
    embed_to: Path | None = None,
    generator_version: str = "0",
) -> bytes:
    """Sign a manifest for ``path`` with ``key`` and return the manifest store's bytes.

    Without ``embed_to`` the clip is left as it is and the caller writes the bytes as its
    sidecar; with ``embed_to`` the library writes a copy of the clip with the store embedded
    there (its bytes, and so its SHA-256, then differ from the clip's). Raises
    C2paUnavailable, C2paFailed; OSError from the files."""
    c2pa = library()
    certificates = creator_certificates(key).decode("ascii")
    try:
        signer = c2pa.Signer.from_callback(
            key.private_key.sign, c2pa.C2paSigningAlg.ED25519, certificates, None
        )
        with c2pa.Builder(manifest_definition(request, generator_version)) as builder:
            if embed_to is None:
                builder.set_no_embed()
            with open(path, "rb") as source:
                ingredient = {"title": path.name, "relationship": "parentOf", "label": "clip"}
                builder.add_ingredient(ingredient, media_type, source)
            builder.add_action({"action": "c2pa.opened", "parameters": {"ingredientIds": ["clip"]}})
            with open(path, "rb") as source:
                if embed_to is None:
                    return bytes(builder.sign(signer, media_type, source, _Discard()))
                with open(embed_to, "w+b") as dest:
                    return bytes(builder.sign(signer, media_type, source, dest))
    except c2pa.C2paError as e:
        raise C2paFailed(f"C2PA signing of {path} failed: {str(e).splitlines()[0]}") from e


class _Discard:
    """A writable, seekable stream that keeps nothing: the sidecar case writes no asset."""

    def __init__(self) -> None:
        self._pos = 0
        self._end = 0

    def write(self, data: bytes) -> int:
        self._pos += len(data)
        self._end = max(self._end, self._pos)
        return len(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._end}[whence]
        self._pos = base + offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    def read(self, n: int = -1) -> bytes:
        return b""

    def flush(self) -> None:
        return None
