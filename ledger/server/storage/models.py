"""SQLAlchemy 2 typed models. The schema itself is created only by alembic migrations.

``entries``, ``tree_hashes`` and ``checkpoints`` are the log; the other tables are indexes derived
from the entries at append time (keys, grants, grant events, content) so that the state machine and
the search endpoints answer with indexed reads. Every table is append-only: database triggers
written in the migration refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: Tables whose rows may never change once written (enforced by triggers).
APPEND_ONLY_TABLES = (
    "log_meta",
    "entries",
    "tree_hashes",
    "checkpoints",
    "keys",
    "key_ends",
    "grants",
    "grant_content",
    "grant_events",
    "cosigned_checkpoints",
    "map_nodes",
)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _hash_check(column: str) -> CheckConstraint:
    return CheckConstraint(f"length({column}) = 32", name=f"{column}_len")


def _hex_check(column: str) -> CheckConstraint:
    return CheckConstraint(f"length({column}) = 64", name=f"{column}_len")


class LogMetaRow(Base):
    """The log's identity, written once: a database serves exactly one origin and log key."""

    __tablename__ = "log_meta"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    origin: Mapped[str] = mapped_column(String(255))
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (CheckConstraint("id = 1", name="single_row"), _hash_check("public_key"))


class EntryRow(Base):
    __tablename__ = "entries"
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    leaf: Mapped[bytes] = mapped_column(LargeBinary)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    statement_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    type: Mapped[str] = mapped_column(String(32))
    signer: Mapped[str] = mapped_column(String(64), index=True)
    integrated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        CheckConstraint("seq >= 0", name="seq_nonnegative"),
        CheckConstraint("length(leaf) <= 65535", name="leaf_size"),
        _hash_check("leaf_hash"),
        _hash_check("statement_hash"),
    )


class TreeHashRow(Base):
    """One stored Merkle subtree hash, at its Go sumdb stored-hash index."""

    __tablename__ = "tree_hashes"
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    __table_args__ = (_hash_check("hash"),)


class CheckpointRow(Base):
    __tablename__ = "checkpoints"
    tree_size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    note: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: The licence map root the note commits (docs/FORMAT.md §14); NULL only for a checkpoint
    #: signed before the log derived its map (a database from before revision 0003).
    map_root: Mapped[bytes | None] = mapped_column(LargeBinary(32), nullable=True)
    __table_args__ = (_hash_check("root_hash"),)


class MapNodeRow(Base):
    """A node of the licence map (``ledger.core.vmap.encode_node``), named by its hash.

    Content-addressed, so nodes of every version live side by side and none is ever rewritten;
    ``size`` is the log size whose map update first wrote it.
    """

    __tablename__ = "map_nodes"
    hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    node: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(BigInteger, index=True)
    __table_args__ = (_hash_check("hash"),)


class KeyRow(Base):
    """A party's key, from its party.register or key.rotate entry."""

    __tablename__ = "keys"
    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    party_id: Mapped[str] = mapped_column(String(64), index=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    #: Indexed (revision 0004): ``ledger register`` asks who already uses a pseudonym.
    pseudonym: Mapped[str] = mapped_column(String(64), index=True)
    seq: Mapped[int] = mapped_column(ForeignKey("entries.seq"), unique=True)
    __table_args__ = (_hex_check("key_id"), _hash_check("public_key"))


class KeyEndRow(Base):
    """The entry that ended a key's validity: a rotation away from it, or a revocation."""

    __tablename__ = "key_ends"
    key_id: Mapped[str] = mapped_column(ForeignKey("keys.key_id"), primary_key=True)
    seq: Mapped[int] = mapped_column(ForeignKey("entries.seq"))
    kind: Mapped[str] = mapped_column(String(16))
    __table_args__ = (CheckConstraint("kind IN ('rotated', 'revoked')", name="kind"),)


class GrantRow(Base):
    __tablename__ = "grants"
    grant_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    seq: Mapped[int] = mapped_column(ForeignKey("entries.seq"), unique=True)
    statement_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    creator_party: Mapped[str] = mapped_column(String(64), index=True)
    buyer_party: Mapped[str] = mapped_column(String(64), index=True)
    revocable: Mapped[bool] = mapped_column(Boolean)
    notice_days: Mapped[int | None] = mapped_column(Integer)
    __table_args__ = (_hash_check("statement_hash"),)


class GrantContentRow(Base):
    __tablename__ = "grant_content"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    grant_id: Mapped[str] = mapped_column(ForeignKey("grants.grant_id"), primary_key=True)
    __table_args__ = (_hex_check("sha256"),)


class GrantEventRow(Base):
    """An acceptance or a revocation of a grant; each happens at most once per grant."""

    __tablename__ = "grant_events"
    grant_id: Mapped[str] = mapped_column(ForeignKey("grants.grant_id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    seq: Mapped[int] = mapped_column(ForeignKey("entries.seq"), unique=True)
    effective_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (CheckConstraint("kind IN ('accept', 'revoke')", name="kind"),)


class CosignedCheckpointRow(Base):
    """A checkpoint note carrying witness cosignatures that met the witness policy's quorum.

    Written by the witness publisher (``ledger/server/publisher.py``) only when a policy is
    configured; the latest row is what ``/tlog/checkpoint`` serves then.
    """

    __tablename__ = "cosigned_checkpoints"
    tree_size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    note: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
