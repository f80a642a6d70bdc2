"""Rules for an organisation's hub connection settings, and connection test text.

The settings page and the `exchange connect` command both apply them, so a
value that one accepts the other accepts too, and both describe a failed
connection test in the same words.
"""

import ipaddress
import re
import unicodedata
from urllib.parse import urlsplit

import requests

from vanban.exchange.connector import HubError, HubUnavailable, UnexpectedResponse
from vanban.services import ServiceError

# Bounds of the poll interval, in seconds.
MIN_POLL_SECONDS = 10
MAX_POLL_SECONDS = 24 * 3600
# Lengths of the ConnectorSettings columns.
MAX_HUB_URL_LENGTH = 500
MAX_TOKEN_LENGTH = 500
# Characters that RFC 3986 does not allow anywhere in a URL, besides whitespace
# and control characters, which are checked by category.
_FORBIDDEN = set("\"'<>\\^`{|}")
# One label of a DNS host name (RFC 1123): letters, digits and inner hyphens.
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_INVALID_URL = "Địa chỉ trục liên thông không hợp lệ: "


def check_hub_url(url: str) -> str:
    """Return the hub's base URL without a trailing slash, or raise ServiceError.

    The URL has the scheme https, or http when the host is this machine
    (localhost, 127.0.0.0/8 or ::1), because it carries the token. Its host is
    a DNS name or an IP address, its port, if any, is 1..65535, and it has no
    user name, query or fragment.
    """
    url = (url or "").strip()
    if not url:
        raise ServiceError("Hãy nhập địa chỉ API của trục liên thông.")
    if len(url) > MAX_HUB_URL_LENGTH:
        raise ServiceError(
            f"{_INVALID_URL}dài quá {MAX_HUB_URL_LENGTH} ký tự, hãy kiểm tra lại."
        )
    if any(_is_forbidden(character) for character in url):
        raise ServiceError(
            f"{_INVALID_URL}không được chứa dấu cách, dấu nháy, dấu < > hay ký tự điều "
            "khiển. Hãy dán đúng địa chỉ do quản trị trục cung cấp."
        )
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        # Raised for brackets that hold no IPv6 address, as in http://[x]/.
        raise ServiceError(
            f"{_INVALID_URL}tên máy trong dấu [ ] phải là một địa chỉ IPv6."
        ) from exc
    if parts.scheme not in ("http", "https"):
        raise ServiceError(
            f"{_INVALID_URL}phải bắt đầu bằng https:// (hoặc http:// khi trục ở chính "
            "máy này), ví dụ https://truc.example.vn/api/edoc/v1."
        )
    if not parts.hostname:
        raise ServiceError(
            f"{_INVALID_URL}thiếu tên máy sau {parts.scheme}://, ví dụ "
            "https://truc.example.vn/api/edoc/v1."
        )
    if parts.username is not None or parts.password is not None:
        raise ServiceError(
            f"{_INVALID_URL}không được chứa tên đăng nhập hay mật khẩu (phần trước "
            "dấu @). Mã truy cập nhập ở ô riêng."
        )
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        raise ServiceError(
            f"{_INVALID_URL}địa chỉ gốc của API không có phần sau dấu ? hay dấu #."
        )
    host = parts.hostname or ""
    if not _is_host(host):
        raise ServiceError(
            f"{_INVALID_URL}tên máy “{host}” không phải tên miền hay địa chỉ IP, ví dụ "
            "truc.example.vn hoặc 10.0.0.5."
        )
    _check_port(parts)
    if parts.scheme == "http" and not is_loopback(host):
        raise ServiceError(
            f"{_INVALID_URL}phải dùng https://, vì địa chỉ mang mã truy cập. Chỉ được "
            "dùng http:// khi trục ở chính máy này: localhost, địa chỉ 127.x.x.x "
            "hoặc [::1]."
        )
    return url.rstrip("/")


def _is_forbidden(character: str) -> bool:
    if character in _FORBIDDEN or character.isspace():
        return True
    return unicodedata.category(character) in ("Cc", "Cf")


def _check_port(parts) -> None:
    try:
        port = parts.port
    except ValueError:
        # urlsplit raises it for a port that is not a number or is over 65535.
        port = -1
    if port is not None and not 1 <= port <= 65535:
        raise ServiceError(
            f"{_INVALID_URL}cổng (số sau dấu hai chấm) phải là số từ 1 đến 65535."
        )


