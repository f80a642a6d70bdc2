"""The city hub: its directory of organisations, stored packages and deliveries.

The hub API that fills these tables runs only where HUB_ENABLED is set. The
hub's directory is separate from `organisations`, which lists the organisations
whose users work in this installation.
"""

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vanban.extensions import db
from vanban.models.types import UTCDateTime, utcnow

MESSAGE_TYPES = ("edoc", "status")
DELIVERY_STATES = ("pending", "delivered", "failed")


class HubOrganisation(db.Model):
    """An organisation in the hub's directory, with the hash of its API token."""

    __tablename__ = "hub_organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Electronic identifier (mã định danh), e.g. 000.00.00.H53.
    organ_id: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    parent_organ_id: Mapped[str | None] = mapped_column(
        ForeignKey("hub_organisations.organ_id")
    )
    email: Mapped[str | None] = mapped_column(String(255))
    # SHA-256 hex digest of the bearer token; the token itself is never stored.
    token_hash: Mapped[str] = mapped_column(String(64))
    token_issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class HubMessage(db.Model):
    """A package the hub accepted, stored byte-identical under its SHA-256.

    The two unique constraints are the idempotency keys of POST /messages. Each
    applies to one message type only, because the other type leaves one of its
    columns NULL, and NULLs never collide in a unique constraint.
    """

    __tablename__ = "hub_messages"
    __table_args__ = (
        CheckConstraint(f"message_type IN {MESSAGE_TYPES}", name="message_type"),
        CheckConstraint(
            "(message_type = 'edoc' AND business_doc_type IS NOT NULL"
            " AND status_code IS NULL AND status_timestamp IS NULL)"
            " OR (message_type = 'status' AND business_doc_type IS NULL"
            " AND status_code IS NOT NULL AND status_timestamp IS NOT NULL)",
            name="type_fields",
        ),
        UniqueConstraint(
            "sender_organ_id",
            "document_id",
            "business_doc_type",
            name="uq_hub_messages_edoc_key",
        ),
        UniqueConstraint(
            "sender_organ_id",
            "document_id",
            "status_code",
            "status_timestamp",
            name="uq_hub_messages_status_key",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Opaque identifier given to the sender and used in the API's URLs.
    message_id: Mapped[str] = mapped_column(String(32), unique=True)
    message_type: Mapped[str] = mapped_column(String(6))
    sender_organ_id: Mapped[str] = mapped_column(
        ForeignKey("hub_organisations.organ_id")
    )
    # The package's DocumentId for an edoc; for a status, the DocumentId in
    # ResponseFor, the document whose progress it reports.
    document_id: Mapped[str] = mapped_column(String(255))
    # BussinessDocType of an edoc: 0 new, 1 revoke, 2 update, 3 replace.
    business_doc_type: Mapped[int | None] = mapped_column(SmallInteger)
    status_code: Mapped[str | None] = mapped_column(String(2))
    status_timestamp: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Name of the package file under instance/hub/, and its length in bytes.
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, index=True
    )

    deliveries: Mapped[list["HubDelivery"]] = relationship(
        back_populates="message", order_by="HubDelivery.id"
    )


class HubDelivery(db.Model):
    """One recipient's copy of a message and how far its transport got."""

    __tablename__ = "hub_deliveries"
    __table_args__ = (
        CheckConstraint(f"state IN {DELIVERY_STATES}", name="state"),
        CheckConstraint("attempts >= 0", name="attempts"),
        UniqueConstraint("hub_message_id", "recipient_organ_id"),
        Index("ix_hub_deliveries_recipient_state", "recipient_organ_id", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    hub_message_id: Mapped[int] = mapped_column(
        ForeignKey("hub_messages.id", ondelete="CASCADE")
    )
    recipient_organ_id: Mapped[str] = mapped_column(
        ForeignKey("hub_organisations.organ_id")
    )
    state: Mapped[str] = mapped_column(String(10), default="pending")
    # Failed reads the recipient reported with `fail` acknowledgements.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    message: Mapped[HubMessage] = relationship(back_populates="deliveries")
