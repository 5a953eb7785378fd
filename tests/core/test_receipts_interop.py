"""Our receipts checked by independent implementations from PyPI (docs/FORMAT.md §15), not by our
own code: pycose 1.1.0 and python-cwt 3.3.0 (COSE_Sign1 with a detached payload, EdDSA),
scitt-cose 0.5.0 (a SCITT receipt verifier: RFC9162_SHA256 inclusion proof, then the signature),
and cbor2 5.9.0 for the shape of the COSE working group's ``inclusion-receipt.cddl`` and the
RFC 9679 thumbprint. The versions are pinned in requirements-dev.txt; the test asserts them so a
silent upgrade is noticed.
"""

from __future__ import annotations

from importlib import metadata

import cbor2
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.core import merkle
from ledger.core.cose import cose_key
from ledger.core.receipts import ReceiptSigner
from tests.support.scripts import load_script

LOG = load_script("make_receipt_example").evidence_example.example_log()
SIGNER = ReceiptSigner(LOG.signer.private_key, LOG.signer.name)
SIZE = len(LOG.leaves)
ROOT = merkle.tree_hash(SIZE, LOG.store)
PEM = (
    Ed25519PublicKey.from_public_bytes(SIGNER.public_key)
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)


def _receipt(seq: int) -> bytes:
    return SIGNER.inclusion(SIZE, seq, merkle.inclusion_proof(SIZE, seq, LOG.store), ROOT)


def test_the_third_party_versions_are_the_pinned_ones() -> None:
    found = {name: metadata.version(name) for name in ("pycose", "cwt", "scitt-cose", "cbor2")}
    assert found == {"pycose": "1.1.0", "cwt": "3.3.0", "scitt-cose": "0.5.0", "cbor2": "5.9.0"}


@pytest.mark.parametrize("seq", range(SIZE))
def test_scitt_cose_verifies_every_receipt(seq: int) -> None:
    from scitt_cose.receipt import verify_receipt

    result = verify_receipt(
        _receipt(seq), leaf_entry_hex=LOG.leaves[seq].hex(), log_public_key_pem=PEM
    )
    assert result.ok, result.errors
    assert (result.tree_size, result.leaf_index, result.root) == (SIZE, seq, ROOT.hex())
    assert result.issuer == LOG.signer.name
    wrong = verify_receipt(
        _receipt(seq), leaf_entry_hex=(LOG.leaves[seq] + b"!").hex(), log_public_key_pem=PEM
    )
    assert not wrong.ok


def test_pycose_verifies_the_signature_over_the_root() -> None:
    from pycose.keys import OKPKey
    from pycose.keys.curves import Ed25519
    from pycose.messages import Sign1Message

    message = Sign1Message.decode(_receipt(2))
    message.key = OKPKey(crv=Ed25519, x=SIGNER.public_key)
    assert message.verify_signature(detached_payload=ROOT)
    assert not message.verify_signature(detached_payload=bytes(32))


def test_python_cwt_verifies_with_our_cose_key() -> None:
    from cwt import COSE, COSEKey
    from cwt.exceptions import VerifyError

    key = COSEKey.new(cose_key(SIGNER.public_key))  # our COSE Key as python-cwt reads it
    assert key.kid == SIGNER.kid
    assert COSE.new().decode(_receipt(2), key, detached_payload=ROOT) == ROOT
    with pytest.raises(VerifyError):
        COSE.new().decode(_receipt(2), key, detached_payload=bytes(32))


def test_the_kid_is_the_rfc9679_thumbprint_by_cbor2() -> None:
    required = {1: 1, -1: 6, -2: SIGNER.public_key}
    import hashlib

    assert SIGNER.kid == hashlib.sha256(cbor2.dumps(required, canonical=True)).digest()


def _check_inclusion_receipt_cddl(data: bytes) -> None:
    """The COSE WG's examples/inclusion-receipt.cddl (draft-ietf-cose-merkle-tree-proofs), rule
    by rule, on cbor2's decoding:

        Receipt_For_Inclusion = #6.18(Signed_Inclusion_Proof)
        Signed_Inclusion_Proof = [ protected: bstr .cbor {&(alg: 1) => int, &(vds: 395) => int,
          * label => any}, unprotected: {&(vdp: 396) => {&(inclusion-proof: -1) =>
          [+ bstr .cbor [tree_size: uint, leaf_index: uint, inclusion_path: [+ bstr]]]},
          * label => any}, payload: bstr / nil, signature: bstr ]
    """
    item = cbor2.loads(data)
    assert isinstance(item, cbor2.CBORTag)
    assert item.tag == 18
    protected, unprotected, payload, signature = item.value
    header = cbor2.loads(protected)
    assert isinstance(header[1], int)
    assert isinstance(header[395], int)
    assert all(isinstance(label, int | str) for label in header)
    proofs = unprotected[396][-1]
    assert isinstance(proofs, list)
    assert len(proofs) >= 1
    for proof in proofs:
        tree_size, leaf_index, path = cbor2.loads(proof)
        assert isinstance(tree_size, int)
        assert tree_size >= 0
        assert isinstance(leaf_index, int)
        assert leaf_index >= 0
        assert isinstance(path, list)
        assert path
        assert all(isinstance(n, bytes) for n in path)
    assert payload is None or isinstance(payload, bytes)
    assert isinstance(signature, bytes)


def test_receipts_have_the_cose_wg_inclusion_receipt_shape() -> None:
    for seq in range(SIZE):
        _check_inclusion_receipt_cddl(_receipt(seq))
    # cbor2's canonical re-encoding is byte-identical: our encoding is deterministic
    assert cbor2.dumps(cbor2.loads(_receipt(2)), canonical=True) == _receipt(2)
