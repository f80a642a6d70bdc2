"""Trial progress of each participating ward, derived from documents and audit rows.

Scenario 01 follows the city's directive at the ward (the first document a
city unit sent it since its trial counts) and the ward's reply to it. Scenario
02 follows the first document the ward drafted on its own initiative in that
time. Each step is done when the audit trail contains the event that ends it.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from vanban.models import (
    AuditEvent,
    Document,
    Organisation,
    Recipient,
    TrialWard,
    User,
)
from vanban.services import permissions, trial
from vanban.services.clock import now
from vanban.services.doctypes import STATUS_LABELS


@dataclass(frozen=True)
class Step:
    key: str
    label: str
    # The scenario's document the step happens on: directive, reply or own.
    on: str


SCENARIO01_STEPS = (
    Step("s01_issue", "1. Thành phố phát hành, phường nhận", "directive"),
    Step("s01_register", "2. Văn thư vào sổ, chuyển tham mưu", "directive"),
    Step("s01_propose", "3. Tham mưu đề xuất", "directive"),
    Step("s01_instruct", "4. Chủ tịch bút phê, phân công", "directive"),
    Step("s01_assign", "5. Trưởng phòng giao chuyên viên", "directive"),
    Step("s01_handle", "6. Chuyên viên xử lý, trình dự thảo", "directive"),
    Step("s01_submit", "7. Trình lãnh đạo UBND", "reply"),
    Step("s01_approve", "8. Lãnh đạo phê duyệt", "reply"),
    Step("s01_send", "9. Văn thư vào sổ, phát hành", "reply"),
)
SCENARIO02_STEPS = (
    Step("s02_draft", "1. Soạn dự thảo", "own"),
    Step("s02_submit", "2. Trình lãnh đạo phòng", "own"),
    Step("s02_review", "3. Trình lãnh đạo UBND", "own"),
    Step("s02_approve", "4. Lãnh đạo phê duyệt", "own"),
    Step("s02_send", "5. Văn thư vào sổ, phát hành", "own"),
)
STEPS = SCENARIO01_STEPS + SCENARIO02_STEPS
CELL_LABELS = {
    "done": "Đã xong",
    "skipped": "Không cần",
    "returned": "Đã trả lại",
    "waiting": "Đang chờ",
    "pending": "Chưa đến",
}
# Cell states that let the next step begin.
FINISHED = ("done", "skipped")
# Shown instead of the subject of a secret document the viewer may not read.
HIDDEN_SUBJECT = "Văn bản mật"


@dataclass
class Cell:
    state: str = "pending"
    at: datetime | None = None
    # Time since the previous step finished, in seconds.
    seconds: int | None = None
    document_id: int | None = None

    @property
    def label(self) -> str:
        return CELL_LABELS[self.state]


@dataclass
class Delivery:
    """The latest status a city unit reported for the ward's document."""

    organisation: str
    status_code: str | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and self.status_code != "02"

    @property
    def label(self) -> str:
        if self.status_code is None:
            return "Chưa gửi tới"
        return STATUS_LABELS.get(self.status_code, self.status_code)


@dataclass
class Checks:
    """The trial's checks on the ward's issued document."""

    subject: str | None = None
    subject_ok: bool | None = None
    city: Delivery | None = None
    center: Delivery | None = None
    # Other wards the document was sent to, for scenario 02.
    other_wards: int = 0


@dataclass
class WardProgress:
    ward: Organisation
    counting_from: datetime | None
    directive: Document | None = None
    reply: Document | None = None
    own: Document | None = None
    cells: dict[str, Cell] = field(default_factory=dict)
    s01_checks: Checks = field(default_factory=Checks)
    s02_checks: Checks = field(default_factory=Checks)
    current_step: Step | None = None
    waiting_since: datetime | None = None
    stuck: bool = False
    # Secret documents of the row that the viewer may not read: their cells
    # keep the step times but give no document id and no subject.
    hidden_ids: frozenset[int] = frozenset()

    def document_id(self, document: Document | None) -> int | None:
        if document is None or document.id in self.hidden_ids:
            return None
        return document.id


