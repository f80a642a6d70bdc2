"""The one outbox: documents and statuses leave their organisation through it.

Services add outbox rows in the same transaction as the change they report.
`deliver_pending` moves them, always as edXML packages through a hub: the
city hub over HTTP for an organisation with an enabled connector
(vanban.exchange.connector), else this installation's own hub store
(vanban.exchange.local).
"""

import logging

from vanban.models import (
    Document,
    Organisation,
    OutboxMessage,
    Recipient,
    RecipientStatus,
)
from vanban.services import audit

logger = logging.getLogger(__name__)


def queue_document(
    session,
    document: Document,
    recipient: Organisation,
    *,
    business_doc_type: int = 0,
    note: str = "",
) -> None:
    """Queue an issued document for a recipient: new (0), or a change 1-3 with why."""
    session.add(
        OutboxMessage(
            kind="document",
            sender_organisation_id=document.organisation_id,
            recipient_organisation_id=recipient.id,
            document_id=document.id,
            business_doc_type=business_doc_type,
            note=note,
        )
    )


def queue_status(session, incoming: Document, status_code: str, note: str = "") -> None:
    """Report a processing status of an incoming document back to its sender."""
    if incoming.sender_organisation_id is None:
        return
    # A status package quotes the DocumentId of the document it reports on.
    if not incoming.exchange_id:
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


def deliver_pending(session, poll: bool = True) -> int:
    """Move queued messages through the hub, including the statuses that intake queues.

    Organisations with an enabled hub connector push their messages to the
    hub over HTTP and, with `poll` and once their poll interval has passed,
    poll it. The other organisations hosted here go through this
    installation's own hub store in the same way, push and poll at once.
    Both paths commit after each step, because a package must be stored
    before its acknowledgement goes to the hub. So call it with no other
    pending changes.
    Return the number of messages sent and taken in.
    """
    # Imported here: the connector imports this module for its own statuses.
    from vanban.exchange import connector, local

    connected = connector.connected_organisation_ids(session)
    moved = local.deliver(session, connected).moved
    if connected:
        moved += connector.run_due(session, poll=poll).moved
    return moved
