"""Revoke, update or replace an issued document at every recipient (edXML 1-3).

The sender's clerk acts on an issued outgoing document with a reason. The
change is recorded here at once and queued in the outbox for each recipient,
as a package of BussinessDocType 1 (revoke), 2 (update) or 3 (replace).
vanban.exchange.mapping applies it on the receiving side.
"""

import logging
from datetime import date

from sqlalchemy import select

from vanban.models import Document, OutboxMessage, User
from vanban.services import (
    Conflict,
    Forbidden,
    ServiceError,
    audit,
    outbox,
    permissions,
)
from vanban.services.clock import local_today, now
from vanban.services.doctypes import SECRECY_LABELS
from vanban.services.text import nfc

logger = logging.getLogger(__name__)

REVOKE, UPDATE, REPLACE = 1, 2, 3
MAX_REASON_LENGTH = 2000
# How far ahead a reply deadline may be set; a later one is a typing mistake.
MAX_DUE_YEARS = 3


def can_change(user: User, document: Document) -> bool:
    """Tell whether the user may revoke, update or replace the document now."""
    return (
        user.has_role("clerk")
        and user.organisation_id == document.organisation_id
        and document.direction == "outgoing"
        and document.state == "issued"
        and document.replaced_by_id is None
    )


def refusal(user: User, document: Document) -> ServiceError | None:
    """Return why the user may not change the document now, or None if they may."""
    if can_change(user, document):
        return None
    if (
        user.has_role("clerk")
        and user.organisation_id == document.organisation_id
        and document.direction == "outgoing"
    ):
        if document.state == "revoked":
            return Conflict("Văn bản này đã được thu hồi, không thay đổi được nữa.")
        if document.replaced_by_id is not None:
            return Conflict(
                "Văn bản này đã được thay thế bằng văn bản khác, không thay đổi "
                "được nữa."
            )
    return Forbidden(
        "Chỉ văn thư của đơn vị gửi được thu hồi, cập nhật hoặc thay thế văn "
        "bản đã phát hành."
    )


def revoke(session, user: User, document: Document, reason: str) -> None:
    """Revoke an issued document at every recipient (thu hồi)."""
    reason = _check(user, document, reason)
    document.state = "revoked"
    document.revoked_at = now()
    document.revoke_reason = reason
    _queue(session, document, REVOKE, reason)
    audit.record(
        session,
        "revoke_sent",
        user=user,
        document=document,
        before="issued",
        after="revoked",
        note=reason,
    )
    logger.info("document %s revoked by user %s", document.id, user.id)


def update(
    session,
    user: User,
    document: Document,
    reason: str,
    *,
    subject: str,
    description: str,
    due_date: date | None,
) -> None:
    """Send changed metadata of an issued document to every recipient (cập nhật).

    The hub takes a second update of the same document for a repeat of the
    first. So a document is updated once, and a later change needs a
    replacement.
    """
    reason = _check(user, document, reason)
    if _sent_before(session, document, UPDATE):
        raise ServiceError(
            "Văn bản này đã được gửi cập nhật một lần. Muốn sửa tiếp, hãy phát "
            "hành văn bản mới rồi dùng “Thay thế”.",
            field="reason",
        )
    subject = nfc(subject)
    if not subject:
        raise ServiceError("Hãy nhập trích yếu.", field="subject")
    if len(subject) > 500:
        raise ServiceError("Trích yếu dài quá 500 ký tự.", field="subject")
    _check_due_date(document, due_date)
    changes = apply_fields(
        document,
        {"subject": subject, "description": nfc(description), "due_date": due_date},
    )
    if not changes:
        raise ServiceError("Chưa có thông tin nào thay đổi.", field="subject")
    _queue(session, document, UPDATE, reason)
    audit.record(
        session, "update_sent", user=user, document=document, note=reason, **changes
    )
    logger.info("document %s updated by user %s", document.id, user.id)


def _check_due_date(document: Document, due_date: date | None) -> None:
    """Reject a deadline before today or the issue date, or too far ahead.

    Too far is more than MAX_DUE_YEARS years after today.
    """
    if due_date is None:
        return
    today = local_today()
    if due_date < today or (document.issued_date and due_date < document.issued_date):
        raise ServiceError(
            "Hạn trả lời không được trước ngày hôm nay và ngày ban hành.",
            field="due_date",
        )
    latest = today.replace(year=today.year + MAX_DUE_YEARS, day=min(today.day, 28))
    if due_date > latest:
        raise ServiceError(
            f"Hạn trả lời quá xa (sau {latest:%d/%m/%Y}), hãy kiểm tra lại ngày.",
            field="due_date",
        )


