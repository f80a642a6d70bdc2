"""Trainer pages: trial settings, preparing wards, the progress dashboard, resets.

Trainers and the city's admins prepare wards, watch their progress and reset
them. Only the city's admins change the settings, which trainers may read.
"""

import io
import logging

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    request,
    send_file,
    url_for,
)
from flask_login import current_user, login_required
from openpyxl import Workbook
from openpyxl.styles import Font
from sqlalchemy import select
from wtforms import BooleanField, DateField, IntegerField, StringField
from wtforms.validators import DataRequired, InputRequired, Length

from vanban.extensions import db
from vanban.forms import REQUIRED, BaseForm, CheckboxList
from vanban.models import Document, Organisation, TrialWard
from vanban.services import (
    ServiceError,
    permissions,
    trial,
    trial_accounts,
    trial_progress,
    trial_reset,
)
from vanban.services.clock import local
from vanban.services.doctypes import ROLE_LABELS
from vanban.services.text import fold
from vanban.web import error_response, render

logger = logging.getLogger(__name__)
bp = Blueprint("trial", __name__, url_prefix="/trial")

# Seconds between two refreshes of the dashboard's progress table, unless the
# TRIAL_REFRESH_SECONDS setting gives another number.
REFRESH_SECONDS = 15
# Characters that make a spreadsheet read a cell as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

bp.add_app_template_global(trial.can_run, "can_run_trial")


class SettingsForm(BaseForm):
    start = DateField(
        "Ngày bắt đầu",
        validators=[InputRequired(REQUIRED)],
        render_kw={"type": "date"},
    )
    end = DateField(
        "Ngày kết thúc",
        validators=[InputRequired(REQUIRED)],
        render_kw={"type": "date"},
    )
    # Not named "prefix": WTForms takes that keyword as the prefix of every
    # field name.
    subject_prefix = StringField(
        "Phần đầu bắt buộc của trích yếu",
        validators=[DataRequired(REQUIRED), Length(max=trial.MAX_PREFIX_LENGTH)],
    )
    stuck_hours = IntegerField(
        "Ngưỡng cảnh báo chậm (giờ)",
        validators=[InputRequired(REQUIRED)],
        render_kw={"type": "number", "min": 1, "max": trial.MAX_STUCK_HOURS},
    )


class PrepareForm(BaseForm):
    wards = CheckboxList("Phường, xã tham gia", coerce=int)
    new_passwords = BooleanField("Cấp mật khẩu dùng một lần mới cho cả tài khoản đã có")


class ResetForm(BaseForm):
    confirm_name = StringField(
        "Nhập đúng tên đơn vị để xác nhận",
        validators=[DataRequired(REQUIRED), Length(max=255)],
    )


@bp.before_app_request
def _reject_trainer_changes():
    """Reject a trainer's POST on a document they read only through the trial."""
    document_id = (request.view_args or {}).get("document_id")
    if request.method != "POST" or document_id is None:
        return None
    if not current_user.is_authenticated or not current_user.has_role("trainer"):
        return None
    document = db.session.get(Document, document_id)
    if document is not None and permissions.trainer_reads(
        db.session, current_user, document
    ):
        logger.warning(
            "POST on document %s rejected for trainer %s: read-only access",
            document_id,
            current_user.id,
        )
        abort(403)
    return None


# Settings


@bp.route("/settings", methods=["GET", "POST"])
@login_required
def settings():
    """Show the trial window and subject rule, and let the city's admins change them."""
    _check_runner()
    current = trial.settings(db.session)
    editable = trial.can_manage(current_user)
    if request.method == "POST" and not editable:
        logger.warning("trial settings change denied to user %s", current_user.id)
        abort(403)

    if request.method == "POST":
        form = SettingsForm()
    else:
        form = SettingsForm(
            formdata=None,
            start=current.start,
            end=current.end,
            subject_prefix=current.subject_prefix,
            stuck_hours=current.stuck_hours,
        )
    status = 200
    if request.method == "POST":
        status = 422
        if form.validate():
            try:
                trial.update_settings(
                    db.session,
                    current_user,
                    start=form.start.data,
                    end=form.end.data,
                    subject_prefix=form.subject_prefix.data,
                    stuck_hours=form.stuck_hours.data,
                )
            except ServiceError as error:
                db.session.rollback()
                getattr(form, error.field).errors.append(error.message)
            else:
                db.session.commit()
                flash("Đã lưu cấu hình thử nghiệm.", "success")
                return redirect(url_for("trial.settings"), 303)
    return render(
        "trial/settings.html",
        "trial/_settings_form.html",
        status=status,
        form=form,
        current=current,
        editable=editable,
    )


