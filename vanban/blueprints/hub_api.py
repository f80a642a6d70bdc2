"""The city hub's HTTP API for connectors: send, list, fetch, acknowledge, directory.

Registered only when HUB_ENABLED is set. Clients authenticate every request
with `X-Organ-Id` and `Authorization: Bearer <token>`, and every error is JSON:
`{"error": code, "detail": text}`. An `unknown_recipient` error also lists the
codes at fault in "recipients", so that a connector can send the package again
to the other recipients.
"""

import logging

from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    jsonify,
    request,
)
from werkzeug.exceptions import (
    ClientDisconnected,
    HTTPException,
    RequestEntityTooLarge,
)
from werkzeug.wsgi import LimitedStream

from vanban.exchange import hub
from vanban.exchange.hub import HubError
from vanban.extensions import csrf, db, sqlite_reading
from vanban.web import MAX_DISCARDED_BODY_BYTES

logger = logging.getLogger(__name__)
bp = Blueprint("hub_api", __name__, url_prefix="/api/edoc/v1")
# Clients are programs holding a bearer token, not browsers holding a session
# cookie, so there is no cross-site request to forge.
csrf.exempt(bp)

_READ_CHUNK = 1024 * 1024
# An acknowledgement is a small JSON object.
MAX_ACK_BYTES = 64 * 1024
ERROR_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    500: "internal_error",
}


@bp.before_request
def authenticate():
    """Reject a request without a valid organisation code and token with 401."""
    organ_id = request.headers.get("X-Organ-Id", "").strip()
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    organisation = None
    if scheme.lower() == "bearer":
        # The check only reads, so on SQLite a POST does not wait for the
        # write lock here, and its transaction ends below.
        with sqlite_reading():
            organisation = hub.authenticate(db.session, organ_id, token.strip())
    if organisation is None:
        logger.warning(
            "hub API %s %s rejected: wrong or missing token for organ_id %r",
            request.method,
            request.path,
            organ_id[:32],
        )
        response = json_error(
            401,
            "unauthorized",
            "Thiếu hoặc sai mã đơn vị (X-Organ-Id) hoặc mã truy cập "
            "(Authorization: Bearer). Liên hệ quản trị trục để được cấp mã.",
        )
        response.headers["WWW-Authenticate"] = 'Bearer realm="edoc"'
        return response
    g.hub_organisation = organisation
    # The writes of a POST start a transaction of their own once the body is
    # read and parsed.
    db.session.commit()
    return None


@bp.after_request
def no_store(response: Response) -> Response:
    # Responses carry documents and per-organisation state, so nothing may cache them.
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/messages")
def send():
    """Accept one edXML package from the caller and queue it for its recipients."""
    limit = current_app.config["HUB_MAX_PACKAGE_BYTES"]
    body = _read_body(limit)
    message_type = request.headers.get("X-Message-Type", "").strip().lower()

    status, answer = hub.send(
        db.session, g.hub_organisation, message_type, body, max_bytes=limit
    )
    db.session.commit()
    return jsonify(answer), status


@bp.get("/messages")
def pending():
    """List the messages waiting for the caller, oldest first."""
    raw_limit = request.args.get("limit", str(hub.DEFAULT_LIST_LIMIT))
    if not raw_limit.isdigit() or len(raw_limit) > 6:
        raise HubError(
            400,
            "invalid_request",
            f"Tham số limit phải là số nguyên từ 1 đến {hub.MAX_LIST_LIMIT} "
            f"(nhận được: {raw_limit[:20]!r}).",
        )
    message_type = request.args.get("type") or None

    messages = hub.list_pending(
        db.session, g.hub_organisation, message_type, int(raw_limit)
    )
    return jsonify(messages=messages)


@bp.get("/messages/<message_id>")
def fetch(message_id: str):
    """Send a package addressed to the caller, byte for byte as it was sent."""
    data = hub.fetch(db.session, g.hub_organisation, message_id)
    # A content_type given as is keeps Werkzeug from adding "; charset=utf-8",
    # which would be wrong for a package in another encoding.
    return Response(data, status=200, content_type="application/xml")


@bp.post("/messages/<message_id>/ack")
def ack(message_id: str):
    """Record that the caller stored a message (done) or could not read it (fail)."""
    request.max_content_length = MAX_ACK_BYTES
    payload = request.get_json(force=True, silent=True)
    if not isinstance(payload, dict):
        raise HubError(
            400,
            "invalid_request",
            'Nội dung phải là JSON dạng {"result": "done"} hoặc '
            '{"result": "fail", "reason": "..."}.',
        )

    answer = hub.ack(
        db.session,
        g.hub_organisation,
        message_id,
        payload.get("result"),
        payload.get("reason"),
    )
    db.session.commit()
    return jsonify(answer)


