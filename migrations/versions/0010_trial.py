"""Wards taking part in the trial

Revision ID: 0010_trial
Revises: 0009_admin
Create Date: 2026-12-04 19:40:00

"""

import sqlalchemy as sa
from alembic import op

import vanban.models.types

# revision identifiers, used by Alembic.
revision = "0010_trial"
down_revision = "0009_admin"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "trial_wards",
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column(
            "added_at",
            vanban.models.types.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column(
            "reset_at",
            vanban.models.types.UTCDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column("added_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_trial_wards_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["added_by_id"],
            ["users.id"],
            name=op.f("fk_trial_wards_added_by_id_users"),
        ),
        sa.PrimaryKeyConstraint("organisation_id", name=op.f("pk_trial_wards")),
    )


def downgrade():
    op.drop_table("trial_wards")
