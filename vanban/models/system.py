"""Audit trail, outbox and installation settings."""

from datetime import datetime

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Integer,
    SmallInteger,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vanban.extensions import db
from vanban.models.types import UTCDateTime, utcnow
from vanban.models.users import User

OUTBOX_STATES = ("pending", "sent", "failed", "retrying")


class AuditEvent(db.Model):
    """An audit row: who did what and when. Document timelines query these rows."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id"), index=True
    )
    document_id: Mapped[int | None] = mapped_column(
        ForeignKey("documents.id"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(40))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    user: Mapped[User | None] = relationship()


class OutboxMessage(db.Model):
    """A document or status waiting to leave its organisation."""

    __tablename__ = "outbox_messages"
    __table_args__ = (CheckConstraint(f"state IN {OUTBOX_STATES}", name="state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    sender_organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    recipient_organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id")
    )
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"))
    status_code: Mapped[str | None] = mapped_column(String(2))
    note: Mapped[str] = mapped_column(Text, default="")
    # BussinessDocType of a document message: 0 new, 1 revoke, 2 update,
    # 3 replace (the document replacing another); `note` contains the reason.
    business_doc_type: Mapped[int] = mapped_column(
        SmallInteger, default=0, server_default="0"
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Technical description of the last failure, in English for logs and admins.
    last_error: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(10), default="pending", index=True)
    # When a retrying message may be sent again. None means at once.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The hub's identifier of the package, once it has accepted it.
    message_id: Mapped[str | None] = mapped_column(String(255))
    # Why the hub rejected the package or why sending is delayed, shown to clerks.
    error_detail: Mapped[str] = mapped_column(Text, default="")
    # DocumentId of a new copy sent to one recipient that rejected the first
    # (the document's own, then "#r<this row's id>"). None for every other row,
    # whose package carries the document's exchange_id.
    exchange_id: Mapped[str | None] = mapped_column(String(255))


class Setting(db.Model):
    """An installation-wide setting stored as JSON, e.g. the trial window."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict] = mapped_column(JSON)
