"""Connector settings for the city hub and the ledger of packages received from it."""

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, backref, mapped_column, relationship

from vanban.extensions import db
from vanban.models.organisations import Organisation
from vanban.models.system import OutboxMessage
from vanban.models.types import UTCDateTime, utcnow


class ConnectorSettings(db.Model):
    """Hub connection settings of one organisation hosted in this installation."""

    __tablename__ = "connector_settings"
    __table_args__ = (
        CheckConstraint("poll_interval_seconds > 0", name="poll_interval_seconds"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id"), unique=True
    )
    # Base URL of the hub's API, e.g. https://hub.example.invalid/api/edoc/v1.
    hub_url: Mapped[str] = mapped_column(String(500))
    # Bearer token issued by the hub administrator. It is sent to the hub as is,
    # so it cannot be hashed; screens and logs show `masked_token` only.
    token: Mapped[str] = mapped_column(String(500))
    poll_interval_seconds: Mapped[int] = mapped_column(Integer, default=60)
    enabled: Mapped[bool] = mapped_column(default=True)
    # End of a connector run's claim on this organisation. A run sets it before
    # talking to the hub and clears it at the end, so runs in other processes
    # skip the organisation meanwhile. A crashed run's claim expires then, or
    # sooner when a run on the same host finds its process gone.
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Holder of the claim: host name, process id and when its run started.
    lease_host: Mapped[str | None] = mapped_column(String(255))
    lease_pid: Mapped[int | None] = mapped_column(Integer)
    lease_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    directory_refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    organisation: Mapped[Organisation] = relationship()

    @property
    def masked_token(self) -> str:
        """Return the token with all but its last four characters hidden."""
        if len(self.token) <= 8:
            return "****"
        return f"****{self.token[-4:]}"

    def __repr__(self) -> str:
        return (
            f"<ConnectorSettings organisation={self.organisation_id} "
            f"hub={self.hub_url!r} token={self.masked_token}>"
        )


class ReceivedPackage(db.Model):
    """A document package taken in from the hub, one per sender, id and business.

    The unique constraint is what makes intake idempotent: the same package
    fetched twice (an acknowledgement lost on the way, two runs at once) is
    stored once.
    """

    __tablename__ = "received_packages"
    __table_args__ = (
        # Named here, because the default name is longer than PostgreSQL's 63
        # characters.
        UniqueConstraint(
            "organisation_id",
            "sender_code",
            "exchange_id",
            "business_doc_type",
            name="uq_received_packages_package",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The organisation hosted here that received the package.
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    # From/OrganId and DocumentId exactly as the package states them.
    sender_code: Mapped[str] = mapped_column(String(32))
    exchange_id: Mapped[str] = mapped_column(String(255))
    # BussinessDocType: 0 new, 1 revoke, 2 update, 3 replace.
    business_doc_type: Mapped[int] = mapped_column(SmallInteger)
    message_id: Mapped[str] = mapped_column(String(255))
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


DELIVERY_REPORT_STATES = ("pending", "delivered", "failed")


class DeliveryReport(db.Model):
    """How far one recipient's copy of a sent document got, as the hub last reported.

    The connector requests GET /messages/{id}/deliveries for sent document
    messages until each recipient's copy is delivered or failed. A
    failed copy is one the recipient's connector rejected as many times as the
    hub allows (five by default), and `reason` contains its last reason.
    """

    __tablename__ = "delivery_reports"
    __table_args__ = (
        CheckConstraint(f"state IN {DELIVERY_REPORT_STATES}", name="state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    outbox_message_id: Mapped[int] = mapped_column(
        ForeignKey("outbox_messages.id"), unique=True
    )
    # The hub's message id the report is about. When the outbox row carries
    # another one, the report is out of date and the next check replaces it.
    message_id: Mapped[str] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(10), default="pending")
    # `fail` acknowledgements the recipient sent, and the reason of the last one.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str] = mapped_column(Text, default="")
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    # The backref adds `OutboxMessage.delivery_report`, None until a check.
    outbox_message: Mapped[OutboxMessage] = relationship(
        backref=backref("delivery_report", uselist=False)
    )
