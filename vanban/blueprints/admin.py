"""Admin settings pages: organisations, departments, users, document types, audit."""

import logging

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required
from sqlalchemy import select

from vanban.admin_forms import (
    KIND_LABELS,
    AuditFilterForm,
    DepartmentForm,
    DocumentTypeForm,
    EditUserForm,
    ImportWardsForm,
    NewUserForm,
    OrganisationForm,
    ResetPasswordForm,
)
from vanban.extensions import db
from vanban.models import DocumentType, Organisation
from vanban.services import (
    ServiceError,
    admin,
    audit_details,
    audit_documents,
    audit_labels,
    doctypes,
    units,
)
from vanban.services.doctypes import ROLE_LABELS

logger = logging.getLogger(__name__)
bp = Blueprint("admin", __name__, url_prefix="/admin")

# Settings pages of the index, shown when their endpoint is registered:
# (endpoint, title, description, for the city's admin only).
SETTINGS_PAGES = (
    (
        "admin.organisations",
        "Đơn vị",
        "Thêm, sửa, ngừng hoạt động đơn vị; nhập phường, xã.",
        False,
    ),
    (
        "admin.users",
        "Người dùng và phòng ban",
        "Tài khoản, vai trò, đặt lại mật khẩu; phòng ban.",
        False,
    ),
    (
        "admin.doctypes",
        "Loại văn bản",
        "Tên loại và chữ viết tắt dùng trong ký hiệu văn bản.",
        True,
    ),
    (
        "registers.settings",
        "Sổ và số văn bản",
        "Các sổ đăng ký và cách đánh số văn bản.",
        False,
    ),
    (
        "deadlines.settings",
        "Ngày nghỉ và hạn xử lý",
        "Ngày nghỉ lễ, ngày làm bù và quy tắc tính hạn xử lý.",
        False,
    ),
    (
        "trial.settings",
        "Thử nghiệm liên thông",
        "Thời gian thử nghiệm và quy tắc trích yếu.",
        True,
    ),
    (
        "exchange.settings",
        "Kết nối trục liên thông",
        "Địa chỉ trục, mã truy cập, chu kỳ đồng bộ.",
        False,
    ),
    (
        "hub_admin.index",
        "Trục liên thông của Thành phố",
        "Danh bạ đơn vị và mã truy cập của trục.",
        True,
    ),
    (
        "admin.audit",
        "Nhật ký hệ thống",
        "Ai đã làm gì, khi nào, giá trị trước và sau.",
        False,
    ),
)


@bp.before_request
@login_required
def _require_admin():
    if not admin.can_administer(current_user):
        logger.warning("admin page denied to user %s", current_user.id)
        abort(403)


@bp.before_app_request
def _refresh_doctypes():
    if request.endpoint and request.endpoint != "static":
        doctypes.refresh(db.session)


def _me():
    return current_user._get_current_object()


def _add_service_error(form, error: ServiceError, default_field: str) -> None:
    field = getattr(form, error.field or default_field, None)
    if field is None:
        form.form_errors.append(error.message)
    else:
        field.errors = [*field.errors, error.message]


def _roll_back_rejected(error: ServiceError) -> None:
    """Roll back and log a change the service rejected, but re-raise 403 and 404."""
    db.session.rollback()
    if error.status_code in (403, 404):
        raise error
    logger.info("settings change rejected: %s", error.message)


def _form_page(
    form,
    save,
    *,
    field: str,
    success: str,
    back: str,
    title: str = "",
    template: str = "admin/form.html",
    **context,
):
    """Show a settings form, and on a valid POST run `save` and go back to `back`.

    `success` is the message flashed after saving, or a function that makes
    it from what `save` returns.

    A rule the service rejects shows the form again with the message under
    `field` (or the field the error names) and status 400.
    """
    status = 200
    if request.method == "POST":
        status = 400
        if form.validate():
            try:
                result = save()
            except ServiceError as error:
                _roll_back_rejected(error)
                _add_service_error(form, error, field)
            else:
                db.session.commit()
                flash(success(result) if callable(success) else success, "success")
                return redirect(back, 303)
    page = render_template(template, form=form, title=title, back=back, **context)
    return page, status


