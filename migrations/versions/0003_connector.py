"""Connector settings, received packages and outbox delivery state

Revision ID: 0003_connector
Revises: 0002_hub
Create Date: 2026-12-06 10:00:00

"""

import sqlalchemy as sa
from alembic import op

import vanban.models.types

# revision identifiers, used by Alembic.
revision = "0003_connector"
down_revision = "0002_hub"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "connector_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("hub_url", sa.String(length=500), nullable=False),
        sa.Column("token", sa.String(length=500), nullable=False),
        sa.Column("poll_interval_seconds", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column(
            "lease_until",
            vanban.models.types.UTCDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column(
            "last_poll_at",
            vanban.models.types.UTCDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column(
            "last_sync_at",
            vanban.models.types.UTCDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column(
            "directory_refreshed_at",
            vanban.models.types.UTCDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column(
            "created_at", vanban.models.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.CheckConstraint(
            "poll_interval_seconds > 0",
            name=op.f("ck_connector_settings_poll_interval_seconds"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_connector_settings_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connector_settings")),
        sa.UniqueConstraint(
            "organisation_id", name=op.f("uq_connector_settings_organisation_id")
        ),
    )
    op.create_table(
        "received_packages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("sender_code", sa.String(length=32), nullable=False),
        sa.Column("exchange_id", sa.String(length=255), nullable=False),
        sa.Column("business_doc_type", sa.SmallInteger(), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column(
            "received_at",
            vanban.models.types.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_received_packages_document_id_documents"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_received_packages_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_received_packages")),
        sa.UniqueConstraint(
            "organisation_id",
            "sender_code",
            "exchange_id",
            "business_doc_type",
            name="uq_received_packages_package",
        ),
    )

    # Existing rows get their state from sent_at; the server defaults only fill
    # the new NOT NULL columns of rows written before this revision.
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "state",
                sa.String(length=10),
                nullable=False,
                server_default="pending",
            )
        )
        batch_op.add_column(
            sa.Column(
                "next_attempt_at",
                vanban.models.types.UTCDateTime(timezone=True),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column("message_id", sa.String(length=255), nullable=True)
        )
        batch_op.add_column(
            sa.Column("error_detail", sa.Text(), nullable=False, server_default="")
        )
        batch_op.create_check_constraint(
            "state", "state IN ('pending', 'sent', 'failed', 'retrying')"
        )
        batch_op.create_index(
            batch_op.f("ix_outbox_messages_state"), ["state"], unique=False
        )
    op.execute("UPDATE outbox_messages SET state = 'sent' WHERE sent_at IS NOT NULL")


def downgrade():
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_messages_state"))
        batch_op.drop_constraint("state", type_="check")
        batch_op.drop_column("error_detail")
        batch_op.drop_column("message_id")
        batch_op.drop_column("next_attempt_at")
        batch_op.drop_column("state")
    op.drop_table("received_packages")
    op.drop_table("connector_settings")
