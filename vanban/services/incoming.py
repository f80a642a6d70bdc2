"""Handling of incoming documents, from arrival to the end of processing."""

import logging
from datetime import date

from sqlalchemy import or_, select

from vanban.models import Assignment, Department, Document, Instruction, User
from vanban.services import (
    ServiceError,
    audit,
    numbering,
    outbox,
    permissions,
    workflow,
)
from vanban.services.clock import local_today, now
from vanban.services.text import nfc

logger = logging.getLogger(__name__)


def _transition(
    session,
    user: User,
    document: Document,
    name: str,
    target: str,
    note: str = "",
    audit_after: dict | None = None,
    **detail,
) -> None:
    """Move the document, record it in the audit trail and report the status.

    The audit row records the target state as the value after, unless
    `audit_after` gives a mapping that also names a person.
    """
    transition = workflow.require(user, document, name)
    before = document.state
    document.state = target
    if target == "done":
        document.completed_at = now()
    audit.record(
        session,
        name,
        user=user,
        document=document,
        before=before,
        after=target if audit_after is None else audit_after,
        note=note,
        **detail,
    )
    if transition.status_code:
        outbox.queue_status(session, document, transition.status_code, note)
    logger.info("incoming document %s %s by user %s", document.id, name, user.id)


def _match_key(value: str | None) -> str:
    """Compare symbols and names whatever their case, spacing, NFC/NFD or Ð/Đ."""
    return "".join(nfc(value).casefold().split())


def _number_key(value: str | None) -> str:
    return _match_key(value).lstrip("0")


def duplicates_of(session, document: Document) -> list[Document]:
    """Find incoming documents of the organisation received before as this one.

    A duplicate has the same exchange document id, or the same number, symbol
    and issuing body once look-alike letters, NFD text, case and spaces are
    evened out. A secret and an ordinary document with the same number, symbol
    and body are not duplicates, because the secret series repeats the
    ordinary numbers. The result may contain documents the clerk may not read, so
    callers show them through `readable_duplicates`.
    """
    number = _number_key(document.number)
    conditions = []
    if document.exchange_id:
        conditions.append(Document.exchange_id == document.exchange_id)
    if number:
        # The stored number may carry leading zeros ("05"), so every padding
        # of the number is a candidate; the rest is compared in Python.
        conditions.append(
            Document.number.in_({number.zfill(width) for width in range(1, 5)})
        )
    if not conditions:
        return []
    candidates = session.scalars(
        select(Document)
        .where(
            Document.organisation_id == document.organisation_id,
            Document.direction == "incoming",
            # Only documents that reached the organisation before this one.
            Document.id < document.id,
            or_(*conditions),
        )
        .order_by(Document.id)
    )
    found = []
    exchange_key = _match_key(document.exchange_id)
    for other in candidates:
        same_exchange = bool(exchange_key) and (
            _match_key(other.exchange_id) == exchange_key
        )
        same_reference = (
            bool(number)
            and (other.secrecy > 0) == (document.secrecy > 0)
            and _number_key(other.number) == number
            and _match_key(other.notation) == _match_key(document.notation)
            and _match_key(other.organ_name) == _match_key(document.organ_name)
        )
        if same_exchange or same_reference:
            found.append(other)
    return found


def readable_duplicates(
    session, user: User, duplicates: list[Document]
) -> tuple[list[Document], int]:
    """Split duplicates into those the user may read and a count of the others.

    The warning names only the readable ones, so that it never shows the
    number or subject of a secret document hidden from the clerk.
    """
    readable = [d for d in duplicates if permissions.can_view(session, user, d)]
    return readable, len(duplicates) - len(readable)


def _duplicate_message(session, user: User, duplicates: list[Document]) -> str:
    readable, _ = readable_duplicates(session, user, duplicates)
    if not readable:
        return (
            "Văn bản này có thể đã được nhận trước đây: đã có văn bản cùng số, "
            "ký hiệu và cơ quan ban hành, hoặc cùng mã văn bản liên thông. Nếu "
            "vẫn cần vào sổ, đánh dấu xác nhận rồi bấm vào sổ lại."
        )
    earlier = readable[0]
    when = earlier.register_number and f", số đến {earlier.register_number}"
    return (
        f"Văn bản này có thể đã được nhận trước đây: văn bản số "
        f"{earlier.number_and_notation} của {earlier.organ_name}{when or ''}. "
        "Hãy mở văn bản đó để kiểm tra; nếu vẫn cần vào sổ, đánh dấu xác nhận "
        "rồi bấm vào sổ lại."
    )


