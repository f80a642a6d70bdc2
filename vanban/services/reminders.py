"""Deadline reminders to assignees: in the app, and by e-mail when SMTP is set.

An assignee is reminded on the working day before the deadline and on the
deadline itself. Each reminder is recorded in `deadline_reminders`, whose
unique key makes a second run (or a concurrent one) send nothing new.
"""

import logging
import smtplib
from dataclasses import dataclass
from datetime import date, timedelta
from email.message import EmailMessage

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from vanban.models import Document, User, UserRole
from vanban.models.calendar import DeadlineReminder
from vanban.services import notifications, permissions
from vanban.services.clock import local_today, now
from vanban.services.deadlines import calendar_for

logger = logging.getLogger(__name__)

# Tết with its make-up days is the longest run of days off, about ten days, so
# a deadline further away than this gets no reminder today.
LOOKAHEAD_DAYS = 15
# A reminder whose e-mail failed is tried again by later runs for this long.
EMAIL_RETRY_WINDOW = timedelta(days=1)


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 25
    username: str = ""
    password: str = ""
    starttls: bool = False
    sender: str = "vanban@localhost"
    timeout: float = 10.0

    @classmethod
    def from_config(cls, config) -> "SmtpSettings | None":
        """Read SMTP_* settings; return None when SMTP_HOST is not set."""
        host = config.get("SMTP_HOST")
        if not host:
            return None
        return cls(
            host=host,
            port=int(config.get("SMTP_PORT") or 25),
            username=config.get("SMTP_USERNAME") or "",
            password=config.get("SMTP_PASSWORD") or "",
            starttls=bool(config.get("SMTP_STARTTLS")),
            sender=config.get("SMTP_SENDER") or "vanban@localhost",
            timeout=float(config.get("SMTP_TIMEOUT_SECONDS") or 10),
        )


def _assignees(session, document: Document) -> list[User]:
    """Return who must act before the deadline: the holder, else the heads of the
    lead department while it waits for them to assign an officer."""
    if document.holder_id is not None:
        holder = session.get(User, document.holder_id)
        return [holder] if holder is not None and holder.active else []
    if document.state == "with_head" and document.department_id is not None:
        # NOTE: documents waiting for the clerk, advisor or leader get no reminder.
        return list(
            session.scalars(
                select(User)
                .join(UserRole, UserRole.user_id == User.id)
                .where(
                    User.department_id == document.department_id,
                    User.active.is_(True),
                    UserRole.role == "head",
                )
                .order_by(User.id)
            )
        )
    return []


def _reminder_kind(session, document: Document, today: date) -> str | None:
    if document.due_date == today:
        return "due_day"
    calendar = calendar_for(session, document.organisation_id)
    if calendar.previous_working_day(document.due_date) <= today < document.due_date:
        return "day_before"
    return None


def _text(document: Document, kind: str) -> str:
    due = f"{document.due_date:%d/%m/%Y}"
    if kind == "due_day":
        return f"Hôm nay ({due}) là hạn xử lý văn bản “{document.subject}”."
    return f"Văn bản “{document.subject}” đến hạn xử lý vào ngày {due}."


def _record(session, document: Document, user: User, kind: str) -> bool:
    """Insert the reminder row; return False when it was already sent."""
    exists = session.scalar(
        select(DeadlineReminder.id).where(
            DeadlineReminder.document_id == document.id,
            DeadlineReminder.user_id == user.id,
            DeadlineReminder.kind == kind,
            DeadlineReminder.due_date == document.due_date,
        )
    )
    if exists is not None:
        return False
    try:
        with session.begin_nested():
            session.add(
                DeadlineReminder(
                    document_id=document.id,
                    user_id=user.id,
                    kind=kind,
                    due_date=document.due_date,
                    sent_at=now(),
                )
            )
    except IntegrityError:
        # Another run recorded it between the check and the insert.
        return False
    return True


def send_due_reminders(session, today: date | None = None) -> int:
    """Notify assignees of deadlines tomorrow (in working days) or today.

    Adds rows to the caller's transaction; returns how many reminders it added.
    """
    today = today or local_today()
    documents = session.scalars(
        select(Document)
        .where(
            Document.direction == "incoming",
            Document.state.not_in(("done", "returned")),
            Document.due_date >= today,
            Document.due_date <= today + timedelta(days=LOOKAHEAD_DAYS),
        )
        .order_by(Document.id)
    )
    count = 0
    for document in documents:
        kind = _reminder_kind(session, document, today)
        if kind is None:
            continue
        for user in _assignees(session, document):
            if permissions.conceals(session, user, document):
                continue
            if not _record(session, document, user, kind):
                continue
            notifications.notify(
                session, user, "deadline", _text(document, kind), document
            )
            count += 1
            logger.info(
                "deadline reminder %s for document %s sent to user %s",
                kind,
                document.id,
                user.id,
            )
    return count


def _email(settings: SmtpSettings, to: str, subject: str, body: str) -> None:
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout) as smtp:
        if settings.starttls:
            smtp.starttls()
        if settings.username:
            smtp.login(settings.username, settings.password)
        smtp.send_message(message)


def email_pending_reminders(session, settings: SmtpSettings | None) -> int:
    """E-mail the reminders not yet e-mailed to users with an address.

    Each e-mail is marked as sent right after the server accepts it, so the
    caller should commit after this returns. Returns how many went out.
    """
    if settings is None:
        return 0
    rows = session.execute(
        select(DeadlineReminder, User, Document)
        .join(User, User.id == DeadlineReminder.user_id)
        .join(Document, Document.id == DeadlineReminder.document_id)
        .where(
            DeadlineReminder.emailed_at.is_(None),
            DeadlineReminder.sent_at >= now() - EMAIL_RETRY_WINDOW,
            User.email.is_not(None),
            User.email != "",
        )
        .order_by(DeadlineReminder.id)
    )
    sent = 0
    for reminder, user, document in rows:
        text = _text(document, reminder.kind)
        subject = (
            "VanBan: hôm nay đến hạn xử lý văn bản"
            if reminder.kind == "due_day"
            else "VanBan: văn bản sắp đến hạn xử lý"
        )
        body = (
            f"Kính gửi {user.full_name},\n\n{text}\n\n"
            "Vui lòng đăng nhập VanBan để xử lý.\n"
        )
        try:
            _email(settings, user.email, subject, body)
        except (OSError, smtplib.SMTPException):
            # Left unmarked, so the next run tries again within the retry window.
            logger.exception(
                "deadline reminder %s e-mail to user %s failed", reminder.id, user.id
            )
            continue
        reminder.emailed_at = now()
        sent += 1
        logger.info("deadline reminder %s e-mailed to user %s", reminder.id, user.id)
    return sent
