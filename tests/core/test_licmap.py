"""The licence map derived from the log (``ledger.core.licmap``, docs/FORMAT.md §14.1-§14.2):
random histories (honest and hostile) built with the builders and a MemoryLog give the same map
incrementally, in any batches, as from scratch; it lists what an independent oracle says; and
every key's proof verifies against the root of its size."""

from __future__ import annotations

import hashlib
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.core.errors import InvalidEncoding, InvalidParameter
from ledger.core.leaf import Leaf
from ledger.core.licmap import (
    KeyParties,
    LicenceMap,
    content_key,
    decode_seqs,
    derive_map,
    describe_key,
    encode_seqs,
    entry_keys,
    grant_id_key,
    grant_key,
    key_key,
    party_grants_key,
    party_key,
)
from ledger.core.memlog import MemoryLog
from ledger.core.statements import STATEMENT_TYPES
from ledger.core.vmap import verify_membership, verify_non_membership
from tests.support.histories import ACTIONS, CONTENT, GRANT_IDS, KEYS, history
from tests.support.scripts import load_script


def oracle(leaves: list[Leaf], version: int = 2) -> dict[bytes, tuple[int, ...]]:  # noqa: PLR0912
    """FORMAT §14.2 written out again, independently of ``entry_keys`` (version 1: §14.6,
    without ``party_grants``)."""
    listed: dict[bytes, list[int]] = {}
    owner: dict[str, str] = {}

    def add(key: bytes, seq: int) -> None:
        seqs = listed.setdefault(key, [])
        if not seqs or seqs[-1] != seq:
            seqs.append(seq)

    for leaf in leaves:
        body, seq = leaf.signed.body, leaf.seq
        kind = body["type"]
        if kind == "grant":
            for item in body["content"]:
                add(b"\x01" + bytes.fromhex(item["sha256"]), seq)
            add(b"\x02" + leaf.signed.statement_hash, seq)
            add(b"\x03" + uuid.UUID(body["grant_id"]).bytes, seq)
            if version == 2:
                for key_id in (body["signer"], body["buyer"]):
                    add(b"\x06" + bytes.fromhex(owner.get(key_id, key_id)), seq)
        elif kind in ("grant.accept", "grant.revoke"):
            add(b"\x02" + bytes.fromhex(body["grant_hash"]), seq)
        else:
            if kind == "party.register":
                named = [body["signer"]]
                owner.setdefault(body["signer"], body["signer"])
            elif kind == "key.rotate":
                new = leaf.signed.signatures[1].public_key.key_id
                named = [body["signer"], new]
                if new not in owner:
                    owner[new] = owner.get(body["signer"], body["signer"])
            else:
                named = [body["signer"], body["key_id"]]
            for key_id in named:
                add(b"\x04" + bytes.fromhex(owner.get(key_id, key_id)), seq)
            for key_id in named:
                add(b"\x05" + bytes.fromhex(key_id), seq)
    return {key: tuple(seqs) for key, seqs in listed.items()}


@settings(max_examples=100, deadline=None)
@given(ACTIONS, st.lists(st.integers(1, 5), max_size=10))
def test_incremental_in_any_batches_equals_from_scratch_and_the_oracle(
    actions: list[tuple[str, int, int, int]], cuts: list[int]
) -> None:
    log = history(actions)
    scratch = derive_map(log.parsed)
    expected = oracle(log.parsed)
    assert dict(scratch.items()) == expected
    assert scratch.size == len(log.parsed)
    assert dict(derive_map(log.parsed, version=1).items()) == oracle(log.parsed, version=1)

    incremental = LicenceMap()
    start, sizes = 0, [0]
    for cut in [*cuts, len(log.parsed)]:
        end = min(start + cut, len(log.parsed))
        incremental.apply(log.parsed[start:end])
        if end > start:
            sizes.append(end)
        start = end
    assert incremental.root == scratch.root
    one_by_one = LicenceMap()
    for leaf in log.parsed:
        one_by_one.apply([leaf])
    assert one_by_one.root == scratch.root

    # Every key's proof at every recorded size verifies against that size's root.
    for size in sizes:
        root = incremental.root_at(size)
        assert root == derive_map(log.parsed[:size]).root
        at_size = oracle(log.parsed[:size])
        for key, seqs in at_size.items():
            proof = incremental.prove(key, size).to_bytes()
            assert verify_membership(root, key, encode_seqs(seqs), proof)
            assert incremental.get(key, size) == seqs
        for clip in CONTENT:
            if content_key(clip) not in at_size:
                proof = incremental.prove(content_key(clip), size).to_bytes()
                assert verify_non_membership(root, content_key(clip), proof)


