"""Documents, their attachments and per-recipient delivery."""

from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vanban.extensions import db
from vanban.models.organisations import Department, Organisation
from vanban.models.types import UTCDateTime, utcnow
from vanban.models.users import User

DIRECTIONS = ("incoming", "outgoing")
STATUS_CODES = ("01", "02", "03", "04", "05", "06", "13", "15", "16")


class Document(db.Model):
    """One organisation's record of a document, received or produced by it."""

    __tablename__ = "documents"
    __table_args__ = (
        CheckConstraint(f"direction IN {DIRECTIONS}", name="direction"),
        CheckConstraint("urgency BETWEEN 0 AND 4", name="urgency"),
        CheckConstraint("secrecy BETWEEN 0 AND 3", name="secrecy"),
        # A register number appears once per series and year. The number and
        # symbol of an outgoing document are derived from it, so they are
        # unique per series and year as well.
        UniqueConstraint("series_id", "register_year", "register_number"),
        # Incoming documents carry their senders' numbers, which may repeat.
        Index(
            "uq_documents_outgoing_number",
            "series_id",
            "register_year",
            "number",
            "notation",
            unique=True,
            sqlite_where=text("direction = 'outgoing'"),
            postgresql_where=text("direction = 'outgoing'"),
        ),
        # For the lists' filters and default sort (migration 0007_search).
        # Each list index ends with the columns that permissions.secret_filter
        # reads (migration 0014_list_speed), so the rule reads the index alone.
        Index(
            "ix_documents_list",
            "organisation_id",
            "direction",
            "created_at",
            "secrecy",
            "holder_id",
            "author_id",
        ),
        Index(
            "ix_documents_state",
            "organisation_id",
            "direction",
            "state",
            "holder_id",
            "department_id",
            "created_at",
            "secrecy",
            "author_id",
        ),
        Index(
            "ix_documents_todo",
            "organisation_id",
            "state",
            "direction",
            "holder_id",
            "department_id",
            "created_at",
            "secrecy",
            "author_id",
        ),
        Index(
            "ix_documents_due",
            "organisation_id",
            "direction",
            "due_date",
            "secrecy",
            "holder_id",
            "author_id",
        ),
        Index(
            "ix_documents_urgency",
            "organisation_id",
            "direction",
            "urgency",
            "created_at",
            "secrecy",
            "holder_id",
            "author_id",
        ),
        Index("ix_documents_holder", "holder_id", "state"),
        Index("ix_documents_department", "department_id", "state"),
        Index("ix_documents_issued_date", "organisation_id", "issued_date"),
        # Search and to-do lookups (migration 0012_search_speed); SQLite search
        # names ix_documents_lookup in its query.
        Index(
            "ix_documents_lookup",
            "id",
            "organisation_id",
            "direction",
            "state",
            "urgency",
            "holder_id",
            "department_id",
            "due_date",
            "created_at",
            "secrecy",
            "author_id",
        ),
        Index(
            "ix_documents_todo_filters",
            "organisation_id",
            "state",
            "direction",
            "urgency",
            "due_date",
            "holder_id",
            "department_id",
            "created_at",
            "secrecy",
            "author_id",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    direction: Mapped[str] = mapped_column(String(10))
    state: Mapped[str] = mapped_column(String(24))

    type_name: Mapped[str] = mapped_column(String(64), default="Công văn")
    type_abbreviation: Mapped[str] = mapped_column(String(8), default="")
    # Number and symbol as printed on the document (e.g. "05", "UBND-VP").
    number: Mapped[str | None] = mapped_column(String(16))
    notation: Mapped[str | None] = mapped_column(String(64))
    issued_date: Mapped[date | None] = mapped_column(Date)
    organ_name: Mapped[str] = mapped_column(String(255), default="")
    subject: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")
    # Reply text written in the app instead of (or besides) an uploaded file.
    body_text: Mapped[str] = mapped_column(Text, default="")
    signer_position: Mapped[str] = mapped_column(String(255), default="")
    signer_name: Mapped[str] = mapped_column(String(255), default="")
    urgency: Mapped[int] = mapped_column(SmallInteger, default=0)
    secrecy: Mapped[int] = mapped_column(SmallInteger, default=0)
    page_amount: Mapped[int | None] = mapped_column(Integer)
    due_date: Mapped[date | None] = mapped_column(Date)
    # edXML DocumentId: <OrganId>,<yyyy/MM/dd>,<CodeNumber>/<CodeNotation>.
    exchange_id: Mapped[str | None] = mapped_column(String(255))
    # Why an incoming document was sent here: "action" (để xử lý) or "info"
    # (để biết), as the sender marked this organisation among its recipients.
    purpose: Mapped[str] = mapped_column(
        String(10), default="action", server_default="action"
    )
    # Set when the sender revoked the document (thu hồi), with its reason.
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoke_reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    # The document that replaces this one (thay thế), on both sides.
    replaced_by_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id"))

    sender_organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id")
    )
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    source_document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id"))
    reply_to_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id"))

    # Register entry: số đến for incoming, số for outgoing documents.
    series_id: Mapped[int | None] = mapped_column(ForeignKey("number_series.id"))
    register_year: Mapped[int | None] = mapped_column(Integer)
    register_number: Mapped[int | None] = mapped_column(Integer)
    registered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When handling finished (incoming reached "done", outgoing was issued).
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    # The user whose turn it is, when the document waits for one person.
    holder_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow
    )

    organisation: Mapped[Organisation] = relationship(foreign_keys=[organisation_id])
    sender_organisation: Mapped[Organisation | None] = relationship(
        foreign_keys=[sender_organisation_id]
    )
    department: Mapped[Department | None] = relationship()
    holder: Mapped[User | None] = relationship(foreign_keys=[holder_id])
    author: Mapped[User | None] = relationship(foreign_keys=[author_id])
    reply_to: Mapped["Document | None"] = relationship(
        remote_side=[id], foreign_keys=[reply_to_id]
    )
    replaced_by: Mapped["Document | None"] = relationship(
        remote_side=[id], foreign_keys=[replaced_by_id]
    )
    attachments: Mapped[list["Attachment"]] = relationship(
        back_populates="document", order_by="Attachment.id"
    )
    recipients: Mapped[list["Recipient"]] = relationship(
        back_populates="document",
        order_by="Recipient.id",
        foreign_keys="Recipient.document_id",
    )

    @property
    def number_and_notation(self) -> str:
        if self.number and self.notation:
            return f"{self.number}/{self.notation}"
        return self.number or self.notation or ""


