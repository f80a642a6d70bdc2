"""Admin settings: forced password change and editable document types

Revision ID: 0009_admin
Revises: 0008_notifications
Create Date: 2026-12-04 19:30:00

"""

import sqlalchemy as sa
from alembic import op

from vanban.services.doctypes import DOCUMENT_TYPES

# revision identifiers, used by Alembic.
revision = "0009_admin"
down_revision = "0008_notifications"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column(
                "must_change_password",
                sa.Boolean(),
                nullable=False,
                server_default=sa.false(),
            )
        )
    table = op.create_table(
        "document_types",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("abbreviation", sa.String(length=20), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document_types")),
        sa.UniqueConstraint("name", name=op.f("uq_document_types_name")),
    )
    # The shipped ND30 Phụ lục III list, which the admin edits afterwards.
    op.bulk_insert(
        table,
        [
            {"name": name, "abbreviation": abbr, "position": index, "active": True}
            for index, (name, abbr) in enumerate(DOCUMENT_TYPES)
        ],
    )


def downgrade():
    op.drop_table("document_types")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("must_change_password")
