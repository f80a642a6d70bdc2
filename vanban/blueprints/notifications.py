"""In-app notifications: the bell in the top bar and the user's own list."""

import logging

from flask import (
    Blueprint,
    abort,
    current_app,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required

from vanban.extensions import db
from vanban.services import notifications
from vanban.web import render, wants_fragment

logger = logging.getLogger(__name__)
bp = Blueprint("notifications", __name__, url_prefix="/notifications")

# htmx stops polling an element when its response has this status.
STOP_POLLING = 286


def notification_bell_count() -> int:
    """Return the current user's unread count for the bell in base.html."""
    if not current_user.is_authenticated:
        return 0
    return notifications.unread_count(db.session, current_user)


bp.add_app_template_global(notification_bell_count, "notification_bell_count")


@bp.get("/bell")
def bell():
    """Render the bell with its unread count; htmx polls this fragment.

    It is open to anonymous requests on purpose. When the session has expired,
    the poll gets a bell without a count and status 286. That stops the polling
    without an error message and without sending the page to the login form.
    """
    if not current_user.is_authenticated:
        response = make_response(_bell(count=None, polling=False), STOP_POLLING)
        response.headers["Cache-Control"] = "no-store"
        return response

    count = notifications.unread_count(db.session, current_user)
    return _bell(count=count, polling=True)


def _bell(count: int | None, polling: bool) -> str:
    return render_template(
        "notifications/_bell.html", bell_count=count, bell_polling=polling
    )


@bp.get("/")
@login_required
def index():
    """List the current user's notifications, newest first."""
    page = notifications.list_for_user(
        db.session,
        current_user,
        request.args.get("page", 1, type=int),
        current_app.config["PAGE_SIZE"],
    )
    return render(
        "notifications/index.html",
        "notifications/_list.html",
        page=page,
        kind_labels=notifications.KIND_LABELS,
    )


@bp.post("/<int:notification_id>/read")
@login_required
def mark_read(notification_id: int):
    """Mark one notification listed to the current user as read."""
    notification = notifications.get_own(db.session, current_user, notification_id)
    if notification is None:
        logger.warning(
            "notification %s not found for user %s", notification_id, current_user.id
        )
        abort(404)

    notifications.mark_read(notification)
    db.session.commit()
    return _list_response()


@bp.post("/read-all")
@login_required
def mark_all_read():
    """Mark the notifications listed to the current user as read."""
    changed = notifications.mark_all_read(db.session, current_user)
    db.session.commit()
    logger.info("%s notifications marked read by user %s", changed, current_user.id)
    return _list_response()


def _list_response():
    """Return the refreshed list to htmx, or send a plain form back to the list."""
    page_number = request.args.get("page", 1, type=int)
    if not wants_fragment():
        return redirect(url_for("notifications.index", page=page_number), 303)
    page = notifications.list_for_user(
        db.session, current_user, page_number, current_app.config["PAGE_SIZE"]
    )
    return render(
        "notifications/index.html",
        "notifications/_list.html",
        page=page,
        kind_labels=notifications.KIND_LABELS,
        update_bell=True,
    )
