"""Configurable number series, voided numbers and closed registers

Revision ID: 0005_registers
Revises: 0004_exchange_purpose
Create Date: 2026-12-04 19:40:00

"""

import sqlalchemy as sa
from alembic import op

import vanban.models.types

# revision identifiers, used by Alembic.
revision = "0005_registers"
down_revision = "0004_exchange_purpose"
branch_labels = None
depends_on = None

OLD_SCOPES = "scope IN ('cong_van', 'typed', 'all')"
NEW_SCOPES = "scope IN ('cong_van', 'typed', 'all', 'listed')"


def upgrade():
    with op.batch_alter_table("number_series", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("type_names", sa.JSON(), nullable=False, server_default="[]")
        )
        batch_op.add_column(
            sa.Column(
                "symbol_pattern",
                sa.String(length=64),
                nullable=False,
                server_default="",
            )
        )
        batch_op.drop_constraint(
            op.f("uq_number_series_organisation_id_direction_scope_secret"),
            type_="unique",
        )
        batch_op.drop_constraint(op.f("ck_number_series_scope"), type_="check")
        batch_op.create_check_constraint("scope", NEW_SCOPES)
    # Several "listed" series may share a scope; every other scope stays unique.
    op.create_index(
        "uq_number_series_scope",
        "number_series",
        ["organisation_id", "direction", "scope", "secret"],
        unique=True,
        sqlite_where=sa.text("scope <> 'listed'"),
        postgresql_where=sa.text("scope <> 'listed'"),
    )

    op.create_table(
        "voided_numbers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("series_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("voided_by_id", sa.Integer(), nullable=True),
        sa.Column(
            "voided_at", vanban.models.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.CheckConstraint("number > 0", name=op.f("ck_voided_numbers_number")),
        sa.ForeignKeyConstraint(
            ["series_id"],
            ["number_series.id"],
            name=op.f("fk_voided_numbers_series_id_number_series"),
        ),
        sa.ForeignKeyConstraint(
            ["voided_by_id"],
            ["users.id"],
            name=op.f("fk_voided_numbers_voided_by_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voided_numbers")),
        sa.UniqueConstraint(
            "series_id",
            "year",
            "number",
            name=op.f("uq_voided_numbers_series_id_year_number"),
        ),
    )
    op.create_table(
        "register_closures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("direction", sa.String(length=10), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("closed_by_id", sa.Integer(), nullable=True),
        sa.Column(
            "closed_at", vanban.models.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.CheckConstraint(
            "direction IN ('incoming', 'outgoing')",
            name=op.f("ck_register_closures_direction"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_register_closures_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["closed_by_id"],
            ["users.id"],
            name=op.f("fk_register_closures_closed_by_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_register_closures")),
        sa.UniqueConstraint(
            "organisation_id",
            "direction",
            "year",
            name=op.f("uq_register_closures_organisation_id_direction_year"),
        ),
    )


def downgrade():
    op.drop_table("register_closures")
    op.drop_table("voided_numbers")
    op.drop_index("uq_number_series_scope", table_name="number_series")
    op.execute("DELETE FROM number_series WHERE scope = 'listed'")
    with op.batch_alter_table("number_series", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_number_series_scope"), type_="check")
        batch_op.create_check_constraint("scope", OLD_SCOPES)
        batch_op.create_unique_constraint(
            op.f("uq_number_series_organisation_id_direction_scope_secret"),
            ["organisation_id", "direction", "scope", "secret"],
        )
        batch_op.drop_column("symbol_pattern")
        batch_op.drop_column("type_names")
