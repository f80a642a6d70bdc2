"""Deadlines: documents.completed_at, holiday changes and deadline rules

Revision ID: 0006_deadlines
Revises: 0005_registers
Create Date: 2026-12-04 19:30:00

"""

import sqlalchemy as sa
from alembic import op

import vanban.models.types

# revision identifiers, used by Alembic.
revision = "0006_deadlines"
down_revision = "0005_registers"
branch_labels = None
depends_on = None


def _utc(name: str, nullable: bool) -> sa.Column:
    return sa.Column(
        name, vanban.models.types.UTCDateTime(timezone=True), nullable=nullable
    )


def upgrade():
    op.create_table(
        "calendar_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=4), nullable=False),
        sa.Column("note", sa.String(length=255), nullable=False),
        _utc("created_at", False),
        sa.CheckConstraint(
            "kind IN ('off', 'work')", name=op.f("ck_calendar_changes_kind")
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_calendar_changes_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_changes")),
        sa.UniqueConstraint(
            "organisation_id",
            "day",
            name=op.f("uq_calendar_changes_organisation_id_day"),
        ),
    )
    op.create_table(
        "deadline_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("type_name", sa.String(length=64), nullable=False),
        sa.Column("urgency", sa.SmallInteger(), nullable=True),
        sa.Column("working_days", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "working_days BETWEEN 1 AND 365",
            name=op.f("ck_deadline_rules_working_days"),
        ),
        sa.CheckConstraint(
            "urgency BETWEEN 0 AND 4", name=op.f("ck_deadline_rules_urgency")
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_deadline_rules_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deadline_rules")),
        sa.UniqueConstraint(
            "organisation_id",
            "type_name",
            "urgency",
            name=op.f("uq_deadline_rules_organisation_id_type_name_urgency"),
        ),
    )
    op.create_table(
        "deadline_reminders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        _utc("sent_at", False),
        _utc("emailed_at", True),
        sa.CheckConstraint(
            "kind IN ('day_before', 'due_day')",
            name=op.f("ck_deadline_reminders_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_deadline_reminders_document_id_documents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_deadline_reminders_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deadline_reminders")),
        sa.UniqueConstraint(
            "document_id",
            "user_id",
            "kind",
            "due_date",
            name=op.f("uq_deadline_reminders_document_id_user_id_kind_due_date"),
        ),
    )
    with op.batch_alter_table("documents") as batch:
        batch.add_column(
            sa.Column(
                "completed_at",
                vanban.models.types.UTCDateTime(timezone=True),
                nullable=True,
            )
        )


def downgrade():
    op.drop_table("deadline_reminders")
    op.drop_table("deadline_rules")
    op.drop_table("calendar_changes")
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("completed_at")