# Preparing wards


@bp.route("/prepare", methods=["GET", "POST"])
@login_required
def prepare():
    """Add wards to the trial and issue their accounts' one-time passwords."""
    _check_runner()
    form = PrepareForm() if request.method == "POST" else PrepareForm(formdata=None)
    wards = list(
        db.session.scalars(
            select(Organisation)
            .where(Organisation.kind == "ward", Organisation.active)
            .order_by(Organisation.name)
        )
    )
    form.wards.choices = [(ward.id, ward.name) for ward in wards]
    participating = {row.organisation_id for row in trial.participants(db.session)}
    if request.method == "GET":
        form.wards.data = sorted(participating)

    status = 200
    if request.method == "POST":
        status = 422
        if form.validate():
            chosen = [ward for ward in wards if ward.id in set(form.wards.data or [])]
            try:
                issued = trial_accounts.prepare(
                    db.session,
                    current_user,
                    chosen,
                    new_passwords=form.new_passwords.data,
                )
            except ServiceError as error:
                db.session.rollback()
                form.wards.errors = [*form.wards.errors, error.message]
            else:
                db.session.commit()
                # The passwords appear in this response only; they are stored hashed.
                return render(
                    "trial/sheet.html", issued=issued, role_labels=ROLE_LABELS
                )
    return render(
        "trial/prepare.html",
        "trial/_prepare_form.html",
        status=status,
        form=form,
        participating=participating,
    )


# Progress


@bp.get("/")
@login_required
def index():
    """Show the progress dashboard, which refreshes its table by itself."""
    _check_runner()
    data = trial_progress.progress(db.session, viewer=current_user)
    return render(
        "trial/index.html",
        "trial/_progress.html",
        **_progress_context(data),
    )


@bp.get("/progress")
@login_required
def progress_fragment():
    """Return the progress table that the dashboard polls."""
    _check_runner()
    data = trial_progress.progress(db.session, viewer=current_user)
    return render("trial/index.html", "trial/_progress.html", **_progress_context(data))


@bp.get("/progress.json")
def progress_json():
    """Return the dashboard's data as JSON for other tools."""
    if not current_user.is_authenticated:
        return jsonify(error="Vui lòng đăng nhập để xem tiến độ thử nghiệm."), 401
    if not trial.can_run(current_user):
        logger.warning("trial progress JSON denied to user %s", current_user.id)
        return jsonify(error="Bạn không có quyền xem tiến độ thử nghiệm."), 403
    data = trial_progress.progress(db.session, viewer=current_user)
    return jsonify(trial_progress.as_json(data))


@bp.get("/progress.xlsx")
@login_required
def progress_xlsx():
    """Send the dashboard as a spreadsheet."""
    _check_runner()
    data = trial_progress.progress(db.session, viewer=current_user)
    stream = io.BytesIO()
    _workbook(data).save(stream)
    stream.seek(0)
    stamp = local(data.generated_at).strftime("%Y%m%d-%H%M")
    return send_file(
        stream,
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        as_attachment=True,
        download_name=f"tien-do-thu-nghiem-{stamp}.xlsx",
    )


@bp.get("/report")
@login_required
def report():
    """Show a printable report with a chart of the mean time of each step."""
    _check_runner()
    data = trial_progress.progress(db.session, viewer=current_user)
    return render("trial/report.html", chart=_chart(data), **_progress_context(data))


# Reset


@bp.route("/wards/<int:ward_id>/reset", methods=["GET", "POST"])
@login_required
def reset(ward_id: int):
    """Confirm by the ward's name, then delete the ward's trial documents."""
    row = db.session.get(TrialWard, ward_id)
    if row is None:
        abort(404)
    _check_runner()
    ward = row.organisation

    form = ResetForm() if request.method == "POST" else ResetForm(formdata=None)
    status = 200
    if request.method == "POST":
        status = 422
        if form.validate():
            if fold(form.confirm_name.data).strip() == fold(ward.name):
                ward_name = ward.name
                try:
                    result = trial_reset.reset(db.session, current_user, row)
                    db.session.commit()
                except ServiceError as error:
                    db.session.rollback()
                    return error_response(error.status_code, error.message)
                flash(
                    f"Đã đặt lại dữ liệu thử nghiệm của {ward_name}: xóa "
                    f"{len(result.delete) + len(result.city_copies)} văn bản.",
                    "success",
                )
                return redirect(url_for("trial.index"), 303)
            form.confirm_name.errors = [
                *form.confirm_name.errors,
                f"Tên nhập vào không khớp. Hãy nhập đúng “{ward.name}”.",
            ]
    return render(
        "trial/reset.html",
        "trial/_reset_form.html",
        status=status,
        form=form,
        ward=ward,
        plan=trial_reset.plan(db.session, row),
    )


