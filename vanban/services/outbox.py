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

from vanban.extensions import sqlite_reading
from vanban.models import (
    ConnectorSettings,
    Document,
    Organisation,
    OutboxMessage,
    Recipient,
    RecipientStatus,
)
from vanban.services import Conflict, audit, clock

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


# Resending a copy that a recipient rejected.

# Width of OutboxMessage.exchange_id, and the hub's limit on a DocumentId.
MAX_EXCHANGE_ID_LENGTH = 255
# Shown on a copy's row until the hub has taken it, so a request that ends
# before the hub responds leaves a row the clerk can send again.
COPY_NOT_SENT = "Bản gửi lại chưa lên được trục liên thông. Bấm “Gửi lại” để thử lại."


def resend_rejected(session, message: OutboxMessage) -> OutboxMessage:
    """Send a new copy of a rejected document message to its one recipient.

    The hub takes a package with the same sender, DocumentId and business
    type for a resend of the one it holds, and queues nothing. The copy is
    therefore a new outbox row whose package carries the document's
    DocumentId followed by "#r<row id>", is addressed to that recipient only
    and is pushed at once by `send_copy`. The connector's own push leaves it
    alone, because the row is never pending. Raise Conflict when the
    recipient did not reject the message, a copy followed it already, or the
    organisation no longer sends through a hub. Return the copy, added to
    the session in the state `send_copy` leaves when it cannot finish.
    The recipient stores the copy under the new DocumentId. Its statuses
    find the document through the copy's row, and a later revocation or
    update naming the document's own DocumentId finds the copy.
    """
    from vanban.exchange import deliveries

    blocker = deliveries.copy_blocker(session, message)
    if blocker is not None:
        raise Conflict(blocker)
    _check_copy_route(session, message.sender_organisation_id)
    document = session.get(Document, message.document_id)
    if not document.exchange_id:
        raise Conflict("Văn bản chưa có mã văn bản liên thông nên chưa gửi lại được.")

    copy = OutboxMessage(
        kind="document",
        sender_organisation_id=message.sender_organisation_id,
        recipient_organisation_id=message.recipient_organisation_id,
        document_id=message.document_id,
        business_doc_type=message.business_doc_type,
        note=message.note,
        state="failed",
        error_detail=COPY_NOT_SENT,
    )
    session.add(copy)
    session.flush()
    copy.exchange_id = f"{document.exchange_id}#r{copy.id}"
    if len(copy.exchange_id) > MAX_EXCHANGE_ID_LENGTH:
        raise Conflict(
            "Mã văn bản liên thông quá dài để thêm hậu tố gửi lại "
            f"(tối đa {MAX_EXCHANGE_ID_LENGTH} ký tự), nên chưa gửi lại được."
        )
    logger.info(
        "outbox message %s queued as copy %s of rejected outbox message %s",
        copy.id,
        copy.exchange_id,
        message.id,
    )
    return copy


