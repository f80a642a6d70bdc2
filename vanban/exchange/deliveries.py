"""Delivery reports: how far each recipient's copy of a sent document got.

The hub keeps one delivery per recipient of a package, and a recipient's
connector acknowledges it as `done`, or as `fail` with a reason when it
cannot take the package in. The hub marks the delivery failed after the
fifth `fail` (its default limit). The connector step `check_deliveries`
requests the deliveries of the organisation's sent document messages whose
recipients are not all delivered or failed. It stores each recipient's state
and reason in DeliveryReport, and notifies the organisation's clerks when a
recipient rejected a document for good.
"""

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from flask import current_app
from sqlalchemy import and_, case, exists, func, or_, select
from sqlalchemy.orm import aliased, selectinload

from vanban.models import Document, Organisation, OutboxMessage, Recipient
from vanban.models.exchange import DELIVERY_REPORT_STATES, DeliveryReport
from vanban.services import notifications
from vanban.services.changes import REPLACE, REVOKE, UPDATE
from vanban.services.clock import now
from vanban.services.text import nfc, shorten

logger = logging.getLogger(__name__)

# Sent messages older than this are no longer checked: a copy still pending
# after a month waits for a recipient that has stopped polling the hub.
MAX_AGE = timedelta(days=30)
# Hub messages queried in one run, most urgent first (due_message_ids).
BATCH_SIZE = 20
# Seconds before a message whose copies are still pending is checked again.
# CONNECTOR_DELIVERY_RECHECK_SECONDS in the app config overrides it.
RECHECK_SECONDS = 300
REASON_LENGTH = 2000
# Characters of a reason shown in a list row or a notification (short_reason).
SHORT_REASON_LENGTH = 300


def check_deliveries(session, run) -> None:
    """Store what the hub reports about the organisation's unsettled sent documents.

    `run` is a connector run, and its client is a HubClient or a LocalHub. A
    message whose deliveries the hub does not return (HubError, such as 404)
    is logged and checked again later. HubUnavailable ends the step, and the
    connector records it.
    """
    # Imported here because the connector imports this module for its steps.
    from vanban.exchange.connector import HubError, technical_text

    current = now()
    message_ids = due_message_ids(session, run.organisation_id, current)
    session.commit()
    for message_id in message_ids:
        if run.out_of_time():
            break
        try:
            rows = run.client.deliveries(message_id)
        except HubError as exc:
            session.rollback()
            logger.warning(
                "deliveries of hub message %s not returned for organisation %s: %s",
                message_id,
                run.organisation_id,
                exc,
            )
            run.report.errors.append(technical_text(exc))
            rows = []
        store_reports(session, run.organisation_id, message_id, rows, current)
        session.commit()


def recheck_interval() -> timedelta:
    seconds = current_app.config.get(
        "CONNECTOR_DELIVERY_RECHECK_SECONDS", RECHECK_SECONDS
    )
    return timedelta(seconds=float(seconds))


def _unsettled(columns, organisation_ids, current):
    """Select `columns` of the organisations' sent document rows due a check.

    A row is due when it has no report yet, when its report is about another
    hub message, or when its report is pending and older than the recheck
    interval. Rows sent more than MAX_AGE ago are left out.
    """
    checked_before = current - recheck_interval()
    return (
        select(*columns)
        .select_from(OutboxMessage)
        .outerjoin(DeliveryReport, DeliveryReport.outbox_message_id == OutboxMessage.id)
        .where(
            OutboxMessage.sender_organisation_id.in_(organisation_ids),
            OutboxMessage.kind == "document",
            OutboxMessage.state == "sent",
            OutboxMessage.message_id.is_not(None),
            OutboxMessage.sent_at >= current - MAX_AGE,
            or_(
                DeliveryReport.id.is_(None),
                DeliveryReport.message_id != OutboxMessage.message_id,
                and_(
                    DeliveryReport.state == "pending",
                    DeliveryReport.checked_at <= checked_before,
                ),
            ),
        )
    )


def due_message_ids(session, organisation_id: int, current: datetime) -> list[str]:
    """Return up to BATCH_SIZE hub message ids due a check, most urgent first.

    A message with a recipient that already failed to take the package in
    comes first, because its rejection may follow. A message whose due
    recipients have all reported a status on the document comes last,
    because they hold it and will not reject it. Within each group the least
    recently checked message comes first.
    """
    urgency = func.min(_check_urgency())
    last_checked = func.min(
        func.coalesce(DeliveryReport.checked_at, OutboxMessage.sent_at)
    )
    query = (
        _unsettled([OutboxMessage.message_id], [organisation_id], current)
        .outerjoin(
            Recipient,
            and_(
                Recipient.document_id == OutboxMessage.document_id,
                Recipient.organisation_id == OutboxMessage.recipient_organisation_id,
            ),
        )
        .group_by(OutboxMessage.message_id)
        .order_by(urgency, last_checked, OutboxMessage.message_id)
        .limit(BATCH_SIZE)
    )
    return list(session.scalars(query))


