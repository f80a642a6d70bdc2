"""Organisations (city units and wards) and their departments."""

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vanban.extensions import db

ORGANISATION_KINDS = ("city", "center", "ward")


class Organisation(db.Model):
    __tablename__ = "organisations"
    __table_args__ = (CheckConstraint(f"kind IN {ORGANISATION_KINDS}", name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Electronic identifier used in the exchange, e.g. 000.00.00.H29.
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    # Issuing-body abbreviation used in document symbols, e.g. UBND.
    abbreviation: Mapped[str] = mapped_column(String(20), default="UBND")
    kind: Mapped[str] = mapped_column(String(10))
    # Official GSO code of the administrative unit, for wards.
    unit_code: Mapped[str | None] = mapped_column(String(10))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    active: Mapped[bool] = mapped_column(default=True)

    departments: Mapped[list["Department"]] = relationship(
        back_populates="organisation", order_by="Department.id"
    )

    @property
    def is_city_level(self) -> bool:
        return self.kind in ("city", "center")


class Department(db.Model):
    __tablename__ = "departments"
    __table_args__ = (UniqueConstraint("organisation_id", "abbreviation"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    name: Mapped[str] = mapped_column(String(255))
    # Drafting-unit abbreviation used in công văn symbols, e.g. VP in UBND-VP.
    abbreviation: Mapped[str] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(default=True)

    organisation: Mapped[Organisation] = relationship(back_populates="departments")
