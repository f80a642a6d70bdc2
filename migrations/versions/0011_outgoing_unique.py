"""Keep number and symbol unique among outgoing documents only.

Incoming documents carry their senders' numbers and symbols, so two wards'
"01/UBND-VP" may sit in one incoming register year.

Revision ID: 0011_outgoing_unique
Revises: 0010_trial
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_outgoing_unique"
down_revision = "0010_trial"
branch_labels = None
depends_on = None

COLUMNS = ["series_id", "register_year", "number", "notation"]
OLD_NAME = "uq_documents_series_id_register_year_number_notation"
NEW_NAME = "uq_documents_outgoing_number"
OUTGOING = sa.text("direction = 'outgoing'")


def upgrade():
    with op.batch_alter_table("documents") as batch_op:
        batch_op.drop_constraint(OLD_NAME, type_="unique")
    op.create_index(
        NEW_NAME,
        "documents",
        COLUMNS,
        unique=True,
        sqlite_where=OUTGOING,
        postgresql_where=OUTGOING,
    )


def downgrade():
    op.drop_index(NEW_NAME, table_name="documents")
    with op.batch_alter_table("documents") as batch_op:
        batch_op.create_unique_constraint(OLD_NAME, COLUMNS)
