"""The evidence bundle's JSON shape, read strictly (docs/FORMAT.md §13), with fast paths.

``parse_bundle`` refuses anything but the v1 shape with MalformedBundle and verifies nothing.
Entries and items are read by ``_fast_entry`` / ``_fast_verdict`` where they can, and otherwise,
or on any doubt, by ``_parse_entry`` / ``_parse_verdict``, which decide and word every refusal
(tests/core/test_evidence_parse_fast.py pins them). No I/O here.
"""

from __future__ import annotations

import binascii
import functools
import itertools
import struct
from collections.abc import Iterable
from typing import Any, Final

from ..canonical import parse_json
from ..encoding import b64_decode, hash_from_hex
from ..errors import (
    LedgerError,
    MalformedBundle,
)
from ..licensing import REASONS, Verdict, check_use, format_instant, parse_instant
from ..licmap import describe_key, encode_seqs
from ..vmap import decode_proof
from .bundle import (
    BUNDLE_FORMAT,
    EntryReceipt,
    EvidenceBundle,
    EvidenceEntry,
    EvidenceQuery,
    MapMember,
)


def _members(obj: object, names: Iterable[str], where: str) -> dict[str, Any]:
    expected = names if isinstance(names, frozenset) else frozenset(names)
    if not isinstance(obj, dict) or obj.keys() != expected:
        got = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
        raise MalformedBundle(f"{where} must be an object with members {sorted(expected)}: {got}")
    return obj


