"""Clearance to read secret documents (Mật, Tối mật, Tuyệt mật), per user

An uncleared user reads a secret document of their organisation only when
they hold it, wrote it or were assigned it by name. Existing clerks and
leaders, who keep and sign the secret registers, start cleared so that an
upgrade does not hide the documents they already handle; everyone else
starts uncleared until an admin clears them.

Revision ID: 0015_secret_clearance
Revises: 0014_list_speed
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_secret_clearance"
down_revision = "0014_list_speed"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column(
                "secret_clearance",
                sa.Boolean(),
                nullable=False,
                server_default=sa.false(),
            )
        )
    op.execute(
        "UPDATE users SET secret_clearance = TRUE WHERE id IN "
        "(SELECT user_id FROM user_roles WHERE role IN ('clerk', 'leader'))"
    )


def downgrade():
    with op.batch_alter_table("users") as batch:
        batch.drop_column("secret_clearance")
