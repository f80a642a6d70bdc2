"""The one outbox: documents and statuses leave their organisation through it.

Services add outbox rows in the same transaction as the change they report.
`deliver_pending` moves them, always as edXML packages through a hub: the
city hub over HTTP for an organisation with an enabled connector
(vanban.exchange.connector), else this installation's own hub store
(vanban.exchange.local). A web request calls `deliver_own` instead, which
pushes over HTTP only for the acting organisation.
"""

import dataclasses
import logging
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from vanban.models import (
    ConnectorSettings,
    Document,
    Organisation,
    OutboxMessage,
    Recipient,
    RecipientStatus,
)
from vanban.services import audit, clock

logger = logging.getLogger(__name__)

# Timeouts in seconds of the hub calls made inside a web request, so that a
# clerk waits seconds, not the connector's 30 s. The scheduled job retries
# with the connector's own timeouts. OUTBOX_REQUEST_* app settings lower them.
REQUEST_CONNECT_TIMEOUT = 3.0
REQUEST_READ_TIMEOUT = 10.0
# Seconds a push inside a web request may start new calls.
REQUEST_RUN_SECONDS = 10.0


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
    # The package's Timestamp is the row's created_at (see
    # mapping.status_package), stored so that a retry sends the same bytes.
    created_at = free_status_second(session, incoming, status_code, clock.now())
    session.add(
        OutboxMessage(
            kind="status",
            sender_organisation_id=incoming.organisation_id,
            recipient_organisation_id=incoming.sender_organisation_id,
            document_id=incoming.id,
            status_code=status_code,
            note=note,
            created_at=created_at,
        )
    )


def free_status_second(
    session,
    incoming: Document,
    status_code: str,
    at: datetime,
    *,
    exclude_id: int | None = None,
) -> datetime:
    """Return `at`, or the next whole second that no other such status carries.

    The hub takes a status package with the same sender, ResponseFor/DocumentId,
    StatusCode and Timestamp (to the second) for a resend of the stored one,
    and rejects it with 409 when its bytes differ. Two statuses of one document
    queued in the same second, such as the 15 of an update and the 15 of a
    revocation taken in by one poll, therefore get different seconds.
    NOTE: two processes queueing such statuses at the same instant can still
    pick the same second, because nothing locks the rows in between.
    """
    query = (
        select(OutboxMessage.created_at)
        .join(Document, Document.id == OutboxMessage.document_id)
        .where(
            OutboxMessage.kind == "status",
            OutboxMessage.sender_organisation_id == incoming.organisation_id,
            OutboxMessage.status_code == status_code,
            Document.exchange_id == incoming.exchange_id,
            OutboxMessage.created_at >= _whole_second(at),
        )
    )
    if exclude_id is not None:
        query = query.where(OutboxMessage.id != exclude_id)
    taken_seconds = {_whole_second(stamp) for stamp in session.scalars(query)}
    stamp = at
    while _whole_second(stamp) in taken_seconds:
        stamp = _whole_second(stamp) + timedelta(seconds=1)
    return stamp


def restamp_status(session, message: OutboxMessage) -> bool:
    """Move a status message to a free second if another status shares its second.

    A message queued before statuses got distinct seconds may have failed with
    409 at the hub. Sent again with a new Timestamp, it is stored as a new
    status. Return whether the stamp moved.
    """
    if message.kind != "status":
        return False
    incoming = session.get(Document, message.document_id)
    stamp = free_status_second(
        session,
        incoming,
        message.status_code,
        message.created_at,
        exclude_id=message.id,
    )
    if stamp == message.created_at:
        return False
    logger.info(
        "outbox status message %s moved from %s to %s: another status of "
        "document %s has the same second",
        message.id,
        message.created_at.isoformat(),
        stamp.isoformat(),
        message.document_id,
    )
    message.created_at = stamp
    return True


def _whole_second(instant: datetime) -> datetime:
    return instant.replace(microsecond=0)


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


@dataclasses.dataclass
class OwnDelivery:
    """Result of `deliver_own` for the acting organisation."""

    moved: int = 0
    # The hub did not respond in time, so some messages wait for a retry.
    hub_silent: bool = False
    # Another run held the organisation's connector, so nothing was pushed.
    busy: bool = False


def deliver_own(session, organisation_id: int) -> OwnDelivery:
    """Deliver what a web request acting for one organisation queued.

    Messages between organisations without a connector move inside this
    installation at once, as in `deliver_pending`. Over HTTP only this
    organisation's due messages are pushed, with short timeouts and no poll,
    so a hub of another organisation that does not respond never holds up
    the request. The scheduled job sends the rest. Commits like
    `deliver_pending`.
    """
    from vanban.exchange import connector, local

    connected = connector.connected_organisation_ids(session)
    result = OwnDelivery(moved=local.deliver(session, connected).moved)
    # A run with nothing to push would still overwrite the connector's last
    # error, which the scheduled job's polls set.
    if organisation_id not in connected or not connector._has_due_messages(
        session, organisation_id, clock.now()
    ):
        return result
    settings_id = session.scalar(
        select(ConnectorSettings.id).where(
            ConnectorSettings.organisation_id == organisation_id
        )
    )
    report = connector.run_cycle(
        session, settings_id, poll=False, config=_request_config()
    )
    if report is None:
        logger.info(
            "organisation %s busy with another connector run; its messages wait "
            "for the scheduled job",
            organisation_id,
        )
        result.busy = True
        return result
    result.moved += report.moved
    result.hub_silent = report.retrying > 0
    return result


def _request_config():
    from vanban.exchange.connector import ConnectorConfig

    config = ConnectorConfig.from_app()
    settings = current_app.config
    return dataclasses.replace(
        config,
        connect_timeout=min(
            config.connect_timeout,
            float(
                settings.get("OUTBOX_REQUEST_CONNECT_TIMEOUT", REQUEST_CONNECT_TIMEOUT)
            ),
        ),
        read_timeout=min(
            config.read_timeout,
            float(settings.get("OUTBOX_REQUEST_READ_TIMEOUT", REQUEST_READ_TIMEOUT)),
        ),
        run_seconds=min(config.run_seconds, REQUEST_RUN_SECONDS),
    )