def _int(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise MalformedBundle(f"{where} must be a non-negative integer")
    return value


def _str(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise MalformedBundle(f"{where} must be a string")
    return value


def _list(value: object, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise MalformedBundle(f"{where} must be a list")
    return value


def _hash(value: object, where: str) -> bytes:
    raw = _hex32(value)
    if raw is not None:
        return raw
    try:
        return hash_from_hex(value, where)  # refuses, with the message
    except LedgerError as e:
        raise MalformedBundle(f"{where}: {e.message}") from e


def _hex32(value: object) -> bytes | None:
    """The 32 bytes that exactly 64 lowercase hex digits spell; None for anything else.

    Without a regex: the hex round trip refuses uppercase and whitespace.
    """
    if type(value) is str and len(value) == 64:
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            return None
        if raw.hex() == value:
            return raw
    return None


def _hex32_list(items: list[Any]) -> tuple[bytes, ...] | None:
    """``_hex32`` of every item in one pass (proofs hold many); None if any item is not so."""
    try:
        joined = " ".join(items)  # refuses anything but strings
        raw = bytes.fromhex(joined)
    except (TypeError, ValueError):
        return None
    # One space between items: fromhex skips it, and with 32 bytes an item, the spaced hex of the
    # result gives back exactly that text only when each item is 64 lowercase hex digits.
    if len(raw) != 32 * len(items) or raw.hex(" ", 32) != joined:
        return None
    if len(items) > _SPLITTER_MAX:  # no proof is that long; a hostile bundle may be
        return tuple(raw[i : i + 32] for i in range(0, len(raw), 32))
    return _hash_splitter(len(items)).unpack(raw) if items else ()


def _parse_query(obj: object) -> EvidenceQuery:
    q = _members(obj, ("buyer", "use", "at"), "query")
    _hash(q["buyer"], "query.buyer")
    try:
        use = check_use(q["use"])
        at = parse_instant(q["at"], "query.at")
    except LedgerError as e:
        raise MalformedBundle(e.message) from e
    if format_instant(at) != q["at"]:
        raise MalformedBundle("query.at must have exactly six fractional digits")
    return EvidenceQuery(q["buyer"], use, at)


_ENTRY_MEMBERS: Final = frozenset(("seq", "leaf_hash", "leaf", "inclusion_proof"))


def _parse_entries(value: object) -> tuple[EvidenceEntry, ...]:
    """The bundle's entries: each by the fast parser, or by the strict one when that declines."""
    return tuple(
        _fast_entry(e) or _parse_entry(e, i) for i, e in enumerate(_list(value, "entries"))
    )


def _fast_entry(obj: object) -> EvidenceEntry | None:
    """``_parse_entry`` for an entry that passes its checks, in fewer steps; otherwise None.

    Same checks: canonical base64 as ``encoding.b64_decode`` takes it (``_canonical_b64``), hashes
    as ``_hash`` and ``_hashes`` take them. On any doubt ``_parse_entry`` decides.
    """
    if type(obj) is not dict or obj.keys() != _ENTRY_MEMBERS:
        return None
    seq, text, hash_text, proof = obj["seq"], obj["leaf"], obj["leaf_hash"], obj["inclusion_proof"]
    if not (
        type(seq) is int
        and seq >= 0
        and type(text) is str
        and type(hash_text) is str
        and len(hash_text) == 64
        and type(proof) is list
        and 0 < len(proof) <= _SPLITTER_MAX
    ):
        return None
    leaf = _canonical_b64(text)
    digest = _hex32(hash_text)
    hashes = _hex32_list(proof)
    if leaf is None or digest is None or hashes is None:
        return None
    return EvidenceEntry(seq, leaf, digest, hashes)


def _canonical_b64(text: str) -> bytes | None:
    """What ``encoding.b64_decode`` gives for canonical base64 text; None for any other text.

    Cheaper than its round trip for a leaf: strict decoding refuses every character outside the
    alphabet, misplaced padding and data after it; the length rules out missing or extra padding;
    and the last character before the padding must leave the unused bits zero (RFC 4648 §3.5).
    """
    if len(text) % 4:
        return None
    try:
        data = binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        return None
    if text[-2:] == "==":
        return data if text[-3] in _ZERO_LOW_4_BITS else None
    if text[-1:] == "=":
        return data if text[-2] in _ZERO_LOW_2_BITS else None
    return data


#: Base64 digits whose value has the low 4 (2) bits zero: the last one before "==" ("=").
_ZERO_LOW_4_BITS: Final = frozenset("AQgw")
_ZERO_LOW_2_BITS: Final = frozenset("AEIMQUYcgkosw048")


def _parse_entry(obj: object, i: int) -> EvidenceEntry:
    e = _members(obj, _ENTRY_MEMBERS, f"entries[{i}]")
    leaf = _leaf_bytes(e["leaf"], f"entries[{i}].leaf")
    seq = e["seq"]
    if type(seq) is not int or seq < 0:
        _int(seq, f"entries[{i}].seq")
    return EvidenceEntry(
        seq,
        leaf,
        _hash(e["leaf_hash"], f"entries[{i}].leaf_hash"),
        _hashes(e["inclusion_proof"], f"entries[{i}].inclusion_proof"),
    )


def _leaf_bytes(text: object, where: str) -> bytes:
    """Canonical standard base64 (``encoding.b64_decode``), refused as a malformed bundle."""
    try:
        return b64_decode(text, what=where)
    except LedgerError as err:
        raise MalformedBundle(err.message) from err


def _hashes(value: object, where: str) -> tuple[bytes, ...]:
    """A list of 64-hex-digit hashes, checked in one pass (proofs hold many)."""
    hashes = _hex32_list(_list(value, where))
    if hashes is None:
        raise MalformedBundle(f"{where} must list hashes of 64 lowercase hex digits")
    return hashes


#: Longest hash list cut apart with one precompiled struct (an RFC 9162 proof has at most 64).
_SPLITTER_MAX = 128


@functools.lru_cache(maxsize=128)
def _hash_splitter(count: int) -> struct.Struct:
    """Cuts ``count`` concatenated 32-byte hashes apart in one call."""
    return struct.Struct("32s" * count)


_VERDICT_MEMBERS: Final = frozenset(
    ("sha256", "licensed", "reason", "grant_seq", "entries", "conflicts")
)
_INT_ONLY: Final = frozenset((int,))


def _fast_verdict(obj: object) -> Verdict | None:
    """``_parse_verdict`` for an item without conflicts that passes its checks; otherwise None."""
    if type(obj) is not dict or obj.keys() != _VERDICT_MEMBERS:
        return None
    sha, licensed, reason = obj["sha256"], obj["licensed"], obj["reason"]
    grant_seq, seqs = obj["grant_seq"], obj["entries"]
    if not (
        _hex32(sha) is not None
        and type(licensed) is bool
        and type(reason) is str
        and reason in REASONS
        and (grant_seq is None or (type(grant_seq) is int and grant_seq >= 0))
        and type(seqs) is list
        and obj["conflicts"] == []
        and (not seqs or (set(map(type, seqs)) == _INT_ONLY and min(seqs) >= 0))
    ):
        return None
    return Verdict(sha, licensed, reason, grant_seq, tuple(seqs), ())


def _parse_verdict(obj: object, i: int) -> Verdict:
    where = f"items[{i}]"
    names = ("sha256", "licensed", "reason", "grant_seq", "entries", "conflicts")
    v = _members(obj, names, where)
    _hash(v["sha256"], f"{where}.sha256")
    if not isinstance(v["licensed"], bool) or v["reason"] not in REASONS:
        raise MalformedBundle(f"{where}: licensed must be a boolean and reason a known code")
    grant_seq = None if v["grant_seq"] is None else _int(v["grant_seq"], f"{where}.grant_seq")
    seqs = tuple(_int(s, f"{where}.entries") for s in _list(v["entries"], f"{where}.entries"))
    conflicts = []
    for pair in _list(v["conflicts"], f"{where}.conflicts"):
        if not isinstance(pair, list) or len(pair) != 2:
            raise MalformedBundle(f"{where}.conflicts holds pairs of seqs")
        conflicts.append((_int(pair[0], where), _int(pair[1], where)))
    return Verdict(v["sha256"], v["licensed"], v["reason"], grant_seq, seqs, tuple(conflicts))


_MAP_MEMBERS: Final = frozenset(("key", "seqs", "proof"))


def _parse_map(value: object) -> tuple[MapMember, ...]:
    """The ``map`` member: keys as lowercase hex of licence-map keys, strictly ascending; seqs
    as a map value spells them (§14.2) or empty for an absent key; canonical proofs (§14.4)."""
    out: list[MapMember] = []
    for i, obj in enumerate(_list(value, "map")):
        where = f"map[{i}]"
        m = _members(obj, _MAP_MEMBERS, where)
        key_text = _str(m["key"], f"{where}.key")
        try:
            key = bytes.fromhex(key_text)
            if key.hex() != key_text:
                raise ValueError(key_text)
            describe_key(key)
            seqs = tuple(_int(s, f"{where}.seqs") for s in _list(m["seqs"], f"{where}.seqs"))
            if seqs:
                encode_seqs(seqs)
            proof = decode_proof(b64_decode(m["proof"], what=f"{where}.proof"))
        except ValueError as e:
            raise MalformedBundle(f"{where}.key must be a licence map key in lowercase hex") from e
        except LedgerError as e:
            raise MalformedBundle(f"{where}: {e.message}") from e
        if out and out[-1].key >= key:
            raise MalformedBundle("map must list its keys once each, in ascending order")
        out.append(MapMember(key, seqs, proof))
    return tuple(out)


_RECEIPT_MEMBERS: Final = frozenset(("seq", "receipt"))
#: A receipt of this log is ~200 bytes and one with a 64-node path ~2,300: anything longer is
#: refused before it is decoded.
MAX_RECEIPT_BYTES: Final = 4096


def _parse_receipts(value: object) -> tuple[EntryReceipt, ...]:
    """The optional ``receipts`` member (FORMAT §13.2): ``{seq, receipt}`` objects, seqs
    strictly ascending, receipts canonical base64 of at most ``MAX_RECEIPT_BYTES``. Their
    contents are decoded and checked by the verifier (step 8), not here."""
    out: list[EntryReceipt] = []
    for i, obj in enumerate(_list(value, "receipts")):
        where = f"receipts[{i}]"
        r = _members(obj, _RECEIPT_MEMBERS, where)
        seq = _int(r["seq"], f"{where}.seq")
        text = _str(r["receipt"], f"{where}.receipt")
        if len(text) > MAX_RECEIPT_BYTES * 4 // 3 + 4:
            raise MalformedBundle(f"{where}.receipt is longer than a receipt of this log can be")
        if out and out[-1].seq >= seq:
            raise MalformedBundle("receipts must be in strictly increasing seq order")
        out.append(EntryReceipt(seq, _leaf_bytes(text, f"{where}.receipt")))
    return tuple(out)


def parse_bundle(obj: object) -> EvidenceBundle:
    """The bundle of the parsed JSON ``obj``; raises MalformedBundle. Verifies nothing."""
    if isinstance(obj, dict) and obj.get("format") != BUNDLE_FORMAT:
        raise MalformedBundle(
            f"format must be {BUNDLE_FORMAT!r}, not {obj.get('format')!r}: a bundle of another "
            "version cannot show that nothing was left out; ask the log for a new one "
            "('ledger prove')"
        )
    names = _BUNDLE_MEMBERS
    if isinstance(obj, dict) and "receipts" in obj:
        names = _BUNDLE_MEMBERS | {"receipts"}  # optional: FORMAT §13.2
    b = _members(obj, names, "bundle")
    log = _members(b["log"], ("origin", "verifier_key"), "log")
    entries = _parse_entries(b["entries"])
    if any(a.seq >= b_.seq for a, b_ in itertools.pairwise(entries)):
        raise MalformedBundle("entries must be in strictly increasing seq order")
    items = tuple(
        _fast_verdict(v) or _parse_verdict(v, i) for i, v in enumerate(_list(b["items"], "items"))
    )
    if len({v.sha256 for v in items}) != len(items):
        raise MalformedBundle("items must not list the same sha256 twice")
    return EvidenceBundle(
        _str(log["origin"], "log.origin"),
        _str(log["verifier_key"], "log.verifier_key"),
        _str(b["checkpoint"], "checkpoint"),
        _parse_query(b["query"]),
        entries,
        items,
        _parse_map(b["map"]),
        None if "receipts" not in b else _parse_receipts(b["receipts"]),
    )


_BUNDLE_MEMBERS: Final = frozenset(
    ("format", "log", "checkpoint", "query", "entries", "map", "items")
)


def load_bundle(data: bytes | str) -> Any:
    """Strict JSON (docs/FORMAT.md §1.5) of a bundle file; raises MalformedJSON."""
    return parse_json(data)
