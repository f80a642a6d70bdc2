"""CSRF, sessions, passwords, login throttling, redirects and security headers."""

import re
import time
from datetime import timedelta
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from lxml import html
from sqlalchemy import select
from werkzeug.security import check_password_hash

from vanban.extensions import db
from vanban.models import Document, User
from vanban.services import accounts, demo
from vanban.services.clock import now

from ..conftest import CSRF_META, WebUser
from ..scenario import city_issues_guide, fresh, reload, user

WARD_CLERK = "badinh.vanthu"
# Browsers send Origin with form POSTs, but the test client sends none.
SAME_ORIGIN = {"Origin": "http://localhost"}
CSRF_MESSAGE = "Phiên làm việc đã hết hạn"
OOB_META = re.compile(
    r'<meta name="csrf-token" id="csrf-token" content="([^"]+)" hx-swap-oob="true">'
)
# Values for every field any POST form has, so that a request missing only its
# CSRF token would otherwise be accepted.
FORM_VALUES = {
    "username": WARD_CLERK,
    "password": demo.DEMO_PASSWORD,
    "reason": "Lý do thử",
    "note": "Ghi chú thử",
    "text": "Nội dung thử",
    "comment": "Ý kiến thử",
    "subject": "Trích yếu thử",
    "type_name": "Công văn",
    "signer_name": "Người ký (demo)",
    "signer_position": "Chủ tịch",
    "urgency": "0",
    "secrecy": "0",
    "body_text": "Nội dung dự thảo thử",
}


def database_snapshot() -> dict[str, list]:
    """Return every row of every table, to compare before and after a request."""
    fresh()
    snapshot = {}
    for table in db.metadata.sorted_tables:
        order = list(table.primary_key.columns) or list(table.columns)
        rows = db.session.execute(select(table).order_by(*order)).all()
        snapshot[table.name] = [tuple(row) for row in rows]
    return snapshot


def post_urls(app, document_id: int) -> list[str]:
    """Build a URL for every rule that accepts POST, ids pointing at a document."""
    adapter = app.url_map.bind("localhost")
    urls = []
    for rule in app.url_map.iter_rules():
        if "POST" not in rule.methods:
            continue
        values = dict.fromkeys(rule.arguments, document_id)
        urls.append(adapter.build(rule.endpoint, values))
    return sorted(urls)


def expired_token(web_user: WebUser, app) -> str:
    """Sign the session's CSRF token with a timestamp nine hours old."""
    with web_user.client.session_transaction() as session:
        raw_token = session["csrf_token"]

    class NineHoursAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 9 * 3600

    serializer = URLSafeTimedSerializer(
        app.config["SECRET_KEY"], salt="wtf-csrf-token", signer=NineHoursAgo
    )
    return serializer.dumps(raw_token)


@pytest.fixture
def arrived(app, login_as):
    """An incoming document arrived at the ward, and the ward clerk logged in."""
    _, incoming_id = city_issues_guide(login_as)
    return login_as(WARD_CLERK), incoming_id


def test_post_urls_cover_known_routes(app):
    urls = post_urls(app, 1)

    assert "/login" in urls
    assert "/logout" in urls
    assert "/documents/new" in urls
    assert "/registers/incoming/1" in urls
    assert "/approval/1/reply" in urls
    assert len(urls) >= 15


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_post_without_token_rejected_everywhere(app, arrived, htmx):
    clerk, incoming_id = arrived
    before = database_snapshot()

    for url in post_urls(app, incoming_id):
        response = clerk.post(url, FORM_VALUES, htmx=htmx, csrf=False)
        body = response.get_data(as_text=True)
        assert response.status_code == 400, url
        assert CSRF_MESSAGE in body, url
        if htmx:
            assert response.headers.get("HX-Retarget") == "#flash", url
        assert database_snapshot() == before, url

    assert reload(incoming_id).state == "arrived"


def test_post_with_token_changes_database(app, arrived):
    clerk, incoming_id = arrived
    before = database_snapshot()

    response = clerk.post(f"/registers/incoming/{incoming_id}")

    assert response.status_code == 303
    assert database_snapshot() != before
    assert reload(incoming_id).state == "registered"


