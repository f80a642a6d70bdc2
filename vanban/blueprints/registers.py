"""Registers: entering incoming documents (số đến), numbering outgoing ones, and
the register books (sổ văn bản) with their printing, export, closing and series
settings."""

import logging

from flask import Blueprint, abort, flash, make_response, redirect, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from vanban import forms
from vanban.blueprints.actions import load_document, perform
from vanban.blueprints.listing import list_response
from vanban.extensions import db
from vanban.models import Department, Document, NumberSeries
from vanban.services import (
    ServiceError,
    doctypes,
    drafts,
    incoming,
    numbering,
    register_books,
    register_settings,
)
from vanban.services.doctypes import TYPE_CHOICES, URGENCY_LABELS
from vanban.web import error_response, render

logger = logging.getLogger(__name__)
bp = Blueprint("registers", __name__, url_prefix="/registers")
# Query string keys of a register page, kept on its print and export links.
FILTER_KEYS = (
    "secret",
    "date_from",
    "date_to",
    "type",
    "organ",
    "department",
    "urgency",
)
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def register_duplicates(document: Document) -> tuple[list[Document], int]:
    """Return the earlier documents that an arrived document may duplicate and
    the user may read, with the count of the other ones."""
    if document.direction != "incoming" or document.state != "arrived":
        return [], 0
    duplicates = incoming.duplicates_of(db.session, document)
    return incoming.readable_duplicates(db.session, current_user, duplicates)


# The document page shows the warning next to the "Vào sổ" button.
bp.add_app_template_global(register_duplicates, "register_duplicates")
bp.add_app_template_global(register_books.can_read, "can_read_registers")


@bp.get("/outgoing/")
@login_required
def outgoing():
    """List outgoing documents and drafts the user may read."""
    return list_response("outgoing", "Văn bản đi", "registers.outgoing")


@bp.post("/incoming/<int:document_id>")
@login_required
def register_incoming(document_id: int):
    """Enter a received document in the incoming register."""
    document = load_document(document_id, for_update=True)
    confirmed = request.form.get("confirm_duplicate") == "1"
    return perform(
        document,
        "register",
        forms.EmptyForm(),
        lambda: incoming.register(
            db.session, current_user, document, confirm_duplicate=confirmed
        ),
        "Đã vào sổ văn bản đến.",
    )


@bp.post("/outgoing/<int:document_id>/issue")
@login_required
def issue(document_id: int):
    """Number an approved document and send it to its recipients."""
    document = load_document(document_id, for_update=True)
    form = forms.IssueForm()
    return perform(
        document,
        "issue",
        form,
        lambda: drafts.issue(
            db.session,
            current_user,
            document,
            subject=form.subject.data,
            recipient_ids=list(form.recipients.data or []),
            info_ids=list(form.info.data or []),
        ),
        "Đã vào sổ và phát hành văn bản.",
    )


# Register books


def _check_reader(secret: bool = False) -> None:
    if not register_books.can_read(current_user, secret):
        logger.warning("registers denied to user %s", current_user.id)
        abort(403)


def _check_keeper() -> None:
    if not register_books.can_keep(current_user):
        logger.warning("register keeping denied to user %s", current_user.id)
        abort(403)


def _kind(slug: str) -> register_books.BookKind:
    kind = register_books.KINDS.get(slug)
    if kind is None:
        abort(404)
    return kind


def _year(year: int) -> int:
    try:
        return register_books.check_year(year)
    except ServiceError:
        abort(404)


def _departments() -> list[Department]:
    return list(
        db.session.scalars(
            select(Department)
            .where(Department.organisation_id == current_user.organisation_id)
            .order_by(Department.id)
        )
    )


def _filters_from_request() -> tuple[register_books.BookFilters, list[str]]:
    """Read the filters of the query string, with a message for each bad one."""
    args = request.args
    errors = []
    filters = register_books.BookFilters(organ=args.get("organ", "")[:200])

    for name, label in (("date_from", "Từ ngày"), ("date_to", "Đến ngày")):
        try:
            setattr(filters, name, register_books.parse_date(args.get(name, ""), label))
        except ServiceError as error:
            errors.append(error.message)
    if filters.date_from and filters.date_to and filters.date_from > filters.date_to:
        errors.append("“Từ ngày” phải trước hoặc bằng “Đến ngày”.")

    type_name = args.get("type", "")
    if doctypes.is_known_type(type_name):
        filters.type_name = type_name
    elif type_name:
        errors.append("Loại văn bản không hợp lệ. Hãy chọn lại trong danh sách.")

    department = args.get("department", "")
    department_ids = {d.id for d in _departments()}
    is_number = department.isdecimal() and len(department) <= 9
    if is_number and int(department) in department_ids:
        filters.department_id = int(department)
    elif department:
        errors.append("Phòng ban không hợp lệ. Hãy chọn lại trong danh sách.")

    urgency = args.get("urgency", "")
    if urgency.isdecimal() and len(urgency) == 1 and int(urgency) in URGENCY_LABELS:
        filters.urgency = int(urgency)
    elif urgency:
        errors.append("Độ khẩn không hợp lệ. Hãy chọn lại trong danh sách.")
    return filters, errors


