"""licence map: the map's nodes, and the map root each checkpoint commits

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 14:40:00

Checkpoints signed before this revision keep ``map_root`` NULL (their notes carry no map line);
the first append after the upgrade derives the map of the whole log before it signs
(docs/OPERATIONS.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "map_nodes"


def upgrade() -> None:
    # A plain ADD COLUMN on both backends (no table rebuild: the append-only triggers stay).
    op.add_column("checkpoints", sa.Column("map_root", sa.LargeBinary(length=32), nullable=True))
    op.create_table(
        TABLE,
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("node", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("length(hash) = 32", name=op.f("ck_map_nodes_hash_len")),
        sa.PrimaryKeyConstraint("hash", name=op.f("pk_map_nodes")),
    )
    # An append reads the nodes other processes wrote since its own last one (service.py).
    op.create_index(op.f("ix_map_nodes_size"), TABLE, ["size"])
    # Append-only, like every table of the log (revision 0002 says why this is written by hand).
    if op.get_bind().dialect.name == "sqlite":
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {TABLE}_no_{action.lower()} BEFORE {action} ON {TABLE} "
                f"BEGIN SELECT RAISE(ABORT, 'append-only table {TABLE}: {action} refused'); END"
            )
        return
    op.execute(
        f"CREATE TRIGGER {TABLE}_no_change BEFORE UPDATE OR DELETE ON {TABLE} "
        "FOR EACH ROW EXECUTE FUNCTION ledger_append_only()"
    )
    op.execute(
        f"CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE} "
        "FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for action in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_no_{action}")
    else:
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_no_change ON {TABLE}")
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_no_truncate ON {TABLE}")
    op.drop_table(TABLE)
    op.execute("ALTER TABLE checkpoints DROP COLUMN map_root")  # SQLite >= 3.35, no rebuild