def _check_urgency():
    """Rank a due outbox row in SQL: 0 is checked first and 2 last.

    0: the hub last reported failed attempts of the recipient for this message.
    2: a first sending (or its copy) to a recipient that has reported a status
    on the document, which it does only after receiving the document. A change
    (business type 1-3) never gets 2, because the status may be older.
    1: every other row.
    NOTE: rows of 2 wait while BATCH_SIZE rows of 0 or 1 are due at each run,
    such as when a recipient stops polling with many packages pending. Their
    recipients hold the document, so what comes late is the "delivered" report.
    """
    failing = and_(
        DeliveryReport.message_id == OutboxMessage.message_id,
        DeliveryReport.attempts > 0,
    )
    answered = and_(
        OutboxMessage.business_doc_type == 0,
        Recipient.status_code.is_not(None),
    )
    return case((failing, 0), (answered, 2), else_=1)


def organisations_due(session, organisation_ids, current: datetime) -> set[int]:
    """Return which of the organisations have sent documents due a check."""
    if not organisation_ids:
        return set()
    column = OutboxMessage.sender_organisation_id
    query = _unsettled([column], list(organisation_ids), current).distinct()
    return set(session.scalars(query))


def store_reports(
    session, organisation_id: int, message_id: str, rows: list[dict], current
) -> None:
    """Store the hub's per-recipient rows for one message and notify rejections.

    Each outbox row that travelled in the message gets its report, matched by
    the recipient's organ_id. A row the hub did not list keeps the report it
    has, with a new check time, or gets a pending one, so that it waits for
    the recheck interval like the others.
    """
    messages = list(
        session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.sender_organisation_id == organisation_id,
                OutboxMessage.kind == "document",
                OutboxMessage.message_id == message_id,
            )
        )
    )
    codes = dict(
        session.execute(
            select(Organisation.id, Organisation.code).where(
                Organisation.id.in_([m.recipient_organisation_id for m in messages])
            )
        ).all()
    )
    by_code = {row.get("organ_id"): row for row in rows}
    rejected = []
    for message in messages:
        row = by_code.get(codes.get(message.recipient_organisation_id), {})
        if _store_report(message, row, message_id, current):
            rejected.append(message)
    session.flush()
    concerned = {_concerned_document(session, message).id for message in rejected}
    for document_id in sorted(concerned):
        _notify_rejection(session, session.get(Document, document_id))


def _store_report(message: OutboxMessage, row: dict, message_id: str, current):
    """Update the message's report from one hub row; return True on a new rejection."""
    state = row.get("state")
    if row and state not in DELIVERY_REPORT_STATES:
        logger.warning(
            "hub message %s: delivery state %r for outbox message %s ignored",
            message_id,
            state,
            message.id,
        )
    report = message.delivery_report
    if state not in DELIVERY_REPORT_STATES:
        if report is not None and report.message_id == message_id:
            report.checked_at = current
            return False
        state = "pending"
    if report is None:
        report = DeliveryReport(outbox_message_id=message.id)
        message.delivery_report = report
    rejected_before = report.state == "failed" and report.message_id == message_id
    attempts = row.get("attempts")
    reason = row.get("last_error")

    report.message_id = message_id
    report.state = state
    report.attempts = attempts if isinstance(attempts, int) and attempts >= 0 else 0
    report.reason = nfc(reason)[:REASON_LENGTH] if isinstance(reason, str) else ""
    report.delivered_at = _parse_time(row.get("delivered_at"))
    report.checked_at = current

    if state == "failed" and not rejected_before:
        logger.info(
            "outbox message %s (hub message %s) rejected by organisation %s",
            message.id,
            message_id,
            message.recipient_organisation_id,
        )
        return True
    return False


def _parse_time(value) -> datetime | None:
    """Read the hub's ISO 8601 UTC time, e.g. 2026-03-05T02:00:00Z."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def current_report(message: OutboxMessage) -> DeliveryReport | None:
    """Return the report about the message's copy as it was last sent, if any."""
    if message.kind != "document" or message.state != "sent":
        return None
    report = message.delivery_report
    if report is None or report.message_id != message.message_id:
        return None
    return report


