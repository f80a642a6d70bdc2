"""Deadlines: default rules, due-soon and overdue flags, calendar settings, dashboard.

Deadlines count working days of the document's organisation (see
`vanban.services.calendar`). Reminders to assignees live in
`vanban.services.reminders`.
"""

import logging
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import object_session

from vanban.models import Assignment, Department, Document, User
from vanban.models.calendar import CALENDAR_CHANGE_KINDS, CalendarChange, DeadlineRule
from vanban.services import Forbidden, ServiceError, audit, permissions
from vanban.services.calendar import WorkCalendar
from vanban.services.clock import local, local_today
from vanban.services.doctypes import DOCUMENT_TYPES, URGENCY_LABELS
from vanban.services.text import nfc

logger = logging.getLogger(__name__)

# States in which handling has ended, so a deadline no longer applies.
CLOSED_STATES = ("done", "issued", "returned")
# Rules loaded into a new organisation: (type name or "" for all, urgency or
# None for all, working days).
# NOTE: Nghị định 30/2020/NĐ-CP sets no handling time. These are sample values
# for each body's working rules (quy chế làm việc), which admins change.
DEFAULT_RULES = (
    ("", None, 10),
    ("", 1, 5),
    ("", 2, 3),
    ("", 3, 1),
    ("", 4, 1),
    ("Giấy mời", None, 2),
    ("Công điện", None, 1),
)
TYPE_NAMES = tuple(name for name, _ in DOCUMENT_TYPES)
_CALENDAR_CACHE_KEY = "vanban.work_calendars"


# Calendar


def calendar_for(session, organisation_id: int) -> WorkCalendar:
    """Return the organisation's calendar, loaded once per session."""
    cache = session.info.setdefault(_CALENDAR_CACHE_KEY, {})
    if organisation_id not in cache:
        cache[organisation_id] = WorkCalendar.load(session, organisation_id)
    return cache[organisation_id]


def _forget_calendar(session, organisation_id: int) -> None:
    session.info.get(_CALENDAR_CACHE_KEY, {}).pop(organisation_id, None)


def _change_detail(change: CalendarChange | None) -> dict | None:
    if change is None:
        return None
    return {"day": change.day.isoformat(), "kind": change.kind, "note": change.note}


def require_admin(user: User, organisation_id: int) -> None:
    if not (user.has_role("admin") and user.organisation_id == organisation_id):
        logger.warning("deadline settings change rejected for user %s", user.id)
        raise Forbidden("Chỉ quản trị của đơn vị mới được sửa lịch và hạn xử lý.")


def _delete_setting(session, user: User, row, action: str, detail) -> None:
    """Delete a calendar change or a rule after the admin check, and audit it.

    `detail(row)` returns the audited values of the deleted row.
    """
    require_admin(user, row.organisation_id)
    audit.record(
        session,
        action,
        user=user,
        organisation_id=row.organisation_id,
        before=detail(row),
        after=None,
    )
    session.delete(row)


def save_calendar_change(
    session, user: User, organisation_id: int, day: date, kind: str, note: str
) -> CalendarChange:
    """Record a day off or a worked day, replacing an earlier change of that day."""
    require_admin(user, organisation_id)
    if kind not in CALENDAR_CHANGE_KINDS:
        raise ServiceError("Chọn loại thay đổi: ngày nghỉ hoặc ngày làm việc.", "kind")
    note = nfc(note or "").strip()
    change = session.scalar(
        select(CalendarChange).where(
            CalendarChange.organisation_id == organisation_id,
            CalendarChange.day == day,
        )
    )
    before = _change_detail(change)
    if change is None:
        change = CalendarChange(organisation_id=organisation_id, day=day)
        session.add(change)
    change.kind = kind
    change.note = note
    audit.record(
        session,
        "settings.holidays.update",
        user=user,
        organisation_id=organisation_id,
        before=before,
        after=_change_detail(change),
    )
    _forget_calendar(session, organisation_id)
    logger.info(
        "calendar day %s of organisation %s set to %s by user %s",
        day,
        organisation_id,
        kind,
        user.id,
    )
    return change


def delete_calendar_change(session, user: User, change: CalendarChange) -> None:
    """Remove a change, so that the day follows the default calendar again."""
    _delete_setting(session, user, change, "settings.holidays.delete", _change_detail)
    _forget_calendar(session, change.organisation_id)
    logger.info(
        "calendar change %s of organisation %s deleted by user %s",
        change.id,
        change.organisation_id,
        user.id,
    )


def calendar_changes(session, organisation_id: int, year: int) -> list[CalendarChange]:
    """Return the organisation's changed days of a year, in date order."""
    return list(
        session.scalars(
            select(CalendarChange)
            .where(
                CalendarChange.organisation_id == organisation_id,
                CalendarChange.day >= date(year, 1, 1),
                CalendarChange.day <= date(year, 12, 31),
            )
            .order_by(CalendarChange.day)
        )
    )