def send_copy(session, copy_id: int) -> bool:
    """Push a copy made by `resend_rejected` to the hub and record the result.

    The package is built with the copy's created_at as its trace time, so a
    second push of the same copy sends the same bytes, and the hub returns
    the message it stored. No transaction stays open during the hub call,
    because on SQLite the hub may be this installation writing to the same
    database. Commits, and returns whether the hub took the copy.
    """
    from vanban.exchange import connector
    from vanban.exchange.packages import EdxmlError

    copy = session.get(OutboxMessage, copy_id)
    client = _copy_client(session, copy.sender_organisation_id)
    if client is None:
        _copy_failed(
            session,
            copy_id,
            "organisation does not send through a hub",
            _NO_HUB_MESSAGE,
        )
        return False
    try:
        with sqlite_reading():
            try:
                body = copy_package(session, copy)
            finally:
                # Ends the read-only transaction before the hub call.
                session.commit()
    except EdxmlError as exc:
        client.close()
        logger.warning("outbox copy %s cannot be built: %s", copy_id, exc)
        _copy_failed(session, copy_id, str(exc), exc.user_message)
        return False

    try:
        response = client.send("edoc", body)
    except connector.HubError as exc:
        session.rollback()
        logger.warning("hub rejected outbox copy %s: %s", copy_id, exc)
        detail = exc.detail or exc.error or f"HTTP {exc.status}"
        _copy_failed(
            session,
            copy_id,
            connector.technical_text(exc),
            f"Trục liên thông từ chối bản gửi lại: {detail}",
        )
        return False
    except connector.HubUnavailable as exc:
        session.rollback()
        logger.warning("outbox copy %s not sent: %s", copy_id, exc)
        _copy_failed(
            session,
            copy_id,
            connector.technical_text(exc),
            "Chưa gửi được bản gửi lại tới trục liên thông (trục không trả lời "
            "hoặc đang lỗi). Bấm “Gửi lại” để thử lại sau ít phút.",
        )
        return False
    finally:
        client.close()

    message_id = str(response["message_id"])
    connector.mark_sent(session, [copy_id], message_id)
    logger.info("outbox copy %s sent to the hub as %s", copy_id, message_id)
    return True


_NO_HUB_MESSAGE = (
    "Đơn vị không còn gửi văn bản qua trục liên thông (kết nối trục đang tắt), nên "
    "chưa gửi lại được. Quản trị của đơn vị bật lại kết nối tại trang Cấu hình "
    "kết nối trục."
)


def _check_copy_route(session, organisation_id: int) -> None:
    """Raise Conflict unless the organisation's packages go through a hub."""
    from vanban.exchange import connector

    if organisation_id in connector.connected_organisation_ids(session):
        return
    if not current_app.config.get("HUB_ENABLED"):
        raise Conflict(_NO_HUB_MESSAGE)


def _copy_client(session, organisation_id: int):
    """Return the client that pushes the organisation's packages, or None.

    That is a HubClient with the short timeouts of a web request for an
    enabled connector, else this installation's own hub when it serves one.
    """
    from vanban.exchange import connector, local

    organisation = session.get(Organisation, organisation_id)
    settings = session.scalar(
        select(ConnectorSettings).where(
            ConnectorSettings.organisation_id == organisation_id,
            ConnectorSettings.enabled,
        )
    )
    if settings is not None:
        return connector.HubClient(
            settings.hub_url, organisation.code, settings.token, _request_config()
        )
    if not current_app.config.get("HUB_ENABLED"):
        return None
    local.register(session, organisation)
    return local.LocalHub(session, organisation.code)


def copy_package(session, copy: OutboxMessage) -> bytes:
    """Build the edXML of a row with a DocumentId of its own, to its one recipient.

    Such a row is a copy made by `resend_rejected`, or a row the connector
    gave its own DocumentId because the hub already stores the document's
    package for other recipients. Its created_at is the package's trace time,
    so every build has the same bytes.
    """
    from vanban.exchange import mapping
    from vanban.exchange.packages import EdxmlError
    from vanban.exchange.writing import build_edoc

    document = session.get(Document, copy.document_id)
    recipient = session.get(Organisation, copy.recipient_organisation_id)
    package = mapping.document_package(
        session,
        document,
        copy.business_doc_type,
        copy.note,
        recipient_ids={recipient.id},
    )
    if not package.recipients:
        raise EdxmlError(
            f"organisation {recipient.code} is no longer a recipient of document "
            f"{document.id}",
            f"{recipient.name} không còn trong danh sách nơi nhận của văn bản.",
            element="To",
        )
    package = dataclasses.replace(package, document_id=copy.exchange_id)
    return build_edoc(package, now=copy.created_at)


def _copy_failed(session, copy_id: int, error: str, detail: str) -> None:
    from vanban.exchange import connector

    connector.mark_failed(session, [copy_id], error, detail)
