"""Request plumbing shared by every blueprint: htmx responses, errors, security."""

import logging
import traceback
from urllib.parse import urlsplit

from flask import (
    Flask,
    Response,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import ClientDisconnected, HTTPException
from werkzeug.routing import IntegerConverter, ValidationError
from werkzeug.wsgi import LimitedStream

from vanban import pending_forms
from vanban.extensions import db, login_manager, sqlite_write_intent
from vanban.models import User
from vanban.services import ServiceError, doctypes, files
from vanban.services.clock import local

logger = logging.getLogger(__name__)

ERROR_MESSAGES = {
    400: "Yêu cầu không hợp lệ.",
    403: "Bạn không có quyền thực hiện thao tác này.",
    404: "Không tìm thấy trang hoặc văn bản.",
    405: "Thao tác không được hỗ trợ.",
    409: "Văn bản đã thay đổi trạng thái. Hãy tải lại trang.",
    413: "Dữ liệu gửi lên quá lớn.",
    422: "Dữ liệu nhập chưa hợp lệ.",
    429: "Bạn thao tác quá nhanh. Vui lòng thử lại sau.",
    500: "Hệ thống gặp lỗi và chưa thực hiện được yêu cầu. Vui lòng thử lại sau.",
}


def wants_fragment() -> bool:
    """Tell whether to render a fragment.

    Only plain htmx requests get one; boosted navigation and history restore
    both need the full page.
    """
    hx = request.htmx
    return bool(hx) and not hx.boosted and not hx.history_restore_request


def render(
    page_template: str,
    fragment_template: str | None = None,
    status: int = 200,
    **context,
) -> Response:
    """Render the fragment for htmx requests and the full page otherwise."""
    if fragment_template and wants_fragment():
        template = fragment_template
    else:
        template = page_template
    response = make_response(render_template(template, **context), status)
    response.vary.add("HX-Request")
    return response


def error_response(status: int, message: str | None = None) -> Response:
    """Render an error message: into #flash for htmx, as a page otherwise."""
    message = message or ERROR_MESSAGES.get(status, "Đã xảy ra lỗi.")
    if request.htmx:
        response = make_response(
            render_template("_flash.html", error_message=message), status
        )
        response.headers["HX-Retarget"] = "#flash"
        response.headers["HX-Reswap"] = "innerHTML"
    else:
        response = make_response(
            render_template("error.html", status=status, message=message), status
        )
    response.vary.add("HX-Request")
    return response


def safe_next(target: str | None) -> str | None:
    """Keep a post-login destination only when it is a path on this site."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/"):
        return None
    if parts.path.startswith("//"):
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _load_user(user_id: str) -> User | None:
    raw_id, _, token = user_id.partition(":")
    if not raw_id.isdigit():
        return None
    user = db.session.get(User, int(raw_id))
    if user is None or not user.active or not token or token != user.session_token:
        return None
    return user


def _unauthorized() -> Response:
    """Send an anonymous user to the login page, a full page even from htmx.

    A plain form posted without a session is kept for after the login.
    """
    flash("Vui lòng đăng nhập để tiếp tục.", "info")
    if request.htmx:
        current = request.htmx.current_url or request.referrer
        next_path = safe_next(urlsplit(current).path) if current else None
        response = make_response("", 401)
        response.headers["HX-Redirect"] = url_for("auth.login", next=next_path)
        return response
    if request.method == "GET":
        next_path = safe_next(request.full_path)
    else:
        # Action URLs accept only POST, so after login go back to the page instead.
        referrer = request.referrer
        next_path = safe_next(urlsplit(referrer).path) if referrer else None
        _keep_form_for_login(next_path)
    return redirect(url_for("auth.login", next=next_path))


def _keep_form_for_login(return_to: str | None) -> None:
    outcome = pending_forms.keep_for_login(return_to)
    if outcome == pending_forms.TOO_LARGE:
        limit_kb = pending_forms.MAX_KEPT_BYTES // 1024
        flash(
            f"Nội dung bạn nhập dài hơn {limit_kb} KB nên không được giữ lại sau "
            "khi đăng nhập. Hãy bấm nút Quay lại của trình duyệt và sao chép nội "
            "dung ra nơi khác trước khi đăng nhập.",
            "error",
        )
    elif outcome == pending_forms.UNKNOWN_USER:
        flash(
            "Phiên làm việc đã hết hạn và trình duyệt không còn ghi nhận người "
            "dùng nên nội dung bạn nhập không được giữ lại. Hãy bấm nút Quay lại "
            "của trình duyệt và sao chép nội dung ra nơi khác trước khi đăng nhập.",
            "error",
        )
    elif outcome == pending_forms.STORE_FULL:
        flash(
            "Hệ thống đang giữ quá nhiều biểu mẫu chờ gửi lại nên không giữ được "
            "nội dung bạn nhập. Hãy bấm nút Quay lại của trình duyệt và sao chép "
            "nội dung ra nơi khác trước khi đăng nhập.",
            "error",
        )


def resubmit_page(
    message: str,
    *,
    target: str,
    endpoint: str | None,
    submitted: pending_forms.SubmittedForm,
    back: str | None = None,
    category: str = "error",
    status: int = 200,
) -> Response:
    """Render the page that sends kept fields to `target` again with a fresh token."""
    page = render_template(
        "csrf_resubmit.html",
        message=message,
        category=category,
        action=target,
        fields=submitted.fields,
        rows=pending_forms.summary_rows(endpoint, submitted.fields),
        dropped=submitted.dropped,
        had_files=submitted.had_files,
        back=back,
    )
    return make_response(page, status)


def _csrf_failed(error: CSRFError) -> Response:
    """Keep what the user typed when the CSRF token expired or is missing."""
    logger.warning("CSRF check failed on %s: %s", request.path, error.description)
    if not current_user.is_authenticated and request.endpoint != "auth.login":
        # The CSRF token expired with the session, and a resubmitted form would
        # fail the login check, so the user logs in first. A plain form is
        # kept for after the login.
        return _unauthorized()
    message = (
        "Phiên làm việc đã hết hạn hoặc biểu mẫu không hợp lệ. Nội dung bạn nhập "
        "vẫn được giữ nguyên; hãy bấm gửi lại."
    )
    if request.htmx:
        response = make_response(
            render_template("_csrf_refresh.html", error_message=message), 400
        )
        response.headers["HX-Retarget"] = "#flash"
        response.headers["HX-Reswap"] = "innerHTML"
        return response
    target = request.full_path if request.query_string else request.path
    if not pending_forms.is_same_origin() or not pending_forms.post_endpoint(target):
        # Fields posted from another site must not come back with a valid token.
        return error_response(
            400,
            "Phiên làm việc đã hết hạn hoặc biểu mẫu không hợp lệ. Không xác nhận "
            "được biểu mẫu gửi từ trang của VanBan nên nội dung không được giữ "
            "lại; hãy mở lại trang và nhập lại.",
        )
    return resubmit_page(
        message,
        target=target,
        endpoint=request.endpoint,
        submitted=pending_forms.submitted_form(request.endpoint),
        status=400,
    )


# Largest oversized body read and dropped so that the client sees the 413 page.
# NOTE: gunicorn's worker timeout (30 s by default) still cuts off a slow upload.
MAX_DISCARDED_BODY_BYTES = 1024 * 1024 * 1024


def _discard_body() -> None:
    """Read the rest of a rejected request body.

    gunicorn closes the socket with the body unread, and the browser then
    reports a connection reset instead of showing the 413 page.
    """
    length = request.content_length
    if length is None or length > MAX_DISCARDED_BODY_BYTES:
        return
    if request.max_content_length is not None and length > request.max_content_length:
        # Werkzeug rejected the request before reading any of its body.
        stream = LimitedStream(request.environ["wsgi.input"], length)
    else:
        # The form parser stopped part way, and this stream counts what it read.
        stream = request.stream
    try:
        while stream.read(1024 * 1024):
            pass
    except ClientDisconnected:
        return


def _handle_http_error(error: HTTPException):
    if error.code is None or error.code > 500:
        return error
    if error.code == 413:
        _discard_body()
    return error_response(error.code)


def _handle_unexpected(error: Exception):
    """Show the Vietnamese error page for an uncaught exception, never a traceback.

    Under tests and in debug mode the exception is re-raised, as Flask does.
    """
    propagate = current_app.config.get("PROPAGATE_EXCEPTIONS")
    if propagate is None:
        propagate = current_app.testing or current_app.debug
    if propagate:
        raise error
    # Log the type and the frames only, because the message may quote document text.
    frames = "".join(traceback.format_tb(error.__traceback__))
    logger.error(
        "unhandled %s on %s %s\n%s",
        type(error).__name__,
        request.method,
        request.path,
        frames,
    )
    db.session.rollback()
    try:
        return error_response(500)
    except Exception:
        logger.error(
            "error page failed on %s %s, plain text sent instead",
            request.method,
            request.path,
        )
        response = make_response(ERROR_MESSAGES[500], 500)
        response.mimetype = "text/plain"
        return response


def _handle_service_error(error: ServiceError):
    return error_response(error.status_code, error.message)


def _begin_request():
    # On SQLite a POST takes the write lock when its transaction begins.
    if request.method == "POST":
        g.write_intent_token = sqlite_write_intent.set(True)


def _end_request(exc):
    token = g.pop("write_intent_token", None)
    if token is not None:
        sqlite_write_intent.reset(token)


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; "
        "script-src 'self'; frame-ancestors 'none'; form-action 'self'",
    )
    if current_user and current_user.is_authenticated:
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def _vn_date(value) -> str:
    if value is None:
        return ""
    if hasattr(value, "hour"):
        value = local(value).date()
    return value.strftime("%d/%m/%Y")


def _vn_datetime(value) -> str:
    if value is None:
        return ""
    return local(value).strftime("%d/%m/%Y %H:%M")


class DatabaseIdConverter(IntegerConverter):
    """An `int` URL part that fits the 32-bit id columns; larger numbers get 404.

    Without the bound, a number past 64 bits reaches the SQLite driver, which
    raises OverflowError instead of finding no row.
    """

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(map, *args, **kwargs)

    def to_python(self, value: str) -> int:
        # Ids have at most 10 digits. Checking first keeps int() from raising
        # ValueError past its default limit of 4300 digits.
        if len(value) > 10:
            raise ValidationError()
        return super().to_python(value)


def register_web(app: Flask) -> None:
    # Set before the blueprints add their rules, which look converters up then.
    app.url_map.converters["int"] = DatabaseIdConverter
    login_manager.user_loader(_load_user)
    login_manager.unauthorized_handler(_unauthorized)
    login_manager.session_protection = "strong"
    app.before_request(_begin_request)
    app.teardown_request(_end_request)
    app.after_request(_security_headers)
    app.register_error_handler(CSRFError, _csrf_failed)
    app.register_error_handler(HTTPException, _handle_http_error)
    app.register_error_handler(Exception, _handle_unexpected)
    app.register_error_handler(ServiceError, _handle_service_error)
    app.jinja_env.filters["vn_date"] = _vn_date
    app.jinja_env.filters["vn_datetime"] = _vn_datetime
    app.jinja_env.globals.update(
        URGENCY_LABELS=doctypes.URGENCY_LABELS,
        SECRECY_LABELS=doctypes.SECRECY_LABELS,
        STATUS_LABELS=doctypes.STATUS_LABELS,
        ROLE_LABELS=doctypes.ROLE_LABELS,
        wants_fragment=wants_fragment,
        upload_help=files.upload_help,
    )
