"""In-app notifications: create them inside the caller's transaction and read them."""

import logging
from dataclasses import dataclass

from sqlalchemy import and_, exists, func, or_, select, update

from vanban.models import Document, User, UserRole
from vanban.models.notifications import NOTIFICATION_KINDS, Notification
from vanban.services import permissions
from vanban.services.clock import local_today, now
from vanban.services.text import nfc

logger = logging.getLogger(__name__)

# Kinds sent by scheduled reminders: at most one per user, document and local day,
# whether or not the user has read the previous one.
REMINDER_KINDS = ("deadline", "overdue")

KIND_LABELS = {
    "incoming": "Văn bản đến mới",
    "assignment": "Được giao xử lý",
    "draft_returned": "Dự thảo bị trả lại",
    "review": "Dự thảo chờ xem xét",
    "deadline": "Sắp đến hạn xử lý",
    "overdue": "Quá hạn xử lý",
    "awaiting_proposal": "Chờ đề xuất xử lý",
    "awaiting_direction": "Chờ bút phê, phân công",
    "awaiting_issue": "Chờ vào sổ, phát hành",
    "delivery_rejected": "Nơi nhận từ chối văn bản",
}

TEXT_MAX_LENGTH = 500


def notify(
    session, user: User, kind: str, text: str, document: Document | None = None
) -> Notification:
    """Add a notification for a user to the session without committing.

    Reminder kinds are sent at most once a day per user and document. For the
    other kinds an unread notification of the same kind about the same document
    is refreshed (new text, moved to the top) instead of repeated.
    """
    if kind not in NOTIFICATION_KINDS:
        raise ValueError(f"unknown notification kind: {kind!r}")
    text = nfc(text)[:TEXT_MAX_LENGTH]
    if document is not None and document.id is None:
        session.flush()
    document_id = document.id if document is not None else None

    dedup_key = None
    if kind in REMINDER_KINDS and document_id is not None:
        dedup_key = f"{kind}:{document_id}:{local_today().isoformat()}"
        existing = session.scalar(
            select(Notification).where(
                Notification.user_id == user.id, Notification.dedup_key == dedup_key
            )
        )
        if existing is not None:
            return existing
    elif document_id is not None:
        existing = session.scalar(
            select(Notification).where(
                Notification.user_id == user.id,
                Notification.kind == kind,
                Notification.document_id == document_id,
                Notification.read_at.is_(None),
            )
        )
        if existing is not None:
            existing.text = text
            existing.created_at = now()
            return existing

    notification = Notification(
        user_id=user.id,
        kind=kind,
        text=text,
        document_id=document_id,
        dedup_key=dedup_key,
        created_at=now(),
    )
    session.add(notification)
    logger.info(
        "notification of kind %s added for user %s (document %s)",
        kind,
        user.id,
        document_id,
    )
    return notification


def notify_all(
    session,
    users,
    kind: str,
    text: str,
    document: Document | None = None,
    actor: User | None = None,
) -> list[Notification]:
    """Notify each user once, leaving out the user who caused the event and the
    users from whom the document is a hidden secret."""
    sent = []
    seen: set[int] = set()
    for user in users:
        if user is None or user.id in seen or (actor and user.id == actor.id):
            continue
        seen.add(user.id)
        if document is not None and permissions.conceals(session, user, document):
            continue
        sent.append(notify(session, user, kind, text, document))
    return sent


def users_with_role(session, organisation_id: int, *roles: str) -> list[User]:
    """Return the active users of an organisation who hold one of the roles."""
    return list(
        session.scalars(
            select(User)
            .join(UserRole, UserRole.user_id == User.id)
            .where(
                User.organisation_id == organisation_id,
                User.active.is_(True),
                UserRole.role.in_(roles),
            )
            .distinct()
            .order_by(User.id)
        )
    )


def _department_heads(session, document: Document) -> list[User]:
    if document.department_id is None:
        return []
    heads = users_with_role(session, document.organisation_id, "head")
    return [user for user in heads if user.department_id == document.department_id]


def _holder(session, document: Document) -> list[User]:
    if document.holder_id is None:
        return []
    return [session.get(User, document.holder_id)]


def _author(session, document: Document) -> list[User]:
    if document.author_id is None:
        return []
    return [session.get(User, document.author_id)]


