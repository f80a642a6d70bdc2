"""Login and logout."""

import logging

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user

from vanban.extensions import db
from vanban.forms import EmptyForm, LoginForm
from vanban.services import ServiceError, accounts, audit
from vanban.web import safe_next

logger = logging.getLogger(__name__)
bp = Blueprint("auth", __name__)


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
                # A fresh session: nothing from before the login survives.
                session.clear()
                # Other devices stay signed in; logout ends every session at once.
                if not user.session_token:
                    accounts.new_session_token(user)
                audit.record(db.session, "login", user=user)
                db.session.commit()
                login_user(user)
                logger.info("user %s logged in", user.id)
                target = safe_next(request.args.get("next")) or url_for("home.index")
                return redirect(target, 303)
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
    session.clear()
    logger.info("user %s logged out", user.id)
    flash("Bạn đã đăng xuất.", "info")
    return redirect(url_for("auth.login"), 303)


@bp.app_context_processor
def _logout_form():
    return {"logout_form": EmptyForm(formdata=None)}
