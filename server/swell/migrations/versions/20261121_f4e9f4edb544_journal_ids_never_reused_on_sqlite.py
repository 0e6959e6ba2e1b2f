"""journal ids never reused on sqlite

Revision ID: f4e9f4edb544
Revises: 30dae7d4086c
Create Date: 2026-11-21 16:31:36.124085
"""

from collections.abc import Sequence

from alembic import op

revision: str = "f4e9f4edb544"
down_revision: str | None = "30dae7d4086c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """SQLite only (PostgreSQL's sequences never go back): rebuild the journal as AUTOINCREMENT
    and start its counter past every id a snapshot already covers, so that no later row can be
    numbered below a snapshot's ``upto_update_id`` (where loads skip it and compaction deletes
    it)."""
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table(
        "document_updates", recreate="always", table_kwargs={"sqlite_autoincrement": True}
    ):
        pass
    op.execute(
        "INSERT INTO sqlite_sequence (name, seq) SELECT 'document_updates', max("
        " coalesce((SELECT max(id) FROM document_updates), 0),"
        " coalesce((SELECT max(upto_update_id) FROM document_snapshots), 0))"
        " WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'document_updates')"
    )
    op.execute(
        "UPDATE sqlite_sequence SET seq = max(seq,"
        " coalesce((SELECT max(upto_update_id) FROM document_snapshots), 0))"
        " WHERE name = 'document_updates'"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table(
        "document_updates", recreate="always", table_kwargs={"sqlite_autoincrement": False}
    ):
        pass
