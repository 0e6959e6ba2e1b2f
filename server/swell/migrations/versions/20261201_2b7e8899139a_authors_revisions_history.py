"""authors, revisions and history

Every stored change gets a per-document revision; compaction keeps history (chunks) instead of
deleting it. What a document held before this migration becomes its revision 1 (anonymous): the
journal rows and snapshot it had are folded into one history chunk and one snapshot.

Revision ID: 2b7e8899139a
Revises: f4e9f4edb544
Create Date: 2026-12-01 17:08:49.183663
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op
from pycrdt import Doc, Snapshot, merge_updates

from swell.collab.revisions import (
    Checkpoint,
    IndexedRevision,
    encode_delete_set,
    encode_ids,
    pack_blob,
    pack_revisions,
)
from swell.records import Revision

revision: str = "2b7e8899139a"
down_revision: str | None = "f4e9f4edb544"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "authors",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("color", sa.String(length=7), nullable=False),
        sa.Column("secret_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_authors")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_authors_secret_hash")),
    )
    op.create_table(
        "document_clients",
        sa.Column("document_id", sa.String(length=32), nullable=False),
        sa.Column("client_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("author_id", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_document_clients_document_id_documents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("document_id", "client_id", name=op.f("pk_document_clients")),
    )
    op.create_table(
        "document_history",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("document_id", sa.String(length=32), nullable=False),
        sa.Column("from_rev", sa.BigInteger(), nullable=False),
        sa.Column("to_rev", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("revisions", sa.LargeBinary(), nullable=False),
        sa.Column("checkpoint", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_document_history_document_id_documents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document_history")),
        sa.UniqueConstraint(
            "document_id", "from_rev", name=op.f("uq_document_history_document_id")
        ),
    )
    op.create_table(
        "document_versions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("document_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("rev", sa.BigInteger(), nullable=False),
        sa.Column("author_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_document_versions_document_id_documents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document_versions")),
    )
    with op.batch_alter_table("document_versions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_document_versions_document_id"), ["document_id"], unique=False
        )

    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.add_column(sa.Column("author_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("from_rev", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("to_rev", sa.BigInteger(), nullable=True))

    # Only columns SQLite can add in place: rebuilding ``documents`` would drop the old table,
    # and with foreign keys on that cascades into every document's content.
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rev", sa.BigInteger(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("created_by", sa.String(length=32), nullable=True))

    with op.batch_alter_table("document_snapshots", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("upto_rev", sa.BigInteger(), server_default="0", nullable=False)
        )

    _fold_existing_content()

    with op.batch_alter_table("document_snapshots", schema=None) as batch_op:
        batch_op.drop_column("upto_update_id")

    # The journal is empty now (everything was folded into revision 1).
    with op.batch_alter_table(
        "document_updates", schema=None, table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.add_column(sa.Column("rev", sa.BigInteger(), nullable=False))
        batch_op.add_column(
            sa.Column("kind", sa.String(length=10), server_default="edit", nullable=False)
        )
        batch_op.add_column(sa.Column("author_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("added", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("removed", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("ids", sa.LargeBinary(), nullable=False))
        batch_op.drop_index(batch_op.f("ix_document_updates_document_id_id"))
        batch_op.create_unique_constraint(
            batch_op.f("uq_document_updates_document_id"), ["document_id", "rev"]
        )
        batch_op.drop_column("author")


def _fold_existing_content() -> None:
    """Each document's snapshot and journal become revision 1: one snapshot (upto_rev 1) and
    one history chunk holding everything they held. Nothing is lost; the revisions they never
    had (compaction used to delete them) cannot be made up."""
    bind = op.get_bind()
    ids = [
        row[0]
        for row in bind.execute(
            sa.text(
                "SELECT document_id FROM document_snapshots UNION "
                "SELECT document_id FROM document_updates"
            )
        )
    ]
    for doc_id in ids:
        snapshot = bind.execute(
            sa.text(
                "SELECT state, upto_update_id FROM document_snapshots WHERE document_id = :d "
                "ORDER BY upto_update_id DESC LIMIT 1"
            ),
            {"d": doc_id},
        ).first()
        after = snapshot[1] if snapshot is not None else 0
        rows = bind.execute(
            sa.text(
                "SELECT data FROM document_updates WHERE document_id = :d AND id > :a ORDER BY id"
            ),
            {"d": doc_id, "a": after},
        ).all()
        parts = ([bytes(snapshot[0])] if snapshot is not None else []) + [bytes(r[0]) for r in rows]
        updated_at = bind.execute(
            sa.text("SELECT updated_at FROM documents WHERE id = :d"), {"d": doc_id}
        ).scalar_one()
        if isinstance(updated_at, str):  # SQLite hands back text through a raw query
            updated_at = datetime.fromisoformat(updated_at)
        if updated_at.tzinfo is None:
            updated_at = updated_at.replace(tzinfo=UTC)
        doc: Doc[Any] = Doc()
        for part in parts:
            doc.apply_update(part)
        checkpoint = Checkpoint.decode(Snapshot.from_doc(doc).encode())
        inserted = {client: [(0, clock)] for client, clock in checkpoint.clocks.items() if clock}
        revision = Revision(1, updated_at, None, "edit", 0, 0)
        index = pack_revisions(
            [
                IndexedRevision(
                    revision, encode_ids(inserted, bytes(encode_delete_set(checkpoint.deleted)))
                )
            ]
        )
        bind.execute(sa.text("DELETE FROM document_updates WHERE document_id = :d"), {"d": doc_id})
        bind.execute(
            sa.text("DELETE FROM document_snapshots WHERE document_id = :d"), {"d": doc_id}
        )
        now = datetime.now(UTC)
        bind.execute(
            sa.text(
                "INSERT INTO document_snapshots (document_id, upto_update_id, upto_rev, state, "
                "created_at) VALUES (:d, 0, 1, :s, :t)"
            ).bindparams(
                sa.bindparam("s", type_=sa.LargeBinary),
                sa.bindparam("t", type_=sa.DateTime(timezone=True)),
            ),
            {"d": doc_id, "s": doc.get_update(), "t": now},
        )
        bind.execute(
            sa.text(
                "INSERT INTO document_history (document_id, from_rev, to_rev, data, revisions, "
                "checkpoint, created_at) VALUES (:d, 1, 1, :data, :rev, :cp, :t)"
            ).bindparams(
                sa.bindparam("data", type_=sa.LargeBinary),
                sa.bindparam("rev", type_=sa.LargeBinary),
                sa.bindparam("cp", type_=sa.LargeBinary),
                sa.bindparam("t", type_=sa.DateTime(timezone=True)),
            ),
            {
                "d": doc_id,
                "data": pack_blob(merge_updates(*parts) if parts else b"\x00\x00"),
                "rev": index,
                "cp": pack_blob(checkpoint.encode()),
                "t": now,
            },
        )
        bind.execute(sa.text("UPDATE documents SET rev = 1 WHERE id = :d"), {"d": doc_id})


def downgrade() -> None:
    """History cannot be folded back into the old journal without losing it: refuse."""
    raise NotImplementedError("downgrading past revisions and history is not supported")
