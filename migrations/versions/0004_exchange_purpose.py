"""Exchange: purpose per recipient, revoked, updated and replaced documents

Revision ID: 0004_exchange_purpose
Revises: 0003_connector
Create Date: 2026-12-04 19:50:00

"""

import sqlalchemy as sa
from alembic import op

import vanban.models.types

# revision identifiers, used by Alembic.
revision = "0004_exchange_purpose"
down_revision = "0003_connector"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column(
        "documents",
        sa.Column(
            "purpose", sa.String(length=10), nullable=False, server_default="action"
        ),
    )
    op.add_column(
        "documents",
        sa.Column(
            "revoked_at",
            vanban.models.types.UTCDateTime(timezone=True),
            nullable=True,
        ),
    )
    op.add_column(
        "documents",
        sa.Column("revoke_reason", sa.Text(), nullable=False, server_default=""),
    )
    if op.get_bind().dialect.name == "sqlite":
        # SQLite adds a reference with the column; a separate constraint would
        # rebuild the whole table.
        op.execute(
            "ALTER TABLE documents ADD COLUMN replaced_by_id INTEGER "
            "REFERENCES documents (id)"
        )
    else:
        op.add_column(
            "documents", sa.Column("replaced_by_id", sa.Integer(), nullable=True)
        )
        op.create_foreign_key(
            op.f("fk_documents_replaced_by_id_documents"),
            "documents",
            "documents",
            ["replaced_by_id"],
            ["id"],
        )
    op.add_column(
        "outbox_messages",
        sa.Column(
            "business_doc_type", sa.SmallInteger(), nullable=False, server_default="0"
        ),
    )


def downgrade():
    op.drop_column("outbox_messages", "business_doc_type")
    with op.batch_alter_table("documents") as batch_op:
        batch_op.drop_column("replaced_by_id")
        batch_op.drop_column("revoke_reason")
        batch_op.drop_column("revoked_at")
        batch_op.drop_column("purpose")
