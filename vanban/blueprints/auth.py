"""Login and logout."""

import logging

from flask import (
    Blueprint,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user
from wtforms import PasswordField
from wtforms.validators import DataRequired, EqualTo, Length

from vanban import pending_forms
from vanban.extensions import db
from vanban.forms import REQUIRED, BaseForm, EmptyForm, LoginForm
from vanban.services import ServiceError, accounts, audit
from vanban.web import resubmit_page, safe_next

logger = logging.getLogger(__name__)
bp = Blueprint("auth", __name__)

# Endpoints a user who must change their password can still reach.
_OPEN_WHILE_FORCED = {"auth.change_password", "auth.logout", "static"}


class ChangePasswordForm(BaseForm):
    current_password = PasswordField(
        "Mật khẩu hiện tại", validators=[DataRequired(REQUIRED)]
    )
    new_password = PasswordField(
        "Mật khẩu mới", validators=[DataRequired(REQUIRED), Length(max=200)]
    )
    confirm_password = PasswordField(
        "Nhập lại mật khẩu mới",
        validators=[
            DataRequired(REQUIRED),
            EqualTo("new_password", "Hai lần nhập mật khẩu mới không khớp."),
        ],
    )


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Show the login form and sign the user in."""
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    form = LoginForm()
    status = 200
    if request.method == "POST":
        if form.validate():
            try:
                user = accounts.authenticate(
                    db.session,
                    form.username.data,
                    form.password.data,
                    current_app.config,
                )
            except ServiceError as error:
                db.session.rollback()
                status = error.status_code
                field = getattr(form, error.field or "password")
                field.errors = [*field.errors, error.message]
            else:
                # A fresh session: nothing from before the login survives but
                # the id of a form kept while the session had expired.
                pending_id = session.get(pending_forms.SESSION_KEY)
                session.clear()
                # Other devices stay signed in; logout ends every session at once.
                if not user.session_token:
                    accounts.new_session_token(user)
                audit.record(db.session, "login", user=user)
                db.session.commit()
                login_user(user)
                logger.info("user %s logged in", user.id)
                target = safe_next(request.args.get("next")) or url_for("home.index")
                resubmit = pending_forms.carry_over(pending_id, user)
                if user.must_change_password:
                    target = url_for("auth.change_password")
                elif resubmit:
                    target = url_for("auth.resubmit")
                response = redirect(target, 303)
                pending_forms.remember_last_user(response, user.id)
                return response
        else:
            status = 422
    return render_template("auth/login.html", form=form), status


@bp.post("/logout")
@login_required
def logout():
    """Sign out and end every session of this user."""
    user = current_user._get_current_object()
    accounts.new_session_token(user)
    audit.record(db.session, "logout", user=user)
    db.session.commit()
    logout_user()
    pending_forms.discard_pending()
    session.clear()
    logger.info("user %s logged out", user.id)
    flash("Bạn đã đăng xuất.", "info")
    response = redirect(url_for("auth.login"), 303)
    pending_forms.forget_last_user(response)
    return response


@bp.route("/change-password", methods=["GET", "POST"])
@login_required
def change_password():
    """Let the user choose a new password, which is forced after an admin's reset."""
    user = current_user._get_current_object()
    form = ChangePasswordForm()
    status = 200
    if request.method == "POST":
        if form.validate():
            try:
                accounts.change_password(
                    db.session,
                    user,
                    form.current_password.data,
                    form.new_password.data,
                )
            except ServiceError as error:
                db.session.rollback()
                status = 400
                field = getattr(form, error.field or "new_password")
                field.errors = [*field.errors, error.message]
            else:
                db.session.commit()
                # The new session token ended every session, this one included.
                login_user(user)
                flash("Đã đổi mật khẩu.", "success")
                if pending_forms.peek_pending():
                    return redirect(url_for("auth.resubmit"), 303)
                return redirect(url_for("home.index"), 303)
        else:
            status = 400
    return render_template(
        "auth/change_password.html", form=form, forced=user.must_change_password
    ), status


@bp.get("/login/resubmit")
@login_required
def resubmit():
    """Offer to send the form that was kept while the session had expired."""
    pending = pending_forms.take_pending(current_user)
    if pending is None:
        flash("Không còn biểu mẫu nào chờ gửi lại.", "info")
        return redirect(url_for("home.index"), 303)
    submitted = pending_forms.SubmittedForm(
        fields=pending.fields, dropped=pending.dropped, had_files=pending.had_files
    )
    return resubmit_page(
        "Bạn đã đăng nhập lại. Nội dung bạn nhập trước khi phiên làm việc hết hạn "
        "vẫn được giữ nguyên; hãy kiểm tra rồi bấm Gửi lại.",
        target=pending.target,
        endpoint=pending.endpoint,
        submitted=submitted,
        back=safe_next(pending.return_to),
        category="info",
    )


@bp.context_processor
def _pending_form():
    """Tell the login page whether a form waits to be sent after the login."""
    if request.endpoint != "auth.login":
        return {}
    return {"pending_form": pending_forms.peek_pending()}


@bp.before_app_request
def _force_password_change():
    """Keep a user whose password was reset on the change-password page."""
    if not current_user.is_authenticated or not current_user.must_change_password:
        return None
    if request.endpoint in _OPEN_WHILE_FORCED:
        return None
    target = url_for("auth.change_password")
    if request.htmx:
        response = make_response("", 204)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target, 303)


@bp.app_context_processor
def _logout_form():
    return {"logout_form": EmptyForm(formdata=None)}
