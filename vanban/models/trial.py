"""Wards taking part in the city's trial of electronic document exchange."""

from datetime import datetime

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vanban.extensions import db
from vanban.models.organisations import Organisation
from vanban.models.types import UTCDateTime, utcnow


class TrialWard(db.Model):
    """A ward chosen for the trial. Its progress counts from the last reset."""

    __tablename__ = "trial_wards"

    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id"), primary_key=True
    )
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Documents older than the last reset no longer count for the ward's progress.
    reset_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    organisation: Mapped[Organisation] = relationship()
