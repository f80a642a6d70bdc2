"""The one outbox: documents and statuses leave their organisation through it.

Services add outbox rows in the same transaction as the change they report.
`deliver_pending` moves them. The messages of an organisation with an enabled
hub connector go to the city hub (vanban.exchange.connector). The others are
delivered inside this installation, straight into the recipient's records.
"""

import logging

from sqlalchemy import select

from vanban.models import (
    Attachment,
    Document,
    Organisation,
    OutboxMessage,
    Recipient,
    RecipientStatus,
)
from vanban.services import audit
from vanban.services.clock import now
from vanban.services.documents import current_attachments

logger = logging.getLogger(__name__)

# Fields copied from the sender's document to each recipient's incoming record.
_COPIED_FIELDS = (
    "type_name",
    "type_abbreviation",
    "number",
    "notation",
    "issued_date",
    "subject",
    "description",
    "body_text",
    "signer_position",
    "signer_name",
    "urgency",
    "secrecy",
    "page_amount",
    "due_date",
    "exchange_id",
)


def queue_document(session, document: Document, recipient: Organisation) -> None:
    session.add(
        OutboxMessage(
            kind="document",
            sender_organisation_id=document.organisation_id,
            recipient_organisation_id=recipient.id,
            document_id=document.id,
        )
    )


def queue_status(session, incoming: Document, status_code: str, note: str = "") -> None:
    """Report a processing status of an incoming document back to its sender."""
    if incoming.sender_organisation_id is None:
        return
    # A document delivered here has a source document; one received from the
    # hub has only the DocumentId that its status package must quote.
    if incoming.source_document_id is None and not incoming.exchange_id:
        return
    session.add(
        OutboxMessage(
            kind="status",
            sender_organisation_id=incoming.organisation_id,
            recipient_organisation_id=incoming.sender_organisation_id,
            document_id=incoming.id,
            status_code=status_code,
            note=note,
        )
    )


def _deliver_document(session, message: OutboxMessage) -> None:
    source = session.get(Document, message.document_id)
    existing = session.scalar(
        select(Document).where(
            Document.source_document_id == source.id,
            Document.organisation_id == message.recipient_organisation_id,
        )
    )
    if existing is not None:
        logger.info("document %s already delivered as %s", source.id, existing.id)
        return
    sender = session.get(Organisation, source.organisation_id)
    incoming = Document(
        organisation_id=message.recipient_organisation_id,
        direction="incoming",
        state="arrived",
        organ_name=sender.name,
        sender_organisation_id=sender.id,
        source_document_id=source.id,
        received_at=now(),
        **{field: getattr(source, field) for field in _COPIED_FIELDS},
    )
    session.add(incoming)
    session.flush()
    for attachment in current_attachments(session, source):
        session.add(
            Attachment(
                document_id=incoming.id,
                sha256=attachment.sha256,
                size=attachment.size,
                content_type=attachment.content_type,
                original_name=attachment.original_name,
            )
        )
    recipient = session.scalar(
        select(Recipient).where(
            Recipient.document_id == source.id,
            Recipient.organisation_id == message.recipient_organisation_id,
        )
    )
    if recipient is not None:
        recipient.incoming_document_id = incoming.id
    audit.record(session, "received", document=incoming, sender=sender.name)
    queue_status(session, incoming, "01")
    logger.info(
        "document %s delivered to organisation %s as %s",
        source.id,
        message.recipient_organisation_id,
        incoming.id,
    )


def _deliver_status(session, message: OutboxMessage) -> None:
    incoming = session.get(Document, message.document_id)
    recipient = session.scalar(
        select(Recipient).where(
            Recipient.document_id == incoming.source_document_id,
            Recipient.organisation_id == incoming.organisation_id,
        )
    )
    if recipient is None:
        logger.warning(
            "status %s for unknown recipient of document %s",
            message.status_code,
            incoming.source_document_id,
        )
        return
    record_recipient_status(
        session, recipient, message.status_code, message.note, message.created_at
    )


def record_recipient_status(
    session, recipient: Recipient, status_code: str, note: str, reported_at
) -> None:
    """Add a reported status to the recipient's history and audit it.

    The recipient row shows the latest status by report time, so a status
    that arrives late does not replace a newer one.
    """
    recipient.history.append(
        RecipientStatus(status_code=status_code, note=note, reported_at=reported_at)
    )
    if recipient.status_at is None or reported_at >= recipient.status_at:
        recipient.status_code = status_code
        recipient.status_at = reported_at
        recipient.status_note = note
    audit.record(
        session,
        "status_received",
        document=recipient.document,
        recipient=recipient.organisation.name,
        status_code=status_code,
        note=note,
    )


def deliver_pending(session, limit: int = 500, poll: bool = True) -> int:
    """Deliver queued messages, including the statuses that delivery queues.

    Organisations with an enabled hub connector push their messages to the
    hub and, with `poll` and once their poll interval has passed, poll it.
    That path commits after each step, because a package must be stored
    before its acknowledgement goes to the hub. So call it with no other
    pending changes.
    Return the number of messages delivered, sent or taken in.
    """
    # Imported here: the connector imports this module for its own statuses.
    from vanban.exchange import connector

    connected = connector.connected_organisation_ids(session)
    delivered = _deliver_locally(session, limit, connected)
    if connected:
        delivered += connector.run_due(session, poll=poll).moved
    return delivered


def _deliver_locally(session, limit: int, connected: set[int]) -> int:
    """Deliver the messages of organisations without a connector in this database."""
    delivered = 0
    while delivered < limit:
        query = (
            select(OutboxMessage)
            .where(
                OutboxMessage.sent_at.is_(None),
                OutboxMessage.state.in_(("pending", "retrying")),
                OutboxMessage.sender_organisation_id.not_in(connected),
            )
            .order_by(OutboxMessage.id)
            .limit(50)
            .with_for_update(skip_locked=True)
        )
        batch = session.scalars(query).all()
        if not batch:
            break
        for message in batch:
            message.attempts += 1
            if message.kind == "document":
                _deliver_document(session, message)
            else:
                _deliver_status(session, message)
            message.sent_at = now()
            message.state = "sent"
            delivered += 1
        session.flush()
    if delivered:
        logger.info("outbox delivered %d messages", delivered)
    return delivered
