"""Outgoing documents: drafts, review, approval, numbering and issue."""

import logging
from datetime import date

from flask import current_app
from sqlalchemy import func, select

from vanban.exchange.connector import (
    MIB,
    ConnectorConfig,
    connected_organisation_ids,
)
from vanban.models import (
    Attachment,
    Document,
    DraftVersion,
    Organisation,
    Recipient,
    ReviewStep,
    User,
)
from vanban.services import (
    ServiceError,
    audit,
    incoming,
    numbering,
    outbox,
    trial,
    workflow,
)
from vanban.services.clock import local, local_today, now
from vanban.services.doctypes import ABBREVIATIONS
from vanban.services.documents import current_attachments, latest_version
from vanban.services.files import StoredFile
from vanban.services.text import nfc

logger = logging.getLogger(__name__)

# Format checklist of Nghị định 30/2020/NĐ-CP, Điều 8; (key, label, required).
# The number and the seal are added at issue, so they cannot be ticked before.
FORMAT_CHECKLIST = (
    ("national_title", "Quốc hiệu và Tiêu ngữ", True),
    ("issuing_body", "Tên cơ quan, tổ chức ban hành văn bản", True),
    ("number_notation", "Số, ký hiệu văn bản (văn thư cấp khi phát hành)", False),
    ("place_date", "Địa danh và thời gian ban hành văn bản", True),
    ("type_subject", "Tên loại và trích yếu nội dung văn bản", True),
    ("content", "Nội dung văn bản", True),
    ("signature", "Quyền hạn, chức vụ, họ tên của người ký", True),
    ("seal", "Dấu, chữ ký số của cơ quan (văn thư thực hiện khi phát hành)", False),
    ("recipients", "Nơi nhận, kết thúc bằng “Lưu: VT, …”", True),
    ("layout", "Khổ A4, phông Times New Roman, lề trang đúng quy định", True),
)


# Bytes of an edXML package besides its attachments' base64 text: the header
# with up to 100,000 characters of content, recipients and trace headers.
PACKAGE_XML_MARGIN = MIB
# Bytes per attachment besides its base64 text: its zip headers and its
# manifest and AttachmentEncoded elements, with names of up to 255 bytes.
ATTACHMENT_MARGIN = 4 * 1024