def _load_book(slug: str, year: int, secret: bool | None = None):
    kind = _kind(slug)
    year = _year(year)
    if secret is None:
        secret = request.args.get("secret") == "1"
    _check_reader(secret)
    filters, errors = _filters_from_request()
    if errors:
        filters = register_books.BookFilters()
    book = register_books.build_book(
        db.session,
        current_user.organisation,
        kind.slug,
        year,
        secret=secret,
        filters=filters,
    )
    return book, errors


@bp.get("/")
@login_required
def index():
    """List the register years with their books and whether each is closed."""
    _check_reader()
    organisation_id = current_user.organisation_id
    return render(
        "registers/index.html",
        title="Sổ văn bản",
        years=register_books.register_years(db.session, organisation_id),
        closures=register_books.closures(db.session, organisation_id),
        kinds=register_books.KINDS,
        can_keep=register_books.can_keep(current_user),
        can_reopen=register_books.can_reopen(current_user),
        can_read_secret=register_books.can_read(current_user, secret=True),
        can_read_settings=register_settings.can_read(current_user),
    )


@bp.get("/books/<slug>/<int:year>")
@login_required
def book(slug: str, year: int):
    """Show a register of one year, filtered by date, type, body, unit and urgency."""
    return _book_response(slug, year)


def _book_response(
    slug: str, year: int, secret: bool | None = None, void: dict | None = None
):
    """Render a register page, with `void` as a rejected "hủy số" form to show again."""
    book, errors = _load_book(slug, year, secret)
    return render(
        "registers/book.html",
        "registers/_book.html",
        status=422 if errors or void else 200,
        void=void,
        title=book.title,
        book=book,
        errors=errors,
        args=request.args,
        query={k: v for k, v in request.args.items() if k in FILTER_KEYS},
        type_choices=doctypes.ALL_TYPE_CHOICES,
        departments=_departments(),
        series_by_id={s.id: s for s in book.series},
        can_keep=register_books.can_keep(current_user),
    )


@bp.get("/books/<slug>/<int:year>/print")
@login_required
def print_book(slug: str, year: int):
    """Render a register for printing on A4 landscape, with its cover page."""
    book, errors = _load_book(slug, year)
    if errors:
        return error_response(422, " ".join(errors))
    return render("registers/print.html", book=book)


@bp.get("/books/<slug>/<int:year>/export")
@login_required
def export(slug: str, year: int):
    """Download a register as an XLSX workbook."""
    book, errors = _load_book(slug, year)
    if errors:
        return error_response(422, " ".join(errors))
    response = make_response(register_books.workbook_bytes(book))
    response.headers["Content-Type"] = XLSX_TYPE
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{register_books.export_name(book)}"'
    )
    logger.info(
        "register %s %s exported by user %s", book.kind.slug, book.year, current_user.id
    )
    return response


def _direction(direction: str) -> str:
    if direction not in numbering.DIRECTION_LABELS:
        abort(404)
    return direction


@bp.post("/books/<direction>/<int:year>/close")
@login_required
def close(direction: str, year: int):
    """Close (đóng sổ) a register year: no more numbers are taken in it."""
    direction = _direction(direction)
    _check_keeper()
    year = _year(year)
    if request.form.get("confirm") != "1":
        return error_response(
            422,
            f"Chưa đóng sổ năm {year}: hãy đánh dấu ô xác nhận rồi bấm “Đóng sổ”.",
        )
    register_books.close(db.session, current_user, direction, year)
    db.session.commit()
    flash(
        f"Đã đóng sổ văn bản {numbering.DIRECTION_LABELS[direction]} năm {year}.",
        "success",
    )
    return redirect(url_for("registers.index"), 303)