def _toggle(set_active, item, *, back: str, success: str):
    """Activate `item` if the form's `active` field is "1", else deactivate it.

    `set_active(session, admin, item, active)` is the service function that
    makes the change. The view redirects to `back` in both cases and flashes the
    service's message when it rejects the change. 403 and 404 errors propagate.
    """
    try:
        set_active(db.session, _me(), item, request.form.get("active") == "1")
    except ServiceError as error:
        _roll_back_rejected(error)
        flash(error.message, "error")
        return redirect(back, 303)
    db.session.commit()
    flash(success, "success")
    return redirect(back, 303)


@bp.get("/")
def index():
    city = admin.is_installation_admin(_me())
    pages = [
        (endpoint, title, description)
        for endpoint, title, description, city_only in SETTINGS_PAGES
        if endpoint in current_app.view_functions and (city or not city_only)
    ]
    return render_template("admin/index.html", pages=pages)


# Organisations


def _parent_choices(exclude: int | None = None):
    parents = db.session.scalars(
        select(Organisation)
        .where(Organisation.kind.in_(("city", "center")))
        .order_by(Organisation.name)
    )
    return [(0, "Không trực thuộc đơn vị nào")] + [
        (org.id, org.name) for org in parents if org.id != exclude
    ]


@bp.get("/organisations")
def organisations():
    me = _me()
    return render_template(
        "admin/organisations.html",
        organisations=admin.organisations_for(db.session, me),
        kinds=KIND_LABELS,
        city=admin.is_installation_admin(me),
        provisional=admin.PROVISIONAL_CODE_PREFIX,
    )


@bp.route("/organisations/new", methods=["GET", "POST"])
@bp.route("/organisations/<int:organisation_id>/edit", methods=["GET", "POST"])
def organisation_form(organisation_id: int | None = None):
    me = _me()
    admin.require_installation_admin(me)
    organisation = None
    if organisation_id is not None:
        organisation = admin.get_organisation(db.session, me, organisation_id)
    form = OrganisationForm(obj=organisation if request.method == "GET" else None)
    form.parent_id.choices = _parent_choices(organisation_id)
    if request.method == "GET" and organisation is not None:
        form.parent_id.data = organisation.parent_id or 0
    return _form_page(
        form,
        lambda: admin.save_organisation(db.session, me, organisation, form.values()),
        field="name",
        success="Đã lưu đơn vị.",
        back=url_for("admin.organisations"),
        title="Sửa đơn vị" if organisation else "Thêm đơn vị",
    )


@bp.post("/organisations/<int:organisation_id>/active")
def organisation_active(organisation_id: int):
    me = _me()
    admin.require_installation_admin(me)
    organisation = admin.get_organisation(db.session, me, organisation_id)
    return _toggle(
        admin.set_organisation_active,
        organisation,
        back=url_for("admin.organisations"),
        success="Đã cập nhật trạng thái đơn vị.",
    )


@bp.route("/organisations/import", methods=["GET", "POST"])
def import_wards():
    me = _me()
    admin.require_installation_admin(me)
    form = ImportWardsForm(request.form if request.method == "POST" else request.args)
    form.province.choices = [(p["Code"], p["FullName"]) for p in units.provinces()]
    form.parent_id.choices = _parent_choices()[1:]
    if not form.province.data:
        form.province.data = form.province.choices[0][0]
    if request.method == "GET" and not request.args.get("parent_id"):
        # Since the 2025 reform, wards are directly under the city.
        city = next(
            (
                org
                for org in admin.organisations_for(db.session, me)
                if org.kind == "city"
            ),
            None,
        )
        form.parent_id.data = city.id if city else None
    try:
        wards = admin.importable_wards(db.session, form.province.data)
    except ServiceError as error:
        form.province.errors = [error.message]
        page = render_template("admin/import_wards.html", form=form, wards=[])
        return page, 400
    return _form_page(
        form,
        lambda: admin.import_wards(
            db.session, me, form.province.data, form.wards.data, form.parent_id.data
        ),
        field="wards",
        success=admin.WardImport.message,
        back=url_for("admin.organisations"),
        template="admin/import_wards.html",
        wards=wards,
    )