def register(
    session, user: User, document: Document, *, confirm_duplicate: bool = False
) -> None:
    """Enter the document in the incoming register with the next số đến.

    A document that looks already received raises ServiceError until the clerk
    confirms after seeing the warning.
    """
    workflow.require(user, document, "register")
    duplicates = duplicates_of(session, document)
    if duplicates and not confirm_duplicate:
        raise ServiceError(
            _duplicate_message(session, user, duplicates), field="confirm_duplicate"
        )
    series = numbering.series_for(
        session,
        document.organisation_id,
        "incoming",
        typed=True,
        secret=document.secrecy > 0,
    )
    detail = {"duplicate_of": [d.id for d in duplicates]} if duplicates else {}
    registered_at = now()
    year, number = numbering.take_number(session, series, registered_at)
    document.series_id = series.id
    document.register_year = year
    document.register_number = number
    document.registered_at = registered_at
    _transition(
        session,
        user,
        document,
        "register",
        "registered",
        arrival_number=number,
        **detail,
    )


def return_to_sender(session, user: User, document: Document, reason: str) -> None:
    reason = nfc(reason)
    if not reason:
        raise ServiceError("Vui lòng nhập lý do trả lại.", field="reason")
    _transition(session, user, document, "return", "returned", note=reason)


def forward_to_advisor(
    session,
    user: User,
    document: Document,
    note: str,
    advisor_id: int | None = None,
) -> None:
    """Forward a registered document to the advisory unit or to one advisor.

    A named advisor becomes the holder before the audit row is written, so they
    are notified and may read the document even when it is secret and they lack
    clearance. The audit row names them, with their user id.
    """
    workflow.require(user, document, "forward")
    audit_after = None
    document.holder_id = None
    if advisor_id is not None:
        advisor = _advisor(session, document.organisation_id, advisor_id)
        document.holder_id = advisor.id
        audit_after = {
            "state": "with_advisor",
            "advisor": f"{advisor.full_name} ({advisor.username})",
            "advisor_id": advisor.id,
        }
    _transition(
        session,
        user,
        document,
        "forward",
        "with_advisor",
        note=nfc(note),
        audit_after=audit_after,
    )


def _advisor(session, organisation_id: int, user_id: int) -> User:
    advisor = session.get(User, user_id)
    if (
        advisor is None
        or advisor.organisation_id != organisation_id
        or not advisor.active
        or not advisor.has_role("advisor")
    ):
        raise ServiceError("Vui lòng chọn người tham mưu hợp lệ.", field="advisor")
    return advisor


def propose(session, user: User, document: Document, text: str) -> None:
    text = nfc(text)
    if not text:
        raise ServiceError("Vui lòng nhập nội dung đề xuất.", field="text")
    workflow.require(user, document, "propose")
    session.add(
        Instruction(
            document_id=document.id, author_id=user.id, kind="proposal", text=text
        )
    )
    _transition(session, user, document, "propose", "with_leader")


def _department(session, organisation_id: int, department_id: int | None):
    if department_id is None:
        return None
    department = session.get(Department, department_id)
    if department is None or department.organisation_id != organisation_id:
        raise ServiceError("Phòng ban không hợp lệ.", field="lead")
    return department


def _officer(
    session, organisation_id: int, user_id: int | None, department_id: int | None = None
) -> User:
    officer = session.get(User, user_id) if user_id else None
    if (
        officer is None
        or officer.organisation_id != organisation_id
        or not officer.active
        or not officer.has_role("officer")
        or (department_id is not None and officer.department_id != department_id)
    ):
        raise ServiceError("Vui lòng chọn chuyên viên hợp lệ.", field="officer")
    return officer


def _check_deadline(deadline: date | None) -> None:
    if deadline is not None and deadline < local_today():
        raise ServiceError("Hạn xử lý không được trước ngày hôm nay.", field="deadline")