# Rules


def rules(session, organisation_id: int) -> list[DeadlineRule]:
    """Return the organisation's rules, general ones first."""
    rows = session.scalars(
        select(DeadlineRule).where(DeadlineRule.organisation_id == organisation_id)
    )
    return sorted(
        rows,
        key=lambda r: (
            r.type_name != "",
            r.type_name,
            r.urgency is not None,
            r.urgency or 0,
        ),
    )


def _rule_detail(rule: DeadlineRule | None) -> dict | None:
    if rule is None:
        return None
    return {
        "type_name": rule.type_name,
        "urgency": rule.urgency,
        "working_days": rule.working_days,
    }


def _find_rule(session, organisation_id: int, type_name: str, urgency: int | None):
    query = select(DeadlineRule).where(
        DeadlineRule.organisation_id == organisation_id,
        DeadlineRule.type_name == type_name,
    )
    if urgency is None:
        query = query.where(DeadlineRule.urgency.is_(None))
    else:
        query = query.where(DeadlineRule.urgency == urgency)
    return session.scalar(query)


def save_rule(
    session,
    user: User,
    organisation_id: int,
    type_name: str,
    urgency: int | None,
    working_days: int,
) -> DeadlineRule:
    """Add a rule, or change the days of the rule for the same type and urgency."""
    require_admin(user, organisation_id)
    type_name = nfc(type_name or "")
    if type_name and type_name not in TYPE_NAMES:
        raise ServiceError("Loại văn bản không có trong danh mục.", "type_name")
    if urgency is not None and urgency not in URGENCY_LABELS:
        raise ServiceError("Mức độ khẩn không hợp lệ.", "urgency")
    if not 1 <= working_days <= 365:
        raise ServiceError("Số ngày làm việc phải từ 1 đến 365.", "working_days")
    rule = _find_rule(session, organisation_id, type_name, urgency)
    before = _rule_detail(rule)
    if rule is None:
        rule = DeadlineRule(
            organisation_id=organisation_id, type_name=type_name, urgency=urgency
        )
        session.add(rule)
    rule.working_days = working_days
    audit.record(
        session,
        "settings.deadline_rules.update",
        user=user,
        organisation_id=organisation_id,
        before=before,
        after=_rule_detail(rule),
    )
    logger.info(
        "deadline rule of organisation %s saved by user %s", organisation_id, user.id
    )
    return rule


def delete_rule(session, user: User, rule: DeadlineRule) -> None:
    _delete_setting(session, user, rule, "settings.deadline_rules.delete", _rule_detail)
    logger.info(
        "deadline rule %s of organisation %s deleted by user %s",
        rule.id,
        rule.organisation_id,
        user.id,
    )


def seed_default_rules(session, organisation_id: int) -> int:
    """Load DEFAULT_RULES into an organisation that has no rule; return how many."""
    if rules(session, organisation_id):
        return 0
    for type_name, urgency, working_days in DEFAULT_RULES:
        session.add(
            DeadlineRule(
                organisation_id=organisation_id,
                type_name=type_name,
                urgency=urgency,
                working_days=working_days,
            )
        )
    return len(DEFAULT_RULES)


def rule_for(session, document: Document) -> DeadlineRule | None:
    """Return the most specific rule for the document's type and urgency."""
    candidates = [
        rule
        for rule in rules(session, document.organisation_id)
        if rule.type_name in ("", document.type_name)
        and rule.urgency in (None, document.urgency)
    ]
    if not candidates:
        return None
    # A rule naming the type beats one naming the urgency, which beats neither.
    return max(candidates, key=lambda r: (r.type_name != "", r.urgency is not None))


def default_deadline(
    session, document: Document, start: date | None = None
) -> date | None:
    """Return the deadline the rules give a document assigned on `start` (today)."""
    rule = rule_for(session, document)
    if rule is None:
        return None
    start = start or local_today()
    calendar = calendar_for(session, document.organisation_id)
    return calendar.add_working_days(start, rule.working_days)


# Flags


def soon_limit(session, organisation_id: int, today: date, warning_days: int) -> date:
    """Return the last due date that counts as due soon: `warning_days` working
    days after today."""
    calendar = calendar_for(session, organisation_id)
    return calendar.add_working_days(today, max(warning_days, 0))


def flag(document: Document, warning_days: int, today: date | None = None) -> str:
    """Return "overdue", "soon" or "" for a document that is still open."""
    if document.due_date is None or document.state in CLOSED_STATES:
        return ""
    today = today or local_today()
    if document.due_date < today:
        return "overdue"
    session = object_session(document)
    if session is None:
        return ""
    limit = soon_limit(session, document.organisation_id, today, warning_days)
    return "soon" if document.due_date <= limit else ""


