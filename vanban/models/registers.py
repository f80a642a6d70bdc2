"""Number series, their yearly counters, voided numbers and closed registers."""

from datetime import datetime

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vanban.extensions import db
from vanban.models.organisations import Organisation
from vanban.models.types import UTCDateTime, utcnow

# Scope of a series: công văn only, documents with a type name only, every
# document (incoming registers use "all"), or only the types in `type_names`.
SERIES_SCOPES = ("cong_van", "typed", "all", "listed")
REGISTER_DIRECTIONS = ("incoming", "outgoing")


class NumberSeries(db.Model):
    __tablename__ = "number_series"
    __table_args__ = (
        CheckConstraint("direction IN ('incoming', 'outgoing')", name="direction"),
        CheckConstraint(f"scope IN {SERIES_SCOPES}", name="scope"),
        # One series per scope, except "listed" series, which an organisation may
        # have several of (one for QĐ, one for TB, ...).
        Index(
            "uq_number_series_scope",
            "organisation_id",
            "direction",
            "scope",
            "secret",
            unique=True,
            sqlite_where=text("scope <> 'listed'"),
            postgresql_where=text("scope <> 'listed'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    direction: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(255))
    scope: Mapped[str] = mapped_column(String(10), default="all")
    secret: Mapped[bool] = mapped_column(default=False)
    # Document type names numbered in this series when the scope is "listed".
    type_names: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Symbol pattern with {loai}, {coquan} and {donvi}; empty means the ND30 rule.
    symbol_pattern: Mapped[str] = mapped_column(String(64), default="")

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


class VoidedNumber(db.Model):
    """A number of a series taken but given to no document, with the reason."""

    __tablename__ = "voided_numbers"
    __table_args__ = (
        UniqueConstraint("series_id", "year", "number"),
        CheckConstraint("number > 0", name="number"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("number_series.id"))
    year: Mapped[int] = mapped_column(Integer)
    number: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    voided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    voided_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RegisterClosure(db.Model):
    """A register (đến or đi) of one year that was closed (đóng sổ)."""

    __tablename__ = "register_closures"
    __table_args__ = (
        UniqueConstraint("organisation_id", "direction", "year"),
        CheckConstraint(f"direction IN {REGISTER_DIRECTIONS}", name="direction"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    direction: Mapped[str] = mapped_column(String(10))
    year: Mapped[int] = mapped_column(Integer)
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    closed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