def test_the_derivation_is_deterministic() -> None:
    actions = [("register", 0, 0, 0), ("register", 1, 0, 0), ("grant", 0, 1, 7)]
    assert derive_map(history(actions).parsed).root == derive_map(history(actions).parsed).root


# --- The §7 example log -------------------------------------------------------------------------


def test_the_example_log_lists_what_format_14_says(example_log: MemoryLog) -> None:
    licence_map = derive_map(example_log.parsed)
    creator, buyer, new = (
        "34750f98bd59fcfc946da45aaabe933be154a4b5094e1c4abf42866505f3c97e",
        "6a3803d5f059902a1c6dafbc9ba4729212f7caac08634cc3ae76b27529f03827",
        "c5b940ed3f65c391965de8295fc5d25f474fa57b48d36eb10ad363b8539c1b79",
    )
    grant = example_log.parsed[2].signed
    clip1 = "322097ea72c0f71f60cd6c9a8a79616cc09be695fba845d2b694bb16837fbeab"
    assert dict(licence_map.items()) == {
        content_key(clip1): (2,),
        content_key("1655cf6ecfee148b1376569981b19c288ca03d63a23fee6b17361e1c359de5ed"): (2,),
        grant_key(grant.statement_hash): (2, 3, 4),
        grant_id_key("6f1d2c3b-4a59-4e68-8a7b-9c0d1e2f3a4b"): (2,),
        party_key(creator): (0, 5, 6),  # the new key's revocation is the creator party's
        party_key(buyer): (1,),
        key_key(creator): (0, 5),
        key_key(new): (5, 6),
        key_key(buyer): (1,),
        party_grants_key(creator): (2,),  # the grant it made
        party_grants_key(buyer): (2,),  # the grant it received
    }
    assert describe_key(party_grants_key(buyer)) == f"party_grants {buyer}"
    assert describe_key(content_key(clip1)) == f"content {clip1}"
    assert describe_key(grant_id_key("6f1d2c3b-4a59-4e68-8a7b-9c0d1e2f3a4b")) == (
        "grant_id 6f1d2c3b-4a59-4e68-8a7b-9c0d1e2f3a4b"
    )


@pytest.fixture
def example_log() -> MemoryLog:
    """The §7 log, as scripts/make_evidence_example.py builds it for §13."""
    log: MemoryLog = load_script("make_evidence_example").example_log()
    return log


def test_every_statement_type_has_a_rule(example_log: MemoryLog) -> None:
    """The §7 log holds one statement of each type; each is listed under at least one key."""
    assert {leaf.signed.type_name for leaf in example_log.parsed} == set(STATEMENT_TYPES)
    parties = KeyParties()
    for leaf in example_log.parsed:
        keys = entry_keys(leaf.signed, parties)
        assert keys
        assert len(set(keys)) == len(keys)


# --- Keys, values, misuse ----------------------------------------------------------------------


