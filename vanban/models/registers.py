"""Number series and their yearly counters."""

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vanban.extensions import db
from vanban.models.organisations import Organisation

# Scope of a series: công văn only, documents with a type name only, or every
# document (incoming registers use "all").
SERIES_SCOPES = ("cong_van", "typed", "all")


class NumberSeries(db.Model):
    __tablename__ = "number_series"
    __table_args__ = (
        CheckConstraint("direction IN ('incoming', 'outgoing')", name="direction"),
        CheckConstraint(f"scope IN {SERIES_SCOPES}", name="scope"),
        UniqueConstraint("organisation_id", "direction", "scope", "secret"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    direction: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(255))
    scope: Mapped[str] = mapped_column(String(10), default="all")
    secret: Mapped[bool] = mapped_column(default=False)

    organisation: Mapped[Organisation] = relationship()


class SeriesCounter(db.Model):
    """The last number taken in a series for one calendar year (local time)."""

    __tablename__ = "series_counters"
    __table_args__ = (
        UniqueConstraint("series_id", "year"),
        CheckConstraint("last_number >= 0", name="last_number"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("number_series.id"))
    year: Mapped[int] = mapped_column(Integer)
    last_number: Mapped[int] = mapped_column(Integer, default=0)
