"""Golden vectors: frozen bytes, checked three ways.

(a) The core still produces exactly tests/vectors/golden.json (scripts/make_golden_vectors.py).
(b) The core's own parsers and verifiers accept every golden leaf, chain, proof and checkpoint.
(c) Every worked example in docs/FORMAT.md equals its golden value, and every context constant of
    the core appears in the document in hex.
(d) An independent verifier written from docs/FORMAT.md alone (hashlib, json, struct, base64 and
    cryptography's Ed25519; nothing from ledger.core) accepts the golden log and rejects tampering.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import importlib.util
import json
import pkgutil
import re
import struct
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

import ledger.core
from ledger.core import merkle
from ledger.core.checkpoint import open_checkpoint
from ledger.core.leaf import check_chain, format_log_time, parse_leaf
from ledger.core.leaf import leaf_hash as core_leaf_hash
from ledger.core.note import NoteVerifier
from ledger.core.statements import SignedStatement
from tests.support.scripts import load_script

REPO = Path(__file__).resolve().parents[2]
GOLDEN_PATH = REPO / "tests" / "vectors" / "golden.json"
FORMAT_PATH = REPO / "docs" / "FORMAT.md"
SCRIPT_PATH = REPO / "scripts" / "make_golden_vectors.py"

GOLDEN: dict[str, Any] = json.loads(GOLDEN_PATH.read_text(encoding="utf-8"))
ENTRIES: list[dict[str, Any]] = GOLDEN["entries"]
LEAVES = [bytes.fromhex(e["leaf_hex"]) for e in ENTRIES]
ENTRY_TYPES = (
    "party.register",
    "key.rotate",
    "key.revoke",
    "grant",
    "grant.accept",
    "grant.revoke",
)


# --- (a) the code still makes the frozen bytes ----------------------------------------------------


def test_core_reproduces_golden_file_exactly() -> None:
    script = load_script("make_golden_vectors")
    fresh = script.build()
    # Compare piecewise first so that a failure names the vector that moved.
    for name, value in fresh.items():
        assert value == GOLDEN.get(name), f"golden vector {name!r} changed"
    assert set(fresh) == set(GOLDEN)
    assert script.render(fresh) == GOLDEN_PATH.read_text(encoding="utf-8")


def test_check_mode_agrees() -> None:
    assert load_script("make_golden_vectors").main(["--check"]) == 0


# --- (b) the core accepts what it froze ----------------------------------------------------------


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: f"{e['seq']}-{e['type']}")
def test_core_parses_golden_leaf(entry: dict[str, Any]) -> None:
    data = bytes.fromhex(entry["leaf_hex"])
    leaf = parse_leaf(data)  # verifies statement shape, canonical form and signatures
    assert leaf.seq == entry["seq"]
    assert leaf.integrated_at == entry["integrated_at"]
    assert format_log_time(leaf.integrated_at) == entry["integrated_at_text"]
    assert leaf.prev_hash.hex() == entry["prev_leaf_hash"]
    assert leaf.signed.type_name == entry["type"]
    assert leaf.signed.statement_bytes.decode("utf-8") == entry["statement_json"]
    assert leaf.signed.statement_hash.hex() == entry["statement_hash"]
    assert [s.public_key.key_id for s in leaf.signed.signatures] == entry["signers"]
    assert [s.to_json()["signature"] for s in leaf.signed.signatures] == entry["signatures"]
    assert leaf.to_bytes() == data
    assert core_leaf_hash(data).hex() == entry["leaf_hash"]
    # The envelope a client submits yields the same statement bytes and signatures.
    from_envelope = SignedStatement.from_json(entry["envelope"])
    assert from_envelope.statement_bytes == leaf.signed.statement_bytes
    assert from_envelope.signatures == leaf.signed.signatures


def test_core_chain_links() -> None:
    prev_hash: bytes | None = None
    prev_time = 0
    for data in LEAVES:
        leaf = parse_leaf(data)
        check_chain(leaf, prev_hash, prev_time)
        prev_hash, prev_time = core_leaf_hash(data), leaf.integrated_at


def test_core_merkle_roots_and_proofs() -> None:
    hashes = [core_leaf_hash(d) for d in LEAVES]
    for size, root in GOLDEN["roots"].items():
        assert merkle.root_from_leaf_hashes(hashes[: int(size)]).hex() == root
    inc = GOLDEN["inclusion_proof"]
    merkle.verify_inclusion(
        inc["seq"],
        inc["tree_size"],
        hashes[inc["seq"]],
        [bytes.fromhex(h) for h in inc["hashes"]],
        bytes.fromhex(GOLDEN["roots"][str(inc["tree_size"])]),
    )
    con = GOLDEN["consistency_proof"]
    merkle.verify_consistency(
        con["first"],
        con["second"],
        [bytes.fromhex(h) for h in con["hashes"]],
        bytes.fromhex(GOLDEN["roots"][str(con["first"])]),
        bytes.fromhex(GOLDEN["roots"][str(con["second"])]),
    )


def test_core_opens_golden_checkpoint() -> None:
    verifier = NoteVerifier.from_vkey(GOLDEN["keys"]["log"]["verifier_key"])
    checkpoint, note = open_checkpoint(GOLDEN["checkpoint_note"], verifier)
    assert note.text == GOLDEN["checkpoint_body"]
    assert checkpoint.origin == GOLDEN["log_origin"]
    assert checkpoint.tree_size == len(LEAVES)
    assert checkpoint.root_hash.hex() == GOLDEN["roots"][str(len(LEAVES))]


# --- (c) the document shows the golden values ----------------------------------------------------

DOC = FORMAT_PATH.read_text(encoding="utf-8")
_MARKER_RE = re.compile(r"^<!-- vector: ", re.M)  # a marker starts its line
_BLOCK_RE = re.compile(r"<!-- vector: (\S+) -->\n```[a-z]*\n(.*?)^```$", re.S | re.M)
_HEX_RE = re.compile(r"[0-9a-f]+")


def _doc_blocks() -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in _BLOCK_RE.finditer(DOC)]


def _golden_value(name: str) -> Any:
    value: Any = GOLDEN
    for part in name.split("."):
        value = value[int(part)] if isinstance(value, list) else value[part]
    return value


def _block_matches(block: str, value: Any) -> bool:
    """Compare a fenced block's text with a golden value, normalising only what is layout."""
    if isinstance(value, dict):
        return bool(json.loads(block) == value)
    if isinstance(value, list):  # signatures, code lists: one or more per line
        return block.split() == value
    if isinstance(value, int):
        return int(block) == value
    if _HEX_RE.fullmatch(value):  # long hex is wrapped (and leaves are split by field)
        return re.sub(r"\s+", "", block) == value
    # Any other text (statement JSON, notes) is byte-exact; the fence adds one final newline.
    return block == (value if value.endswith("\n") else value + "\n")


