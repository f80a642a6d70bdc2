"""Instructions, assignments, draft versions and review steps."""

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vanban.extensions import db
from vanban.models.organisations import Department
from vanban.models.types import UTCDateTime, utcnow
from vanban.models.users import User

INSTRUCTION_KINDS = ("proposal", "instruction", "head_instruction", "officer_note")
ASSIGNMENT_ROLES = ("lead", "support", "info")
REVIEW_STEPS = ("submit", "initials", "format", "approval")
REVIEW_OUTCOMES = ("submitted", "passed", "returned")


class Instruction(db.Model):
    """Text written on a document: a proposal, a bút phê or an officer's note."""

    __tablename__ = "instructions"
    __table_args__ = (CheckConstraint(f"kind IN {INSTRUCTION_KINDS}", name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    author: Mapped[User] = relationship()


class Assignment(db.Model):
    """An assignment: lead (chủ trì), supporting or informed unit, and deadline."""

    __tablename__ = "assignments"
    __table_args__ = (
        CheckConstraint(f"role IN {ASSIGNMENT_ROLES}", name="role"),
        CheckConstraint(
            "department_id IS NOT NULL OR user_id IS NOT NULL", name="assignee"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"))
    role: Mapped[str] = mapped_column(String(10))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    deadline: Mapped[date | None] = mapped_column(Date)
    assigned_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    department: Mapped[Department | None] = relationship()
    user: Mapped[User | None] = relationship(foreign_keys=[user_id])
    assigned_by: Mapped[User] = relationship(foreign_keys=[assigned_by_id])


class DraftVersion(db.Model):
    __tablename__ = "draft_versions"
    __table_args__ = (UniqueConstraint("document_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"))
    version: Mapped[int] = mapped_column(Integer)
    subject: Mapped[str] = mapped_column(String(500))
    body_text: Mapped[str] = mapped_column(Text, default="")
    note: Mapped[str] = mapped_column(Text, default="")
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    author: Mapped[User] = relationship()


class ReviewStep(db.Model):
    """One decision on a draft: submitted, initialled, format checked, approved."""

    __tablename__ = "review_steps"
    __table_args__ = (
        CheckConstraint(f"step IN {REVIEW_STEPS}", name="step"),
        CheckConstraint(f"outcome IN {REVIEW_OUTCOMES}", name="outcome"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"))
    step: Mapped[str] = mapped_column(String(10))
    outcome: Mapped[str] = mapped_column(String(10))
    comment: Mapped[str] = mapped_column(Text, default="")
    # Format checklist: item key -> ticked, for the "format" step.
    checklist: Mapped[dict | None] = mapped_column(JSON)
    actor_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    actor: Mapped[User] = relationship()