def only_rejected(query):
    """Keep the outbox rows of a query whose copy, as last sent, was rejected.

    The query selects from OutboxMessage; this joins the reports to it. A
    rejected row that a newer copy for the same recipient followed is left
    out, because the clerk has already sent it again.
    """
    return query.join(
        DeliveryReport, DeliveryReport.outbox_message_id == OutboxMessage.id
    ).where(
        OutboxMessage.kind == "document",
        OutboxMessage.state == "sent",
        DeliveryReport.message_id == OutboxMessage.message_id,
        DeliveryReport.state == "failed",
        ~_has_newer_copy(),
    )


def _has_newer_copy():
    """Select whether a newer row has the recipient, document and business type.

    Such a row is a copy sent again after a rejection (outbox.resend_rejected)
    or a second change of the same type, such as a second update. Either one
    takes the place of the rejected row, as on the document page.
    """
    newer = aliased(OutboxMessage)
    return exists().where(
        newer.kind == "document",
        newer.sender_organisation_id == OutboxMessage.sender_organisation_id,
        newer.recipient_organisation_id == OutboxMessage.recipient_organisation_id,
        newer.document_id == OutboxMessage.document_id,
        newer.business_doc_type == OutboxMessage.business_doc_type,
        newer.id > OutboxMessage.id,
    )


def newer_copy(session, message: OutboxMessage) -> OutboxMessage | None:
    """Return the first copy sent again after the message to its recipient, if any."""
    if message.kind != "document" or message.id is None:
        return None
    return session.scalar(
        select(OutboxMessage)
        .where(
            OutboxMessage.kind == "document",
            OutboxMessage.sender_organisation_id == message.sender_organisation_id,
            OutboxMessage.recipient_organisation_id
            == message.recipient_organisation_id,
            OutboxMessage.document_id == message.document_id,
            OutboxMessage.business_doc_type == message.business_doc_type,
            OutboxMessage.id > message.id,
        )
        .order_by(OutboxMessage.id)
        .limit(1)
    )


def can_send_copy(session, message: OutboxMessage) -> bool:
    """Tell whether a new copy of the rejected message may be sent."""
    return copy_blocker(session, message) is None


def copy_blocker(session, message: OutboxMessage) -> str | None:
    """Return why no new copy of the message may be sent, in Vietnamese, or None.

    A copy goes only for a message its recipient rejected, once, and never
    for the document itself after it was revoked or replaced, because the
    recipient would then hold a live copy of a document no longer in force.
    A revocation or an update may still be sent again.
    """
    report = current_report(message)
    if report is None or report.state != "failed":
        return "Chỉ gửi lại được bản mà nơi nhận đã từ chối. Hãy tải lại trang."
    if newer_copy(session, message) is not None:
        return "Bản này đã được gửi lại bằng một bản mới. Hãy tải lại trang."
    if message.business_doc_type in (0, REPLACE):
        document = session.get(Document, message.document_id)
        if document.state == "revoked":
            return "Văn bản đã bị thu hồi nên không gửi lại cho nơi nhận."
        if document.replaced_by_id is not None:
            return (
                "Văn bản đã được thay thế bằng văn bản khác nên không gửi lại; "
                "hãy gửi văn bản thay thế."
            )
    return None


# Label of each change package type on the sender's pages.
PACKAGE_LABELS = {
    REVOKE: "Gói thu hồi",
    UPDATE: "Gói cập nhật",
    REPLACE: "Gói thay thế",
}


def replaced_document(session, message: OutboxMessage) -> Document | None:
    """Return the sender's document that a replacement package replaces.

    The package carries the replacement. One document replaces at most one
    other (changes.replace rejects a second use), so the match is unique.
    """
    if message.kind != "document" or message.business_doc_type != REPLACE:
        return None
    return session.scalar(
        select(Document)
        .where(
            Document.organisation_id == message.sender_organisation_id,
            Document.direction == "outgoing",
            Document.replaced_by_id == message.document_id,
        )
        .order_by(Document.id)
        .limit(1)
    )


def _concerned_document(session, message: OutboxMessage) -> Document:
    """Return the document a rejection of the message is about.

    A rejected replacement is about the replaced document, because the
    recipient rejects the package when it does not have that document.
    """
    replaced = replaced_document(session, message)
    return replaced or session.get(Document, message.document_id)


def _messages_about(session, document: Document) -> list[OutboxMessage]:
    """Return the document messages about the document, oldest first.

    They are its own packages and, when it was replaced, the replacement
    packages that named it.
    """
    about = OutboxMessage.document_id == document.id
    if document.replaced_by_id is not None:
        about = or_(
            about,
            and_(
                OutboxMessage.document_id == document.replaced_by_id,
                OutboxMessage.business_doc_type == REPLACE,
            ),
        )
    query = (
        select(OutboxMessage)
        .where(
            OutboxMessage.sender_organisation_id == document.organisation_id,
            OutboxMessage.kind == "document",
            about,
        )
        .options(selectinload(OutboxMessage.delivery_report))
        .order_by(OutboxMessage.id)
    )
    return list(session.scalars(query))


