"""Register books (sổ văn bản): their rows, gaps, closing and XLSX export.

The columns and their order are those of Nghị định 30/2020/NĐ-CP, Phụ lục IV:
the incoming register, the outgoing register and the register that follows up
the handling of incoming documents.
"""

import io
import logging
import re
from dataclasses import dataclass, field
from datetime import date, datetime

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from vanban.models import (
    Assignment,
    Document,
    NumberSeries,
    Organisation,
    RegisterClosure,
    User,
)
from vanban.services import ServiceError, audit, numbering
from vanban.services.clock import (
    check_day,
    day_end,
    day_start,
    local,
    local_today,
    local_year,
    now,
)
from vanban.services.doctypes import SECRECY_LABELS, URGENCY_LABELS
from vanban.services.folding import folded
from vanban.services.text import fold
from vanban.services.workflow import INCOMING_STATES

logger = logging.getLogger(__name__)

INCOMING_COLUMNS = (
    "Ngày đến",
    "Số đến",
    "Tác giả",
    "Số, ký hiệu văn bản",
    "Ngày tháng văn bản",
    "Tên loại và trích yếu nội dung văn bản",
    "Đơn vị hoặc người nhận",
    "Ngày chuyển",
    "Ký nhận",
    "Ghi chú",
)
OUTGOING_COLUMNS = (
    "Số, ký hiệu văn bản",
    "Ngày tháng văn bản",
    "Tên loại và trích yếu nội dung văn bản",
    "Người ký",
    "Nơi nhận văn bản",
    "Đơn vị, người nhận bản lưu",
    "Số lượng bản",
    "Ngày chuyển",
    "Ký nhận",
    "Ghi chú",
)
FOLLOW_UP_COLUMNS = (
    "Số đến",
    "Tên loại, số, ký hiệu, ngày tháng và cơ quan ban hành",
    "Đơn vị hoặc người nhận",
    "Thời hạn giải quyết",
    "Tiến độ giải quyết",
    "Số, ký hiệu văn bản trả lời",
    "Ghi chú",
)


@dataclass(frozen=True)
class BookKind:
    slug: str
    direction: str
    title: str
    columns: tuple[str, ...]


KINDS = {
    "incoming": BookKind(
        "incoming", "incoming", "Sổ đăng ký văn bản đến", INCOMING_COLUMNS
    ),
    "outgoing": BookKind(
        "outgoing", "outgoing", "Sổ đăng ký văn bản đi", OUTGOING_COLUMNS
    ),
    "follow-up": BookKind(
        "follow-up",
        "incoming",
        "Sổ theo dõi giải quyết văn bản đến",
        FOLLOW_UP_COLUMNS,
    ),
}
# Roles that may read the registers of their organisation, and the secret ones.
# The secret registers also need the user's clearance (User.secret_clearance).
READER_ROLES = ("clerk", "leader", "advisor", "admin")
SECRET_READER_ROLES = ("clerk", "leader")
# Roles that close a register year and record voided numbers.
KEEPER_ROLES = ("clerk", "admin")
# Text that a spreadsheet would read as a formula (or a command, after a tab or
# carriage return) when it starts a cell.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
DATE_FORMAT = "DD/MM/YYYY"
FIRST_YEAR = 2000


def can_read(user: User, secret: bool = False) -> bool:
    if not user.is_authenticated:
        return False
    if secret:
        return user.has_role(*SECRET_READER_ROLES) and user.secret_clearance
    return user.has_role(*READER_ROLES)


def can_keep(user: User) -> bool:
    return bool(user.is_authenticated and user.has_role(*KEEPER_ROLES))


def can_reopen(user: User) -> bool:
    return bool(user.is_authenticated and user.has_role("admin"))


def check_year(year: int) -> int:
    """Return the year when a register can exist for it, else raise ServiceError."""
    latest = local_today().year + 1
    if not FIRST_YEAR <= year <= latest:
        raise ServiceError(
            f"Năm {year} không hợp lệ: chọn một năm từ {FIRST_YEAR} đến {latest}.",
            field="year",
        )
    return year


@dataclass
class BookFilters:
    date_from: date | None = None
    date_to: date | None = None
    type_name: str = ""
    organ: str = ""
    department_id: int | None = None
    urgency: int | None = None

    @property
    def active(self) -> bool:
        return any(
            (
                self.date_from,
                self.date_to,
                self.type_name,
                fold(self.organ),
                self.department_id is not None,
                self.urgency is not None,
            )
        )


@dataclass
class Row:
    """One line of a register: a document, or a number no document holds."""

    cells: list
    document_id: int | None = None
    gap: numbering.Gap | None = None

    @property
    def display(self) -> list[str]:
        return [display_value(value) for value in self.cells]


