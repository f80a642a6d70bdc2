"""Deadline pages: the dashboard, calendar and rule settings, and the processing slip.

Leaders see their organisation's deadlines and department heads their
department's. Admins edit the working-day calendar and the default deadline
rules. Anyone who may read an incoming document may print its slip.
"""

import logging

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask_login import current_user, login_required
from wtforms import DateField, IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange

from vanban.blueprints.actions import load_document
from vanban.extensions import db
from vanban.forms import REQUIRED, BaseForm, EmptyForm
from vanban.models.calendar import CalendarChange, DeadlineRule
from vanban.services import ServiceError, deadlines, documents
from vanban.services.clock import local_today
from vanban.services.doctypes import URGENCY_LABELS
from vanban.web import render

logger = logging.getLogger(__name__)
bp = Blueprint("deadlines", __name__, url_prefix="/deadlines")

CHANGE_KINDS = {"off": "Ngày nghỉ", "work": "Ngày làm việc"}
# Years the settings page accepts, around the current one.
YEAR_SPAN = 5


def can_view_deadlines(user) -> bool:
    """Tell whether the menu shows the deadline dashboard to the user."""
    return deadlines.can_view_dashboard(user)


def deadline_flag(document) -> str:
    """Return the document's "overdue" or "soon" flag, in working days."""
    return deadlines.flag(document, current_app.config["DEADLINE_WARNING_DAYS"])


bp.add_app_template_global(can_view_deadlines, "can_view_deadlines")
bp.add_app_template_global(deadline_flag, "deadline_flag")
bp.add_app_template_global(deadlines.day_off_reason, "due_day_off")


class CalendarChangeForm(BaseForm):
    day = DateField("Ngày", validators=[InputRequired(REQUIRED)])
    kind = SelectField(
        "Thay đổi", choices=list(CHANGE_KINDS.items()), validators=[DataRequired()]
    )
    note = StringField(
        "Ghi chú",
        validators=[Length(max=255)],
        render_kw={"placeholder": "Ví dụ: Nghỉ bù theo thông báo của Chính phủ"},
    )


class RuleForm(BaseForm):
    type_name = SelectField(
        "Loại văn bản",
        choices=[("", "Mọi loại văn bản")] + [(n, n) for n in deadlines.TYPE_NAMES],
    )
    urgency = SelectField(
        "Mức độ khẩn",
        choices=[("", "Mọi mức độ")]
        + [(str(k), label) for k, label in URGENCY_LABELS.items()],
    )
    working_days = IntegerField(
        "Số ngày làm việc",
        validators=[
            InputRequired(REQUIRED),
            NumberRange(min=1, max=365, message="Số ngày làm việc phải từ 1 đến 365."),
        ],
        render_kw={"type": "text", "inputmode": "numeric", "autocomplete": "off"},
    )


@bp.get("/")
@login_required
def dashboard():
    """Show what is due, overdue and done late, per department and per officer."""
    if not deadlines.can_view_dashboard(current_user):
        logger.warning("deadline dashboard denied to user %s", current_user.id)
        abort(403)

    board = deadlines.dashboard(
        db.session, current_user, current_app.config["DEADLINE_WARNING_DAYS"]
    )
    return render(
        "deadlines/dashboard.html",
        board=board,
        today=local_today(),
        whole_organisation=current_user.has_role("leader"),
    )


def _year() -> int:
    today = local_today()
    raw = request.args.get("year", "")
    if raw.isdecimal() and len(raw) == 4:
        year = int(raw)
        if abs(year - today.year) <= YEAR_SPAN:
            return year
    return today.year


def _settings_page(year: int, change_form=None, rule_form=None, status: int = 200):
    organisation_id = current_user.organisation_id
    calendar = deadlines.calendar_for(db.session, organisation_id)
    today = local_today()
    return render(
        "deadlines/settings.html",
        status=status,
        year=year,
        years=range(today.year - YEAR_SPAN, today.year + YEAR_SPAN + 1),
        days=calendar.days_off(year),
        changes=deadlines.calendar_changes(db.session, organisation_id, year),
        change_kinds=CHANGE_KINDS,
        rules=deadlines.rules(db.session, organisation_id),
        urgency_labels=URGENCY_LABELS,
        change_form=change_form or CalendarChangeForm(formdata=None),
        rule_form=rule_form or RuleForm(formdata=None),
        delete_form=EmptyForm(),
    )


