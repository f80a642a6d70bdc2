"""Reports on document handling over a period, on screen and as XLSX."""

import logging

from flask import Blueprint, abort, make_response, request
from flask_login import current_user, login_required
from wtforms import SelectField, StringField

from vanban.extensions import db
from vanban.forms import BaseForm
from vanban.services import ServiceError, reports
from vanban.services.clock import local_today
from vanban.web import render

logger = logging.getLogger(__name__)
bp = Blueprint("reports", __name__, url_prefix="/reports")

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# base.html shows the menu link only when this returns True for the current user.
bp.add_app_template_global(reports.can_view_reports, "can_view_reports")


class ReportForm(BaseForm):
    # The service reads and checks the dates, so its messages name the field.
    start = StringField("Từ ngày", render_kw={"type": "date"})
    end = StringField("Đến ngày", render_kw={"type": "date"})
    department = SelectField("Phòng ban", validate_choice=False)


def _department_id(raw: str | None) -> int | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    # isdecimal, unlike isdigit, rejects '²', which int() cannot read.
    if not raw.isdecimal() or len(raw) > 9:
        raise ServiceError("Phòng ban không hợp lệ. Hãy chọn lại.", field="department")
    return int(raw)


def _build(direction: str):
    """Read the form from the query string and build the report.

    Return the form, the report (None when the input is invalid) and the status.
    """
    if direction not in reports.DIRECTIONS:
        abort(404)
    if not reports.can_view_reports(current_user):
        logger.warning("reports forbidden for user %s", current_user.id)
        abort(403)

    form = ReportForm(formdata=request.args if request.args else None)
    departments = reports.allowed_departments(db.session, current_user)
    choices = [(str(d.id), d.name) for d in departments]
    if current_user.has_role(*reports.ORGANISATION_ROLES):
        choices.insert(0, ("", "Tất cả phòng ban"))
    form.department.choices = choices
    if not request.args:
        start, end = reports.default_period(local_today())
        form.start.data = start.isoformat()
        form.end.data = end.isoformat()

    try:
        start, end = reports.parse_period(form.start.data, form.end.data)
        report = reports.build_report(
            db.session,
            current_user,
            direction,
            start,
            end,
            _department_id(form.department.data),
        )
    except ServiceError as error:
        if error.status_code != 422:
            raise
        field = getattr(form, error.field, None) if error.field else None
        if field is not None:
            field.errors = [*field.errors, error.message]
        else:
            form.form_errors.append(error.message)
        return form, None, 400
    return form, report, 200


@bp.get("/<direction>")
@login_required
def show(direction: str):
    """Show a report with its table and chart."""
    form, report, status = _build(direction)
    return _render(direction, form, report, status)


@bp.get("/<direction>/export")
@login_required
def export(direction: str):
    """Download a report as an XLSX workbook, or show the form when input is invalid."""
    form, report, status = _build(direction)
    if report is None:
        return _render(direction, form, report, status)

    content = reports.to_xlsx(report, current_user.organisation.name)
    response = make_response(content)
    response.mimetype = XLSX_MIMETYPE
    filename = f"bao-cao-van-ban-{'den' if direction == 'incoming' else 'di'}-"
    filename += f"{report.start:%Y%m%d}-{report.end:%Y%m%d}.xlsx"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    logger.info("%s report exported by user %s", direction, current_user.id)
    return response


def _render(direction: str, form: ReportForm, report, status: int):
    return render(
        "reports/page.html",
        "reports/_report.html",
        status=status,
        direction=direction,
        title=reports.DIRECTIONS[direction],
        titles=reports.DIRECTIONS,
        form=form,
        report=report,
        columns=reports.columns(direction),
        chart=reports.chart(report) if report else None,
    )
