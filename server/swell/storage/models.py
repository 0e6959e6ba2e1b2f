"""Tables. A naming convention keeps constraint names stable across migrations."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments an INTEGER PRIMARY KEY, PostgreSQL wants BIGINT for a log.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Document(Base):
    __tablename__ = "documents"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    edit_token_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    view_token_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The newest revision: a commit takes the next numbers by updating this row, which holds
    # the row's lock until it commits, so revisions are gapless and in commit order even when
    # several processes write one document.
    rev: Mapped[int] = mapped_column(BigInteger, server_default="0")
    # No foreign key: adding one makes SQLite rebuild this table, and dropping the old table
    # would cascade into every document's content (authors are never deleted anyway).
    created_by: Mapped[str | None] = mapped_column(String(32), nullable=True)


class Author(Base):
    """Who changes are attributed to; a browser creates one and keeps its secret."""

    __tablename__ = "authors"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    color: Mapped[str] = mapped_column(String(7))
    secret_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DocumentUpdate(Base):
    """The journal: every revision not yet folded into history, committed before it is
    forwarded. ``data`` is what the revision changed (the transaction's own update: what a
    client re-sent is not in it), ``ids`` the Yjs ids it inserted and deleted."""

    __tablename__ = "document_updates"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    document_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("documents.id", ondelete="CASCADE")
    )
    rev: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(10), server_default="edit")
    author_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    added: Mapped[int] = mapped_column(Integer, server_default="0")
    removed: Mapped[int] = mapped_column(Integer, server_default="0")
    ids: Mapped[bytes] = mapped_column(LargeBinary)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint("document_id", "rev"),
        {"sqlite_autoincrement": True},
    )


class DocumentSnapshot(Base):
    """The document as of revision ``upto_rev``, garbage-collected: what editing loads."""

    __tablename__ = "document_snapshots"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    document_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("documents.id", ondelete="CASCADE"), index=True
    )
    upto_rev: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class HistoryChunk(Base):
    """Revisions ``from_rev``..``to_rev`` folded by a compaction, losslessly: ``data`` merges
    their updates (deleted content kept), ``revisions`` indexes each one (time, author, kind,
    counts, ids), ``checkpoint`` is the encoded ``pycrdt.Snapshot`` right after ``to_rev``."""

    __tablename__ = "document_history"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    document_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("documents.id", ondelete="CASCADE")
    )
    from_rev: Mapped[int] = mapped_column(BigInteger)
    to_rev: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    revisions: Mapped[bytes] = mapped_column(LargeBinary)
    checkpoint: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (UniqueConstraint("document_id", "from_rev"),)


class DocumentClient(Base):
    """A Yjs client id belongs, per document, to the first author whose connection used it
    (``author_id`` NULL: an anonymous connection)."""

    __tablename__ = "document_clients"

    document_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True
    )
    client_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    author_id: Mapped[str | None] = mapped_column(String(32), nullable=True)


class DocumentVersion(Base):
    """A named revision."""

    __tablename__ = "document_versions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    document_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("documents.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    rev: Mapped[int] = mapped_column(BigInteger)
    author_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Activity(Base):
    """What people did in a document, numbered per document for SSE ``id:`` lines."""

    __tablename__ = "activities"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    document_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("documents.id", ondelete="CASCADE")
    )
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    kind: Mapped[str] = mapped_column(String(20))
    user: Mapped[str] = mapped_column(String(100))
    author_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    from_rev: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    to_rev: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    summary: Mapped[str] = mapped_column(Text)

    __table_args__ = (UniqueConstraint("document_id", "seq"),)


class ReadMark(Base):
    """The newest revision an author has seen of a document (Wave's read state): it only
    moves forward."""

    __tablename__ = "read_marks"

    author_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("authors.id", ondelete="CASCADE"), primary_key=True
    )
    document_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True
    )
    rev: Mapped[int] = mapped_column(BigInteger)
    read_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
