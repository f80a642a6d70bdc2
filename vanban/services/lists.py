"""Document lists: to-do, incoming and outgoing, with filters, sorting and pages."""

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import column, func, select, table
from sqlalchemy.sql.util import ClauseAdapter

from vanban.models import Document, User
from vanban.services import deadlines, permissions, search, workflow
from vanban.services.clock import local_today
from vanban.services.doctypes import URGENCY_LABELS
from vanban.services.workflow import INCOMING_STATES, OUTGOING_STATES

# Counts of documents by organisation, direction and state, kept by SQLite
# triggers (migration 0014_list_speed).
_STATE_COUNTS = table(
    "document_state_counts",
    column("organisation_id"),
    column("direction"),
    column("state"),
    column("count"),
)

# Urgency values a list can be filtered by, as they appear in the query string.
URGENCY_FILTERS = {str(level) for level in URGENCY_LABELS}
SORTS = {
    "newest": (Document.created_at.desc(), Document.id.desc()),
    "oldest": (Document.created_at.asc(), Document.id.asc()),
    # Documents with a deadline, soonest first; `_page_ids` puts those without
    # one after them.
    "due": (Document.due_date.asc(), Document.id.desc()),
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


def todo_states(user: User) -> set[str]:
    """Return the states from which one of the user's roles can act: the only
    states a document on the user's to-do list can be in."""
    return {
        state
        for transition in workflow.TRANSITIONS
        if user.has_role(transition.role)
        for state in transition.sources
    }


def _scope_filter(user: User, scope: str):
    if scope == "todo":
        # The state list repeats part of the permission rule so that the
        # database can read only those states from ix_documents_todo.
        states = todo_states(user)
        return permissions.actionable_filter(user) & Document.state.in_(states)
    direction = "incoming" if scope == "incoming" else "outgoing"
    return permissions.visible_filter(user) & (Document.direction == direction)


def states_for(scope: str, user: User | None = None) -> dict[str, str]:
    if scope == "incoming":
        return INCOMING_STATES
    if scope == "outgoing":
        return OUTGOING_STATES
    states = {**INCOMING_STATES, **OUTGOING_STATES}
    if scope == "todo" and user is not None:
        todo = todo_states(user)
        return {state: label for state, label in states.items() if state in todo}
    return states


def _apply_filters(session, query, scope: str, filters: Filters, soon_until: date):
    terms = search.search_terms(filters.q)
    if terms:
        # Subject, issuing body, number and symbol, and the indexed text too.
        query = search.restrict_to_matches(session, query, terms)
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
            Document.due_date <= soon_until,
        )
    return query


def list_documents(
    session,
    user: User,
    scope: str,
    filters: Filters,
    page_size: int,
    warning_days: int,
    with_counts: bool = True,
) -> Page:
    """Return one page of the user's documents in a scope, filtered and sorted.

    The counts by state are left out when `with_counts` is false and a filter
    is set, for the results fragment, which does not show them.
    """
    base = select(Document).where(_scope_filter(user, scope))
    soon_until = deadlines.soon_limit(
        session, user.organisation_id, local_today(), warning_days
    )
    query = _apply_filters(session, base, scope, filters, soon_until)

    # Without filters the state counts add up to the total, which saves a
    # count over every document of the list.
    counts = {}
    if with_counts or query is base:
        counts = _state_counts(session, user, scope, base)
    total = sum(counts.values()) if query is base else None
    ids = None
    if total is None and search.search_terms(filters.q) and filters.sort != "due":
        # A keyword list reads every match to sort them anyway, so the same
        # pass counts them.
        ids, total = _counted_page(session, query, filters, page_size)
    if total is None:
        total = session.scalar(query.with_only_columns(func.count())) or 0
    pages = max(1, -(-total // page_size))
    if ids is None:
        filters.page = min(max(filters.page, 1), pages)
        # The page's ids come first from the indexes alone, so the sort never
        # carries whole documents. The page's documents are then loaded by id.
        ids = _page_ids(
            session, query, filters.sort, (filters.page - 1) * page_size, page_size
        )
    by_id = search.documents_by_id(session, ids)
    items = [by_id[document_id] for document_id in ids]

    return Page(items, total, filters.page, pages, filters, counts)


def _counted_page(session, query, filters: Filters, page_size: int):
    """Return the page's ids and the number of matches, or (None, None) for a
    page past the end."""
    filters.page = max(filters.page, 1)
    # The matches with their sort keys are read once into a CTE, which both
    # the count and the page read. On SQLite this is faster than
    # count(*) OVER (), which copies every row once more before the sort.
    matches = query.with_only_columns(
        Document.id, Document.urgency, Document.created_at
    ).cte("matches")
    adapt = ClauseAdapter(matches).traverse
    total = select(func.count()).select_from(matches).scalar_subquery()
    rows = session.execute(
        select(matches.c.id, total)
        .order_by(*(adapt(o) for o in SORTS.get(filters.sort, SORTS["newest"])))
        .offset((filters.page - 1) * page_size)
        .limit(page_size)
    ).all()
    if not rows:
        return None, None
    return [document_id for document_id, _ in rows], rows[0][1]


def _page_ids(session, query, sort: str, offset: int, limit: int) -> list[int]:
    query = query.with_only_columns(Document.id)
    if sort != "due":
        order = SORTS.get(sort, SORTS["newest"])
        return list(session.scalars(query.order_by(*order).offset(offset).limit(limit)))
    # Two queries, documents with a deadline and then those without, so that
    # each follows an index. One ORDER BY that puts empty deadlines last
    # would sort every document of the list on SQLite.
    dated = query.where(Document.due_date.is_not(None))
    ids = list(
        session.scalars(dated.order_by(*SORTS["due"]).offset(offset).limit(limit))
    )
    if len(ids) == limit:
        return ids
    if ids:
        dated_count = offset + len(ids)
    else:
        dated_count = session.scalar(dated.with_only_columns(func.count())) or 0
    undated = (
        query.where(Document.due_date.is_(None))
        .order_by(Document.id.desc())
        .offset(max(0, offset - dated_count))
        .limit(limit - len(ids))
    )
    return ids + list(session.scalars(undated))


def _state_counts(session, user: User, scope: str, base) -> dict[str, int]:
    """Count the documents of the list by state.

    When the user may read every document of the organisation, SQLite reads
    the counts that its triggers keep for the direction, instead of reading
    every document of the list.
    """
    if (
        scope in ("incoming", "outgoing")
        and session.get_bind().dialect.name == "sqlite"
        and permissions.sees_whole_organisation(user)
    ):
        counts = _STATE_COUNTS.c
        query = select(counts.state, counts.count).where(
            counts.organisation_id == user.organisation_id,
            counts.direction == scope,
            counts.count > 0,
        )
        return dict(session.execute(query).all())
    query = base.with_only_columns(Document.state, func.count()).group_by(
        Document.state
    )
    return {state: count for state, count in session.execute(query)}


def deadline_flag(document: Document, warning_days: int) -> str:
    """Return "overdue", "soon" or "" for a document that is still open."""
    return deadlines.flag(document, warning_days)