# Departments and users


@bp.get("/users")
def users():
    me = _me()
    selected = request.args.get("organisation_id", type=int) or me.organisation_id
    organisation = admin.get_organisation(db.session, me, selected)
    return render_template(
        "admin/users.html",
        organisations=admin.organisations_for(db.session, me),
        organisation=organisation,
        users=admin.users_of(db.session, organisation),
        roles=ROLE_LABELS,
    )


def _department_choices(organisation: Organisation):
    return [(0, "Không thuộc phòng ban")] + [
        (dept.id, dept.name) for dept in organisation.departments if dept.active
    ]


def _role_choices(me):
    return [(role, ROLE_LABELS[role]) for role in admin.assignable_roles(me)]


def _users_url(organisation_id: int) -> str:
    return url_for("admin.users", organisation_id=organisation_id)


@bp.route(
    "/organisations/<int:organisation_id>/departments/new", methods=["GET", "POST"]
)
@bp.route("/departments/<int:department_id>/edit", methods=["GET", "POST"])
def department_form(
    organisation_id: int | None = None, department_id: int | None = None
):
    me = _me()
    department = None
    if department_id is not None:
        department = admin.get_department(db.session, me, department_id)
        organisation = department.organisation
    else:
        organisation = admin.get_organisation(db.session, me, organisation_id)
    form = DepartmentForm(obj=department if request.method == "GET" else None)
    return _form_page(
        form,
        lambda: admin.save_department(
            db.session, me, organisation, department, form.values()
        ),
        field="name",
        success="Đã lưu phòng ban.",
        back=_users_url(organisation.id),
        title=f"{'Sửa' if department else 'Thêm'} phòng ban · {organisation.name}",
    )


@bp.post("/departments/<int:department_id>/active")
def department_active(department_id: int):
    department = admin.get_department(db.session, _me(), department_id)
    return _toggle(
        admin.set_department_active,
        department,
        back=_users_url(department.organisation_id),
        success="Đã cập nhật trạng thái phòng ban.",
    )


@bp.route("/organisations/<int:organisation_id>/users/new", methods=["GET", "POST"])
def new_user(organisation_id: int):
    me = _me()
    organisation = admin.get_organisation(db.session, me, organisation_id)
    form = NewUserForm()
    form.department_id.choices = _department_choices(organisation)
    form.roles.choices = _role_choices(me)
    return _form_page(
        form,
        lambda: admin.create_user(
            db.session, me, organisation, form.values(), form.password.data
        ),
        field="username",
        success=(
            "Đã thêm người dùng. Người dùng phải đổi mật khẩu khi đăng nhập lần đầu."
        ),
        back=_users_url(organisation.id),
        title=f"Thêm người dùng · {organisation.name}",
    )


@bp.route("/users/<int:user_id>/edit", methods=["GET", "POST"])
def edit_user(user_id: int):
    me = _me()
    user = admin.get_user(db.session, me, user_id)
    form = EditUserForm(obj=user if request.method == "GET" else None)
    form.department_id.choices = _department_choices(user.organisation)
    form.roles.choices = _role_choices(me)
    if request.method == "GET":
        form.department_id.data = user.department_id or 0
        form.roles.data = sorted(user.roles)
    return _form_page(
        form,
        lambda: admin.update_user(db.session, me, user, form.values()),
        field="roles",
        success="Đã lưu người dùng.",
        back=_users_url(user.organisation_id),
        title=f"Sửa người dùng {user.username}",
    )


