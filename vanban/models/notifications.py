"""In-app notifications shown under the bell in the top bar."""

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vanban.extensions import db
from vanban.models.documents import Document
from vanban.models.types import UTCDateTime, utcnow
from vanban.models.users import User

NOTIFICATION_KINDS = (
    "incoming",
    "assignment",
    "draft_returned",
    "review",
    "deadline",
    "overdue",
    "awaiting_proposal",
    "awaiting_direction",
    "awaiting_issue",
    "delivery_rejected",
)


class Notification(db.Model):
    """One message to one user, usually about a document."""

    __tablename__ = "notifications"
    __table_args__ = (
        CheckConstraint(f"kind IN {NOTIFICATION_KINDS}", name="kind"),
        # Reminders carry a key such as "deadline:<document>:<day>" so that a
        # job that runs twice on one day cannot notify twice. NULL keys never
        # collide, in SQLite and PostgreSQL alike.
        UniqueConstraint("user_id", "dedup_key"),
        Index("ix_notifications_user_id_read_at", "user_id", "read_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(String(500))
    document_id: Mapped[int | None] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), index=True
    )
    dedup_key: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()
    document: Mapped[Document | None] = relationship()