@dataclass
class Book:
    kind: BookKind
    organisation: Organisation
    year: int
    secret: bool
    filters: BookFilters
    rows: list[Row]
    series: list[NumberSeries]
    gaps: dict[int, list[numbering.Gap]] = field(default_factory=dict)
    closure: RegisterClosure | None = None

    @property
    def documents(self) -> list[Row]:
        return [row for row in self.rows if row.document_id is not None]

    @property
    def title(self) -> str:
        secret = " mật" if self.secret else ""
        return f"{self.kind.title}{secret} năm {self.year}"


def display_value(value) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    return str(value)


def _local_date(instant: datetime | None) -> date | None:
    return local(instant).date() if instant else None


def _series_of(session, organisation_id: int, direction: str, secret: bool):
    return list(
        session.scalars(
            select(NumberSeries)
            .where(
                NumberSeries.organisation_id == organisation_id,
                NumberSeries.direction == direction,
                NumberSeries.secret == secret,
            )
            .order_by(NumberSeries.id)
        )
    )


def _documents(session, series_ids: list[int], year: int, filters: BookFilters):
    query = (
        select(Document)
        .where(
            Document.series_id.in_(series_ids),
            Document.register_year == year,
            Document.register_number.is_not(None),
        )
        .options(
            selectinload(Document.recipients),
            selectinload(Document.department),
        )
        .order_by(Document.series_id, Document.register_number)
    )
    if filters.date_from:
        query = query.where(Document.registered_at >= day_start(filters.date_from))
    if filters.date_to:
        query = query.where(Document.registered_at < day_end(filters.date_to))
    if filters.type_name:
        query = query.where(Document.type_name == filters.type_name)
    needle = fold(filters.organ)
    if needle:
        query = query.where(
            folded(Document.organ_name).contains(needle, autoescape=True)
        )
    if filters.department_id is not None:
        query = query.where(Document.department_id == filters.department_id)
    if filters.urgency is not None:
        query = query.where(Document.urgency == filters.urgency)
    return list(session.scalars(query))


def _assignments(session, document_ids: list[int]) -> dict[int, list[Assignment]]:
    found: dict[int, list[Assignment]] = {}
    if not document_ids:
        return found
    rows = session.scalars(
        select(Assignment)
        .where(Assignment.document_id.in_(document_ids))
        .options(selectinload(Assignment.department), selectinload(Assignment.user))
        .order_by(Assignment.id)
    )
    for assignment in rows:
        found.setdefault(assignment.document_id, []).append(assignment)
    return found


