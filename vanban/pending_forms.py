"""Form submissions kept while the user logs in again, and their summaries.

A plain (non-htmx) form posted without a valid session is kept on the server
under a random id, and the session cookie holds only that id. After a login by
the same user, the "Gửi lại biểu mẫu" page shows the kept fields with a fresh
CSRF token, so one click sends them to the same path again. htmx forms are not
kept here, because static/js/app.js keeps their text in the browser.

Passwords, the CSRF token and uploaded files are never kept.
"""

import inspect
import json
import logging
import os
import re
import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from flask import Response, current_app, request, session
from itsdangerous import BadSignature, URLSafeSerializer
from werkzeug.exceptions import HTTPException
from wtforms import BooleanField, FileField, PasswordField
from wtforms.fields.core import UnboundField

from vanban.forms import BaseForm

logger = logging.getLogger(__name__)

# Largest kept submission: the UTF-8 bytes of every kept name and value.
MAX_KEPT_BYTES = 64 * 1024
# A kept form older than this is deleted instead of offered again.
MAX_AGE_SECONDS = 3600
# Kept forms on disk at once. Anonymous POSTs create them, so the cap bounds
# the disk they can fill to about MAX_KEPT_FILES * MAX_KEPT_BYTES (64 MiB).
MAX_KEPT_FILES = 1000
SESSION_KEY = "pending_form"
FOLDER_NAME = "pending-forms"

_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{32}")
# Field names whose values are secrets even when the form class is unknown.
_SECRET_NAMES = ("password", "csrf_token")

KEPT = "kept"
TOO_LARGE = "too_large"
STORE_FULL = "store_full"
NOT_KEPT = "not_kept"
UNKNOWN_USER = "unknown_user"
# A signed cookie naming the browser's last user, so that a form posted after
# the session ran out is shown back to that user only.
LAST_USER_COOKIE = "vanban_last_user"
LAST_USER_SALT = "vanban-last-user"
LAST_USER_SECONDS = 30 * 24 * 3600


@dataclass
class PendingForm:
    """A form submission waiting for its user to log in again."""

    target: str
    endpoint: str
    # Id of the user whose session expired, or None when the cookie was lost.
    user_id: int | None
    fields: list[tuple[str, str]]
    # Labels (or names) of the password fields that were left out.
    dropped: list[str] = field(default_factory=list)
    had_files: bool = False
    # Page to go back to without resubmitting.
    return_to: str | None = None
    created: float = 0.0


def is_same_origin() -> bool:
    """Tell whether the request came from a page of this site.

    Chromium sends Origin with each form POST, as the browser tests show.
    Without Origin the Referer decides, and a request with neither counts as
    foreign.
    """
    source = request.headers.get("Origin") or request.referrer
    if not source or source == "null":
        return False
    return urlsplit(source).netloc.lower() == request.host.lower()


def post_endpoint(target: str) -> str | None:
    """Return the endpoint that accepts a POST to `target`, a path on this site.

    Absolute URLs, scheme-relative ones and paths that no POST rule matches
    return None, so a kept form is only ever sent back to this app.
    """
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or parts.fragment:
        return None
    if not parts.path.startswith("/") or parts.path.startswith("//"):
        return None
    adapter = current_app.create_url_adapter(request)
    try:
        endpoint, _ = adapter.match(parts.path, method="POST")
    except HTTPException:
        return None
    return endpoint


# Form classes and their fields


def _form_classes() -> list[type[BaseForm]]:
    found = []
    pending = [BaseForm]
    while pending:
        for subclass in pending.pop().__subclasses__():
            found.append(subclass)
            pending.append(subclass)
    return found


def _unbound_fields(form_class: type[BaseForm]) -> dict[str, UnboundField]:
    fields = {}
    for name in dir(form_class):
        value = getattr(form_class, name, None)
        if isinstance(value, UnboundField):
            fields[name] = value
    return fields


def _view_form_classes(endpoint: str | None) -> list[type[BaseForm]]:
    """Return the form classes that the endpoint's view function names."""
    view = current_app.view_functions.get(endpoint) if endpoint else None
    if view is None:
        return []
    names = set(inspect.unwrap(view).__code__.co_names)
    return [cls for cls in _form_classes() if cls.__name__ in names]


def _matching_fields(endpoint: str | None, names: set[str]) -> dict[str, UnboundField]:
    """Return the field definitions of the form class that `names` were posted from.

    The classes that the view names are tried first, then every form class.
    The classes with the most of `names` among their fields win. A field is
    left out when the winners disagree on its label or type, so its name is
    shown instead of a label that may be wrong.
    """
    for candidates in (_view_form_classes(endpoint), _form_classes()):
        classes = [_unbound_fields(cls) for cls in candidates]
        scores = [len(names & fields.keys()) for fields in classes]
        best = max(scores, default=0)
        if best:
            break
    else:
        return {}
    winners = [
        fields for fields, score in zip(classes, scores, strict=True) if score == best
    ]
    agreed = {}
    for name in names:
        definitions = [fields[name] for fields in winners if name in fields]
        if len(definitions) != len(winners):
            continue
        labels = {_label(definition, name) for definition in definitions}
        types = {definition.field_class for definition in definitions}
        if len(labels) == 1 and len(types) == 1:
            agreed[name] = definitions[0]
    return agreed


