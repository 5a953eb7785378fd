"""Signed versus published (``ledger.server.reads.published``): under a witness policy the /v1
log API shows the tree the log has signed, while the tlog API, proof files and evidence show only
the tree cosigned to the quorum. Real witness subprocesses, both backends."""

from __future__ import annotations

import hashlib

from ledger.core.checkpoint import open_checkpoint
from ledger.core.policy import parse_policy, verify_cosigned_checkpoint
from ledger.server.reads.published import published_checkpoint, published_size, signed_size
from tests.support.tlog_helpers import Witnessed


def _size(witnessed: Witnessed, note: str) -> int:
    return open_checkpoint(note, witnessed.log.verifier())[0].tree_size


def test_each_view_shows_its_own_tree(witnessed: Witnessed) -> None:
    app = witnessed.make_app("quorum w1\n")
    client = app.test_client()
    assert client.get("/tlog/checkpoint").status_code == 404  # signed size 0, cosigned nothing
    witnessed.append(2)
    assert witnessed.publisher.run_once().published  # type: ignore[union-attr]
    witnessed.append(1)  # signed, not yet cosigned: the published tree stays at 2
    lg = app.extensions["ledger"]
    with lg.db.read_session() as session:
        assert signed_size(session) == 3
        assert published_size(session, witnessed=True) == 2
        assert published_size(session, witnessed=False) == 3
        published = published_checkpoint(session, witnessed=True)
    assert published is not None
    assert published.note == witnessed.published()

    # The signed tree: the /v1 log API.
    assert client.get("/v1/log").get_json()["tree_size"] == 3
    assert _size(witnessed, client.get("/v1/checkpoint").get_data(as_text=True)) == 3
    assert client.get("/v1/entries/2").status_code == 200
    assert client.get("/v1/proofs/inclusion?seq=2&tree_size=3").status_code == 200
    # The published tree: the tlog API and tlog-proof files.
    assert _size(witnessed, witnessed.published()) == 2
    assert client.get("/tlog/tile/entries/000.p/2").status_code == 200
    assert client.get("/tlog/tile/entries/000.p/3").status_code == 404
    assert client.get("/v1/entries/1/proof").status_code == 200
    assert client.get("/v1/entries/2/proof").status_code == 404

    assert witnessed.publisher.run_once().published  # type: ignore[union-attr]
    assert client.get("/tlog/tile/entries/000.p/3").status_code == 200
    assert client.get("/v1/entries/2/proof").status_code == 200


def test_a_fresh_log_publishes_its_empty_tree_like_any_other(witnessed: Witnessed) -> None:
    # docs/FORMAT.md §6: the size-0 checkpoint a new log signs goes to the witnesses too.
    app = witnessed.make_app("group both all w1 w2\nquorum both\n")
    client = app.test_client()
    result = witnessed.publisher.run_once()
    assert result is not None
    assert (result.tree_size, result.cosigned_by, result.published) == (0, ("w1", "w2"), True)
    policy = parse_policy((witnessed.tmp_path / "policy.txt").read_text())
    note = client.get("/tlog/checkpoint").get_data(as_text=True)
    cosigned = verify_cosigned_checkpoint(note, policy)
    assert cosigned.checkpoint.tree_size == 0
    assert cosigned.checkpoint.root_hash == hashlib.sha256(b"").digest()
    assert list(cosigned.witness_times) == ["w1", "w2"]
    witnessed.append(2)  # the witnesses move on from size 0, as from any size
    result = witnessed.publisher.run_once()
    assert result is not None
    assert (result.tree_size, result.published) == (2, True)
    assert _size(witnessed, client.get("/tlog/checkpoint").get_data(as_text=True)) == 2
