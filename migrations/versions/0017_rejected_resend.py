"""DocumentId of a copy sent again to a recipient that rejected the first

The hub takes a package with the same sender, DocumentId and business type
for a resend and queues nothing. A new copy for the one recipient that
rejected a document therefore carries a DocumentId of its own, stored on its
outbox row so that a retry sends the same package.

Revision ID: 0017_rejected_resend
Revises: 0016_connector_claim
"""

import sqlalchemy as sa
from alembic import op

revision = "0017_rejected_resend"
down_revision = "0016_connector_claim"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("outbox_messages") as batch:
        batch.add_column(sa.Column("exchange_id", sa.String(length=255), nullable=True))


def downgrade():
    with op.batch_alter_table("outbox_messages") as batch:
        batch.drop_column("exchange_id")