@bp.post("/books/<direction>/<int:year>/reopen")
@login_required
def reopen(direction: str, year: int):
    """Reopen a closed register year; admins only."""
    direction = _direction(direction)
    if not register_books.can_reopen(current_user):
        logger.warning("register reopening denied to user %s", current_user.id)
        abort(403)
    register_books.reopen(db.session, current_user, direction, _year(year))
    db.session.commit()
    flash(
        f"Đã mở lại sổ văn bản {numbering.DIRECTION_LABELS[direction]} năm {year}.",
        "success",
    )
    return redirect(url_for("registers.index"), 303)


def _own_series(series_id: int) -> NumberSeries:
    series = db.session.get(NumberSeries, series_id)
    if series is None or series.organisation_id != current_user.organisation_id:
        abort(404)
    return series


@bp.post("/series/<int:series_id>/void")
@login_required
def void_number(series_id: int):
    """Record why a number of a series has no document."""
    series = _own_series(series_id)
    _check_keeper()
    _check_reader(series.secret)
    year_text = request.form.get("year", "")
    number_text = request.form.get("number", "").strip()
    if not (year_text.isdecimal() and len(year_text) == 4):
        return error_response(422, "Năm không hợp lệ.")
    year = int(year_text)
    slug = "incoming" if series.direction == "incoming" else "outgoing"
    typed = {
        "series_id": series.id,
        "number": number_text[:20],
        "reason": request.form.get("reason", ""),
    }
    try:
        if number_text and not (number_text.isdecimal() and len(number_text) <= 6):
            raise ServiceError(
                "Số cần hủy phải là một số nguyên dương.", field="number"
            )
        number = int(number_text) if number_text else None
        voided = numbering.void_number(
            db.session, current_user, series, year, number, typed["reason"]
        )
    except ServiceError as error:
        db.session.rollback()
        if error.status_code != 422:
            raise
        typed["error"] = error.message
        return _book_response(slug, year, series.secret, void=typed)
    db.session.commit()
    flash(f"Đã ghi lý do hủy số {voided.number} năm {voided.year}.", "success")
    secret = "1" if series.secret else None
    return redirect(url_for("registers.book", slug=slug, year=year, secret=secret), 303)


# Series settings


def _settings_response(status: int = 200, failed: dict | None = None):
    series_list = register_settings.series_list(
        db.session, current_user.organisation_id
    )
    return render(
        "registers/settings.html",
        status=status,
        title="Cấu hình sổ văn bản",
        series_list=series_list,
        types_by_series=register_settings.types_by_series(series_list),
        scope_labels=register_settings.SCOPE_LABELS,
        type_choices=TYPE_CHOICES,
        can_edit=register_settings.can_edit(current_user),
        failed=failed or {},
    )


def _check_settings(edit: bool) -> None:
    allowed = (
        register_settings.can_edit(current_user)
        if edit
        else register_settings.can_read(current_user)
    )
    if not allowed:
        logger.warning("series settings denied to user %s", current_user.id)
        abort(403)


@bp.get("/settings")
@login_required
def settings():
    """Show the organisation's number series; admins edit them, clerks read them."""
    _check_settings(edit=False)
    return _settings_response()


def _typed_values() -> dict:
    form = request.form
    return {
        "name": form.get("name", ""),
        "symbol_pattern": form.get("symbol_pattern", ""),
        "type_names": form.getlist("type_names"),
        "secret": form.get("secret") == "1",
    }


@bp.post("/settings/<int:series_id>")
@login_required
def update_series(series_id: int):
    """Save a series' name, symbol pattern and document types."""
    series = _own_series(series_id)
    _check_settings(edit=True)
    values = _typed_values()
    try:
        register_settings.update_series(
            db.session,
            current_user,
            series,
            name=values["name"],
            symbol_pattern=values["symbol_pattern"],
            type_names=values["type_names"],
        )
    except ServiceError as error:
        db.session.rollback()
        failed = {"key": series_id, "values": values, "error": error}
        return _settings_response(422, failed)
    db.session.commit()
    flash(f"Đã lưu sổ “{series.name}”.", "success")
    return redirect(url_for("registers.settings"), 303)


@bp.post("/settings/new")
@login_required
def create_series():
    """Add an outgoing series for chosen document types."""
    _check_settings(edit=True)
    values = _typed_values()
    try:
        series = register_settings.create_series(
            db.session,
            current_user,
            name=values["name"],
            secret=values["secret"],
            symbol_pattern=values["symbol_pattern"],
            type_names=values["type_names"],
        )
    except ServiceError as error:
        db.session.rollback()
        failed = {"key": "new", "values": values, "error": error}
        return _settings_response(422, failed)
    db.session.commit()
    flash(f"Đã thêm sổ “{series.name}”.", "success")
    return redirect(url_for("registers.settings"), 303)