def _replies(session, document_ids: list[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    if not document_ids:
        return found
    rows = session.scalars(
        select(Document)
        .where(Document.reply_to_id.in_(document_ids), Document.state == "issued")
        .order_by(Document.id)
    )
    for reply in rows:
        found.setdefault(reply.reply_to_id, []).append(reply.number_and_notation)
    return found


def _assignee(assignment: Assignment) -> str:
    if assignment.user is not None:
        return assignment.user.full_name
    return assignment.department.name if assignment.department else ""


def _receivers(assignments: list[Assignment]) -> str:
    """Name the lead unit or person, then the supporting ones."""
    leads = [_assignee(a) for a in assignments if a.role == "lead"]
    support = [_assignee(a) for a in assignments if a.role == "support"]
    text = ", ".join(dict.fromkeys(name for name in leads if name))
    if support:
        text += f" (phối hợp: {', '.join(dict.fromkeys(support))})"
    return text.strip()


def _marks(document: Document) -> list[str]:
    marks = []
    if document.urgency:
        marks.append(URGENCY_LABELS[document.urgency])
    if document.secrecy:
        marks.append(SECRECY_LABELS[document.secrecy])
    return marks


def _type_and_subject(document: Document) -> str:
    return f"{document.type_name}: {document.subject}"


def _incoming_cells(document: Document, assignments: list[Assignment]) -> list:
    handed_over = min((a.created_at for a in assignments), default=None)
    officers = [a.user.full_name for a in assignments if a.user is not None]
    notes = _marks(document)
    if document.state == "returned":
        notes.append(INCOMING_STATES["returned"])
    return [
        _local_date(document.received_at or document.registered_at),
        document.register_number,
        document.organ_name,
        document.number_and_notation,
        document.issued_date,
        _type_and_subject(document),
        _receivers(assignments),
        _local_date(handed_over),
        ", ".join(dict.fromkeys(officers)),
        "; ".join(notes),
    ]


def _outgoing_cells(document: Document) -> list:
    signer = f"{document.signer_position} {document.signer_name}".strip()
    kept_by = "VT"
    if document.department is not None:
        kept_by = f"VT, {document.department.abbreviation}"
    recipients = [r.organisation.name for r in document.recipients]
    return [
        document.number_and_notation,
        document.issued_date,
        _type_and_subject(document),
        signer,
        "; ".join(recipients),
        kept_by,
        len(recipients),
        _local_date(document.issued_at),
        "",
        "; ".join(_marks(document)),
    ]


def _progress(document: Document, today: date) -> str:
    progress = INCOMING_STATES.get(document.state, document.state)
    open_states = ("done", "returned")
    if (
        document.due_date
        and document.due_date < today
        and document.state not in (open_states)
    ):
        progress += " (quá hạn)"
    return progress


def _follow_up_cells(
    document: Document, assignments: list[Assignment], replies: list[str], today
) -> list:
    issued = document.issued_date.strftime("%d/%m/%Y") if document.issued_date else ""
    described = f"{document.type_name} số {document.number_and_notation}"
    if issued:
        described += f" ngày {issued}"
    if document.organ_name:
        described += f" của {document.organ_name}"
    return [
        document.register_number,
        described,
        _receivers(assignments),
        document.due_date,
        _progress(document, today),
        ", ".join(replies),
        "; ".join(_marks(document)),
    ]


def _gap_cells(kind: BookKind, series: NumberSeries, gap: numbering.Gap) -> list:
    reason = (
        f"Số {gap.number} bị bỏ trống: {gap.reason}"
        if gap.reason
        else f"Số {gap.number} bị bỏ trống, chưa ghi lý do"
    )
    cells: list = [None] * len(kind.columns)
    if kind.slug == "outgoing":
        cells[0] = f"{numbering.format_number(gap.number)} ({series.name})"
    else:
        cells[kind.columns.index("Số đến")] = gap.number
    cells[-1] = reason
    return cells


def build_book(
    session,
    organisation: Organisation,
    kind_slug: str,
    year: int,
    *,
    secret: bool = False,
    filters: BookFilters | None = None,
) -> Book:
    """Collect a register's rows in number order, gaps included when unfiltered."""
    kind = KINDS[kind_slug]
    filters = filters or BookFilters()
    series = _series_of(session, organisation.id, kind.direction, secret)
    documents = _documents(session, [s.id for s in series], year, filters)
    ids = [d.id for d in documents]
    assignments = _assignments(session, ids) if kind.direction == "incoming" else {}
    replies = _replies(session, ids) if kind.slug == "follow-up" else {}
    today = local_today()

    book_gaps = {s.id: numbering.gaps(session, s, year) for s in series}
    rows: list[tuple[int, int, Row]] = []
    for document in documents:
        if kind.slug == "incoming":
            cells = _incoming_cells(document, assignments.get(document.id, []))
        elif kind.slug == "outgoing":
            cells = _outgoing_cells(document)
        else:
            cells = _follow_up_cells(
                document,
                assignments.get(document.id, []),
                replies.get(document.id, []),
                today,
            )
        rows.append(
            (document.series_id, document.register_number, Row(cells, document.id))
        )
    if not filters.active:
        for item in series:
            for gap in book_gaps[item.id]:
                rows.append(
                    (item.id, gap.number, Row(_gap_cells(kind, item, gap), gap=gap))
                )
    rows.sort(key=lambda entry: (entry[0], entry[1]))
    return Book(
        kind=kind,
        organisation=organisation,
        year=year,
        secret=secret,
        filters=filters,
        rows=[row for _, _, row in rows],
        series=series,
        gaps=book_gaps,
        closure=numbering.closure_of(session, organisation.id, kind.direction, year),
    )


def register_years(session, organisation_id: int) -> list[int]:
    """List the years that have a register, the current one always included."""
    years = set(
        session.scalars(
            select(Document.register_year)
            .where(
                Document.organisation_id == organisation_id,
                Document.register_year.is_not(None),
            )
            .distinct()
        )
    )
    years.update(
        session.scalars(
            select(RegisterClosure.year).where(
                RegisterClosure.organisation_id == organisation_id
            )
        )
    )
    years.add(local_today().year)
    return sorted(years, reverse=True)


def closures(session, organisation_id: int) -> dict[tuple[str, int], RegisterClosure]:
    rows = session.scalars(
        select(RegisterClosure).where(
            RegisterClosure.organisation_id == organisation_id
        )
    )
    return {(row.direction, row.year): row for row in rows}


def close(session, user: User, direction: str, year: int) -> RegisterClosure:
    """Close (đóng sổ) a register year so that it takes no more numbers."""
    check_year(year)
    if year > local_year(now()):
        raise ServiceError(f"Chưa thể đóng sổ năm {year} vì năm đó chưa bắt đầu.")
    organisation_id = user.organisation_id
    if numbering.closure_of(session, organisation_id, direction, year):
        raise ServiceError(
            f"Sổ văn bản {numbering.DIRECTION_LABELS[direction]} năm {year} đã đóng."
        )
    closure = RegisterClosure(
        organisation_id=organisation_id,
        direction=direction,
        year=year,
        closed_by_id=user.id,
    )
    session.add(closure)
    audit.record(
        session,
        "register.close",
        user=user,
        organisation_id=organisation_id,
        before={"direction": direction, "year": year, "closed": False},
        after={"direction": direction, "year": year, "closed": True},
    )
    logger.info(
        "register %s %s of organisation %s closed by user %s",
        direction,
        year,
        organisation_id,
        user.id,
    )
    return closure


def reopen(session, user: User, direction: str, year: int) -> None:
    """Reopen a closed register year; only an admin may, and it is audited."""
    organisation_id = user.organisation_id
    closure = numbering.closure_of(session, organisation_id, direction, year)
    if closure is None:
        raise ServiceError(
            f"Sổ văn bản {numbering.DIRECTION_LABELS[direction]} năm {year} đang mở."
        )
    closed_at = closure.closed_at.isoformat()
    session.delete(closure)
    audit.record(
        session,
        "register.reopen",
        user=user,
        organisation_id=organisation_id,
        before={
            "direction": direction,
            "year": year,
            "closed": True,
            "closed_at": closed_at,
        },
        after={"direction": direction, "year": year, "closed": False},
    )
    logger.info(
        "register %s %s of organisation %s reopened by user %s",
        direction,
        year,
        organisation_id,
        user.id,
    )


def spreadsheet_text(value: str) -> str:
    """Remove the control characters that an XLSX file cannot hold."""
    return ILLEGAL_CHARACTERS_RE.sub("", value)


def _write_cell(sheet, row: int, column: int, value) -> None:
    cell = sheet.cell(row=row, column=column)
    if isinstance(value, date):
        cell.value = value
        cell.number_format = DATE_FORMAT
    elif isinstance(value, int):
        cell.value = value
    elif value:
        text = spreadsheet_text(str(value))
        cell.value = text
        # openpyxl stores a string starting with "=" as a formula, so the type
        # is set back to text, and the quote prefix keeps Excel from reading it
        # as a formula when a user edits the cell.
        cell.data_type = "s"
        if text.startswith(FORMULA_PREFIXES):
            cell.quotePrefix = True
    cell.alignment = Alignment(wrap_text=True, vertical="top")


# Column widths in characters, one per column of each register.
_WIDTHS = {
    "incoming": (12, 8, 28, 18, 12, 48, 28, 12, 18, 24),
    "outgoing": (18, 12, 48, 26, 36, 16, 10, 12, 14, 24),
    "follow-up": (8, 48, 30, 14, 26, 20, 24),
}


def workbook_bytes(book: Book) -> bytes:
    """Write the register as an XLSX workbook: the register, then its cover."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Sổ"
    for column, title in enumerate(book.kind.columns, start=1):
        cell = sheet.cell(row=1, column=column, value=title)
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="center")
        letter = cell.column_letter
        sheet.column_dimensions[letter].width = _WIDTHS[book.kind.slug][column - 1]
    for row_number, row in enumerate(book.rows, start=2):
        for column, value in enumerate(row.cells, start=1):
            _write_cell(sheet, row_number, column, value)
    sheet.freeze_panes = "A2"
    sheet.print_options.gridLines = True
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.print_title_rows = "1:1"

    cover = workbook.create_sheet("Bìa sổ")
    facts = [
        ("Cơ quan", book.organisation.name),
        ("Sổ", book.title),
        ("Năm", book.year),
        ("Số văn bản", len(book.documents)),
        (
            "Tình trạng",
            f"Đã đóng sổ ngày {local(book.closure.closed_at):%d/%m/%Y}"
            if book.closure
            else "Đang mở",
        ),
    ]
    for row_number, (label, value) in enumerate(facts, start=1):
        cover.cell(row=row_number, column=1, value=label).font = Font(bold=True)
        _write_cell(cover, row_number, 2, value)
    cover.column_dimensions["A"].width = 14
    cover.column_dimensions["B"].width = 60

    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def export_name(book: Book) -> str:
    secret = "-mat" if book.secret else ""
    return f"so-{book.kind.slug}{secret}-{book.year}.xlsx"


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_date(value: str, label: str) -> date | None:
    """Read a YYYY-MM-DD filter date, or raise ServiceError naming the filter."""
    value = (value or "").strip()
    if not value:
        return None
    if _DATE.fullmatch(value):
        try:
            day = date.fromisoformat(value)
        except ValueError:
            pass
        else:
            return check_day(day, label)
    raise ServiceError(
        f"{label} không hợp lệ: “{value[:20]}”. Hãy chọn một ngày có thật."
    )
