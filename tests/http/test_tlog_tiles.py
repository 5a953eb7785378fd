"""The tlog-tiles API checked by a mirror that knows only the spec, over HTTP from gunicorn.

Sizes around tile boundaries: 255, 256, 257 (one level-0 tile going full, a level-1 tile
appearing) and 65,535, 65,536, 65,537 (a level-1 tile going full, a level-2 tile appearing).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.core.keys import SigningKey
from ledger.core.note import NoteSigner
from ledger.server.storage.db import Database
from tests.support.live import LiveServer
from tests.support.tlog_helpers import SpecMirror, bulk_append, http_get, spec_path, synthetic_leaf

ORIGIN = "test.example/log"


class TiledLog:
    """A gunicorn server on the backend under test plus direct bulk appends to its database."""

    def __init__(self, database_url: str, tmp_path: Path) -> None:
        key = SigningKey.generate()
        key_file = tmp_path / "log-key.pem"
        key.save(key_file)
        self.signer = NoteSigner.from_private_key(ORIGIN, key.private_key)
        self.server = LiveServer(database_url, key_file, tmp_path / "gunicorn", workers=2)
        self.db = Database(database_url)
        self.size = 0
        self._mirror: SpecMirror | None = None

    def grow_to(self, size: int) -> None:
        self.size = bulk_append(self.db, self.signer, size - self.size)

    def mirror(self) -> SpecMirror:
        """One mirror for the log's life: it keeps the full tiles it fetched, as mirrors do."""
        if self._mirror is None:
            self._mirror = SpecMirror(self.server.url + "/tlog", self.signer.verifier())
        return self._mirror


@pytest.fixture
def tiled_log(database_url: str, tmp_path: Path) -> Iterator[TiledLog]:
    log = TiledLog(database_url, tmp_path)
    with log.server:
        yield log
    log.db.dispose()


def _check(log: TiledLog, size: int) -> list[str]:
    log.grow_to(size)
    report = log.mirror().check()
    assert report.tree_size == size
    assert report.leaves == [synthetic_leaf(i) for i in range(size)]
    return report.tiles


def test_mirror_around_the_first_tile_boundary(tiled_log: TiledLog) -> None:
    assert _check(tiled_log, 255) == ["tile/0/000.p/255", "tile/entries/000.p/255"]
    assert _check(tiled_log, 256) == ["tile/0/000", "tile/entries/000", "tile/1/000.p/1"]
    assert _check(tiled_log, 257) == [
        "tile/0/000",
        "tile/entries/000",
        "tile/0/001.p/1",
        "tile/entries/001.p/1",
        "tile/1/000.p/1",
    ]
    # Tiles of a smaller tree stay available (immutable): the partial tile of size 255 too.
    assert http_get(f"{tiled_log.server.url}/tlog/tile/0/000.p/255").status == 200


@pytest.mark.slow
def test_mirror_around_the_level_two_boundary(tiled_log: TiledLog) -> None:
    tiles = _check(tiled_log, 65_535)
    assert tiles[-1] == "tile/1/000.p/255"
    assert tiles[-3:-1] == ["tile/0/255.p/255", "tile/entries/255.p/255"]
    tiles = _check(tiled_log, 65_536)
    assert tiles[-2:] == ["tile/1/000", "tile/2/000.p/1"]
    tiles = _check(tiled_log, 65_537)
    assert tiles[-4:] == [
        "tile/0/256.p/1",
        "tile/entries/256.p/1",
        "tile/1/000",
        "tile/2/000.p/1",
    ]


def test_path_encoding_of_large_indexes() -> None:
    assert spec_path(0, 1234067, 256) == "tile/0/x001/x234/067"
    assert spec_path("entries", 1000, 5) == "tile/entries/x001/000.p/5"
