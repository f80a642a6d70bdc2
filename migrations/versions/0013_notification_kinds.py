"""Notification kinds of their own for hand-overs and rejections; delivery reports

The forward, propose and approve hand-overs and a recipient's rejection of a sent
document get their own notification kinds. The delivery_reports table keeps
what the hub last reported about each recipient's copy of a sent document.

Revision ID: 0013_notification_kinds
Revises: 0012_search_speed
"""

import sqlalchemy as sa
from alembic import op

import vanban.models.types

revision = "0013_notification_kinds"
down_revision = "0012_search_speed"
branch_labels = None
depends_on = None

OLD_KINDS = (
    "incoming",
    "assignment",
    "draft_returned",
    "review",
    "deadline",
    "overdue",
)
NEW_KINDS = (
    *OLD_KINDS,
    "awaiting_proposal",
    "awaiting_direction",
    "awaiting_issue",
    "delivery_rejected",
)
# Each hand-over kind, which was "assignment" before this revision, with the
# start of the text that services.notifications writes for it.
HAND_OVER_TEXTS = {
    "awaiting_proposal": "Văn bản đến chờ bạn đề xuất xử lý: ",
    "awaiting_direction": "Văn bản đến chờ bạn bút phê, phân công: ",
    "awaiting_issue": "Dự thảo đã được phê duyệt, chờ vào sổ và phát hành: ",
}
NOTIFICATIONS = sa.table("notifications", sa.column("kind"), sa.column("text"))


def _kind_check(kinds: tuple[str, ...]) -> str:
    return f"kind IN {kinds}"


def upgrade():
    with op.batch_alter_table("notifications") as batch_op:
        batch_op.drop_constraint(op.f("ck_notifications_kind"), type_="check")
        batch_op.create_check_constraint("kind", _kind_check(NEW_KINDS))
    for kind, prefix in HAND_OVER_TEXTS.items():
        op.execute(
            NOTIFICATIONS.update()
            .where(
                NOTIFICATIONS.c.kind == "assignment",
                NOTIFICATIONS.c.text.startswith(prefix, autoescape=True),
            )
            .values(kind=kind)
        )

    op.create_table(
        "delivery_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("outbox_message_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column(
            "delivered_at",
            vanban.models.types.UTCDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column(
            "checked_at", vanban.models.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.CheckConstraint(
            "state IN ('pending', 'delivered', 'failed')",
            name=op.f("ck_delivery_reports_state"),
        ),
        sa.ForeignKeyConstraint(
            ["outbox_message_id"],
            ["outbox_messages.id"],
            name=op.f("fk_delivery_reports_outbox_message_id_outbox_messages"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_reports")),
        sa.UniqueConstraint(
            "outbox_message_id", name=op.f("uq_delivery_reports_outbox_message_id")
        ),
    )


def downgrade():
    op.drop_table("delivery_reports")
    # Hand-overs go back to "assignment"; rejections had no kind before.
    op.execute(
        NOTIFICATIONS.update()
        .where(NOTIFICATIONS.c.kind.in_(list(HAND_OVER_TEXTS)))
        .values(kind="assignment")
    )
    op.execute(
        NOTIFICATIONS.delete().where(NOTIFICATIONS.c.kind == "delivery_rejected")
    )
    with op.batch_alter_table("notifications") as batch_op:
        batch_op.drop_constraint(op.f("ck_notifications_kind"), type_="check")
        batch_op.create_check_constraint("kind", _kind_check(OLD_KINDS))