def _label(definition: UnboundField, name: str) -> str:
    label = definition.args[0] if definition.args else definition.kwargs.get("label")
    return label if isinstance(label, str) and label else name


def _is_secret(name: str, definition: UnboundField | None) -> bool:
    if any(secret in name for secret in _SECRET_NAMES):
        return True
    return definition is not None and issubclass(definition.field_class, PasswordField)


def _display_value(definition: UnboundField | None, value: str) -> str:
    # NOTE: choices that the view fills in per request (departments, users)
    # are not on the class, so those fields show the posted value, such as an id.
    if definition is None:
        return value
    if issubclass(definition.field_class, BooleanField):
        return "Có"
    choices = definition.kwargs.get("choices")
    if isinstance(choices, list | tuple):
        for choice in choices:
            if isinstance(choice, list | tuple) and str(choice[0]) == value:
                return str(choice[1])
    return value


@dataclass
class SubmittedForm:
    """The fields of a POST that may be written back into a page."""

    fields: list[tuple[str, str]]
    dropped: list[str]
    had_files: bool


def submitted_form(endpoint: str | None) -> SubmittedForm:
    """Collect the posted fields, leaving out passwords, the CSRF token and files."""
    names = set(request.form.keys()) | set(request.files.keys())
    definitions = _matching_fields(endpoint, names)
    fields = []
    dropped = []
    for name, values in request.form.lists():
        definition = definitions.get(name)
        if _is_secret(name, definition):
            if name != "csrf_token" and any(values):
                dropped.append(_label(definition, name) if definition else name)
            continue
        if definition is not None and issubclass(definition.field_class, FileField):
            continue
        fields.extend((name, value) for value in values)
    had_files = any(upload.filename for _, upload in request.files.items(multi=True))
    return SubmittedForm(fields=fields, dropped=dropped, had_files=had_files)


def summary_rows(
    endpoint: str | None, fields: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    """Return one (label, values) row for each kept field name, in posted order.

    Labels come from the form class when it is known, and the field name is
    shown otherwise. Choice values show their labels where the form class
    lists the choices itself.
    """
    definitions = _matching_fields(endpoint, {name for name, _ in fields})
    grouped: dict[str, list[str]] = {}
    for name, value in fields:
        text = _display_value(definitions.get(name), value)
        grouped.setdefault(name, []).append(text)
    rows = []
    for name, values in grouped.items():
        definition = definitions.get(name)
        label = _label(definition, name) if definition else name
        joined = ", ".join(value for value in values if value)
        rows.append((label, joined or "(để trống)"))
    return rows


# Storage: one JSON file per kept form in the instance folder, shared by every
# process of an installation.


def _folder() -> Path:
    return Path(current_app.instance_path) / FOLDER_NAME


def _path(pending_id: str) -> Path | None:
    if not isinstance(pending_id, str) or not _ID_PATTERN.fullmatch(pending_id):
        return None
    return _folder() / f"{pending_id}.json"


def _delete_expired(folder: Path) -> int:
    """Delete kept forms past MAX_AGE_SECONDS and return how many remain."""
    oldest = time.time() - MAX_AGE_SECONDS
    remaining = 0
    for path in folder.glob("*.json"):
        try:
            if path.stat().st_mtime < oldest:
                path.unlink()
            else:
                remaining += 1
        except FileNotFoundError:
            continue
    return remaining


def _save(pending: PendingForm) -> str | None:
    folder = _folder()
    folder.mkdir(parents=True, exist_ok=True)
    if _delete_expired(folder) >= MAX_KEPT_FILES:
        return None
    pending_id = secrets.token_urlsafe(24)
    path = _path(pending_id)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(asdict(pending), ensure_ascii=False), "utf-8")
    os.replace(partial, path)
    return pending_id


def _load(pending_id: str | None) -> PendingForm | None:
    path = _path(pending_id) if pending_id else None
    if path is None:
        return None
    try:
        data = json.loads(path.read_text("utf-8"))
        if not isinstance(data["user_id"], int | None):
            raise TypeError("user_id is not an id")
        pending = PendingForm(
            target=str(data["target"]),
            endpoint=str(data["endpoint"]),
            user_id=data["user_id"],
            fields=[(str(name), str(value)) for name, value in data["fields"]],
            dropped=[str(label) for label in data["dropped"]],
            had_files=bool(data["had_files"]),
            return_to=data["return_to"] if isinstance(data["return_to"], str) else None,
            created=float(data["created"]),
        )
    except FileNotFoundError:
        return None
    except (KeyError, TypeError, ValueError):
        logger.warning("unreadable kept form %s deleted", path.name)
        path.unlink(missing_ok=True)
        return None
    if pending.created < time.time() - MAX_AGE_SECONDS:
        _delete(pending_id)
        return None
    return pending