def test_key_encodings_accept_one_spelling_only() -> None:
    clip = CONTENT[0]
    assert content_key(clip) == b"\x01" + bytes.fromhex(clip)
    for bad in (clip.upper(), clip[:-1], "zz" + clip[2:]):
        with pytest.raises(InvalidEncoding):
            content_key(bad)
    assert grant_id_key(GRANT_IDS[0]) == b"\x03" + uuid.UUID(GRANT_IDS[0]).bytes
    for bad_id in (GRANT_IDS[0].upper(), GRANT_IDS[0].replace("-", ""), "{" + GRANT_IDS[0] + "}"):
        with pytest.raises(InvalidEncoding):
            grant_id_key(bad_id)
    with pytest.raises(InvalidEncoding):
        grant_key(bytes(31))
    with pytest.raises(InvalidEncoding):
        party_key("00")
    with pytest.raises(InvalidEncoding):
        describe_key(b"\x09" + bytes(32))
    with pytest.raises(InvalidEncoding):
        describe_key(b"\x01" + bytes(31))


def test_values_are_strictly_ascending_u64s() -> None:
    assert (
        encode_seqs([0, 5, 2**63 - 1]) == bytes(8) + (5).to_bytes(8, "big") + b"\x7f" + b"\xff" * 7
    )
    assert decode_seqs(encode_seqs([3, 9])) == (3, 9)
    for bad in ([], [2, 2], [3, 1], [-1], [2**63]):
        with pytest.raises(InvalidParameter):
            encode_seqs(bad)
    for raw in (
        b"",
        bytes(7),
        bytes(16),
        (2).to_bytes(8, "big") + (1).to_bytes(8, "big"),
        b"\x80" + bytes(7),
    ):
        with pytest.raises(InvalidEncoding):
            decode_seqs(raw)


def test_entries_must_come_in_seq_order() -> None:
    log = history([("register", 0, 0, 0), ("register", 1, 0, 0)])
    licence_map = LicenceMap()
    with pytest.raises(InvalidParameter):
        licence_map.apply([log.parsed[1]])
    licence_map.apply([log.parsed[0]])
    with pytest.raises(InvalidParameter):
        licence_map.apply([log.parsed[0]])
    assert licence_map.apply([]) == licence_map.root  # an empty batch changes nothing
    assert licence_map.size == 1


def test_hostile_entries_are_listed_by_their_contents() -> None:
    # An accept of a grant that was never logged, a rotation by an unregistered key and a
    # revocation of another party's key: the log refuses all three, the map lists them anyway.
    log = history(
        [("accept", 1, 0, 5), ("rotate", 2, 3, 0), ("register", 0, 0, 0), ("revoke_key", 0, 3, 0)]
    )
    parties = KeyParties()
    listed = [entry_keys(leaf.signed, parties) for leaf in log.parsed]
    assert listed[0] == [grant_key(hashlib.sha256(b"5").digest())]
    k0, k2, k3 = KEYS[0].key_id, KEYS[2].key_id, KEYS[3].key_id
    assert listed[1] == [party_key(k2), key_key(k2), key_key(k3)]  # k3 joins k2's party
    assert listed[3] == [party_key(k0), party_key(k2), key_key(k0), key_key(k3)]
    assert parties.attached == {k3: k2, k0: k0}


def test_a_failed_batch_changes_nothing() -> None:
    log = history([("register", 0, 0, 0), ("rotate", 0, 1, 0), ("register", 2, 0, 0)])
    licence_map = LicenceMap()
    licence_map.apply([log.parsed[0]])
    root, parties = licence_map.root, dict(licence_map.parties.attached)
    # A batch whose third entry is out of order: refused before anything is derived.
    with pytest.raises(InvalidParameter):
        licence_map.apply([log.parsed[1], log.parsed[2], log.parsed[2]])
    # A store that refuses the root: the key parties the batch attached are taken back.
    store = licence_map.tree.store
    store.roots[3] = bytes(32)  # type: ignore[attr-defined]
    with pytest.raises(InvalidParameter):
        licence_map.apply(log.parsed[1:3])
    assert (licence_map.root, licence_map.size) == (root, 1)
    assert licence_map.parties.attached == parties
    del store.roots[3]  # type: ignore[attr-defined]
    licence_map.apply(log.parsed[1:3])
    assert licence_map.root == derive_map(log.parsed).root