# Helpers


def _check_runner() -> None:
    if not trial.can_run(current_user):
        logger.warning("trial page denied to user %s", current_user.id)
        abort(403)


def _progress_context(data: trial_progress.Progress) -> dict:
    return {
        "data": data,
        "scenario01": trial_progress.SCENARIO01_STEPS,
        "scenario02": trial_progress.SCENARIO02_STEPS,
        "duration": trial_progress.format_seconds,
        "refresh_seconds": current_app.config.get(
            "TRIAL_REFRESH_SECONDS", REFRESH_SECONDS
        ),
        "linked": current_user.has_role("trainer"),
    }


def _chart(data: trial_progress.Progress) -> dict:
    """Lay out a horizontal bar chart of the mean seconds of each step."""
    bar_height, gap, label_width, bar_width = 22, 8, 360, 360
    longest = max(data.average_seconds.values(), default=0)
    bars = []
    for index, step in enumerate(trial_progress.STEPS):
        seconds = data.average_seconds.get(step.key)
        width = round(bar_width * seconds / longest) if seconds and longest else 0
        bars.append(
            {
                "label": step.label,
                "y": index * (bar_height + gap),
                "width": max(width, 1) if seconds is not None else 0,
                "text": trial_progress.format_seconds(seconds) or "Chưa có số liệu",
                "scenario": step.key[:3],
            }
        )
    return {
        "bars": bars,
        "bar_height": bar_height,
        "label_width": label_width,
        "width": label_width + bar_width + 140,
        "height": len(bars) * (bar_height + gap),
    }


def safe_text(value) -> str:
    """Return text a spreadsheet shows as typed, never as a formula."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def _cell_text(cell: trial_progress.Cell) -> str:
    if cell.at is None:
        return cell.label
    text = f"{cell.label} {local(cell.at):%d/%m/%Y %H:%M}"
    if cell.seconds is not None:
        text += f" ({trial_progress.format_seconds(cell.seconds)})"
    return text


def _check_text(checks: trial_progress.Checks, part: str) -> str:
    if part == "subject":
        if checks.subject_ok is None:
            return "Chưa phát hành"
        return "Đúng" if checks.subject_ok else "Sai"
    delivery = getattr(checks, part)
    return delivery.label if delivery is not None else "Chưa phát hành"


def _workbook(data: trial_progress.Progress) -> Workbook:
    book = Workbook()
    sheet = book.active
    sheet.title = "Tiến độ thử nghiệm"
    header = ["Phường, xã", "Chậm quá ngưỡng"]
    header += [f"KB01 {s.label}" for s in trial_progress.SCENARIO01_STEPS]
    header += ["KB01 Trích yếu", "KB01 Trích yếu đúng", "KB01 UBND Thành phố"]
    header += ["KB01 Trung tâm"]
    header += [f"KB02 {s.label}" for s in trial_progress.SCENARIO02_STEPS]
    header += ["KB02 Trích yếu", "KB02 Trích yếu đúng", "KB02 UBND Thành phố"]
    header += ["KB02 Trung tâm"]
    sheet.append([safe_text(value) for value in header])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in data.wards:
        values = [row.ward.name, "Có" if row.stuck else "Không"]
        for checks, steps in (
            (row.s01_checks, trial_progress.SCENARIO01_STEPS),
            (row.s02_checks, trial_progress.SCENARIO02_STEPS),
        ):
            values += [_cell_text(row.cells[s.key]) for s in steps]
            values += [checks.subject or "", _check_text(checks, "subject")]
            values += [_check_text(checks, "city"), _check_text(checks, "center")]
        sheet.append([safe_text(value) for value in values])
    sheet.freeze_panes = "B2"
    sheet.column_dimensions["A"].width = 32
    return book
