"""``ledger receipt SEQ`` and ``ledger verify-receipt`` (docs/FORMAT.md §15, README *SCITT*): the
real command against a real gunicorn server on both backends, and behind a lying proxy. A receipt
is written only once its proof, its signature under the trusted log key and its root (against
the log's checkpoint) verified; offline, a receipt whose signature fails or whose root is not its
checkpoint's fails with a stable code (exit 1)."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

from ledger.client.http import LogClient
from ledger.core import builders, merkle
from ledger.core.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from ledger.core.keys import SigningKey
from ledger.core.note import NoteSigner
from ledger.core.receipts import ReceiptSigner
from tests.cli.clitools import run_ledger
from tests.support.live import LiveServer
from tests.support.proxy import LyingProxy


def _register(live: LiveServer, count: int) -> int:
    """``count`` new parties, one append each; the seq of the first."""
    log = LogClient(live.url)
    seqs = [
        log.post_json(
            "/v1/entries", builders.party_register(SigningKey.generate(), f"p{i}").to_json()
        )
        for i in range(count)
    ]
    return int(seqs[0]["seq"])


def _log_signer(live: LiveServer) -> NoteSigner:
    return NoteSigner.from_private_key(live.origin, SigningKey.load(live.log_key_file).private_key)


def _leaf(live: LiveServer, seq: int) -> bytes:
    return base64.b64decode(LogClient(live.url).entry(seq)["leaf"])


def _failed(result: subprocess.CompletedProcess[str], code: str) -> None:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert f"verification failed: {code}:" in result.stderr


def test_receipt_written_verified_and_checked_offline(live: LiveServer, tmp_path: Path) -> None:
    seq = _register(live, 3)
    vkey = _log_signer(live).verifier().to_vkey()
    state, out = tmp_path / "state", tmp_path / "entry.cose"
    online = ["--url", live.url, "--state", state]
    got = run_ledger("receipt", str(seq), "--out", out, *online, "--log-key", vkey)
    assert got.returncode == 0, got.stderr
    size = int(got.stdout.split("tree_size  ")[1].split()[0])
    assert f"ok: receipt of entry {seq} at tree size {size}" in got.stdout
    leaf_hash = merkle.leaf_hash(_leaf(live, seq)).hex()
    assert f"leaf_hash  {leaf_hash}" in got.stdout
    receipt = out.read_bytes()
    assert receipt[:2] == b"\xd2\x84"  # tag 18, an array of four
    again = run_ledger("receipt", str(seq), "--out", out, *online)
    assert again.returncode == 2  # --out is kept without --force
    assert "--force" in again.stderr
    assert run_ledger("receipt", str(seq), "--out", out, *online, "--force").returncode == 0

    # offline: the key pinned by `ledger receipt` (no --log-key) and the checkpoint of its size
    note = tmp_path / "checkpoint"
    note.write_text(LogClient(live.url).checkpoint(tree_size=size))
    offline = ["--state", state, "--leaf-hash", leaf_hash]
    ok = run_ledger("verify-receipt", out, *offline, "--checkpoint", note)
    assert ok.returncode == 0, ok.stderr
    assert f"ok: entry {seq} is in {live.origin} at tree size {size}" in ok.stdout
    leaf_file = tmp_path / "leaf"
    leaf_file.write_bytes(_leaf(live, seq))
    assert run_ledger("verify-receipt", out, "--state", state, "--leaf", leaf_file).returncode == 0

    # a checkpoint of the same size, signed by the log key, with another root
    note.write_text(sign_checkpoint(Checkpoint(live.origin, size, bytes(32)), _log_signer(live)))
    _failed(
        run_ledger("verify-receipt", out, *offline, "--checkpoint", note), "receipt_root_mismatch"
    )
    # another entry's leaf, another log's key, a flipped signature byte, not a receipt at all
    other = merkle.leaf_hash(_leaf(live, seq + 1)).hex()
    _failed(
        run_ledger("verify-receipt", out, "--state", state, "--leaf-hash", other), "bad_signature"
    )
    stranger = NoteSigner.from_private_key(live.origin, SigningKey.generate().private_key)
    wrong_key = ["--log-key", stranger.verifier().to_vkey()]
    _failed(
        run_ledger("verify-receipt", out, "--leaf-hash", leaf_hash, *wrong_key), "bad_signature"
    )
    flipped = tmp_path / "flipped"
    flipped.write_bytes(receipt[:-1] + bytes([receipt[-1] ^ 1]))
    _failed(run_ledger("verify-receipt", flipped, *offline), "bad_signature")
    flipped.write_bytes(b"not cbor")
    _failed(run_ledger("verify-receipt", flipped, *offline), "malformed_receipt")
    bad = run_ledger("verify-receipt", out, "--state", state, "--leaf-hash", "AB" * 32)
    assert bad.returncode == 2
    assert "64 lowercase hex" in bad.stderr


def test_receipt_from_a_lying_log_is_refused_and_not_written(
    live: LiveServer, tmp_path: Path
) -> None:
    """The proxy serves receipts the log never issued: signed by another key, or by the log's
    own key over the root of a tree the log does not have (a fork): both refused, nothing
    written. An honest receipt at an older size is tied to the newer checkpoint by a
    consistency proof, and accepted."""
    seq = _register(live, 2)
    log, signer = LogClient(live.url), _log_signer(live)
    old, _ = open_checkpoint(log.checkpoint(), signer.verifier())
    _register(live, 2)  # the log grows past the receipts' size
    path = [bytes.fromhex(h) for h in log.inclusion_proof(seq, old.tree_size)["hashes"]]
    fork_path = [bytes([i + 1]) * 32 for i in range(len(path))]
    entry = merkle.leaf_hash(_leaf(live, seq))
    fork_root = merkle.root_from_inclusion_proof(seq, old.tree_size, entry, fork_path)
    honest = ReceiptSigner(SigningKey.load(live.log_key_file).private_key, live.origin)
    stranger = ReceiptSigner(SigningKey.generate().private_key, live.origin)
    cases = [
        (
            "forked",
            honest.inclusion(old.tree_size, seq, fork_path, fork_root),
            "receipt_root_mismatch",
        ),
        ("other key", stranger.inclusion(old.tree_size, seq, path, old.root_hash), "bad_signature"),
        ("older size", honest.inclusion(old.tree_size, seq, path, old.root_hash), ""),
    ]
    served: dict[str, bytes] = {}

    def lie(method: str, url: str, status: int, body: bytes) -> bytes:
        return served["receipt"] if url.endswith("/receipt") else body

    with LyingProxy(live.url, lie) as proxy:
        for name, receipt, error in cases:
            served["receipt"] = receipt
            out = tmp_path / name
            argv = [
                "--url",
                proxy.url,
                "--state",
                tmp_path / "s",
                "--log-key",
                signer.verifier().to_vkey(),
            ]
            got = run_ledger("receipt", str(seq), "--out", out, *argv)
            if error:
                _failed(got, error)
                assert not out.exists(), name
            else:
                assert got.returncode == 0, got.stderr
                assert f"at tree size {old.tree_size}" in got.stdout
                assert out.read_bytes() == receipt


def test_receipt_errors_say_what_to_do(live: LiveServer, tmp_path: Path) -> None:
    out = tmp_path / "r.cose"
    beyond = LogClient(live.url).log_info()["tree_size"] + 100
    got = run_ledger("receipt", str(beyond), "--out", out, "--url", live.url, "--state", tmp_path)
    assert got.returncode == 4, got.stderr  # the log refused it by its rules, its code printed
    assert "not_found" in got.stderr
    assert not out.exists()
    missing = run_ledger("verify-receipt", tmp_path / "none", "--leaf-hash", "ab" * 32)
    assert missing.returncode == 2
    assert "cannot read receipt" in missing.stderr
    out.write_bytes(b"\xd2\x84")
    note = tmp_path / "cp"
    note.write_text("not a checkpoint")
    no_key = run_ledger("verify-receipt", out, "--leaf-hash", "ab" * 32, "--checkpoint", note)
    _failed(no_key, "malformed_receipt")  # the receipt is read first, and is not one


def test_proof_file_with_its_receipt(live: LiveServer, tmp_path: Path) -> None:
    """docs/FORMAT.md §12: ``prove --entry SEQ --receipts`` writes the C2SP proof file unchanged
    and the entry's receipt at its checkpoint's size next to it; ``verify-proof --receipt``
    holds the receipt to that checkpoint: another entry's receipt, or one at another size, fails
    with ``receipt_root_mismatch``."""
    seq = _register(live, 3)
    vkey = _log_signer(live).verifier().to_vkey()
    online = ["--url", live.url, "--state", tmp_path / "state", "--log-key", vkey]
    proof, plain = tmp_path / "entry.tlog-proof", tmp_path / "plain.tlog-proof"
    got = run_ledger("prove", "--entry", str(seq), "--out", proof, "--receipts", *online)
    assert got.returncode == 0, got.stderr
    assert run_ledger("prove", "--entry", str(seq), "--out", plain, *online).returncode == 0
    assert proof.read_bytes() == plain.read_bytes()  # the C2SP file, with or without receipts
    assert not (tmp_path / "plain.tlog-proof.cose").exists()
    receipt = Path(f"{proof}.cose")
    size = int(proof.read_text().split("\n\n", 1)[1].split("\n")[1])
    assert receipt.read_bytes() == LogClient(live.url).receipt(seq, tree_size=size)
    offline = ["--log-key", vkey]
    ok = run_ledger("verify-proof", proof, "--receipt", receipt, *offline)
    assert ok.returncode == 0, ok.stderr
    assert "COSE receipt (RFC 9942) of this entry at this root, ok" in ok.stdout

    other = tmp_path / "other.cose"
    other.write_bytes(LogClient(live.url).receipt(seq + 1, tree_size=size))
    _failed(
        run_ledger("verify-proof", proof, "--receipt", other, *offline), "receipt_root_mismatch"
    )
    _register(live, 1)
    other.write_bytes(LogClient(live.url).receipt(seq))  # at the newer published size
    _failed(
        run_ledger("verify-proof", proof, "--receipt", other, *offline), "receipt_root_mismatch"
    )