def test_token_in_htmx_header_accepted(app, arrived):
    clerk, incoming_id = arrived

    response = clerk.post(
        f"/registers/incoming/{incoming_id}",
        htmx=True,
        csrf=False,
        headers={"X-CSRFToken": clerk.token},
    )

    assert response.status_code == 200
    assert reload(incoming_id).state == "registered"


def test_token_of_other_session_rejected(app, arrived, login_as):
    clerk, incoming_id = arrived
    other = login_as("badinh.chutich")

    response = clerk.post(
        f"/registers/incoming/{incoming_id}", {"csrf_token": other.token}, csrf=False
    )

    assert response.status_code == 400
    assert reload(incoming_id).state == "arrived"


@pytest.mark.parametrize("kind", ["expired", "invalid", "missing"])
def test_failed_token_page_keeps_typed_values(app, arrived, kind):
    clerk, incoming_id = arrived
    typed = "Văn bản gửi nhầm đơn vị, đề nghị kiểm tra lại."
    data = {"reason": typed}
    if kind == "expired":
        data["csrf_token"] = expired_token(clerk, app)
    elif kind == "invalid":
        data["csrf_token"] = "not-a-token"
    stale = data.get("csrf_token")

    response = clerk.post(
        f"/inbox/{incoming_id}/return", data, csrf=False, headers=SAME_ORIGIN
    )

    page = response.get_data(as_text=True)
    tree = html.fromstring(page)
    [form] = tree.xpath('//form[.//input[@name="reason"]]')
    hidden = {i.get("name"): i.get("value") for i in form.xpath(".//input")}
    shown_text = " ".join(form.text_content().split())
    assert response.status_code == 400
    assert CSRF_MESSAGE in page
    assert form.get("action") == f"/inbox/{incoming_id}/return"
    assert hidden["reason"] == typed
    assert typed in shown_text
    assert hidden["csrf_token"]
    assert hidden["csrf_token"] != stale
    assert reload(incoming_id).state == "arrived"

    # Sending the page's form as it is completes the action.
    resent = clerk.post(form.get("action"), hidden, csrf=False)
    assert resent.status_code == 303
    assert reload(incoming_id).state == "returned"


def test_failed_token_page_omits_password(app):
    visitor = WebUser(app)
    visitor.get("/login")

    response = visitor.post(
        "/login",
        {"username": WARD_CLERK, "password": demo.DEMO_PASSWORD},
        csrf=False,
        headers=SAME_ORIGIN,
    )

    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert demo.DEMO_PASSWORD not in page
    assert f'value="{WARD_CLERK}"' in page
    assert 'name="password"' not in page


@pytest.mark.parametrize(
    "headers",
    [{"Origin": "https://evil.example"}, {"Referer": "https://evil.example/"}, {}],
    ids=["foreign-origin", "foreign-referer", "no-origin"],
)
def test_failed_token_foreign_page_keeps_nothing(app, arrived, headers):
    clerk, incoming_id = arrived
    typed = "Lý do do trang khác điền sẵn"

    response = clerk.post(
        f"/inbox/{incoming_id}/return",
        {"reason": typed, "csrf_token": "not-a-token"},
        csrf=False,
        headers=headers,
    )

    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert CSRF_MESSAGE in page
    assert typed not in page
    assert 'name="reason"' not in page
    assert reload(incoming_id).state == "arrived"


@pytest.mark.parametrize("kind", ["expired", "invalid"])
def test_failed_token_htmx_refreshes_meta(app, arrived, kind):
    clerk, incoming_id = arrived
    stale = expired_token(clerk, app) if kind == "expired" else "not-a-token"

    response = clerk.post(
        f"/inbox/{incoming_id}/return",
        {"reason": "Lý do đã gõ"},
        htmx=True,
        csrf=False,
        headers={"X-CSRFToken": stale},
    )

    body = response.get_data(as_text=True)
    meta = OOB_META.search(body)
    assert response.status_code == 400
    assert response.headers["HX-Retarget"] == "#flash"
    assert response.headers["HX-Reswap"] == "innerHTML"
    assert CSRF_MESSAGE in body
    assert meta is not None
    assert meta.group(1) != stale
    assert reload(incoming_id).state == "arrived"

    retried = clerk.post(
        f"/inbox/{incoming_id}/return",
        {"reason": "Lý do đã gõ"},
        htmx=True,
        csrf=False,
        headers={"X-CSRFToken": meta.group(1)},
    )
    assert retried.status_code == 200
    assert reload(incoming_id).state == "returned"