def _is_host(host: str) -> bool:
    """Tell whether `host`, as urlsplit lowers it, is an IP address or DNS name."""
    if not host:
        return False
    if _ip_address(host) is not None:
        return True
    try:
        # A name in Vietnamese letters travels in its xn-- form.
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    labels = ascii_host.removesuffix(".").split(".")
    if len(ascii_host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        return False
    # A last label of digits only is a mistyped IPv4 address, such as 10.0.0.256.
    return not labels[-1].isdigit()


def _ip_address(host: str):
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def is_loopback(host: str | None) -> bool:
    """Tell whether the host is this machine: localhost, 127.0.0.0/8 or ::1."""
    if host == "localhost":
        return True
    address = _ip_address(host or "")
    return address is not None and address.is_loopback


def check_token_length(token: str) -> str:
    """Return the stripped token, or raise ServiceError when it is too long to store."""
    token = (token or "").strip()
    if len(token) > MAX_TOKEN_LENGTH:
        raise ServiceError(
            f"Mã truy cập (token) dài {len(token)} ký tự, quá {MAX_TOKEN_LENGTH} ký "
            "tự. Hãy dán đúng mã do trục cấp."
        )
    return token


# Advice of the connection test when the server at the address is not the hub.
_CHECK_ADDRESS = (
    "Hãy kiểm tra địa chỉ trục liên thông: đó là địa chỉ gốc của API, thường "
    "kết thúc bằng /api/edoc/v1."
)


def describe_problem(exc: HubError | HubUnavailable) -> str:
    """Describe in Vietnamese why reading the hub's directory failed, and what to do.

    The text continues "Chưa kết nối được trục liên thông: ".
    """
    status = exc.status
    if isinstance(exc, UnexpectedResponse):
        return (
            f"máy chủ ở địa chỉ này có trả lời (HTTP {status}) nhưng {exc.detail}, "
            f"nên đó không phải API của trục liên thông. {_CHECK_ADDRESS}"
        )
    if status is None:
        return _no_response_text(exc)
    if status == 401:
        return (
            "trục từ chối mã truy cập (HTTP 401). Hãy kiểm tra lại mã truy cập "
            "và mã định danh của đơn vị."
        )
    if 300 <= status < 400:
        return (
            f"máy chủ chuyển sang một địa chỉ khác (HTTP {status}). Hãy nhập thẳng "
            "địa chỉ đích, chẳng hạn https:// thay cho http://."
        )
    if not exc.detail and not getattr(exc, "error", ""):
        # Every error of the hub API is JSON with a code and a detail.
        return (
            f"máy chủ trả lời lỗi HTTP {status} mà không kèm lỗi của API trục, "
            f"nên địa chỉ có thể không trỏ tới trục liên thông. {_CHECK_ADDRESS}"
        )
    if status >= 500:
        return (
            f"trục đang gặp lỗi (HTTP {status}): {exc.detail}. Hãy thử lại sau "
            "ít phút hoặc báo quản trị trục."
        )
    detail = exc.detail or getattr(exc, "error", "")
    return f"trục trả lời lỗi HTTP {status}: {detail}."


# Network errors behind a call that got no response, most specific first
# (ConnectTimeout is a ConnectionError too), with what they mean for the admin.
_NETWORK_ERRORS = (
    (
        requests.exceptions.SSLError,
        "không lập được kết nối https:// an toàn: chứng chỉ của máy chủ không "
        "hợp lệ, đã hết hạn hoặc không khớp tên máy trong địa chỉ.",
    ),
    (
        requests.exceptions.ConnectTimeout,
        "quá thời gian chờ kết nối tới máy chủ. Hãy kiểm tra địa chỉ trục và "
        "đường mạng (tường lửa, proxy).",
    ),
    (
        requests.exceptions.Timeout,
        "đã kết nối được tới máy chủ nhưng quá thời gian chờ mà máy chủ chưa "
        "trả lời. Hãy thử lại sau ít phút hoặc báo quản trị trục.",
    ),
    (
        requests.exceptions.ConnectionError,
        "không kết nối được tới máy chủ: tên máy không tìm thấy, cổng không mở "
        "hoặc đường mạng bị chặn. Hãy kiểm tra địa chỉ trục và đường mạng.",
    ),
)


def _no_response_text(exc: HubUnavailable) -> str:
    """Describe a call that got no HTTP response, by the network error behind it."""
    cause = exc.__cause__
    for error_type, text in _NETWORK_ERRORS:
        if isinstance(cause, error_type):
            return text
    if cause is None:
        # HubClient raises it without a cause when a response's bytes come so
        # slowly that reading it takes longer than CONNECTOR_TRANSFER_SECONDS.
        return (
            "máy chủ gửi câu trả lời quá chậm, không đọc xong trong thời gian cho "
            "phép. Hãy thử lại sau ít phút."
        )
    return (
        "không kết nối được hoặc quá thời gian chờ. Hãy kiểm tra địa chỉ trục "
        "và đường mạng."
    )