class Attachment(db.Model):
    """A file of a document; the bytes live in the instance folder by SHA-256."""

    __tablename__ = "attachments"
    __table_args__ = (Index("ix_attachments_document_id", "document_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"))
    draft_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("draft_versions.id")
    )
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    content_type: Mapped[str] = mapped_column(String(100))
    original_name: Mapped[str] = mapped_column(String(255))
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    document: Mapped[Document] = relationship(back_populates="attachments")


class Recipient(db.Model):
    """A recipient of an outgoing document and the latest status it reported."""

    __tablename__ = "recipients"
    __table_args__ = (
        UniqueConstraint("document_id", "organisation_id"),
        CheckConstraint("purpose IN ('action', 'info')", name="purpose"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    purpose: Mapped[str] = mapped_column(String(10), default="action")
    status_code: Mapped[str | None] = mapped_column(String(2))
    status_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status_note: Mapped[str] = mapped_column(Text, default="")
    incoming_document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id"))

    document: Mapped[Document] = relationship(
        back_populates="recipients", foreign_keys=[document_id]
    )
    organisation: Mapped[Organisation] = relationship()
    history: Mapped[list["RecipientStatus"]] = relationship(
        order_by="RecipientStatus.id", back_populates="recipient"
    )


class RecipientStatus(db.Model):
    """Every status a recipient reported, in the order it arrived."""

    __tablename__ = "recipient_statuses"
    __table_args__ = (
        CheckConstraint(f"status_code IN {STATUS_CODES}", name="status_code"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient_id: Mapped[int] = mapped_column(ForeignKey("recipients.id"))
    status_code: Mapped[str] = mapped_column(String(2))
    note: Mapped[str] = mapped_column(Text, default="")
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    recipient: Mapped[Recipient] = relationship(back_populates="history")
