"""In-app notifications

Revision ID: 0008_notifications
Revises: 0007_search
Create Date: 2026-12-04 19:30:00

"""

import sqlalchemy as sa
from alembic import op

import vanban.models.types

# revision identifiers, used by Alembic.
revision = "0008_notifications"
down_revision = "0007_search"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("text", sa.String(length=500), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=True),
        sa.Column("dedup_key", sa.String(length=80), nullable=True),
        sa.Column(
            "created_at", vanban.models.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "read_at", vanban.models.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.CheckConstraint(
            "kind IN ('incoming', 'assignment', 'draft_returned', 'review', "
            "'deadline', 'overdue')",
            name=op.f("ck_notifications_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_notifications_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_notifications_document_id_documents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint(
            "user_id", "dedup_key", name=op.f("uq_notifications_user_id_dedup_key")
        ),
    )
    op.create_index(
        "ix_notifications_user_id_read_at",
        "notifications",
        ["user_id", "read_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_notifications_document_id"),
        "notifications",
        ["document_id"],
        unique=False,
    )


def downgrade():
    op.drop_index(op.f("ix_notifications_document_id"), table_name="notifications")
    op.drop_index("ix_notifications_user_id_read_at", table_name="notifications")
    op.drop_table("notifications")
