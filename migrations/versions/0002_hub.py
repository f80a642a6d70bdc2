"""City hub: directory, stored messages and deliveries

Revision ID: 0002_hub
Revises: 1e2746ab20c2
Create Date: 2026-12-06 09:00:00

"""

import sqlalchemy as sa
from alembic import op

import vanban.models.types

# revision identifiers, used by Alembic.
revision = "0002_hub"
down_revision = "1e2746ab20c2"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "hub_organisations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organ_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("parent_organ_id", sa.String(length=32), nullable=True),
        sa.Column("email", sa.String(length=255), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("token_issued_at", vanban.models.types.UTCDateTime(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", vanban.models.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_organ_id"],
            ["hub_organisations.organ_id"],
            name=op.f("fk_hub_organisations_parent_organ_id_hub_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hub_organisations")),
        sa.UniqueConstraint("organ_id", name=op.f("uq_hub_organisations_organ_id")),
    )
    op.create_table(
        "hub_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=32), nullable=False),
        sa.Column("message_type", sa.String(length=6), nullable=False),
        sa.Column("sender_organ_id", sa.String(length=32), nullable=False),
        sa.Column("document_id", sa.String(length=255), nullable=False),
        sa.Column("business_doc_type", sa.SmallInteger(), nullable=True),
        sa.Column("status_code", sa.String(length=2), nullable=True),
        sa.Column("status_timestamp", vanban.models.types.UTCDateTime(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("created_at", vanban.models.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "message_type IN ('edoc', 'status')",
            name=op.f("ck_hub_messages_message_type"),
        ),
        sa.CheckConstraint(
            "(message_type = 'edoc' AND business_doc_type IS NOT NULL"
            " AND status_code IS NULL AND status_timestamp IS NULL)"
            " OR (message_type = 'status' AND business_doc_type IS NULL"
            " AND status_code IS NOT NULL AND status_timestamp IS NOT NULL)",
            name=op.f("ck_hub_messages_type_fields"),
        ),
        sa.ForeignKeyConstraint(
            ["sender_organ_id"],
            ["hub_organisations.organ_id"],
            name=op.f("fk_hub_messages_sender_organ_id_hub_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hub_messages")),
        sa.UniqueConstraint("message_id", name=op.f("uq_hub_messages_message_id")),
        sa.UniqueConstraint(
            "sender_organ_id",
            "document_id",
            "business_doc_type",
            name=op.f("uq_hub_messages_edoc_key"),
        ),
        sa.UniqueConstraint(
            "sender_organ_id",
            "document_id",
            "status_code",
            "status_timestamp",
            name=op.f("uq_hub_messages_status_key"),
        ),
    )
    op.create_index(op.f("ix_hub_messages_created_at"), "hub_messages", ["created_at"])
    op.create_table(
        "hub_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hub_message_id", sa.Integer(), nullable=False),
        sa.Column("recipient_organ_id", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", vanban.models.types.UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "state IN ('pending', 'delivered', 'failed')",
            name=op.f("ck_hub_deliveries_state"),
        ),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_hub_deliveries_attempts")),
        sa.ForeignKeyConstraint(
            ["hub_message_id"],
            ["hub_messages.id"],
            name=op.f("fk_hub_deliveries_hub_message_id_hub_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["recipient_organ_id"],
            ["hub_organisations.organ_id"],
            name=op.f("fk_hub_deliveries_recipient_organ_id_hub_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hub_deliveries")),
        sa.UniqueConstraint(
            "hub_message_id",
            "recipient_organ_id",
            name=op.f("uq_hub_deliveries_hub_message_id_recipient_organ_id"),
        ),
    )
    op.create_index(
        "ix_hub_deliveries_recipient_state",
        "hub_deliveries",
        ["recipient_organ_id", "state"],
    )


def downgrade():
    op.drop_index("ix_hub_deliveries_recipient_state", table_name="hub_deliveries")
    op.drop_table("hub_deliveries")
    op.drop_index(op.f("ix_hub_messages_created_at"), table_name="hub_messages")
    op.drop_table("hub_messages")
    op.drop_table("hub_organisations")
