"""pseudonym index: who already uses a pseudonym (``GET /v1/parties?pseudonym=``)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 18:00:00

An index only: no row changes, so the append-only triggers of ``keys`` (revision 0001) stay as
they are, and the index fills from the existing rows.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(op.f("ix_keys_pseudonym"), "keys", ["pseudonym"])


def downgrade() -> None:
    op.drop_index(op.f("ix_keys_pseudonym"), table_name="keys")