class AmbiguousReplacement(ServiceError):
    """More than one usable document has the typed number and symbol.

    `choices` lists (document id, label) of each, for the user to pick one.
    """

    def __init__(self, message: str, choices: list[tuple[int, str]]):
        super().__init__(message, field="replacement")
        self.choices = choices


def replace(
    session,
    user: User,
    document: Document,
    reason: str,
    replacement_number: str,
    replacement_id: int | None = None,
) -> Document:
    """Replace an issued document by another one issued here (thay thế).

    The replacement goes, as a package of type 3 that names the replaced
    document, to each recipient of the replaced document (those who hold
    it), and each of them links the two and reports status 15. When several
    issued documents have the typed number (a secret series repeats the
    ordinary numbers, and numbers restart each year), `replacement_id` names
    the one the user picked, and without it AmbiguousReplacement is raised.
    """
    reason = _check(user, document, reason)
    typed_number = _compact(replacement_number)
    replacement = _pick_replacement(
        session, user, document, typed_number, replacement_id
    )
    _check_secret_recipients(document, replacement)
    document.replaced_by_id = replacement.id
    for recipient in document.recipients:
        outbox.queue_document(
            session,
            replacement,
            recipient.organisation,
            business_doc_type=REPLACE,
            note=reason,
        )
    audit.record(
        session,
        "replace_sent",
        user=user,
        document=document,
        number=replacement.number_and_notation,
        note=reason,
    )
    logger.info(
        "document %s replaced by %s by user %s", document.id, replacement.id, user.id
    )
    return replacement


def _compact(number: str) -> str:
    return nfc(number or "").replace(" ", "")


def numbered_documents(
    session, user: User, document: Document, typed_number: str
) -> list[Document]:
    """Return the organisation's other issued or revoked outgoing documents
    numbered `typed_number` that the user may read, newest first."""
    query = (
        select(Document)
        .where(
            Document.organisation_id == document.organisation_id,
            Document.direction == "outgoing",
            Document.state.in_(("issued", "revoked")),
            Document.id != document.id,
            Document.number + "/" + Document.notation == typed_number,
            permissions.secret_filter(user),
        )
        .order_by(Document.issued_date.desc(), Document.id.desc())
    )
    return list(session.scalars(query))


def replacement_choices(
    session, user: User, document: Document, replacement_number: str
) -> list[tuple[int, str]]:
    """Return (id, label) of the usable replacements numbered as typed, when
    there are several to pick from, and an empty list otherwise."""
    typed_number = _compact(replacement_number)
    if not typed_number:
        return []
    usable = [
        d
        for d in numbered_documents(session, user, document, typed_number)
        if _usable(session, d)
    ]
    return [(d.id, choice_label(d)) for d in usable] if len(usable) > 1 else []


def choice_label(document: Document) -> str:
    """Describe a candidate replacement well enough to tell it from its twins."""
    parts = [f"Số {document.number_and_notation}"]
    if document.issued_date:
        parts.append(f"ngày {document.issued_date:%d/%m/%Y}")
    if document.secrecy:
        parts.append(SECRECY_LABELS[document.secrecy])
    names = ", ".join(r.organisation.name for r in document.recipients)
    parts.append(f"gửi {names}" if names else "chưa có nơi nhận")
    subject = document.subject
    if len(subject) > 80:
        subject = subject[:79] + "…"
    return f"{' – '.join(parts)}: {subject}"


def _usable(session, document: Document) -> bool:
    """Tell whether the document may replace another: issued, not replaced and
    not yet used as a replacement. The hub identifies a replacement by its
    DocumentId and business type, so one document replaces one other only."""
    return (
        document.state == "issued"
        and document.replaced_by_id is None
        and _replaced_with(session, document) is None
    )


def _replaced_with(session, replacement: Document) -> Document | None:
    """Return the document that `replacement` already replaces, if any."""
    return session.scalar(
        select(Document).where(Document.replaced_by_id == replacement.id).limit(1)
    )