def end_sessions_elsewhere(username: str) -> None:
    """Rotate the user's session token, as a logout on another device does."""
    fresh()
    accounts.new_session_token(user(username))
    db.session.commit()


def assert_login_url(url: str, next_path: str) -> None:
    parts = urlsplit(url)
    assert parts.netloc == ""
    assert parts.path == "/login"
    assert parse_qs(parts.query) == {"next": [next_path]}


def assert_htmx_login_redirect(response, next_path: str) -> None:
    assert response.status_code == 401
    assert_login_url(response.headers["HX-Redirect"], next_path)
    assert "<form" not in response.get_data(as_text=True)


def test_expired_session_htmx_get_redirects(app, arrived):
    clerk, incoming_id = arrived
    page = f"/documents/{incoming_id}"
    end_sessions_elsewhere(WARD_CLERK)

    response = clerk.get(
        f"{page}/recipients",
        htmx=True,
        headers={"HX-Current-URL": f"http://localhost{page}"},
    )

    assert_htmx_login_redirect(response, page)


def test_expired_session_htmx_post_redirects(app, arrived):
    clerk, incoming_id = arrived
    page = f"/documents/{incoming_id}"
    end_sessions_elsewhere(WARD_CLERK)

    response = clerk.post(
        f"/registers/incoming/{incoming_id}",
        htmx=True,
        headers={"HX-Current-URL": f"http://localhost{page}"},
    )

    assert_htmx_login_redirect(response, page)
    assert reload(incoming_id).state == "arrived"


def test_lost_session_cookie_htmx_post_redirects(app, arrived):
    clerk, incoming_id = arrived
    page = f"/documents/{incoming_id}"
    clerk.client.delete_cookie(app.config["SESSION_COOKIE_NAME"])

    response = clerk.post(
        f"/registers/incoming/{incoming_id}",
        htmx=True,
        headers={"HX-Current-URL": f"http://localhost{page}"},
    )

    assert_htmx_login_redirect(response, page)
    assert reload(incoming_id).state == "arrived"


def test_expired_session_page_redirects_to_login(app, arrived):
    clerk, incoming_id = arrived
    end_sessions_elsewhere(WARD_CLERK)

    response = clerk.get(f"/documents/{incoming_id}")

    assert response.status_code == 302
    assert_login_url(response.headers["Location"], f"/documents/{incoming_id}")


def test_expired_session_post_returns_to_page(app, arrived):
    clerk, incoming_id = arrived
    page = f"/documents/{incoming_id}"
    end_sessions_elsewhere(WARD_CLERK)

    response = clerk.post(
        f"/registers/incoming/{incoming_id}",
        headers={"Referer": f"http://localhost{page}"},
    )
    login_page = response.headers["Location"]
    again = clerk.post(
        login_page, {"username": WARD_CLERK, "password": demo.DEMO_PASSWORD}
    )
    landing = clerk.get(again.headers["Location"])

    # The action URL accepts only POST, so landing there would show a 405.
    assert response.status_code == 302
    assert again.status_code == 303
    assert again.headers["Location"] == page
    assert landing.status_code == 200
    assert reload(incoming_id).state == "arrived"


def session_cookie(web_user: WebUser, app) -> str | None:
    cookie = web_user.client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    return cookie.value if cookie else None


def client_with_cookie(app, value: str) -> WebUser:
    replay = WebUser(app)
    replay.client.set_cookie(app.config["SESSION_COOKIE_NAME"], value)
    return replay


def test_session_cookie_changes_at_login(app):
    visitor = WebUser(app)
    visitor.get("/login")
    anonymous_cookie = session_cookie(visitor, app)

    visitor.login(WARD_CLERK)

    assert anonymous_cookie is not None
    assert session_cookie(visitor, app) != anonymous_cookie
    replay = client_with_cookie(app, anonymous_cookie)
    assert replay.get("/").status_code == 302


def test_old_cookie_rejected_after_logout(app, login_as):
    clerk = login_as(WARD_CLERK)
    logged_in_cookie = session_cookie(clerk, app)
    assert client_with_cookie(app, logged_in_cookie).get("/").status_code == 200

    response = clerk.post("/logout")

    replay = client_with_cookie(app, logged_in_cookie)
    answer = replay.get("/")
    assert response.status_code == 303
    assert answer.status_code == 302
    assert urlsplit(answer.headers["Location"]).path == "/login"


