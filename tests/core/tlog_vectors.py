"""tests/vectors/tlog.json for the tlog core tests (sources: tests/vectors/README-tlog.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parent.parent / "vectors" / "tlog.json").read_text(encoding="utf-8")
)
GEN: dict[str, Any] = VECTORS["generated"]
PUB: dict[str, Any] = VECTORS["published"]
