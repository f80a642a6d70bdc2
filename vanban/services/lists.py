"""Document lists: to-do, incoming and outgoing, with filters, sorting and pages."""

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import case, func, or_, select

from vanban.models import Document, User
from vanban.services import permissions
from vanban.services.clock import local_today
from vanban.services.doctypes import URGENCY_LABELS
from vanban.services.folding import folded
from vanban.services.text import fold
from vanban.services.workflow import INCOMING_STATES, OUTGOING_STATES

# Urgency values a list can be filtered by, as they appear in the query string.
URGENCY_FILTERS = {str(level) for level in URGENCY_LABELS}
SORTS = {
    "newest": (Document.created_at.desc(), Document.id.desc()),
    "oldest": (Document.created_at.asc(), Document.id.asc()),
    "due": (
        case((Document.due_date.is_(None), 1), else_=0),
        Document.due_date.asc(),
        Document.id.desc(),
    ),
    "urgency": (
        Document.urgency.desc(),
        Document.created_at.desc(),
        Document.id.desc(),
    ),
}


@dataclass
class Filters:
    q: str = ""
    state: str = ""
    urgency: str = ""
    due: str = ""
    sort: str = "newest"
    page: int = 1


@dataclass
class Page:
    items: list[Document]
    total: int
    page: int
    pages: int
    filters: Filters
    counts: dict[str, int] = field(default_factory=dict)


def _scope_filter(user: User, scope: str):
    if scope == "todo":
        return permissions.actionable_filter(user)
    direction = "incoming" if scope == "incoming" else "outgoing"
    return permissions.visible_filter(user) & (Document.direction == direction)


def states_for(scope: str) -> dict[str, str]:
    if scope == "incoming":
        return INCOMING_STATES
    if scope == "outgoing":
        return OUTGOING_STATES
    return {**INCOMING_STATES, **OUTGOING_STATES}


def _text_filter(text: str):
    """Match the folded text in the subject, issuing body or number and symbol."""
    needle = fold(text)
    number_and_notation = (
        func.coalesce(Document.number, "")
        .concat("/")
        .concat(func.coalesce(Document.notation, ""))
    )
    columns = (Document.subject, Document.organ_name, number_and_notation)
    return or_(
        *(folded(column).contains(needle, autoescape=True) for column in columns)
    )


def _apply_filters(query, scope: str, filters: Filters, warning_days: int):
    if fold(filters.q):
        query = query.where(_text_filter(filters.q))
    if filters.state in states_for(scope):
        query = query.where(Document.state == filters.state)
    if filters.urgency in URGENCY_FILTERS:
        query = query.where(Document.urgency == int(filters.urgency))

    today = local_today()
    if filters.due == "overdue":
        query = query.where(Document.due_date < today)
    elif filters.due == "soon":
        query = query.where(
            Document.due_date >= today,
            Document.due_date <= today + timedelta(days=warning_days),
        )
    return query


def list_documents(
    session, user: User, scope: str, filters: Filters, page_size: int, warning_days: int
) -> Page:
    """Return one page of the user's documents in a scope, filtered and sorted."""
    base = select(Document).where(_scope_filter(user, scope))
    query = _apply_filters(base, scope, filters, warning_days)

    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    pages = max(1, -(-total // page_size))
    filters.page = min(max(filters.page, 1), pages)
    order = SORTS.get(filters.sort, SORTS["newest"])
    items = list(
        session.scalars(
            query.order_by(*order)
            .offset((filters.page - 1) * page_size)
            .limit(page_size)
        )
    )

    counts = _state_counts(session, base)
    return Page(items, total, filters.page, pages, filters, counts)


def _state_counts(session, base) -> dict[str, int]:
    sub = base.subquery()
    rows = session.execute(select(sub.c.state, func.count()).group_by(sub.c.state))
    return {state: count for state, count in rows}


def deadline_flag(document: Document, warning_days: int) -> str:
    """Return "overdue", "soon" or "" for a document that is still open."""
    if document.due_date is None or document.state in ("done", "issued", "returned"):
        return ""
    today = local_today()
    if document.due_date < today:
        return "overdue"
    if document.due_date <= today + timedelta(days=warning_days):
        return "soon"
    return ""