def test_session_cookie_flags(app):
    visitor = WebUser(app)
    visitor.get("/login")

    response = visitor.post(
        "/login", {"username": WARD_CLERK, "password": demo.DEMO_PASSWORD}
    )

    set_cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in set_cookie
    assert "SameSite=Lax" in set_cookie


def test_passwords_stored_with_scrypt(app):
    users = db.session.scalars(select(User)).all()

    assert users
    for account in users:
        assert account.password_hash.startswith("scrypt:"), account.username
    assert accounts.hash_password("Mật khẩu mới 1").startswith("scrypt:")
    assert check_password_hash(users[0].password_hash, demo.DEMO_PASSWORD)


def try_login(app, username: str, password: str):
    visitor = WebUser(app)
    visitor.get("/login")
    response = visitor.post("/login", {"username": username, "password": password})
    return visitor, response


def move_last_failure_back(username: str, seconds: int) -> None:
    fresh()
    account = user(username)
    account.last_failed_login_at = now() - timedelta(seconds=seconds)
    db.session.commit()


def test_repeated_failed_logins_slowed(app):
    free = app.config["LOGIN_FREE_ATTEMPTS"]
    delay = app.config["LOGIN_DELAY_SECONDS"]

    for attempt in range(free):
        _, response = try_login(app, WARD_CLERK, f"sai-{attempt}")
        assert response.status_code == 422, attempt

    visitor, throttled = try_login(app, WARD_CLERK, demo.DEMO_PASSWORD)
    page = throttled.get_data(as_text=True)
    assert throttled.status_code == 429
    assert "Đăng nhập sai nhiều lần" in page
    assert visitor.get("/").status_code == 302

    _, case_variant = try_login(app, WARD_CLERK.upper(), demo.DEMO_PASSWORD)
    assert case_variant.status_code == 429

    move_last_failure_back(WARD_CLERK, delay - 2)
    _, still_waiting = try_login(app, WARD_CLERK, demo.DEMO_PASSWORD)
    assert still_waiting.status_code == 429

    move_last_failure_back(WARD_CLERK, delay + 1)
    visitor, allowed = try_login(app, WARD_CLERK, demo.DEMO_PASSWORD)
    assert allowed.status_code == 303
    assert visitor.get("/").status_code == 200
    fresh()
    assert user(WARD_CLERK).failed_login_count == 0


def test_login_delay_doubles(app):
    free = app.config["LOGIN_FREE_ATTEMPTS"]
    delay = app.config["LOGIN_DELAY_SECONDS"]
    for attempt in range(free):
        try_login(app, WARD_CLERK, f"sai-{attempt}")
    move_last_failure_back(WARD_CLERK, delay + 1)

    _, one_more = try_login(app, WARD_CLERK, "sai-nua")
    assert one_more.status_code == 422
    move_last_failure_back(WARD_CLERK, delay + 1)
    _, first_wait = try_login(app, WARD_CLERK, demo.DEMO_PASSWORD)
    move_last_failure_back(WARD_CLERK, 2 * delay + 1)
    _, second_wait = try_login(app, WARD_CLERK, demo.DEMO_PASSWORD)

    assert first_wait.status_code == 429
    assert second_wait.status_code == 303


def test_failed_logins_of_other_user_not_counted(app):
    for attempt in range(app.config["LOGIN_FREE_ATTEMPTS"] + 1):
        try_login(app, "badinh.chutich", f"sai-{attempt}")

    _, response = try_login(app, WARD_CLERK, demo.DEMO_PASSWORD)

    assert response.status_code == 303


def resolved_like_browser(location: str) -> str:
    """Normalise a Location the way browsers do before they resolve it."""
    return re.sub(r"[\t\n\r]", "", location).replace("\\", "/").lstrip(" ")


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "//evil.example/inbox/",
        "///evil.example",
        "http://evil.example",
        "https://evil.example/login",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "/%09/evil.example",
        "javascript:alert(1)",
        "evil.example",
        " //evil.example",
    ],
)
def test_login_next_stays_on_site(app, target):
    visitor = WebUser(app)
    visitor.get("/login")

    response = visitor.post(
        f"/login?next={quote(target, safe='')}",
        {"username": WARD_CLERK, "password": demo.DEMO_PASSWORD},
    )

    location = response.headers["Location"]
    browser_view = urlsplit(resolved_like_browser(location))
    assert response.status_code == 303
    assert browser_view.scheme == ""
    assert browser_view.netloc == ""
    assert browser_view.path.startswith("/")