@dataclass
class Progress:
    wards: list[WardProgress]
    generated_at: datetime
    stuck_hours: int
    subject_prefix: str
    # Mean seconds each step took over the wards that finished it.
    average_seconds: dict[str, int]


def progress(
    session, at: datetime | None = None, viewer: User | None = None
) -> Progress:
    """Build the dashboard's rows for every participating ward, as the viewer
    may see them. Without a viewer, every secret document stays hidden."""
    # NOTE: each ward costs a handful of queries on every refresh. That suits
    # the tens of wards of a trial, but no benchmark covers more.
    at = at or now()
    current = trial.settings(session)
    rows = [
        ward_progress(session, row, at, current.stuck_hours, viewer)
        for row in trial.participants(session)
    ]
    return Progress(
        wards=rows,
        generated_at=at,
        stuck_hours=current.stuck_hours,
        subject_prefix=current.subject_prefix,
        average_seconds=_averages(rows),
    )


def trial_documents(session, row: TrialWard) -> tuple[Document | None, ...]:
    """Return the ward's directive, its reply and its own document for the trial."""
    since = trial.counting_from(session, row)
    ward_id = row.organisation_id
    query = select(Document).where(Document.organisation_id == ward_id)
    if since is not None:
        query = query.where(Document.created_at >= since)
    city_units = select(Organisation.id).where(
        Organisation.kind.in_(("city", "center"))
    )
    directive = session.scalar(
        query.where(
            Document.direction == "incoming",
            Document.sender_organisation_id.in_(city_units),
        ).order_by(Document.created_at, Document.id)
    )
    reply = None
    if directive is not None:
        # The issued reply if there is one, else the latest draft.
        reply = session.scalar(
            select(Document)
            .where(Document.reply_to_id == directive.id)
            .order_by(Document.issued_at.is_(None), Document.id.desc())
        )
    own = session.scalar(
        query.where(
            Document.direction == "outgoing", Document.reply_to_id.is_(None)
        ).order_by(Document.created_at, Document.id)
    )
    return directive, reply, own


def ward_progress(
    session,
    row: TrialWard,
    at: datetime,
    stuck_hours: int,
    viewer: User | None = None,
) -> WardProgress:
    directive, reply, own = trial_documents(session, row)
    documents = [d for d in (directive, reply, own) if d is not None]
    result = WardProgress(
        ward=row.organisation,
        counting_from=trial.counting_from(session, row),
        directive=directive,
        reply=reply,
        own=own,
        hidden_ids=frozenset(d.id for d in documents if _hidden(session, viewer, d)),
    )
    events = _events(session, documents)
    result.cells.update(_scenario01(session, directive, reply, events))
    result.cells.update(_scenario02(own, events))
    for cell in result.cells.values():
        if cell.document_id in result.hidden_ids:
            cell.document_id = None
    result.s01_checks = _checks(session, row.organisation, reply, result.hidden_ids)
    result.s02_checks = _checks(session, row.organisation, own, result.hidden_ids)
    _mark_waiting(result, at, stuck_hours)
    return result


def _hidden(session, viewer: User | None, document: Document) -> bool:
    """Tell whether the document is secret and the viewer may not read it.

    Such a document still counts, because the trial needs every ward's step
    times. Only its id, link and subject are left out.
    """
    if document.secrecy == 0:
        return False
    return viewer is None or not permissions.can_view(session, viewer, document)


def _events(session, documents: list[Document]) -> dict[int, list[AuditEvent]]:
    by_document: dict[int, list[AuditEvent]] = {d.id: [] for d in documents}
    if not documents:
        return by_document
    query = (
        select(AuditEvent)
        .where(AuditEvent.document_id.in_(list(by_document)))
        .order_by(AuditEvent.created_at, AuditEvent.id)
    )
    for event in session.scalars(query):
        by_document[event.document_id].append(event)
    return by_document


def _last(events: Iterable[AuditEvent], *actions: str, after: str | None = None):
    """Return the latest event of the actions (and target state), or None."""
    found = None
    for event in events:
        if actions and event.action not in actions:
            continue
        if after is not None and (event.detail or {}).get("after") != after:
            continue
        found = event
    return found


