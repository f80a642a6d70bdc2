"""Working-day calendar changes, deadline rules and the reminders already sent."""

from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from vanban.extensions import db
from vanban.models.types import UTCDateTime, utcnow

CALENDAR_CHANGE_KINDS = ("off", "work")
REMINDER_KINDS = ("day_before", "due_day")


class CalendarChange(db.Model):
    """A day an admin turned into a day off ("off") or a working day ("work").

    The government announces such swaps every year: an extra day off next to a
    holiday, and a Saturday worked to make up for it.
    """

    __tablename__ = "calendar_changes"
    __table_args__ = (
        UniqueConstraint("organisation_id", "day"),
        CheckConstraint(f"kind IN {CALENDAR_CHANGE_KINDS}", name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    day: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(4))
    note: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DeadlineRule(db.Model):
    """The default handling time, in working days, for a document type and urgency.

    An empty type name matches every type and a NULL urgency every urgency; the
    most specific rule wins.
    """

    __tablename__ = "deadline_rules"
    __table_args__ = (
        UniqueConstraint("organisation_id", "type_name", "urgency"),
        CheckConstraint("working_days BETWEEN 1 AND 365", name="working_days"),
        CheckConstraint("urgency BETWEEN 0 AND 4", name="urgency"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    type_name: Mapped[str] = mapped_column(String(64), default="")
    urgency: Mapped[int | None] = mapped_column(SmallInteger)
    working_days: Mapped[int] = mapped_column(Integer)


class DeadlineReminder(db.Model):
    """A deadline reminder sent to a user, kept so that none is sent twice."""

    __tablename__ = "deadline_reminders"
    __table_args__ = (
        UniqueConstraint("document_id", "user_id", "kind", "due_date"),
        CheckConstraint(f"kind IN {REMINDER_KINDS}", name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE")
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))
    due_date: Mapped[date] = mapped_column(Date)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # When the e-mail copy went out; None without SMTP, an address or on failure.
    emailed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