def test_login_next_keeps_site_path(app):
    visitor = WebUser(app)
    visitor.get("/login")

    response = visitor.post(
        f"/login?next={quote('/inbox/?q=ba', safe='')}",
        {"username": WARD_CLERK, "password": demo.DEMO_PASSWORD},
    )

    assert response.status_code == 303
    assert response.headers["Location"] == "/inbox/?q=ba"


def assert_security_headers(response, label: str) -> None:
    policy = response.headers.get("Content-Security-Policy", "")
    assert response.headers.get("X-Content-Type-Options") == "nosniff", label
    assert response.headers.get("X-Frame-Options") == "DENY", label
    assert "default-src 'self'" in policy, label
    assert "frame-ancestors 'none'" in policy, label
    assert "script-src 'self'" in policy, label
    assert "unsafe-inline" not in policy, label
    assert "unsafe-eval" not in policy, label


def test_security_headers_on_responses(app, arrived):
    clerk, incoming_id = arrived
    anonymous = WebUser(app)
    responses = {
        "login page": anonymous.get("/login"),
        "static file": anonymous.get("/static/js/app.js"),
        "to-do page": clerk.get("/"),
        "document page": clerk.get(f"/documents/{incoming_id}"),
        "fragment": clerk.get(f"/documents/{incoming_id}/recipients", htmx=True),
        "not found": clerk.get("/documents/999999"),
        "csrf failure": clerk.post(f"/inbox/{incoming_id}/return", csrf=False),
    }
    fresh()
    document = db.session.get(Document, incoming_id)
    responses["download"] = clerk.get(
        f"/documents/attachments/{document.attachments[0].id}"
    )

    for label, response in responses.items():
        assert_security_headers(response, label)
    assert responses["to-do page"].headers.get("Cache-Control") == "no-store"
    assert responses["document page"].headers.get("Cache-Control") == "no-store"
    assert CSRF_META.search(responses["login page"].get_data(as_text=True))


def test_logout_requires_post(app, login_as):
    clerk = login_as(WARD_CLERK)

    response = clerk.get("/logout")

    assert response.status_code == 405
    assert clerk.get("/").status_code == 200


def test_inactive_user_cannot_log_in(app):
    fresh()
    account = user(WARD_CLERK)
    account.active = False
    db.session.commit()

    visitor, response = try_login(app, WARD_CLERK, demo.DEMO_PASSWORD)

    assert response.status_code == 422
    assert "Tài khoản đã bị khóa" in response.get_data(as_text=True)
    assert visitor.get("/").status_code == 302


@pytest.mark.parametrize("htmx", [False, True])
def test_uncaught_error_shows_vietnamese_page(app, login_as, caplog, htmx):
    secret_text = "Trích yếu mật không được ghi vào nhật ký"

    def broken():
        raise RuntimeError(secret_text)

    app.add_url_rule("/test-broken", "test_broken", broken)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    clerk = login_as("badinh.vanthu")
    with caplog.at_level("ERROR"):
        response = clerk.get("/test-broken", htmx=htmx)

    body = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Hệ thống gặp lỗi" in body
    assert "Internal Server Error" not in body
    assert "Traceback" not in body
    assert secret_text not in body
    if htmx:
        assert response.headers["HX-Retarget"] == "#flash"
        assert "<html" not in body
    else:
        assert "<html" in body
        assert "Không thực hiện được" in body
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "RuntimeError on GET /test-broken" in logged
    assert secret_text not in logged


@pytest.mark.parametrize("query", ["end=9999-12-31", "start=0001-01-01"])
def test_audit_filter_rejects_extreme_dates(login_as, query):
    admin = login_as("badinh.quantri")
    response = admin.get(f"/admin/audit?{query}")

    assert response.status_code == 422
    assert "phải nằm trong khoảng từ năm 1900" in response.get_data(as_text=True)