def _scenario01(session, directive, reply, events) -> dict[str, Cell]:
    cells = {step.key: Cell() for step in SCENARIO01_STEPS}
    if directive is None:
        return cells
    own_events = events[directive.id]
    reply_events = events[reply.id] if reply is not None else []

    cells["s01_issue"] = Cell("done", directive.created_at, document_id=directive.id)
    source = (
        session.get(Document, directive.source_document_id)
        if directive.source_document_id
        else None
    )
    if source is not None and source.issued_at is not None:
        cells["s01_issue"].seconds = _seconds(source.issued_at, directive.created_at)

    returned = _last(own_events, "return")
    if returned is not None:
        cells["s01_register"] = Cell("returned", returned.created_at)
    else:
        _set(cells, "s01_register", _last(own_events, "forward"))
    _set(cells, "s01_propose", _last(own_events, "propose"))
    instruct = _last(own_events, "instruct")
    _set(cells, "s01_instruct", instruct)
    if instruct is not None and (instruct.detail or {}).get("after") == "with_officer":
        # The chairman assigned an officer directly, so no head assigns one.
        cells["s01_assign"] = Cell("skipped", instruct.created_at)
    else:
        _set(cells, "s01_assign", _last(own_events, "assign"))
    finish = _last(own_events, "finish")
    if finish is not None:
        _set(cells, "s01_handle", finish)
        for key in ("s01_submit", "s01_approve", "s01_send"):
            cells[key] = Cell("skipped", finish.created_at)
    else:
        _set(cells, "s01_handle", _last(reply_events, "submit"))
        _set(cells, "s01_submit", _last(reply_events, after="leader_review"))
        _set(cells, "s01_approve", _last(reply_events, "approve"))
        _set(cells, "s01_send", _last(reply_events, "issue"))

    for step in SCENARIO01_STEPS:
        if cells[step.key].state != "pending":
            on = directive if step.on == "directive" else reply
            cells[step.key].document_id = on.id if on is not None else directive.id
    _durations(cells, SCENARIO01_STEPS)
    return cells


def _scenario02(own, events) -> dict[str, Cell]:
    cells = {step.key: Cell() for step in SCENARIO02_STEPS}
    if own is None:
        return cells
    own_events = events[own.id]
    composed = _last(own_events, "composed")
    if composed is not None:
        # A clerk entered a document signed outside the system: no draft steps.
        for key in ("s02_draft", "s02_submit", "s02_review", "s02_approve"):
            cells[key] = Cell("skipped", composed.created_at)
        cells["s02_draft"].state = "done"
    else:
        cells["s02_draft"] = Cell("done", own.created_at)
        _set(cells, "s02_submit", _last(own_events, "submit"))
        _set(cells, "s02_review", _last(own_events, after="leader_review"))
        _set(cells, "s02_approve", _last(own_events, "approve"))
    _set(cells, "s02_send", _last(own_events, "issue"))
    for cell in cells.values():
        if cell.state != "pending":
            cell.document_id = own.id
    _durations(cells, SCENARIO02_STEPS)
    return cells


def _set(cells: dict[str, Cell], key: str, event: AuditEvent | None) -> None:
    if event is not None:
        cells[key] = Cell("done", event.created_at)


def _seconds(start: datetime, end: datetime) -> int:
    return max(0, int((end - start).total_seconds()))


def _durations(cells: dict[str, Cell], steps: tuple[Step, ...]) -> None:
    """Fill each finished step's time since the step before it finished."""
    previous = None
    for step in steps:
        cell = cells[step.key]
        if cell.state not in FINISHED:
            break
        if previous is not None and cell.seconds is None:
            cell.seconds = _seconds(previous, cell.at)
        previous = cell.at


