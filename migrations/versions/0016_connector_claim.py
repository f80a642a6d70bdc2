"""Who holds a connector run's claim: host name, process id and start time

A run that dies keeps its organisation's claim until lease_until passes. With
the holder recorded, a new run on the same host takes over the claim of a
process that no longer exists, and the exchange pages show since when a run
holds it.

Revision ID: 0016_connector_claim
Revises: 0015_secret_clearance
"""

import sqlalchemy as sa
from alembic import op

import vanban.models.types

revision = "0016_connector_claim"
down_revision = "0015_secret_clearance"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("connector_settings") as batch:
        batch.add_column(sa.Column("lease_host", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("lease_pid", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column(
                "lease_started_at",
                vanban.models.types.UTCDateTime(),
                nullable=True,
            )
        )


def downgrade():
    with op.batch_alter_table("connector_settings") as batch:
        batch.drop_column("lease_started_at")
        batch.drop_column("lease_pid")
        batch.drop_column("lease_host")