def _pick_replacement(
    session,
    user: User,
    document: Document,
    typed_number: str,
    replacement_id: int | None,
) -> Document:
    """Find the one issued document the user means by the typed number.

    A revoked or replaced document cannot replace another. That rule also
    rules out cycles: the replacement is at the end of its own chain, so the
    document it replaces can never follow it.
    """
    if not typed_number:
        raise ServiceError(
            "Hãy nhập số, ký hiệu văn bản thay thế.", field="replacement"
        )
    matches = numbered_documents(session, user, document, typed_number)
    if not matches:
        if typed_number == _compact(document.number_and_notation):
            raise ServiceError(
                "Không thể thay thế văn bản bằng chính nó.", field="replacement"
            )
        raise ServiceError(
            f"Không có văn bản đi đã phát hành số “{typed_number}” để thay thế.",
            field="replacement",
        )
    usable = [d for d in matches if _usable(session, d)]
    if not usable:
        _raise_unusable(session, user, document, matches[0])
    if replacement_id is not None:
        picked = [d for d in usable if d.id == replacement_id]
        if not picked:
            raise AmbiguousReplacement(
                f"Văn bản đã chọn không còn mang số “{typed_number}” hoặc không "
                "dùng để thay thế được nữa. Hãy chọn lại.",
                [(d.id, choice_label(d)) for d in usable] if len(usable) > 1 else [],
            )
        return picked[0]
    if len(usable) > 1:
        raise AmbiguousReplacement(
            f"Có {len(usable)} văn bản đi đã phát hành cùng số “{typed_number}”. Hãy "
            "chọn văn bản thay thế trong danh sách dưới đây.",
            [(d.id, choice_label(d)) for d in usable],
        )
    return usable[0]


def _raise_unusable(session, user: User, document: Document, match: Document) -> None:
    number = match.number_and_notation
    earlier = _replaced_with(session, match)
    if earlier is not None:
        raise ServiceError(
            f"Văn bản số “{number}” đã được dùng để thay thế "
            f"{_named(session, user, earlier)}.",
            field="replacement",
        )
    if match.state == "revoked":
        raise ServiceError(
            f"Văn bản số “{number}” đã bị thu hồi, không dùng để thay thế được.",
            field="replacement",
        )
    if match.replaced_by_id == document.id:
        raise ServiceError(
            f"Văn bản số “{number}” đã được thay thế bằng chính văn bản này, nên "
            "không dùng nó để thay thế ngược lại được.",
            field="replacement",
        )
    raise ServiceError(
        f"Văn bản số “{number}” đã được thay thế bằng "
        f"{_named(session, user, match.replaced_by)}, không dùng để thay thế văn "
        "bản khác được.",
        field="replacement",
    )


def _named(session, user: User, other: Document) -> str:
    """Name another document in a message, leaving out the number of a secret
    document hidden from the user."""
    if permissions.conceals(session, user, other):
        return f"một văn bản {SECRECY_LABELS[other.secrecy]}"
    return f"văn bản số “{other.number_and_notation}”"


def _check_secret_recipients(document: Document, replacement: Document) -> None:
    """Reject a secret replacement that would reach a new organisation.

    A replacement travels to every recipient of the replaced document. A
    secret document may go only where its own issue sent it, so each of
    those recipients must already be among the replacement's recipients.
    """
    if not replacement.secrecy:
        return
    allowed = {r.organisation_id for r in replacement.recipients}
    outside = [
        r.organisation.name
        for r in document.recipients
        if r.organisation_id not in allowed
    ]
    if outside:
        raise ServiceError(
            f"Văn bản số “{replacement.number_and_notation}” là văn bản "
            f"{SECRECY_LABELS[replacement.secrecy]}, chỉ được gửi tới nơi nhận "
            "đã ghi khi phát hành. Thay thế sẽ gửi nó tới nơi chưa phải nơi nhận: "
            f"{', '.join(outside)}. Hãy phát hành văn bản mật cho đủ các nơi nhận "
            "này rồi dùng nó để thay thế.",
            field="replacement",
        )


def _check(user: User, document: Document, reason: str) -> str:
    refused = refusal(user, document)
    if refused is not None:
        raise refused
    reason = nfc(reason)
    if not reason:
        raise ServiceError("Hãy nhập lý do.", field="reason")
    if len(reason) > MAX_REASON_LENGTH:
        raise ServiceError(f"Lý do dài quá {MAX_REASON_LENGTH} ký tự.", field="reason")
    return reason


def apply_fields(document: Document, values: dict) -> dict:
    """Set the changed fields and return them as {field: [before, after]} text.

    The audit row of an update keeps this, and the timeline shows it.
    """
    changes = {}
    for name, value in values.items():
        before = getattr(document, name)
        if before != value:
            changes[name] = [_text(before), _text(value)]
            setattr(document, name, value)
    return changes


def _text(value) -> str:
    if isinstance(value, date):
        return f"{value:%d/%m/%Y}"
    return "" if value is None else str(value)


def _sent_before(session, document: Document, business_doc_type: int) -> bool:
    query = select(OutboxMessage.id).where(
        OutboxMessage.document_id == document.id,
        OutboxMessage.business_doc_type == business_doc_type,
    )
    return session.scalar(query.limit(1)) is not None


def _queue(session, document: Document, business_doc_type: int, reason: str) -> None:
    for recipient in document.recipients:
        outbox.queue_document(
            session,
            document,
            recipient.organisation,
            business_doc_type=business_doc_type,
            note=reason,
        )