def _require_admin() -> None:
    if not current_user.has_role("admin"):
        logger.warning("deadline settings denied to user %s", current_user.id)
        abort(403)


@bp.get("/settings")
@login_required
def settings():
    """Show the working-day calendar of a year and the deadline rules."""
    _require_admin()
    return _settings_page(_year())


@bp.post("/settings/calendar")
@login_required
def save_change():
    """Record an extra day off or a worked day."""
    _require_admin()
    form = CalendarChangeForm()
    year = form.day.data.year if form.day.data else _year()

    if not form.validate():
        return _settings_page(year, change_form=form, status=422)
    if abs(form.day.data.year - local_today().year) > YEAR_SPAN:
        form.day.errors.append(
            f"Chỉ sửa được lịch trong {YEAR_SPAN} năm trước và sau năm nay."
        )
        return _settings_page(_year(), change_form=form, status=422)
    try:
        deadlines.save_calendar_change(
            db.session,
            current_user,
            current_user.organisation_id,
            form.day.data,
            form.kind.data,
            form.note.data,
        )
    except ServiceError as error:
        db.session.rollback()
        getattr(form, error.field or "day").errors.append(error.message)
        return _settings_page(year, change_form=form, status=422)
    db.session.commit()
    flash(f"Đã lưu thay đổi lịch ngày {form.day.data:%d/%m/%Y}.", "success")
    return redirect(url_for("deadlines.settings", year=year), 303)


@bp.post("/settings/calendar/<int:change_id>/delete")
@login_required
def delete_change(change_id: int):
    """Return a changed day to the default calendar."""
    _require_admin()
    change = db.session.get(CalendarChange, change_id)
    if change is None or change.organisation_id != current_user.organisation_id:
        abort(404)

    year = change.day.year
    deadlines.delete_calendar_change(db.session, current_user, change)
    db.session.commit()
    flash("Đã xóa thay đổi lịch.", "success")
    return redirect(url_for("deadlines.settings", year=year), 303)


@bp.post("/settings/rules")
@login_required
def save_rule():
    """Add a deadline rule or change the days of an existing one."""
    _require_admin()
    form = RuleForm()

    if not form.validate():
        return _settings_page(_year(), rule_form=form, status=422)
    urgency = int(form.urgency.data) if form.urgency.data else None
    try:
        deadlines.save_rule(
            db.session,
            current_user,
            current_user.organisation_id,
            form.type_name.data,
            urgency,
            form.working_days.data,
        )
    except ServiceError as error:
        db.session.rollback()
        getattr(form, error.field or "working_days").errors.append(error.message)
        return _settings_page(_year(), rule_form=form, status=422)
    db.session.commit()
    flash("Đã lưu quy định thời hạn xử lý.", "success")
    return redirect(url_for("deadlines.settings"), 303)


@bp.post("/settings/rules/<int:rule_id>/delete")
@login_required
def delete_rule(rule_id: int):
    """Delete a deadline rule."""
    _require_admin()
    rule = db.session.get(DeadlineRule, rule_id)
    if rule is None or rule.organisation_id != current_user.organisation_id:
        abort(404)

    deadlines.delete_rule(db.session, current_user, rule)
    db.session.commit()
    flash("Đã xóa quy định thời hạn xử lý.", "success")
    return redirect(url_for("deadlines.settings"), 303)


@bp.get("/<int:document_id>/slip")
@login_required
def slip(document_id: int):
    """Show the printable processing slip (Phiếu giải quyết văn bản đến)."""
    document = load_document(document_id)
    if document.direction != "incoming":
        abort(404)

    instructions = documents.instructions(db.session, document)
    assignments = documents.assignments(db.session, document)
    # Part 2 of the slip is the department head's assignment of an officer.
    head_assignments = [
        a
        for a in assignments
        if a.assigned_by.has_role("head") and not a.assigned_by.has_role("leader")
    ]
    return render(
        "deadlines/slip.html",
        document=document,
        proposals=[i for i in instructions if i.kind == "proposal"],
        leader_notes=[i for i in instructions if i.kind == "instruction"],
        head_notes=[i for i in instructions if i.kind == "head_instruction"],
        officer_notes=[i for i in instructions if i.kind == "officer_note"],
        leader_assignments=[a for a in assignments if a not in head_assignments],
        head_assignments=head_assignments,
        role_labels={"lead": "Chủ trì", "support": "Phối hợp", "info": "Để biết"},
        printed_on=local_today(),
    )
