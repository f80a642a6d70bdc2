"""Reports on how incoming and outgoing documents were handled over a period."""

import io
import logging
from dataclasses import dataclass, field
from datetime import date, datetime

from openpyxl import Workbook
from openpyxl.cell import Cell
from openpyxl.styles import Alignment, Font
from sqlalchemy import func, select

from vanban.models import Department, Document, User
from vanban.services import Forbidden, ServiceError, permissions
from vanban.services.clock import check_day, day_end, day_start, local, local_today

logger = logging.getLogger(__name__)

DIRECTIONS = {
    "incoming": "Báo cáo tình hình giải quyết văn bản đến",
    "outgoing": "Báo cáo tình hình giải quyết văn bản đi",
}
# Columns of the report in order, with the heading each one gets.
CATEGORIES = {
    "on_time": "Đã giải quyết đúng hạn",
    "late": "Đã giải quyết quá hạn",
    "in_progress": "Đang giải quyết trong hạn",
    "overdue": "Chưa giải quyết, đã quá hạn",
}
TOTAL_LABELS = {"incoming": "Văn bản đến", "outgoing": "Văn bản đi"}
# Roles that see every department of their organisation. Heads see only their own.
ORGANISATION_ROLES = ("leader", "advisor")
# Maximum length of a period in days, so that a mistyped year cannot scan decades.
MAX_PERIOD_DAYS = 3 * 366
# An incoming document returned to its sender was never handled, so it is
# counted apart from the four categories.
RETURNED_STATE = "returned"


@dataclass
class Counts:
    total: int = 0
    on_time: int = 0
    late: int = 0
    in_progress: int = 0
    overdue: int = 0
    returned: int = 0

    def add(self, category: str) -> None:
        self.total += 1
        setattr(self, category, getattr(self, category) + 1)


@dataclass
class ReportRow:
    label: str
    counts: Counts


@dataclass
class Report:
    direction: str
    title: str
    start: date
    end: date
    # The day the state of each document is taken on: the period's last day,
    # or today while the period is still running.
    as_of: date
    department: Department | None
    totals: Counts
    rows: list[ReportRow] = field(default_factory=list)


def can_view_reports(user) -> bool:
    """Tell whether a user may open the reports at all."""
    if not getattr(user, "is_authenticated", False):
        return False
    if user.has_role(*ORGANISATION_ROLES):
        return True
    return user.has_role("head") and user.department_id is not None


def allowed_departments(session, user: User) -> list[Department]:
    """Return the departments whose report the user may see."""
    query = select(Department).where(Department.organisation_id == user.organisation_id)
    if not user.has_role(*ORGANISATION_ROLES):
        if not user.has_role("head") or user.department_id is None:
            return []
        query = query.where(Department.id == user.department_id)
    return list(session.scalars(query.order_by(Department.id)))


def parse_period(raw_start: str, raw_end: str) -> tuple[date, date]:
    """Read the period's first and last day from yyyy-mm-dd or dd/mm/yyyy text.

    Raise ServiceError with a Vietnamese message on the field that is wrong.
    """
    start = _parse_day(raw_start, "start", "Từ ngày")
    end = _parse_day(raw_end, "end", "Đến ngày")
    if end < start:
        raise ServiceError("“Đến ngày” phải bằng hoặc sau “Từ ngày”.", field="end")
    if (end - start).days > MAX_PERIOD_DAYS:
        raise ServiceError(
            f"Kỳ báo cáo dài tối đa {MAX_PERIOD_DAYS} ngày. Hãy chọn kỳ ngắn hơn.",
            field="end",
        )
    return start, end


def _parse_day(raw: str, field_name: str, label: str) -> date:
    raw = (raw or "").strip()
    if not raw:
        raise ServiceError(f"Vui lòng nhập “{label}”.", field=field_name)
    for pattern in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            day = datetime.strptime(raw, pattern).date()
        except ValueError:
            continue
        return check_day(day, label, field_name)
    raise ServiceError(
        f"“{label}” không hợp lệ: {raw[:40]}. Hãy nhập theo dạng ngày/tháng/năm.",
        field=field_name,
    )


def default_period(today: date | None = None) -> tuple[date, date]:
    """Return the current month up to today."""
    today = today or local_today()
    return today.replace(day=1), today


def _entry_time(direction: str):
    """Return the column that puts a document into a period."""
    if direction == "incoming":
        return func.coalesce(Document.received_at, Document.created_at)
    return Document.created_at


def classify(
    state: str, due_date: date | None, completed_at: datetime | None, as_of: date
) -> str:
    """Return the report category of one document on the day `as_of`."""
    if state == RETURNED_STATE:
        return "returned"
    completed_day = local(completed_at).date() if completed_at else None
    if completed_day is not None and completed_day <= as_of:
        if due_date is not None and completed_day > due_date:
            return "late"
        return "on_time"
    if due_date is not None and due_date < as_of:
        return "overdue"
    return "in_progress"