def _checks(
    session,
    ward: Organisation,
    document: Document | None,
    hidden_ids: frozenset[int] = frozenset(),
) -> Checks:
    checks = Checks()
    if document is None or document.state != "issued":
        return checks
    if document.id in hidden_ids:
        checks.subject = HIDDEN_SUBJECT
    else:
        checks.subject = document.subject
    checks.subject_ok = trial.subject_matches(document.subject, ward)
    recipients = session.scalars(
        select(Recipient)
        .where(Recipient.document_id == document.id)
        .options(selectinload(Recipient.organisation))
    )
    checks.city = Delivery("UBND Thành phố", None)
    checks.center = Delivery("Trung tâm", None)
    for recipient in recipients:
        kind = recipient.organisation.kind
        if kind == "city":
            checks.city = Delivery(recipient.organisation.name, recipient.status_code)
        elif kind == "center":
            checks.center = Delivery(recipient.organisation.name, recipient.status_code)
        else:
            checks.other_wards += 1
    return checks


def _mark_waiting(result: WardProgress, at: datetime, stuck_hours: int) -> None:
    """Find the step the ward waits on and whether it has waited too long."""
    previous_at = None
    for step in STEPS:
        cell = result.cells[step.key]
        if cell.state == "returned":
            return
        if cell.state in FINISHED:
            previous_at = cell.at
            continue
        if step.key == "s02_draft":
            # Scenario 02 starts when the ward chooses, so nothing waits on it.
            return
        if previous_at is None:
            # Nothing reached the ward yet: it waits on the city, not on itself.
            return
        cell.state = "waiting"
        result.current_step = step
        result.waiting_since = previous_at
        result.stuck = at - previous_at > timedelta(hours=stuck_hours)
        return


def _averages(rows: list[WardProgress]) -> dict[str, int]:
    averages = {}
    for step in STEPS:
        values = [
            row.cells[step.key].seconds
            for row in rows
            if row.cells[step.key].seconds is not None
            and row.cells[step.key].state == "done"
        ]
        if values:
            averages[step.key] = round(sum(values) / len(values))
    return averages


def as_json(data: Progress) -> dict:
    """Return the dashboard's data as plain JSON values, instants in ISO 8601 UTC."""

    def instant(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    def cell_json(cell: Cell) -> dict:
        return {
            "state": cell.state,
            "at": instant(cell.at),
            "seconds": cell.seconds,
            "document_id": cell.document_id,
        }

    def delivery_json(delivery: Delivery | None) -> dict | None:
        if delivery is None:
            return None
        return {"status_code": delivery.status_code, "ok": delivery.ok}

    def checks_json(checks: Checks) -> dict:
        return {
            "subject": checks.subject,
            "subject_ok": checks.subject_ok,
            "city": delivery_json(checks.city),
            "center": delivery_json(checks.center),
            "other_wards": checks.other_wards,
        }

    def scenario_json(row, steps, checks, document_ids) -> dict:
        return {
            **document_ids,
            "cells": {step.key: cell_json(row.cells[step.key]) for step in steps},
            "checks": checks_json(checks),
        }

    return {
        "generated_at": instant(data.generated_at),
        "stuck_hours": data.stuck_hours,
        "subject_prefix": data.subject_prefix,
        "steps": {
            "scenario01": [{"key": s.key, "label": s.label} for s in SCENARIO01_STEPS],
            "scenario02": [{"key": s.key, "label": s.label} for s in SCENARIO02_STEPS],
        },
        "average_seconds": data.average_seconds,
        "wards": [
            {
                "id": row.ward.id,
                "name": row.ward.name,
                "counting_from": instant(row.counting_from),
                "current_step": row.current_step.key if row.current_step else None,
                "waiting_since": instant(row.waiting_since),
                "stuck": row.stuck,
                "scenario01": scenario_json(
                    row,
                    SCENARIO01_STEPS,
                    row.s01_checks,
                    {
                        "directive_id": row.document_id(row.directive),
                        "reply_id": row.document_id(row.reply),
                    },
                ),
                "scenario02": scenario_json(
                    row,
                    SCENARIO02_STEPS,
                    row.s02_checks,
                    {"document_id": row.document_id(row.own)},
                ),
            }
            for row in data.wards
        ],
    }


def format_seconds(seconds: int | None) -> str:
    """Format a duration in Vietnamese: "45 giây", "12 phút", "3 giờ 5 phút"."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds} giây"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} phút"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} giờ {minutes} phút" if minutes else f"{hours} giờ"
    days, hours = divmod(hours, 24)
    return f"{days} ngày {hours} giờ" if hours else f"{days} ngày"