@bp.post("/users/<int:user_id>/active")
def user_active(user_id: int):
    user = admin.get_user(db.session, _me(), user_id)
    return _toggle(
        admin.set_user_active,
        user,
        back=_users_url(user.organisation_id),
        success="Đã cập nhật trạng thái người dùng.",
    )


@bp.route("/users/<int:user_id>/password", methods=["GET", "POST"])
def reset_password(user_id: int):
    me = _me()
    user = admin.get_user(db.session, me, user_id)
    form = ResetPasswordForm()
    return _form_page(
        form,
        lambda: admin.reset_password(db.session, me, user, form.password.data),
        field="password",
        success=(
            f"Đã đặt lại mật khẩu của {user.username}. Người dùng phải đổi mật khẩu "
            "khi đăng nhập."
        ),
        back=_users_url(user.organisation_id),
        title=f"Đặt lại mật khẩu của {user.username}",
        help=(
            "Người dùng đăng nhập bằng mật khẩu này một lần rồi phải đổi mật khẩu mới."
        ),
    )


# Document types


@bp.get("/doctypes", endpoint="doctypes")
def doctypes_page():
    admin.require_installation_admin(_me())
    items = db.session.scalars(
        select(DocumentType).order_by(DocumentType.position, DocumentType.id)
    )
    return render_template("admin/doctypes.html", doctypes=list(items))


@bp.route("/doctypes/new", methods=["GET", "POST"])
@bp.route("/doctypes/<int:doctype_id>/edit", methods=["GET", "POST"])
def doctype_form(doctype_id: int | None = None):
    me = _me()
    admin.require_installation_admin(me)
    doctype = None
    if doctype_id is not None:
        doctype = db.session.get(DocumentType, doctype_id) or abort(404)
    form = DocumentTypeForm(obj=doctype if request.method == "GET" else None)
    if doctype is not None:
        # The name stays: documents already issued refer to their type by it.
        form.name.data = doctype.name
        form.name.render_kw = {"readonly": True}
    return _form_page(
        form,
        lambda: admin.save_doctype(db.session, me, doctype, form.values()),
        field="name",
        success="Đã lưu loại văn bản.",
        back=url_for("admin.doctypes"),
        title="Sửa loại văn bản" if doctype else "Thêm loại văn bản",
        help=(
            "Chữ viết tắt đứng đầu ký hiệu, ví dụ QĐ trong 15/QĐ-UBND. "
            "Công văn không có chữ viết tắt."
        ),
    )


# Audit trail


@bp.get("/audit")
def audit():
    me = _me()
    organisations = admin.organisations_for(db.session, me)
    form = AuditFilterForm(request.args)
    form.organisation_id.choices = [("", "Tất cả")] + [
        (str(org.id), org.name) for org in organisations
    ]
    actions = admin.audit_actions(db.session, me)
    form.action.choices = [("", "Tất cả")] + sorted(
        ((action, audit_labels.action_label(action)) for action in actions),
        key=lambda choice: choice[1],
    )

    status = 200
    filters = admin.AuditFilters()
    if form.validate():
        filters = admin.AuditFilters(
            user=form.user.data or "",
            action=form.action.data or "",
            start=form.start.data,
            end=form.end.data,
            organisation_id=_audit_organisation(me, form.organisation_id.data),
        )
    else:
        status = 400

    page = admin.audit_events(
        db.session, me, filters, request.args.get("page", 1, type=int)
    )
    documents = audit_documents.document_references(db.session, me, page.events)
    texts = audit_details.row_texts(db.session, page.events)
    names = {org.id: org.name for org in organisations}
    return render_template(
        "admin/audit.html",
        form=form,
        page=page,
        organisation_names=names,
        documents=documents,
        texts=texts,
    ), status


def _audit_organisation(me, value: str) -> int | None:
    """Return the organisation filter's id, or 400/404 for one out of reach."""
    if not value:
        return None
    if not value.isdigit():
        abort(400)
    return admin.get_organisation(db.session, me, int(value)).id


@bp.app_context_processor
def _admin_helpers():
    return {"can_administer": admin.can_administer}
