"""Deterministic test data shared by every test layer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import strategies as st

from ledger.core.canonical import MAX_SAFE_INTEGER
from ledger.core.keys import SigningKey

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def seeded_key(n: int) -> SigningKey:
    """A deterministic key: seed = 32 bytes of value n (for golden data and readable tests)."""
    return SigningKey.from_seed(bytes([n]) * 32)


def json_paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The path (keys and indexes) to every value inside a JSON value, the root's included."""
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out.extend(json_paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out.extend(json_paths(item, (*prefix, index)))
    return out


def replace_at(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    """A copy of a JSON value with the value at ``path`` replaced by ``new``."""
    if not path:
        return new
    head, *rest = path
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[head] = replace_at(value[head], tuple(rest), new)
    return copy


def json_values(
    *, max_text: int | None = None, max_width: int = 4, max_leaves: int = 12
) -> st.SearchStrategy[Any]:
    """Hypothesis: any JSON value Python's json module reads, floats and unsafe integers too."""
    return st.recursive(
        st.none()
        | st.booleans()
        | st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER)
        | st.integers()
        | st.floats()
        | st.text(max_size=max_text),
        lambda children: (
            st.lists(children, max_size=max_width)
            | st.dictionaries(st.text(max_size=max_text), children, max_size=max_width)
        ),
        max_leaves=max_leaves,
    )