def _delete(pending_id: str | None) -> None:
    path = _path(pending_id) if pending_id else None
    if path is not None:
        path.unlink(missing_ok=True)


# The request flow


def _expired_session_user_id() -> int | None:
    """Return the user id that the rejected session cookie still names, if any.

    A session that ran out of time is dropped whole, so the browser's
    last-user cookie (set at login) names the user then.
    """
    raw_id = str(session.get("_user_id") or "").partition(":")[0]
    if raw_id.isdigit():
        return int(raw_id)
    return last_user_id()


def _last_user_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt=LAST_USER_SALT)


def remember_last_user(response: Response, user_id: int) -> None:
    """Mark this browser with the user who logged in, signed, for kept forms."""
    response.set_cookie(
        LAST_USER_COOKIE,
        _last_user_serializer().dumps(user_id),
        max_age=LAST_USER_SECONDS,
        httponly=True,
        samesite="Lax",
        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")),
    )


def forget_last_user(response: Response) -> None:
    response.delete_cookie(LAST_USER_COOKIE)


def last_user_id() -> int | None:
    """Return the user id of this browser's last login, or None."""
    raw = request.cookies.get(LAST_USER_COOKIE)
    if not raw:
        return None
    try:
        user_id = _last_user_serializer().loads(raw)
    except BadSignature:
        return None
    return user_id if isinstance(user_id, int) else None


def keep_for_login(return_to: str | None) -> str:
    """Keep the posted form of a request that lacks a valid session.

    Returns KEPT, or why nothing was kept: NOT_KEPT (a foreign or unmatched
    target, or no fields), UNKNOWN_USER (neither the session nor the
    last-user cookie names the user), TOO_LARGE, or STORE_FULL.
    """
    target = request.full_path if request.query_string else request.path
    endpoint = post_endpoint(target)
    if endpoint is None or not is_same_origin():
        logger.info("form posted to %s without a session was not kept", request.path)
        return NOT_KEPT
    submitted = submitted_form(endpoint)
    if not submitted.fields:
        return NOT_KEPT
    user_id = _expired_session_user_id()
    if user_id is None:
        # A form with an unknown author is not kept, because on a shared
        # office computer the next login may be another user's.
        logger.info("form posted to %s not kept: its user is unknown", request.path)
        return UNKNOWN_USER
    size = sum(
        len(name.encode()) + len(value.encode()) for name, value in submitted.fields
    )
    if size > MAX_KEPT_BYTES:
        logger.info("form posted to %s not kept: %d bytes", request.path, size)
        return TOO_LARGE
    pending = PendingForm(
        target=target,
        endpoint=endpoint,
        user_id=user_id,
        fields=submitted.fields,
        dropped=submitted.dropped,
        had_files=submitted.had_files,
        return_to=return_to,
        created=time.time(),
    )
    discard_pending()
    pending_id = _save(pending)
    if pending_id is None:
        logger.warning(
            "form posted to %s not kept: %d kept forms already",
            request.path,
            MAX_KEPT_FILES,
        )
        return STORE_FULL
    session[SESSION_KEY] = pending_id
    logger.info("kept form posted to %s until the next login", request.path)
    return KEPT


def peek_pending() -> PendingForm | None:
    """Return the form kept for this browser session, leaving it in place."""
    return _load(session.get(SESSION_KEY))


def carry_over(pending_id: str | None, user) -> bool:
    """Put a kept form into the new session of `user` who just logged in.

    A form kept from another user's expired session, or with a target that
    no longer accepts a POST here, is deleted instead. Returns whether a form
    now waits for `user`.
    """
    pending = _load(pending_id)
    if pending is None:
        return False
    if post_endpoint(pending.target) is None:
        logger.warning("kept form with a target outside this app was dropped")
        _delete(pending_id)
        return False
    if pending.user_id != user.id:
        logger.info(
            "kept form of user %s dropped at login of user %s", pending.user_id, user.id
        )
        _delete(pending_id)
        return False
    session[SESSION_KEY] = pending_id
    return True


def take_pending(user) -> PendingForm | None:
    """Remove and return the form kept for `user`, if it may still be sent."""
    pending_id = session.pop(SESSION_KEY, None)
    pending = _load(pending_id)
    _delete(pending_id)
    if pending is None:
        return None
    if pending.user_id != user.id:
        return None
    if post_endpoint(pending.target) is None:
        logger.warning("kept form with a target outside this app was dropped")
        return None
    return pending


def discard_pending() -> None:
    """Delete the form kept for this browser session, if any."""
    _delete(session.pop(SESSION_KEY, None))