def max_attachment_bytes(session, organisation_id: int, count: int) -> int:
    """Return how many bytes `count` files may total to fit in one package.

    Every outgoing document leaves as one edXML package. Each file is zipped,
    which can add up to about 0.1 % to a file that does not compress, and is
    then base64-encoded, which adds a third. The package limit is
    CONNECTOR_MAX_PACKAGE_BYTES, and for an organisation without a connector
    also this installation's hub limit HUB_MAX_PACKAGE_BYTES when it serves one.
    """
    limit = ConnectorConfig.from_app().max_package_bytes
    config = current_app.config
    own_hub = config.get("HUB_ENABLED") and organisation_id not in (
        connected_organisation_ids(session)
    )
    if own_hub:
        limit = min(limit, int(config.get("HUB_MAX_PACKAGE_BYTES", limit)))
    room = limit - PACKAGE_XML_MARGIN - count * ATTACHMENT_MARGIN
    return max(room * 3 // 4 * 999 // 1000, 0)


def check_package_size(
    session, organisation_id: int, sizes: list[int], field: str | None = "files"
) -> None:
    """Reject files that together are too large to send in one package."""
    total = sum(sizes)
    allowed = max_attachment_bytes(session, organisation_id, len(sizes))
    if total <= allowed:
        return
    logger.warning(
        "attachments of %d bytes rejected for organisation %s: limit %d bytes",
        total,
        organisation_id,
        allowed,
    )
    raise ServiceError(
        f"Tổng dung lượng tệp đính kèm ({_megabytes(total)}) vượt quá "
        f"{_megabytes(allowed)}, mức một gói tin liên thông gửi được. "
        "Hãy giảm dung lượng tệp (nén hoặc quét lại ở độ phân giải thấp hơn) "
        "hoặc bớt phụ lục, gửi riêng bằng văn bản khác.",
        field=field,
    )


def _megabytes(size: int) -> str:
    """Write a byte count as MB with one decimal and a decimal comma."""
    return f"{size / MIB:.1f} MB".replace(".", ",")


def _clean_type(type_name: str) -> tuple[str, str]:
    type_name = nfc(type_name)
    if type_name not in ABBREVIATIONS:
        raise ServiceError("Loại văn bản không hợp lệ.", field="type_name")
    return type_name, ABBREVIATIONS[type_name]


def _clean_subject(subject: str) -> str:
    subject = nfc(subject)
    if not subject:
        raise ServiceError("Vui lòng nhập trích yếu.", field="subject")
    if len(subject) > 500:
        raise ServiceError("Trích yếu dài quá 500 ký tự.", field="subject")
    return subject


def _attach(
    session,
    document: Document,
    files: list[StoredFile],
    user: User,
    version: DraftVersion | None = None,
) -> None:
    for stored in files:
        session.add(
            Attachment(
                document_id=document.id,
                draft_version_id=version.id if version else None,
                sha256=stored.sha256,
                size=stored.size,
                content_type=stored.content_type,
                original_name=stored.original_name,
                uploaded_by_id=user.id,
            )
        )


def _new_version(
    session,
    user: User,
    document: Document,
    body_text: str,
    note: str,
    files: list[StoredFile],
) -> DraftVersion:
    last = (
        session.scalar(
            select(func.max(DraftVersion.version)).where(
                DraftVersion.document_id == document.id
            )
        )
        or 0
    )
    previous = latest_version(session, document)
    version = DraftVersion(
        document_id=document.id,
        version=last + 1,
        subject=document.subject,
        body_text=body_text,
        note=note,
        author_id=user.id,
    )
    session.add(version)
    session.flush()
    if files:
        _attach(session, document, files, user, version)
    elif previous is not None:
        for kept in [
            a for a in document.attachments if a.draft_version_id == previous.id
        ]:
            session.add(
                Attachment(
                    document_id=document.id,
                    draft_version_id=version.id,
                    sha256=kept.sha256,
                    size=kept.size,
                    content_type=kept.content_type,
                    original_name=kept.original_name,
                    uploaded_by_id=kept.uploaded_by_id,
                )
            )
    return version


def create_draft(
    session,
    user: User,
    *,
    type_name: str,
    subject: str,
    body_text: str,
    files: list[StoredFile],
    reply_to: Document | None = None,
    urgency: int = 0,
) -> Document:
    """Start a draft, as a reply to an incoming document or on the officer's own."""
    if not user.has_role("officer"):
        raise workflow.Forbidden("Chỉ chuyên viên được soạn dự thảo.")
    heading = _clean_type(type_name), _clean_subject(subject)
    body_text = nfc(body_text)
    if not body_text and not files:
        raise ServiceError(
            "Hãy tải lên tệp dự thảo hoặc nhập nội dung.", field="body_text"
        )
    check_package_size(session, user.organisation_id, [f.size for f in files])
    if reply_to is not None:
        incoming.begin_reply(session, user, reply_to)
    department_id = user.department_id or (reply_to.department_id if reply_to else None)
    draft = _add_outgoing(
        session,
        user,
        "drafting",
        heading,
        body_text=body_text,
        urgency=urgency,
        department_id=department_id,
        reply_to_id=reply_to.id if reply_to else None,
        holder_id=user.id,
    )
    _new_version(session, user, draft, body_text, "", files)
    audit.record(
        session, "draft_created", user=user, document=draft, after="drafting", version=1
    )
    logger.info("draft %s created by user %s", draft.id, user.id)
    return draft


def _add_outgoing(
    session, user: User, state: str, heading: tuple, **fields
) -> Document:
    """Add an outgoing document of the user's organisation, authored by the user.

    `heading` is the checked ((type name, abbreviation), subject).
    """
    (type_name, abbreviation), subject = heading
    document = Document(
        organisation_id=user.organisation_id,
        direction="outgoing",
        state=state,
        type_name=type_name,
        type_abbreviation=abbreviation,
        subject=subject,
        author_id=user.id,
        **fields,
    )
    session.add(document)
    session.flush()
    return document


def revise(
    session,
    user: User,
    draft: Document,
    *,
    subject: str,
    body_text: str,
    note: str,
    files: list[StoredFile],
) -> DraftVersion:
    workflow.require(user, draft, "revise")
    unchanged = (
        nfc(subject) == draft.subject
        and nfc(body_text) == draft.body_text
        and not files
    )
    if unchanged:
        raise ServiceError(
            "Dự thảo chưa có thay đổi: hãy sửa trích yếu, nội dung hoặc tải tệp mới.",
            field="body_text",
        )
    if files:
        check_package_size(session, draft.organisation_id, [f.size for f in files])
    draft.subject = _clean_subject(subject)
    draft.body_text = nfc(body_text)
    version = _new_version(session, user, draft, draft.body_text, nfc(note), files)
    audit.record(
        session,
        "revise",
        user=user,
        document=draft,
        version=version.version,
        note=version.note,
    )
    return version


def _review(
    session,
    user: User,
    draft: Document,
    name: str,
    target: str,
    *,
    step: str,
    outcome: str,
    comment: str = "",
    checklist: dict | None = None,
    **detail,
) -> None:
    workflow.require(user, draft, name)
    before = draft.state
    session.add(
        ReviewStep(
            document_id=draft.id,
            step=step,
            outcome=outcome,
            comment=comment,
            checklist=checklist,
            actor_id=user.id,
        )
    )
    draft.state = target
    draft.holder_id = draft.author_id if target == "drafting" else None
    audit.record(
        session,
        name,
        user=user,
        document=draft,
        before=before,
        after=target,
        note=comment,
        **detail,
    )
    logger.info("draft %s %s by user %s", draft.id, name, user.id)


def _required_comment(comment: str) -> str:
    comment = nfc(comment)
    if not comment:
        raise ServiceError(
            "Vui lòng nhập ý kiến để người soạn biết cần sửa gì.", field="comment"
        )
    return comment


def _return_to_author(
    session,
    user: User,
    draft: Document,
    name: str,
    *,
    step: str,
    comment: str,
    checklist: dict | None = None,
) -> None:
    """Send the draft back to its author, with the comment every return requires."""
    _review(
        session,
        user,
        draft,
        name,
        "drafting",
        step=step,
        outcome="returned",
        comment=_required_comment(comment),
        checklist=checklist,
    )


def submit(session, user: User, draft: Document, comment: str = "") -> None:
    _review(
        session,
        user,
        draft,
        "submit",
        "head_review",
        step="submit",
        outcome="submitted",
        comment=nfc(comment),
    )


def head_return(session, user: User, draft: Document, comment: str) -> None:
    _return_to_author(
        session, user, draft, "head_return", step="initials", comment=comment
    )


def initial(
    session, user: User, draft: Document, *, send_to: str, comment: str = ""
) -> None:
    """Initial (ký nháy) the draft and send it to the format reviewer or the leader."""
    targets = {"format": "format_review", "leader": "leader_review"}
    if send_to not in targets:
        raise ServiceError(
            "Chọn nơi trình: kiểm soát thể thức hoặc lãnh đạo.", field="send_to"
        )
    _review(
        session,
        user,
        draft,
        "initial",
        targets[send_to],
        step="initials",
        outcome="passed",
        comment=nfc(comment),
    )


def check_format(
    session,
    user: User,
    draft: Document,
    *,
    ticked: set[str],
    passed: bool,
    comment: str = "",
) -> None:
    """Record the format checklist, then pass the draft on or return it."""
    checklist = {key: key in ticked for key, _, _ in FORMAT_CHECKLIST}
    if passed:
        missing = [
            label
            for key, label, required in FORMAT_CHECKLIST
            if required and not checklist[key]
        ]
        if missing:
            workflow.require(user, draft, "format_pass")
            raise ServiceError(
                "Chưa đạt các mục: " + "; ".join(missing) + ".", field="checklist"
            )
        _review(
            session,
            user,
            draft,
            "format_pass",
            "leader_review",
            step="format",
            outcome="passed",
            comment=nfc(comment),
            checklist=checklist,
        )
    else:
        _return_to_author(
            session,
            user,
            draft,
            "format_return",
            step="format",
            comment=comment,
            checklist=checklist,
        )


def approve(session, user: User, draft: Document, comment: str = "") -> None:
    workflow.require(user, draft, "approve")
    draft.signer_name = user.full_name
    draft.signer_position = user.position
    _review(
        session,
        user,
        draft,
        "approve",
        "approved",
        step="approval",
        outcome="passed",
        comment=nfc(comment),
    )


def leader_return(session, user: User, draft: Document, comment: str) -> None:
    _return_to_author(
        session, user, draft, "leader_return", step="approval", comment=comment
    )


def compose(
    session,
    user: User,
    *,
    type_name: str,
    subject: str,
    description: str,
    signer_name: str,
    signer_position: str,
    urgency: int,
    secrecy: int,
    due_date: date | None,
    files: list[StoredFile],
) -> Document:
    """Let a clerk enter an already signed document, ready to number and issue."""
    if not user.has_role("clerk"):
        raise workflow.Forbidden("Chỉ văn thư được nhập văn bản đi để phát hành.")
    heading = _clean_type(type_name), _clean_subject(subject)
    if due_date is not None and due_date < local_today():
        raise ServiceError(
            "Hạn trả lời không được trước ngày hôm nay.", field="due_date"
        )
    if not files:
        raise ServiceError("Hãy đính kèm tệp văn bản đã ký.", field="files")
    check_package_size(session, user.organisation_id, [f.size for f in files])
    document = _add_outgoing(
        session,
        user,
        "approved",
        heading,
        description=nfc(description),
        signer_name=nfc(signer_name),
        signer_position=nfc(signer_position),
        urgency=urgency,
        secrecy=secrecy,
        due_date=due_date,
        department_id=user.department_id,
    )
    _attach(session, document, files, user)
    audit.record(session, "composed", user=user, document=document, after="approved")
    return document


def _recipients(
    session, document: Document, recipient_ids: list[int], info_ids: set[int]
) -> list[Organisation]:
    """Load the chosen recipients, rejecting unknown, inactive or own ones."""
    if info_ids.intersection(recipient_ids):
        raise ServiceError(
            "Một đơn vị chỉ được chọn ở một danh sách: để xử lý hoặc để biết.",
            field="info",
        )
    wanted = list(dict.fromkeys(recipient_ids + sorted(info_ids)))
    recipients = [session.get(Organisation, rid) for rid in wanted]
    valid = all(
        r is not None and r.active and r.id != document.organisation_id
        for r in recipients
    )
    if not wanted or not valid:
        raise ServiceError("Chọn ít nhất một nơi nhận hợp lệ.", field="recipients")
    return recipients


def _check_trial_subject(
    session, organisation: Organisation, recipients: list[Organisation], subject: str
) -> None:
    if not trial.applies(session, organisation, recipients):
        return
    if not trial.subject_matches(subject, organisation):
        raise ServiceError(
            "Trong thời gian thử nghiệm, trích yếu văn bản gửi UBND Thành phố và "
            f"Trung tâm phải bắt đầu bằng “{trial.required_subject(organisation)}”.",
            field="subject",
        )


def _assign_number(session, document: Document, organisation: Organisation) -> None:
    """Take the next number of the document's series and build its symbol."""
    series = numbering.series_for(
        session,
        document.organisation_id,
        "outgoing",
        typed=bool(document.type_abbreviation),
        secret=document.secrecy > 0,
        type_name=document.type_name,
    )
    issued_at = now()
    year, number = numbering.take_number(session, series, issued_at)

    document.series_id = series.id
    document.register_year = year
    document.register_number = number
    document.registered_at = issued_at
    document.issued_at = issued_at
    document.issued_date = local(issued_at).date()
    document.number = numbering.format_number(number)
    document.notation = numbering.outgoing_notation(document, organisation)
    document.organ_name = organisation.name
    document.exchange_id = _exchange_id(session, document, organisation)


def _exchange_id(session, document: Document, organisation: Organisation) -> str:
    """Return the document's exchange DocumentId, unique among the sender's documents.

    It is the standard `<OrganId>,<yyyy/MM/dd>,<number>/<symbol>` unless
    another document of the organisation has it already (a secret
    document has its own series, so its number and symbol can repeat an
    ordinary one's on the same day); then the local document id follows a
    "#", so the hub never takes one document for a resend of the other.
    """
    standard = (
        f"{organisation.code},{document.issued_date:%Y/%m/%d},"
        f"{document.number}/{document.notation}"
    )
    # Serialises issues of the organisation between this check and the commit.
    lock = select(Organisation.id).where(Organisation.id == organisation.id)
    session.execute(lock.with_for_update())
    taken = session.scalar(
        select(Document.id)
        .where(
            Document.organisation_id == organisation.id,
            Document.direction == "outgoing",
            Document.id != document.id,
            Document.exchange_id == standard,
        )
        .limit(1)
    )
    return standard if taken is None else f"{standard}#{document.id}"


def issue(
    session,
    user: User,
    document: Document,
    *,
    subject: str,
    recipient_ids: list[int],
    info_ids: list[int] | None = None,
) -> None:
    """Number the document in its series and send it to every recipient."""
    workflow.require(user, document, "issue")
    subject = _clean_subject(subject)
    info_ids = set(info_ids or [])
    recipients = _recipients(session, document, recipient_ids, info_ids)
    organisation = document.organisation
    _check_trial_subject(session, organisation, recipients, subject)
    sizes = [a.size for a in current_attachments(session, document)]
    check_package_size(session, organisation.id, sizes, field=None)

    document.subject = subject
    _assign_number(session, document, organisation)
    for recipient in recipients:
        purpose = "info" if recipient.id in info_ids else "action"
        session.add(
            Recipient(
                document_id=document.id, organisation_id=recipient.id, purpose=purpose
            )
        )
        outbox.queue_document(session, document, recipient)

    before = document.state
    document.state = "issued"
    document.completed_at = document.issued_at or now()
    document.holder_id = None
    audit.record(
        session,
        "issue",
        user=user,
        document=document,
        before=before,
        after="issued",
        number=document.number_and_notation,
        recipients=[r.name for r in recipients],
    )
    if document.reply_to is not None:
        incoming.complete_by_reply(session, user, document.reply_to, document)
    logger.info(
        "document %s issued as %s by user %s",
        document.id,
        document.number_and_notation,
        user.id,
    )