def _event_recipients(session, action: str, document: Document):
    """Return (kind, users, text) for an audited action, or None for other actions."""
    subject = document.subject
    if action == "received" and document.direction == "incoming":
        clerks = users_with_role(session, document.organisation_id, "clerk")
        sender = document.organ_name or "nơi gửi"
        return "incoming", clerks, f"Văn bản đến mới từ {sender}: {subject}"
    if action in ("instruct", "assign"):
        if document.state == "with_head":
            users = _department_heads(session, document)
            text = f"Phòng được giao chủ trì xử lý văn bản: {subject}"
        else:
            users = _holder(session, document)
            text = f"Bạn được giao xử lý văn bản: {subject}"
        if document.due_date:
            text += f" (hạn xử lý {document.due_date:%d/%m/%Y})"
        return "assignment", users, text
    if action == "forward":
        advisors = users_with_role(session, document.organisation_id, "advisor")
        text = f"Văn bản đến chờ bạn đề xuất xử lý: {subject}"
        return "awaiting_proposal", advisors, text
    if action == "propose":
        leaders = users_with_role(session, document.organisation_id, "leader")
        text = f"Văn bản đến chờ bạn bút phê, phân công: {subject}"
        return "awaiting_direction", leaders, text
    if action == "approve":
        clerks = users_with_role(session, document.organisation_id, "clerk")
        text = f"Dự thảo đã được phê duyệt, chờ vào sổ và phát hành: {subject}"
        return "awaiting_issue", clerks, text
    if action in ("head_return", "format_return", "leader_return"):
        return (
            "draft_returned",
            _author(session, document),
            (f"Dự thảo bị trả lại để sửa: {subject}"),
        )
    if action in ("submit", "initial", "format_pass"):
        if document.state == "head_review":
            users = _department_heads(session, document)
        elif document.state == "format_review":
            users = users_with_role(
                session, document.organisation_id, "format_reviewer"
            )
        elif document.state == "leader_review":
            users = users_with_role(session, document.organisation_id, "leader")
        else:
            return None
        return "review", users, f"Dự thảo chờ bạn xem xét: {subject}"
    return None


def notify_for_event(
    session, action: str, actor: User | None, document: Document | None
) -> list[Notification]:
    """Notify the users an audited action hands work to, in the same transaction.

    The action names are those of the audit trail: workflow transitions and
    "received" for a document that arrived through the exchange.
    """
    if document is None:
        return []
    event = _event_recipients(session, action, document)
    if event is None:
        return []
    kind, users, text = event
    return notify_all(session, users, kind, text, document, actor=actor)


def _shown_to(user: User):
    """Return a WHERE clause selecting the user's notifications that the list
    shows: those without a document, and those about a document the user may
    read now. Clearance removed or a document handed on hides the others."""
    readable = exists(
        select(Document.id).where(
            Document.id == Notification.document_id,
            permissions.visible_filter(user),
        )
    )
    return and_(
        Notification.user_id == user.id,
        or_(Notification.document_id.is_(None), readable),
    )


def unread_count(session, user: User) -> int:
    """Return how many of the notifications listed to the user are unread."""
    return (
        session.scalar(
            select(func.count()).where(_shown_to(user), Notification.read_at.is_(None))
        )
        or 0
    )


@dataclass
class NotificationPage:
    items: list[Notification]
    total: int
    page: int
    pages: int
    unread: int


def list_for_user(session, user: User, page: int, page_size: int) -> NotificationPage:
    """Return one page of the user's notifications, newest first, leaving out
    those about documents the user may not read."""
    owned = _shown_to(user)
    total = session.scalar(select(func.count()).where(owned)) or 0
    pages = max(1, -(-total // page_size))
    page = min(max(page, 1), pages)
    items = list(
        session.scalars(
            select(Notification)
            .where(owned)
            .order_by(Notification.created_at.desc(), Notification.id.desc())
            .offset((page - 1) * page_size)
            .limit(page_size)
        )
    )
    return NotificationPage(items, total, page, pages, unread_count(session, user))


def get_own(session, user: User, notification_id: int) -> Notification | None:
    """Return the notification when the user's list shows it, else None."""
    return session.scalar(
        select(Notification).where(Notification.id == notification_id, _shown_to(user))
    )


def mark_read(notification: Notification) -> None:
    if notification.read_at is None:
        notification.read_at = now()


def mark_all_read(session, user: User) -> int:
    """Mark the unread notifications that the user's list shows as read and
    return the count.

    A notification hidden now stays unread, so it counts again once the user
    may read its document, for example after being cleared for secret documents.
    """
    result = session.execute(
        update(Notification)
        .where(_shown_to(user), Notification.read_at.is_(None))
        .values(read_at=now())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0