@bp.get("/messages/<message_id>/deliveries")
def deliveries(message_id: str):
    """Show the sender how far each recipient's copy of its message got."""
    rows = hub.deliveries(db.session, g.hub_organisation, message_id)
    return jsonify(deliveries=rows)


@bp.get("/organizations")
def organizations():
    """List the active organisations of the directory."""
    return jsonify(organizations=hub.directory(db.session))


@bp.route("/<path:unknown>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def unknown_path(unknown: str):
    """Return a JSON error for a path or method the API lacks, like every other error.

    Flask sends routing errors to the application's HTML error handler, not to
    this blueprint's, so this rule catches them first. A path that another
    rule serves with a different method gets 405.
    """
    adapter = current_app.create_url_adapter(request)
    allowed = []
    for method in ("GET", "POST"):
        try:
            endpoint, _ = adapter.match(method=method)
        except HTTPException:
            continue
        if endpoint != request.endpoint:
            allowed.append(method)
    if allowed:
        response = json_error(
            405, "method_not_allowed", "Phương thức này không dùng được ở địa chỉ này."
        )
        response.headers["Allow"] = ", ".join(allowed)
        return response
    return json_error(404, "not_found", "Không có địa chỉ này trong API của trục.")


@bp.errorhandler(HubError)
def hub_error(error: HubError):
    logger.warning(
        "hub API %s %s by %s rejected: %d %s",
        request.method,
        request.path,
        getattr(g.get("hub_organisation"), "organ_id", None),
        error.status,
        error.code,
    )
    return json_error(error.status, error.code, error.detail, error.recipients)


@bp.errorhandler(HTTPException)
def http_error(error: HTTPException):
    status = error.code or 500
    if status == 413:
        detail = hub.too_large_error(request.max_content_length or 0).detail
    elif status >= 500:
        detail = "Trục gặp lỗi khi xử lý yêu cầu. Hãy thử lại sau."
    else:
        detail = error.description or ""
    return json_error(status, ERROR_CODES.get(status, f"http_{status}"), detail)


def json_error(
    status: int, code: str, detail: str, recipients: list[str] | None = None
) -> Response:
    body = {"error": code, "detail": detail}
    if recipients is not None:
        body["recipients"] = recipients
    response = jsonify(body)
    response.status_code = status
    return response


def _read_body(limit: int) -> bytes:
    """Read the request body, rejecting it with 413 once it passes `limit` bytes.

    A declared Content-Length over the limit is rejected before reading. The
    bytes read are counted as well, because a chunked request declares no
    length, and a shorter body than declared is rejected with 400.
    """
    # One byte of room, because Werkzeug's limited stream raises on any read
    # after reaching its limit, even at the end of a body of exactly that size.
    request.max_content_length = limit + 1
    stream = None
    chunks = []
    size = 0
    try:
        stream = request.stream
        while chunk := stream.read(_READ_CHUNK):
            size += len(chunk)
            if size > limit:
                raise RequestEntityTooLarge()
            chunks.append(chunk)
    except RequestEntityTooLarge:
        _discard_body(started=stream is not None)
        raise hub.too_large_error(limit) from None
    except ClientDisconnected:
        raise HubError(
            400,
            "invalid_request",
            "Nội dung yêu cầu ngắn hơn độ dài khai báo trong Content-Length.",
        ) from None
    return b"".join(chunks)


def _discard_body(*, started: bool) -> None:
    """Read and drop the rest of a rejected body, up to MAX_DISCARDED_BODY_BYTES.

    A server that closes the socket with the body unread makes the client see
    a connection reset instead of the 413 response, and a connector retries a
    reset while it gives up on a 413. `started` records whether reading began.
    """
    environ = request.environ
    length = request.content_length
    if length is not None and length > MAX_DISCARDED_BODY_BYTES:
        return
    if length is not None and not started:
        # Rejected from the header alone, so none of the body was read yet.
        stream = LimitedStream(environ["wsgi.input"], length)
    elif length is not None:
        # Werkzeug's stream stops at the declared length.
        stream = request.stream
    elif "wsgi.input_terminated" in environ:
        # A chunked body, which the server ends for us.
        stream = environ["wsgi.input"]
    else:
        return
    remaining = MAX_DISCARDED_BODY_BYTES
    try:
        while remaining > 0 and (chunk := stream.read(min(_READ_CHUNK, remaining))):
            remaining -= len(chunk)
    except (ClientDisconnected, OSError):
        return
