"""User accounts and the roles they hold in their organisation."""

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import CheckConstraint, ForeignKey, String, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vanban.extensions import db
from vanban.models.organisations import Department, Organisation
from vanban.models.types import UTCDateTime, utcnow

ROLES = (
    "clerk",
    "advisor",
    "leader",
    "head",
    "officer",
    "format_reviewer",
    "admin",
    "trainer",
)


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(255))
    position: Mapped[str] = mapped_column(String(255), default="")
    email: Mapped[str | None] = mapped_column(String(255))
    password_hash: Mapped[str] = mapped_column(String(255))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    active: Mapped[bool] = mapped_column(default=True)
    # Set by an admin's password reset: the user must choose a new one first.
    must_change_password: Mapped[bool] = mapped_column(default=False)
    # Cleared by an admin to read every secret document (văn bản mật) that the
    # user's roles reach. Without it the user reads only the secret documents
    # they hold, wrote or were assigned by name.
    secret_clearance: Mapped[bool] = mapped_column(
        default=False, server_default=false()
    )
    failed_login_count: Mapped[int] = mapped_column(default=0)
    last_failed_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Changes on every login and logout, so that old session cookies stop working.
    session_token: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    organisation: Mapped[Organisation] = relationship()
    department: Mapped[Department | None] = relationship()
    role_grants: Mapped[list["UserRole"]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )

    @property
    def roles(self) -> set[str]:
        return {grant.role for grant in self.role_grants}

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    @property
    def is_active(self) -> bool:
        return self.active

    def get_id(self) -> str:
        return f"{self.id}:{self.session_token}"


class UserRole(db.Model):
    __tablename__ = "user_roles"
    __table_args__ = (CheckConstraint(f"role IN {ROLES}", name="role"),)

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(20), primary_key=True)

    user: Mapped[User] = relationship(back_populates="role_grants")