def test_every_vector_marker_precedes_a_fenced_block() -> None:
    assert len(_MARKER_RE.findall(DOC)) == len(_doc_blocks())


@pytest.mark.parametrize(
    ("name", "block"), [pytest.param(name, block, id=name) for name, block in _doc_blocks()]
)
def test_doc_block_equals_golden_value(name: str, block: str) -> None:
    assert _block_matches(block, _golden_value(name)), f"FORMAT.md block {name!r} is stale"


def test_doc_has_a_worked_example_per_entry_type_and_the_checkpoint() -> None:
    names = {name for name, _ in _doc_blocks()}
    for kind in ENTRY_TYPES:
        seqs = [e["seq"] for e in ENTRIES if e["type"] == kind]
        for field in ("statement_json", "statement_hash", "signatures", "leaf_hex", "leaf_hash"):
            assert any(f"entries.{s}.{field}" in names for s in seqs), (kind, field)
    assert {"checkpoint_note", "checkpoint_body", "keys.log.verifier_key"} <= names
    assert {"inclusion_proof", "consistency_proof", "roots"} <= names


def _core_constants() -> list[tuple[str, bytes]]:
    found: list[tuple[str, bytes]] = []
    # Recursive: constants defined in a subpackage's modules (core/statements/types.py) count.
    for info in pkgutil.walk_packages(ledger.core.__path__, "ledger.core."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if isinstance(value, bytes) and name.endswith(("_CONTEXT", "_MAGIC", "_PREFIX")):
                found.append((f"{info.name.removeprefix('ledger.core.')}.{name}", value))
    return found


def test_core_constants_found() -> None:
    names = {name for name, _ in _core_constants()}
    assert {"statements.STATEMENT_SIGNING_CONTEXT", "leaf.LEAF_MAGIC"} <= names


@pytest.mark.parametrize(
    ("name", "value"), [pytest.param(name, value, id=name) for name, value in _core_constants()]
)
def test_every_context_constant_is_in_the_doc_in_hex(name: str, value: bytes) -> None:
    if len(value) == 1:
        assert f"`0x{value.hex()}`" in DOC, name
    else:
        assert value.hex() in re.sub(r"\s+", "", DOC), name


# --- (d) an independent verifier, written from FORMAT.md alone -----------------------------------

# FORMAT.md §2.3, spelled here from the document, not imported from the code.
SIGNING_CONTEXT = b"consent-ledger/v1/statement-signature\n"
HASH_CONTEXT = b"consent-ledger/v1/statement-hash\n"
MAGIC = b"consent-ledger/leaf/v1\n"
HEADER = struct.Struct(">QQ32sI")  # §4.1: seq u64, integrated_at u64, prev 32 bytes, length u32


class NotVerifiedError(Exception):
    """The independent verifier refuses its input."""


def _strict_json(data: bytes) -> Any:
    """§1.5, enough of it for leaves: duplicate names and non-integers are refused."""

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        if len({k for k, _ in pairs}) != len(pairs):
            raise NotVerifiedError("duplicate member")
        return dict(pairs)

    def no_float(text: str) -> Any:
        raise NotVerifiedError(f"not an integer: {text}")

    try:
        return json.loads(
            data.decode("utf-8"), object_pairs_hook=no_duplicates, parse_float=no_float
        )
    except (UnicodeDecodeError, ValueError) as e:
        raise NotVerifiedError(str(e)) from e


def _canonical(value: Any) -> bytes:
    """§1.6 implementation note: RFC 8785 for v1 statements (ASCII names, integers only)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def _key_id(public_key: bytes) -> str:
    return hashlib.sha256(public_key).hexdigest()  # §2.2


def _required_signers(stmt: dict[str, Any]) -> list[str]:
    """§3.3, with the key-binding rules of §3.2.1 and §3.2.2."""
    if stmt["type"] == "party.register":
        if _key_id(base64.b64decode(stmt["public_key"], validate=True)) != stmt["signer"]:
            raise NotVerifiedError("party.register signer is not the key id of public_key")
        return [stmt["signer"]]
    if stmt["type"] == "key.rotate":
        return [stmt["signer"], _key_id(base64.b64decode(stmt["new_public_key"], validate=True))]
    return [stmt["signer"]]


def _verify(public_key: bytes, signature: bytes, message: bytes) -> None:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError) as e:
        raise NotVerifiedError("signature does not verify") from e


def independent_parse_leaf(data: bytes) -> dict[str, Any]:
    """§4.1 steps 1-5, returning the fields a verifier needs."""
    if len(data) > 65535 or not data.startswith(MAGIC):
        raise NotVerifiedError("size or magic")
    if len(data) < len(MAGIC) + HEADER.size + 1:
        raise NotVerifiedError("truncated")
    seq, integrated_at, prev, n = HEADER.unpack_from(data, len(MAGIC))
    start = len(MAGIC) + HEADER.size  # 75
    if start + n >= len(data):
        raise NotVerifiedError("truncated")
    statement = data[start : start + n]
    count = data[start + n]
    if count not in (1, 2) or len(data) != 76 + n + 96 * count:
        raise NotVerifiedError("signature block size")
    sigs = [(data[o : o + 32], data[o + 32 : o + 96]) for o in range(start + n + 1, len(data), 96)]
    body = _strict_json(statement)
    if not isinstance(body, dict) or _canonical(body) != statement:
        raise NotVerifiedError("statement bytes are not canonical")
    if body.get("v") != 1 or body.get("type") not in ENTRY_TYPES:
        raise NotVerifiedError("not a v1 statement")
    if [_key_id(pk) for pk, _ in sigs] != _required_signers(body):
        raise NotVerifiedError("wrong signers")
    for pk, sig in sigs:
        _verify(pk, sig, SIGNING_CONTEXT + statement)
    return {
        "seq": seq,
        "integrated_at": integrated_at,
        "prev": prev,
        "statement": body,
        "statement_hash": hashlib.sha256(HASH_CONTEXT + statement).hexdigest(),
        "signatures": [base64.b64encode(sig).decode() for _, sig in sigs],
        "leaf_hash": hashlib.sha256(b"\x00" + data).digest(),  # §4.3
    }


def _mth(hashes: Sequence[bytes]) -> bytes:
    """§5.1 from leaf hashes."""
    if not hashes:
        return hashlib.sha256(b"").digest()
    if len(hashes) == 1:
        return hashes[0]
    k = 1 << ((len(hashes) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + _mth(hashes[:k]) + _mth(hashes[k:])).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _shift_until_odd(fn: int, sn: int) -> tuple[int, int]:
    while fn and not fn & 1:
        fn, sn = fn >> 1, sn >> 1
    return fn, sn


def independent_inclusion(seq: int, size: int, leaf: bytes, path: list[bytes], root: bytes) -> None:
    """§5.2 steps 1-5."""
    if seq >= size:
        raise NotVerifiedError("seq outside the tree")
    fn, sn, r = seq, size - 1, leaf
    for p in path:
        if sn == 0:
            raise NotVerifiedError("proof too long")
        if fn & 1 or fn == sn:
            r = _node(p, r)
            fn, sn = _shift_until_odd(fn, sn)
        else:
            r = _node(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0 or r != root:
        raise NotVerifiedError("inclusion proof fails")


def independent_consistency(
    first: int, second: int, path: list[bytes], root1: bytes, root2: bytes
) -> None:
    """§5.3 steps 1-7 (for 0 < first < second)."""
    if not path:
        raise NotVerifiedError("empty proof")
    if first & (first - 1) == 0:
        path = [root1, *path]
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise NotVerifiedError("proof too long")
        if fn & 1 or fn == sn:
            fr, sr = _node(c, fr), _node(c, sr)
            fn, sn = _shift_until_odd(fn, sn)
        else:
            sr = _node(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if fr != root1 or sr != root2 or sn != 0:
        raise NotVerifiedError("consistency proof fails")


def independent_open_checkpoint(note: str, vkey: str) -> tuple[str, int, bytes]:
    """§6.3 steps 1-4: returns (origin, tree size, root hash)."""
    name, key_id_hex, key_b64 = vkey.split("+", 2)
    material = base64.b64decode(key_b64, validate=True)
    if material[0] != 0x01 or len(material) != 33:
        raise NotVerifiedError("not an Ed25519 verifier key")
    public_key = material[1:]
    key_id = hashlib.sha256(name.encode() + b"\n\x01" + public_key).digest()[:4]
    if key_id.hex() != key_id_hex:
        raise NotVerifiedError("verifier key id")
    split = note.rindex("\n\n")
    text, lines = note[: split + 1], note[split + 2 :].splitlines()
    verified = False
    for line in lines:
        if not line.startswith("\u2014 "):
            raise NotVerifiedError("signature line")
        sig_name, blob_b64 = line[2:].split(" ")
        blob = base64.b64decode(blob_b64, validate=True)
        if sig_name == name and blob[:4] == key_id:
            _verify(public_key, blob[4:], text.encode())
            verified = True
    if not verified:
        raise NotVerifiedError("no signature by the log key")
    origin, size, root_b64, *_extensions = text[:-1].split("\n")
    if origin != name or not re.fullmatch(r"0|[1-9][0-9]*", size):
        raise NotVerifiedError("checkpoint body")
    return origin, int(size), base64.b64decode(root_b64, validate=True)


def independent_verify_log(leaves: list[bytes]) -> list[dict[str, Any]]:
    """§8 steps 2: every leaf, in order, with its chain link."""
    parsed: list[dict[str, Any]] = []
    prev, prev_time = bytes(32), 0  # §4.2: the genesis value
    for i, data in enumerate(leaves):
        leaf = independent_parse_leaf(data)
        if leaf["seq"] != i or leaf["prev"] != prev or leaf["integrated_at"] < prev_time:
            raise NotVerifiedError(f"chain broken at {i}")
        prev, prev_time = leaf["leaf_hash"], leaf["integrated_at"]
        parsed.append(leaf)
    return parsed


def test_independent_verifier_accepts_the_golden_log() -> None:
    parsed = independent_verify_log(LEAVES)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    for leaf, entry in zip(parsed, ENTRIES, strict=True):
        assert leaf["statement"]["type"] == entry["type"]
        assert leaf["statement_hash"] == entry["statement_hash"]
        assert leaf["signatures"] == entry["signatures"]
        assert leaf["leaf_hash"].hex() == entry["leaf_hash"]
        moment = epoch + timedelta(microseconds=leaf["integrated_at"])
        assert moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ") == entry["integrated_at_text"]  # §1.3
    grant_hash = parsed[2]["statement_hash"]
    assert parsed[3]["statement"]["grant_hash"] == grant_hash
    assert parsed[4]["statement"]["grant_hash"] == grant_hash

    hashes = [leaf["leaf_hash"] for leaf in parsed]
    roots = {str(n): _mth(hashes[:n]).hex() for n in range(len(hashes) + 1)}
    assert roots == GOLDEN["roots"]
    inc = GOLDEN["inclusion_proof"]
    independent_inclusion(
        inc["seq"],
        inc["tree_size"],
        hashes[inc["seq"]],
        [bytes.fromhex(h) for h in inc["hashes"]],
        bytes.fromhex(roots[str(inc["tree_size"])]),
    )
    con = GOLDEN["consistency_proof"]
    independent_consistency(
        con["first"],
        con["second"],
        [bytes.fromhex(h) for h in con["hashes"]],
        bytes.fromhex(roots[str(con["first"])]),
        bytes.fromhex(roots[str(con["second"])]),
    )
    origin, size, root = independent_open_checkpoint(
        GOLDEN["checkpoint_note"], GOLDEN["keys"]["log"]["verifier_key"]
    )
    assert (origin, size, root.hex()) == (GOLDEN["log_origin"], 7, roots["7"])


def _flip(data: bytes, offset: int) -> bytes:
    return data[:offset] + bytes([data[offset] ^ 0x01]) + data[offset + 1 :]


_STMT = 75  # §4.1: offset of the statement bytes


@pytest.mark.parametrize(
    ("what", "tamper"),
    [
        ("magic", lambda leaves: [_flip(leaves[0], 0), *leaves[1:]]),
        ("seq", lambda leaves: [_flip(leaves[0], 30), *leaves[1:]]),
        ("prev_leaf_hash", lambda leaves: [leaves[0], _flip(leaves[1], 39), *leaves[2:]]),
        ("statement byte", lambda leaves: [_flip(leaves[0], _STMT + 20), *leaves[1:]]),
        ("signature", lambda leaves: [_flip(leaves[0], len(leaves[0]) - 1), *leaves[1:]]),
        ("trailing byte", lambda leaves: [leaves[0] + b"\x00", *leaves[1:]]),
        ("dropped signature", lambda leaves: [*leaves[:5], _drop_last_signature(leaves[5])]),
        ("swapped order", lambda leaves: [leaves[1], leaves[0], *leaves[2:]]),
        ("time goes back", lambda leaves: [_retime(leaves[0], 2**62), *leaves[1:]]),
        ("non-canonical statement", lambda leaves: [_pretty(leaves[0]), *leaves[1:]]),
    ],
)
def test_independent_verifier_rejects_tampering(
    what: str, tamper: Callable[[list[bytes]], list[bytes]]
) -> None:
    with pytest.raises(NotVerifiedError):
        independent_verify_log(tamper(list(LEAVES)))


def _drop_last_signature(data: bytes) -> bytes:
    n = struct.unpack_from(">I", data, 71)[0]
    return data[: _STMT + n] + b"\x01" + data[_STMT + n + 1 : -96]


def _retime(data: bytes, micros: int) -> bytes:
    return data[:31] + struct.pack(">Q", micros) + data[39:]


def _pretty(data: bytes) -> bytes:
    """The same statement, re-serialised with spaces, in a correctly framed leaf."""
    n = struct.unpack_from(">I", data, 71)[0]
    body = json.dumps(json.loads(data[_STMT : _STMT + n]), sort_keys=True).encode()
    return data[:71] + struct.pack(">I", len(body)) + body + data[_STMT + n :]


def test_independent_verifier_rejects_a_forged_checkpoint() -> None:
    note = GOLDEN["checkpoint_note"].replace("\n7\n", "\n8\n", 1)
    with pytest.raises(NotVerifiedError):
        independent_open_checkpoint(note, GOLDEN["keys"]["log"]["verifier_key"])
