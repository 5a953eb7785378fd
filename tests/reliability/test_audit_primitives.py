"""The full audit decides the same whichever Ed25519 primitive verifies the signatures
(``cryptography``; PyNaCl direct and through its binding), entry by entry and for a whole log
read from an in-memory source: the same code, the same first bad seq, the same message."""

from __future__ import annotations

import base64
import gc
import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from ledger import sigverify
from ledger.client.audit import AuditReport, EntryProblem, LogAuditor, check_entry, check_page
from ledger.core import builders
from ledger.core.auditing import SignatureCheck, check_leaf_signatures
from ledger.core.errors import BadSignature, LedgerError, NotFound
from ledger.core.evidence import cryptography_check
from ledger.core.leaf import LEAF_MAGIC, format_log_time, leaf_hash, split_leaf
from ledger.core.memlog import MemoryLog
from ledger.core.note import NoteSigner
from ledger.core.statements import STATEMENT_SIGNING_CONTEXT, SignedStatement, statement_hash
from tests.core.test_auditing import BAD_LEAVES, REGISTER, ROTATE, _leaf
from tests.support.evidence_helpers import LOG_, build_log
from tests.support.factories import T0, seeded_key

PRIMITIVES: list[tuple[str, SignatureCheck | None]] = [
    ("default", None),  # the argument left out
    ("cryptography", cryptography_check),
    ("pynacl", sigverify.nacl_check),
    ("pynacl-binding", sigverify._binding_check),
]
SEQ_AT = len(LEAF_MAGIC)


def _listing(seq: int, leaf: bytes) -> dict[str, Any]:
    """Entry ``seq`` as ``GET /v1/entries`` lists it (``ledger.server.reads.log.entry_json``)."""
    parts = split_leaf(leaf)
    body = json.loads(parts.statement_bytes)
    return {
        "seq": seq,
        "type": body["type"],
        "leaf": base64.b64encode(leaf).decode(),
        "leaf_hash": leaf_hash(leaf).hex(),
        "statement_hash": statement_hash(parts.statement_bytes).hex(),
        "integrated_at": format_log_time(parts.integrated_at),
        "statement": body,
        "signatures": [
            {"public_key": base64.b64encode(k).decode(), "signature": base64.b64encode(s).decode()}
            for k, s in parts.signatures
        ],
    }


def _with(check: SignatureCheck | None) -> dict[str, SignatureCheck]:
    return {} if check is None else {"check": check}


def _outcome(call: Callable[[], object]) -> str | None:
    try:
        call()
    except EntryProblem as p:
        return f"{p.code}: {p.message}"
    except LedgerError as e:
        return f"{type(e).__name__}: {e.message}"
    return None


def _flip_leaf(offset: int) -> Callable[[dict[str, Any]], None]:
    def change(entry: dict[str, Any]) -> None:
        leaf = bytearray(base64.b64decode(entry["leaf"]))
        leaf[offset] ^= 0x01
        entry["leaf"] = base64.b64encode(bytes(leaf)).decode()

    return change


def _set(name: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(entry: dict[str, Any]) -> None:
        entry[name] = value

    return change


ENTRY_LIES: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("signature byte", _flip_leaf(-1), "signature_invalid"),
    ("public key byte", _flip_leaf(-70), "signature_invalid"),
    # strict mode validates the statement before its signatures
    ("statement byte", _flip_leaf(SEQ_AT + 60), "signature_invalid statement_invalid"),
    ("leaf seq", _flip_leaf(SEQ_AT + 7), "seq_mismatch"),
    ("leaf not canonical base64", lambda e: e.update(leaf=e["leaf"] + "\n"), "leaf_malformed"),
    ("leaf not base64", _set("leaf", "@@@@"), "leaf_malformed"),
    ("listed leaf hash", _set("leaf_hash", "0" * 64), "leaf_hash_mismatch"),
    ("listed statement hash", _set("statement_hash", "1" * 64), "statement_hash_mismatch"),
    ("listed statement", _set("statement", {}), "listing_mismatch"),
    ("listed time", _set("integrated_at", "2000-01-01T00:00:00.000000Z"), "listing_mismatch"),
    ("listed signatures", _set("signatures", []), "listing_mismatch"),
    ("listed type", _set("type", "grant.revoke"), "listing_mismatch"),
]