def build_report(
    session,
    user: User,
    direction: str,
    start: date,
    end: date,
    department_id: int | None,
) -> Report:
    """Count the documents that entered the organisation's work in the period.

    Incoming documents enter when received (or entered by hand), outgoing ones
    when their draft is created. Each is classified by its state on `as_of`.
    Without a department the report has one row per department. Secret
    documents count only for users who may read them, as in the lists.
    """
    if direction not in DIRECTIONS:
        raise ServiceError("Loại báo cáo không hợp lệ.")
    departments = allowed_departments(session, user)
    if not departments:
        raise Forbidden("Bạn không có quyền xem báo cáo này.")
    by_id = {department.id: department for department in departments}
    organisation_wide = user.has_role(*ORGANISATION_ROLES)
    if department_id is None and not organisation_wide:
        department_id = user.department_id
    if department_id is not None and department_id not in by_id:
        raise Forbidden("Bạn không có quyền xem báo cáo của phòng ban này.")

    as_of = min(end, local_today())
    entered = _entry_time(direction)
    query = select(
        Document.department_id,
        Document.state,
        Document.due_date,
        Document.completed_at,
    ).where(
        Document.organisation_id == user.organisation_id,
        Document.direction == direction,
        entered >= day_start(start),
        entered < day_end(end),
        permissions.secret_filter(user),
    )
    if department_id is not None:
        query = query.where(Document.department_id == department_id)

    # NOTE: rows are classified in Python, because comparing a UTC instant's
    # local day with a date column differs between SQLite and PostgreSQL. One
    # organisation's documents over at most three years stay in the tens of
    # thousands of small rows.
    totals = Counts()
    per_department: dict[int | None, Counts] = {}
    for row_department, state, due_date, completed_at in session.execute(query):
        category = classify(state, due_date, completed_at, as_of)
        totals.add(category)
        per_department.setdefault(row_department, Counts()).add(category)

    rows = []
    if department_id is None:
        rows = [
            ReportRow(department.name, per_department.get(department.id, Counts()))
            for department in departments
        ]
        unassigned = per_department.get(None)
        if unassigned is not None:
            rows.append(ReportRow("Chưa giao phòng ban", unassigned))

    logger.info(
        "%s report %s..%s department %s built for user %s",
        direction,
        start,
        end,
        department_id,
        user.id,
    )
    return Report(
        direction=direction,
        title=DIRECTIONS[direction],
        start=start,
        end=end,
        as_of=as_of,
        department=by_id.get(department_id) if department_id else None,
        totals=totals,
        rows=rows,
    )


def columns(direction: str) -> dict[str, str]:
    """Return the count columns of a report, keyed by `Counts` attribute."""
    result = {"total": TOTAL_LABELS[direction], **CATEGORIES}
    if direction == "incoming":
        result["returned"] = "Trả lại nơi gửi"
    return result


# Chart geometry in SVG user units. The chart scales with the page width.
CHART_LABEL_WIDTH = 230
CHART_BAR_AREA = 360
CHART_ROW_HEIGHT = 34
CHART_BAR_HEIGHT = 22


@dataclass
class ChartBar:
    key: str
    label: str
    value: int
    y: int
    width: int


@dataclass
class Chart:
    bars: list[ChartBar]
    width: int
    height: int
    label_width: int
    bar_height: int


def chart(report: Report) -> Chart:
    """Lay out one horizontal bar per category of the report's totals."""
    keys = [key for key in columns(report.direction) if key != "total"]
    values = {key: getattr(report.totals, key) for key in keys}
    largest = max(values.values(), default=0) or 1
    bars = [
        ChartBar(
            key=key,
            label=columns(report.direction)[key],
            value=values[key],
            y=index * CHART_ROW_HEIGHT,
            width=round(CHART_BAR_AREA * values[key] / largest),
        )
        for index, key in enumerate(keys)
    ]
    return Chart(
        bars=bars,
        # Room after the longest bar for its number.
        width=CHART_LABEL_WIDTH + CHART_BAR_AREA + 60,
        height=len(bars) * CHART_ROW_HEIGHT,
        label_width=CHART_LABEL_WIDTH,
        bar_height=CHART_BAR_HEIGHT,
    )


def _text_cell(cell: Cell, value: str) -> Cell:
    """Store text as a string that a spreadsheet never evaluates as a formula."""
    cell.value = value
    cell.data_type = "s"
    if value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        cell.quotePrefix = True
    return cell


def to_xlsx(report: Report, organisation_name: str) -> bytes:
    """Write the report as an XLSX workbook with real dates and numbers."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Báo cáo"
    bold = Font(bold=True)

    _text_cell(sheet.cell(row=1, column=1), organisation_name).font = bold
    _text_cell(sheet.cell(row=2, column=1), report.title).font = Font(
        bold=True, size=14
    )
    meta = (
        ("Từ ngày", report.start),
        ("Đến ngày", report.end),
        ("Tình trạng tính đến ngày", report.as_of),
    )
    for offset, (label, day) in enumerate(meta):
        row = 3 + offset
        _text_cell(sheet.cell(row=row, column=1), label)
        cell = sheet.cell(row=row, column=2, value=day)
        cell.number_format = "DD/MM/YYYY"
    department = report.department.name if report.department else "Tất cả phòng ban"
    _text_cell(sheet.cell(row=6, column=1), "Phòng ban")
    _text_cell(sheet.cell(row=6, column=2), department)

    headings = columns(report.direction)
    header_row = 8
    _text_cell(sheet.cell(row=header_row, column=1), "Phòng ban").font = bold
    for index, label in enumerate(headings.values(), start=2):
        cell = _text_cell(sheet.cell(row=header_row, column=index), label)
        cell.font = bold
        cell.alignment = Alignment(wrap_text=True, vertical="top")

    rows = [*report.rows, ReportRow("Tổng cộng", report.totals)]
    for offset, item in enumerate(rows, start=1):
        row = header_row + offset
        label_cell = _text_cell(sheet.cell(row=row, column=1), item.label)
        if item is rows[-1]:
            label_cell.font = bold
        for index, key in enumerate(headings, start=2):
            sheet.cell(row=row, column=index, value=getattr(item.counts, key))

    sheet.column_dimensions["A"].width = 32
    for index in range(2, len(headings) + 2):
        sheet.column_dimensions[
            sheet.cell(row=1, column=index).column_letter
        ].width = 18

    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