def instruct(
    session,
    user: User,
    document: Document,
    *,
    text: str,
    lead_department_id: int | None = None,
    lead_user_id: int | None = None,
    support_department_ids: tuple[int, ...] = (),
    info_department_ids: tuple[int, ...] = (),
    deadline: date | None = None,
) -> None:
    """Record the leader's bút phê and assign lead, supporting and informed units."""
    text = nfc(text)
    workflow.require(user, document, "instruct")
    if not text:
        raise ServiceError("Vui lòng nhập ý kiến chỉ đạo.", field="text")
    if (lead_department_id is None) == (lead_user_id is None):
        raise ServiceError(
            "Chọn một phòng ban hoặc một chuyên viên chủ trì.", field="lead"
        )
    _check_deadline(deadline)
    org_id = document.organisation_id
    session.add(
        Instruction(
            document_id=document.id, author_id=user.id, kind="instruction", text=text
        )
    )

    def assign(role: str, **assignee) -> None:
        session.add(
            Assignment(
                document_id=document.id,
                role=role,
                deadline=deadline,
                assigned_by_id=user.id,
                **assignee,
            )
        )

    if lead_user_id is not None:
        officer = _officer(session, org_id, lead_user_id)
        assign("lead", user_id=officer.id)
        document.department_id = officer.department_id
        document.holder_id = officer.id
        target = "with_officer"
        lead_name = officer.full_name
    else:
        department = _department(session, org_id, lead_department_id)
        assign("lead", department_id=department.id)
        document.department_id = department.id
        document.holder_id = None
        target = "with_head"
        lead_name = department.name

    # The lead department is not listed again as supporting or informed.
    for role, ids in (
        ("support", support_department_ids),
        ("info", info_department_ids),
    ):
        for department_id in dict.fromkeys(ids):
            if department_id == document.department_id and lead_user_id is None:
                continue
            assign(role, department_id=_department(session, org_id, department_id).id)

    document.due_date = deadline or document.due_date
    _transition(
        session,
        user,
        document,
        "instruct",
        target,
        lead=lead_name,
        deadline=deadline.isoformat() if deadline else None,
    )


def assign_officer(
    session,
    user: User,
    document: Document,
    *,
    officer_id: int | None,
    text: str,
    deadline: date | None = None,
) -> None:
    """Record the department head's instruction and hand the document to an officer."""
    workflow.require(user, document, "assign")
    text = nfc(text)
    officer = _officer(
        session, document.organisation_id, officer_id, document.department_id
    )
    _check_deadline(deadline)
    if deadline and document.due_date and deadline > document.due_date:
        raise ServiceError(
            "Hạn giao chuyên viên không được sau hạn lãnh đạo đã giao "
            f"({document.due_date:%d/%m/%Y}).",
            field="deadline",
        )
    if text:
        session.add(
            Instruction(
                document_id=document.id,
                author_id=user.id,
                kind="head_instruction",
                text=text,
            )
        )
    session.add(
        Assignment(
            document_id=document.id,
            role="lead",
            user_id=officer.id,
            deadline=deadline or document.due_date,
            assigned_by_id=user.id,
        )
    )
    document.holder_id = officer.id
    _transition(
        session, user, document, "assign", "with_officer", officer=officer.full_name
    )


def start(session, user: User, document: Document) -> None:
    _transition(session, user, document, "start", "in_progress")


def _ensure_started(session, user: User, document: Document) -> None:
    """Report status 05 before an officer ends or replies without pressing start."""
    if document.state == "with_officer" and workflow.may(user, document, "start"):
        start(session, user, document)


def finish(session, user: User, document: Document, note: str) -> None:
    """End handling without a reply document; the note records what was done."""
    note = nfc(note)
    workflow.require(user, document, "finish")
    if not note:
        raise ServiceError("Vui lòng ghi kết quả xử lý.", field="note")
    _ensure_started(session, user, document)
    session.add(
        Instruction(
            document_id=document.id, author_id=user.id, kind="officer_note", text=note
        )
    )
    _transition(session, user, document, "finish", "done", note=note)
    document.holder_id = None


def begin_reply(session, user: User, document: Document) -> None:
    workflow.require(user, document, "draft_reply")
    _ensure_started(session, user, document)
    _transition(session, user, document, "draft_reply", "replying")


def complete_by_reply(session, user: User, incoming: Document, reply: Document) -> None:
    """Close an incoming document whose reply was issued, reporting status 06."""
    if incoming.state != "replying":
        return
    incoming.state = "done"
    incoming.completed_at = now()
    incoming.holder_id = None
    note = f"Đã trả lời bằng văn bản số {reply.number_and_notation}"
    audit.record(
        session,
        "replied",
        user=user,
        document=incoming,
        before="replying",
        after="done",
        note=note,
        reply_id=reply.id,
    )
    outbox.queue_status(session, incoming, "06", note)