@pytest.mark.parametrize("strict", [False, True], ids=["fast", "strict"])
@pytest.mark.parametrize(
    ("change", "code"), [(c, k) for _, c, k in ENTRY_LIES], ids=[n for n, _, _ in ENTRY_LIES]
)
def test_each_lie_about_an_entry_is_found_alike_by_every_primitive(
    change: Callable[[dict[str, Any]], None], code: str, strict: bool
) -> None:
    seq = 3  # a grant acceptance
    entry = _listing(seq, LOG_.leaves[seq])
    assert all(
        _outcome(lambda c=c: check_entry(seq, entry, strict=strict, **_with(c))) is None
        for _, c in PRIMITIVES
    )
    change(entry)
    outcomes = {
        name: _outcome(lambda c=c: check_entry(seq, entry, strict=strict, **_with(c)))
        for name, c in PRIMITIVES
    }
    assert outcomes["default"] is not None
    assert outcomes["default"].split(":")[0] in code.split(), outcomes
    assert set(outcomes.values()) == {outcomes["default"]}, outcomes


@pytest.mark.parametrize(("case", "make", "error"), BAD_LEAVES, ids=[c[0] for c in BAD_LEAVES])
def test_the_fast_signature_check_refuses_alike_with_every_primitive(
    case: str, make: Callable[[], bytes], error: type[LedgerError]
) -> None:
    for _, check in PRIMITIVES:
        with pytest.raises(error):
            check_leaf_signatures(make(), **_with(check))


def test_the_fast_signature_check_accepts_alike_with_every_primitive() -> None:
    for signed in (REGISTER, ROTATE):
        for _, check in PRIMITIVES:
            parts, body = check_leaf_signatures(_leaf(signed), **_with(check))
            assert body == dict(signed.body)
            assert parts.statement_bytes == signed.statement_bytes


# --- a whole log, in memory -------------------------------------------------------------------


class MemorySource:
    """A ``LogSource`` over a ``MemoryLog``; ``lie`` may rewrite each listed entry."""

    def __init__(self, log: MemoryLog, lie: Callable[[dict[str, Any]], None] | None = None):
        self.log, self.lie = log, lie

    def checkpoint(self, tree_size: int | None = None) -> str:
        if tree_size is not None and tree_size != len(self.log.leaves):
            raise NotFound("no checkpoint at that size")
        return self.log.checkpoint()

    def entries(self, start: int, limit: int) -> dict[str, Any]:
        leaves = self.log.leaves[start : start + limit]
        entries = [_listing(start + i, leaf) for i, leaf in enumerate(leaves)]
        for entry in entries:
            if self.lie is not None and entry["seq"] == 17:
                self.lie(entry)
        return {"tree_size": len(self.log.leaves), "entries": entries}

    def consistency_proof(self, first: int, second: int) -> dict[str, Any]:
        raise NotFound("not needed here")


def _big_log() -> MemoryLog:
    log = build_log()
    creator, buyer = seeded_key(1), seeded_key(2)
    for n in range(20):
        items = [builders.Item(f"{n + 100:064x}", 1000, 60)]
        g = builders.grant(
            creator, buyer.key_id, f"00000000-0000-0000-0001-{n:012x}", items,
            builders.TermsSpec(), issued_at=T0,
        )  # fmt: skip
        at = T0 + timedelta(minutes=1 + n)  # after build_log's entries: time never goes back
        log.add(g, at)
        log.add(builders.grant_accept(buyer, g.statement_hash, issued_at=T0), at)
    return log


BIG = _big_log()


def _audit(lie: Callable[[dict[str, Any]], None] | None, accelerate: bool) -> AuditReport:
    verifier = NoteSigner.from_private_key("test.example/log", seeded_key(7).private_key)
    source = MemorySource(BIG, lie)
    auditor = LogAuditor(source, verifier.verifier(), page_size=8, accelerate=accelerate)
    return auditor.audit()


@pytest.mark.parametrize(
    "lie", [None] + [c for _, c, _ in ENTRY_LIES], ids=["honest"] + [n for n, _, _ in ENTRY_LIES]
)
def test_a_whole_audit_reports_the_same_with_and_without_pynacl(
    lie: Callable[[dict[str, Any]], None] | None,
) -> None:
    fast, reference = _audit(lie, True), _audit(lie, False)
    assert fast.failure == reference.failure
    assert (fast.tree_size, fast.root_hash, fast.entries_checked) == (
        reference.tree_size,
        reference.root_hash,
        reference.entries_checked,
    )
    if lie is None:
        assert fast, fast.failure
        assert fast.entries_checked == len(BIG.leaves)
    else:
        assert fast.failure is not None
        assert fast.failure.seq == 17


