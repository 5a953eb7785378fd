"""The tlog-tiles read API (c2sp.org/tlog-tiles) under ``/tlog/``, and tlog-proof files."""

from __future__ import annotations

from flask import Response
from flask.views import MethodView

from ledger.core.errors import NotFound
from ledger.core.tiles import parse_tile_path
from ledger.server.api.context import (
    SEQ_PATTERN,
    ledger,
    path_parameter,
    read_session,
    seq_param,
)
from ledger.server.api.parsing import Blueprint
from ledger.server.reads import tlog
from ledger.server.reads.published import published_checkpoint
from ledger.server.reads.tlog import CHECKPOINT_CACHE, OCTETS, TEXT, tile_cache_control

blp = Blueprint(
    "tlog", __name__, url_prefix="/tlog", description="Static tlog-tiles API (c2sp.org/tlog-tiles)"
)
proof_blp = Blueprint(
    "tlog_proof", __name__, url_prefix="/v1", description="Offline proofs (c2sp.org/tlog-proof)"
)

#: The shape of a tile path (parse_tile_path checks the ranges: level, width, 3-digit groups).
TILE_PATH_PATTERN = r"(entries|[0-9]{1,2})/(x[0-9]{3}/)*[0-9]{3}(\.p/[0-9]{1,3})?"


@blp.route("/checkpoint")
class TlogCheckpoint(MethodView):
    @blp.response(200, content_type=TEXT, description="a C2SP signed note (tlog-checkpoint)")
    def get(self) -> Response:
        """The published checkpoint (cosigned to the witness quorum when a policy is set)."""
        with read_session() as session:
            published = published_checkpoint(session, witnessed=ledger().witnessed)
        if published is None:
            raise NotFound("no checkpoint has been published yet")
        return Response(
            published.note, content_type=TEXT, headers={"Cache-Control": CHECKPOINT_CACHE}
        )


@blp.route(
    "/tile/<path:tile_path>",
    parameters=[path_parameter("tile_path", TILE_PATH_PATTERN, "e.g. 0/x001/234 or entries/000")],
)
class TlogTile(MethodView):
    @blp.response(200, content_type=OCTETS, description="hash tile or entry bundle bytes")
    def get(self, tile_path: str) -> Response:
        """A Merkle tree tile ``<L>/<N>[.p/<W>]`` or an entry bundle ``entries/<N>[.p/<W>]``."""
        tile = parse_tile_path(tile_path)
        lg = ledger()
        data = lg.tile_cache.get(tile)
        if data is None:
            with read_session() as session:
                data = tlog.published_tile(session, tile, witnessed=lg.witnessed)
            lg.tile_cache.put(tile, data)
        cache = tile_cache_control(tile)
        return Response(data, content_type=OCTETS, headers={"Cache-Control": cache})


@proof_blp.route(
    "/entries/<entry_seq:seq>/proof",
    parameters=[path_parameter("seq", SEQ_PATTERN, "the entry's sequence number")],
)
class EntryProof(MethodView):
    @proof_blp.response(200, content_type=TEXT, description="a c2sp.org/tlog-proof@v1 file")
    def get(self, seq: str) -> Response:
        """A c2sp.org/tlog-proof@v1 file for entry ``seq`` against the published checkpoint."""
        n = seq_param(seq)
        with read_session() as session:
            text = tlog.entry_proof(session, n, ledger().witnessed)
        return Response(text, content_type=TEXT)