def day_off_reason(document: Document) -> str:
    """Return why the document's deadline falls on a day off, or "".

    A deadline set by the sender is the sender's to change: it stays as written
    and the document page only points out the day off.
    """
    session = object_session(document)
    if document.due_date is None or session is None:
        return ""
    day = calendar_for(session, document.organisation_id).describe(document.due_date)
    return "" if day.working else day.reason


# Dashboard


def can_view_dashboard(user: User) -> bool:
    return bool(
        user.is_authenticated
        and (user.has_role("leader") or (user.has_role("head") and user.department_id))
    )


@dataclass
class Tally:
    """Deadline counts of one department or officer."""

    name: str
    open: int = 0
    soon: int = 0
    overdue: int = 0
    on_time: int = 0
    late: int = 0

    def add(self, status: str) -> None:
        if status in ("open", "soon"):
            self.open += 1
        if status == "soon":
            self.soon += 1
        elif status in ("overdue", "on_time", "late"):
            setattr(self, status, getattr(self, status) + 1)


@dataclass
class Dashboard:
    departments: list[Tally]
    officers: list[Tally]
    total: Tally
    attention: list[tuple[Document, str]] = field(default_factory=list)


def deadline_status(document: Document, today: date, soon_until: date) -> str | None:
    """Classify a document with a deadline: open, soon, overdue, on_time or late."""
    if document.state == "done":
        if document.completed_at is None:
            return None
        finished = local(document.completed_at).date()
        return "on_time" if finished <= document.due_date else "late"
    if document.due_date < today:
        return "overdue"
    return "soon" if document.due_date <= soon_until else "open"


def _officers_of(session, documents: list[Document]) -> dict[int, int]:
    """Map each document to its officer: the holder, else the latest lead officer."""
    latest_lead: dict[int, int] = {}
    ids = [d.id for d in documents]
    if ids:
        rows = session.execute(
            select(Assignment.document_id, Assignment.user_id)
            .where(
                Assignment.document_id.in_(ids),
                Assignment.role == "lead",
                Assignment.user_id.is_not(None),
            )
            .order_by(Assignment.id)
        )
        # Ordered by id, so a later assignment replaces an earlier one.
        latest_lead = {document_id: user_id for document_id, user_id in rows}
    officers = {}
    for document in documents:
        officer_id = document.holder_id or latest_lead.get(document.id)
        if officer_id is not None:
            officers[document.id] = officer_id
    return officers


def dashboard(
    session, user: User, warning_days: int, today: date | None = None
) -> Dashboard:
    """Count, per department and per officer, what is due, overdue and done late.

    Leaders see their whole organisation, department heads their department.
    """
    if not can_view_dashboard(user):
        raise Forbidden("Chỉ lãnh đạo UBND và lãnh đạo phòng được xem theo dõi hạn.")
    today = today or local_today()
    query = select(Document).where(
        Document.organisation_id == user.organisation_id,
        Document.direction == "incoming",
        Document.due_date.is_not(None),
        Document.state != "returned",
        permissions.secret_filter(user),
    )
    if not user.has_role("leader"):
        query = query.where(Document.department_id == user.department_id)
    documents = list(session.scalars(query.order_by(Document.due_date, Document.id)))
    soon_until = soon_limit(session, user.organisation_id, today, warning_days)

    departments = {
        d.id: d
        for d in session.scalars(
            select(Department).where(Department.organisation_id == user.organisation_id)
        )
    }
    officer_of = _officers_of(session, documents)
    officer_ids = {i for i in officer_of.values() if i}
    names = (
        {
            u.id: u.full_name
            for u in session.scalars(select(User).where(User.id.in_(officer_ids)))
        }
        if officer_ids
        else {}
    )

    by_department: dict[int | None, Tally] = {}
    by_officer: dict[int | None, Tally] = {}
    total = Tally("Tổng cộng")
    attention = []
    for document in documents:
        status = deadline_status(document, today, soon_until)
        if status is None:
            continue
        department = departments.get(document.department_id)
        key = document.department_id
        if key not in by_department:
            by_department[key] = Tally(department.name if department else "Chưa giao")
        by_department[key].add(status)
        officer_id = officer_of.get(document.id)
        if officer_id not in by_officer:
            by_officer[officer_id] = Tally(
                names.get(officer_id, "Chưa giao chuyên viên")
            )
        by_officer[officer_id].add(status)
        total.add(status)
        if status in ("overdue", "soon"):
            attention.append((document, status))

    return Dashboard(
        departments=sorted(by_department.values(), key=lambda t: t.name),
        officers=sorted(by_officer.values(), key=lambda t: t.name),
        total=total,
        attention=attention,
    )


# Assignment


def suggested_deadline(session, document: Document) -> date | None:
    """Return the deadline to offer on the instruct and assign forms."""
    return document.due_date or default_deadline(session, document)


def deadline_or_default(session, document: Document, typed: date | None) -> date | None:
    """Return the deadline typed by the leader or head, else the suggested one."""
    return typed or suggested_deadline(session, document)