def test_the_auditor_uses_pynacl_unless_told_not_to() -> None:
    source = MemorySource(BIG)
    verifier = NoteSigner.from_private_key("test.example/log", seeded_key(7).private_key)
    assert LogAuditor(source, verifier.verifier()).signatures == "pynacl"
    assert LogAuditor(source, verifier.verifier(), accelerate=False).check is cryptography_check


def test_checking_a_page_leaves_the_garbage_collector_as_it_found_it() -> None:
    source = MemorySource(BIG)
    assert gc.isenabled()
    assert check_page(source, 0, 10, False).problem is None
    assert gc.isenabled()
    lied = MemorySource(BIG, _set("statement", {}))
    assert check_page(lied, 10, 10, False).problem is not None
    assert gc.isenabled()


def test_message_signed_is_domain_separated() -> None:
    # the primitives see STATEMENT_SIGNING_CONTEXT || statement bytes, as the strict path does
    parts = split_leaf(LOG_.leaves[0])
    message = STATEMENT_SIGNING_CONTEXT + parts.statement_bytes
    raw, sig = parts.signatures[0]
    for _, check in PRIMITIVES[1:]:
        assert check is not None
        assert check(raw, message, sig)
        assert not check(raw, parts.statement_bytes, sig)


# --- libsodium is stricter than OpenSSL; the accelerated check must not be ----------------------

_ED25519_L = 2**252 + 27742317777372353535851937790883648493


def _small_order_r_signature(seed: int, message: bytes) -> tuple[bytes, bytes]:
    """(public key, signature) where R is the identity point and S = k·a: OpenSSL's equation
    [S]B = R + [k]A holds, libsodium refuses R for its small order. Any key holder can make one."""
    key = seeded_key(seed)
    h = hashlib.sha512(key.private_key.private_bytes_raw()).digest()
    a = (int.from_bytes(h[:32], "little") & ((1 << 254) - 8)) | (1 << 254)
    r = (1).to_bytes(32, "little")  # the identity point (0, 1)
    public = key.public_key.raw
    k = int.from_bytes(hashlib.sha512(r + public + message).digest(), "little") % _ED25519_L
    return public, r + ((k * a) % _ED25519_L).to_bytes(32, "little")


def test_the_accelerated_check_accepts_what_the_log_accepts() -> None:
    message = STATEMENT_SIGNING_CONTEXT + b'{"a":1}'
    public, signature = _small_order_r_signature(77, message)
    assert cryptography_check(public, message, signature)  # the log's rule: it accepts
    assert not sigverify._binding_check(public, message, signature)  # libsodium alone refuses
    _, check = sigverify.signature_check()
    assert check(public, message, signature)
    assert sigverify.nacl_check(public, message, signature)
    # and a signature that OpenSSL refuses stays refused
    assert not sigverify.nacl_check(public, message + b" ", signature)


@pytest.mark.parametrize(
    "check",
    [cryptography_check, sigverify.nacl_check],
    ids=["cryptography", "pynacl-for-the-server"],
)
def test_statements_verify_alike_with_the_server_s_check(check: SignatureCheck) -> None:
    # The server verifies incoming statements with nacl_check (passed to its LogService); every
    # answer must be OpenSSL's, the log's rule, including a small-order R that libsodium alone
    # refuses.
    owner, other = seeded_key(78), seeded_key(79)
    cases = []
    for key in (owner, other):
        signed = builders.party_register(key, "p", issued_at=T0)
        message = STATEMENT_SIGNING_CONTEXT + signed.statement_bytes
        good = signed.signatures[0].signature
        odd = _small_order_r_signature(78, message)[1] if key is owner else good
        cases += [
            (signed, odd),
            (signed, good[:5] + bytes([good[5] ^ 1]) + good[6:]),
        ]
    for signed, signature in cases:
        raw = signed.signatures[0].public_key.raw
        message = STATEMENT_SIGNING_CONTEXT + signed.statement_bytes
        envelope = signed.to_json()
        envelope["signatures"][0]["signature"] = base64.b64encode(signature).decode()
        try:
            SignedStatement.from_json(envelope, check=check)
        except BadSignature:
            accepted = False
        else:
            accepted = True
        assert accepted is cryptography_check(raw, message, signature)
    assert [
        cryptography_check(
            s.signatures[0].public_key.raw, STATEMENT_SIGNING_CONTEXT + s.statement_bytes, sig
        )
        for s, sig in cases
    ] == [True, False, True, False]


def test_the_server_checks_signatures_with_libsodium(app: Any) -> None:
    assert app.extensions["ledger"].service.signature_check is sigverify.nacl_check