def package_label(session, document: Document, message: OutboxMessage) -> str:
    """Name what the message did, as seen from the document's page.

    The document's own first sending returns "", and a change returns its
    package label, with the other document for a replacement. The label of a
    copy sent again after a rejection ends in "bản gửi lại".
    """
    label = _change_label(session, document, message)
    if message.exchange_id is None:
        return label
    if not label:
        return "Bản gửi lại"
    return f"{label} (bản gửi lại)"


def _change_label(session, document: Document, message: OutboxMessage) -> str:
    if message.business_doc_type not in PACKAGE_LABELS:
        return ""
    label = PACKAGE_LABELS[message.business_doc_type]
    if message.business_doc_type != REPLACE:
        return label
    if message.document_id != document.id:
        return f"{label} bằng văn bản số {document.replaced_by.number_and_notation}"
    replaced = replaced_document(session, message)
    if replaced is None:
        return label
    return f"{label} văn bản số {replaced.number_and_notation}"


@dataclass(frozen=True)
class DeliveryLine:
    """One package to one recipient, with what it did ("" for the first sending)."""

    label: str
    message: OutboxMessage


@dataclass
class DeliveryTable:
    """The packages about a document, by recipient organisation.

    `others` lists the organisations that are not recipients of the document
    but received it as the replacement of another document.
    """

    lines: dict[int, list[DeliveryLine]] = field(default_factory=dict)
    others: list[tuple[Organisation, list[DeliveryLine]]] = field(default_factory=list)


def delivery_table(session, document: Document) -> DeliveryTable:
    """Collect, for each recipient, the latest message of each package kind.

    The first sending keeps its own line, so the page still shows when the
    recipient received the document after a change was sent.
    """
    table = DeliveryTable()
    if document.direction != "outgoing":
        return table
    latest = {}
    for message in _messages_about(session, document):
        key = _package_key(message)
        latest.pop(key, None)
        latest[key] = message
    for message in latest.values():
        line = DeliveryLine(package_label(session, document, message), message)
        table.lines.setdefault(message.recipient_organisation_id, []).append(line)
    recipient_ids = {r.organisation_id for r in document.recipients}
    other_ids = [i for i in table.lines if i not in recipient_ids]
    if other_ids:
        organisations = session.scalars(
            select(Organisation)
            .where(Organisation.id.in_(other_ids))
            .order_by(Organisation.name)
        )
        table.others = [(o, table.lines[o.id]) for o in organisations]
    return table


def _package_key(message: OutboxMessage) -> tuple[int, int, int]:
    """Return what makes rows one package line: recipient, document and business."""
    return (
        message.recipient_organisation_id,
        message.document_id,
        message.business_doc_type,
    )


def rejections(session, document: Document) -> list[tuple[str, str, str]]:
    """Return (recipient name, package label, reason) of each rejection
    of a package about the document."""
    messages = _messages_about(session, document)
    # A rejection followed by a newer copy to the same recipient is settled.
    latest = {_package_key(message): message.id for message in messages}
    rows = []
    for message in messages:
        report = current_report(message)
        if report is None or report.state != "failed":
            continue
        if latest[_package_key(message)] != message.id:
            continue
        recipient = session.get(Organisation, message.recipient_organisation_id)
        label = package_label(session, document, message)
        rows.append((recipient.name, label, report.reason))
    return rows


def _notify_rejection(session, document: Document) -> None:
    """Tell the sender's clerks which recipients rejected the document and why.

    The text lists every rejection of a package about the document, because
    an unread notice about the same document is refreshed instead of
    repeated.
    """
    listed = "; ".join(
        _rejection_text(name, label, reason)
        for name, label, reason in rejections(session, document)
    )
    number = document.number_and_notation
    named = f"số {number} “{document.subject}”" if number else f"“{document.subject}”"
    text = f"Nơi nhận từ chối văn bản {named}: {listed}"
    clerks = notifications.users_with_role(session, document.organisation_id, "clerk")
    notifications.notify_all(session, clerks, "delivery_rejected", text, document)


def short_reason(reason: str) -> str:
    """Return a recipient's reason as a list row or a notification shows it.

    The document page and the exchange page show the full reason on the
    row's details.
    """
    return shorten(reason, SHORT_REASON_LENGTH)


def _rejection_text(name: str, label: str, reason: str) -> str:
    # "Gói thay thế …" reads "gói thay thế …" inside the sentence.
    lowered = label[:1].lower() + label[1:]
    details = [part for part in (lowered, short_reason(reason)) if part]
    return f"{name} ({', '.join(details)})" if details else name
