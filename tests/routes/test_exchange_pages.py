"""The exchange pages: the clerks' list, "Gửi lại", "Đồng bộ ngay" and hub settings.

The tests that need a hub use the real hub API served on 127.0.0.1 by the
fixtures of test_connector.py, with the city and Ba Đình connected to it.
"""

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from vanban.exchange import hub
from vanban.models import AuditEvent, ConnectorSettings, OutboxMessage
from vanban.services.clock import now

from ..scenario import fresh, org
from . import test_connector as connector_tests
from .test_connector import (
    TIMEOUT_SECONDS,
    city_issues,
    free_port,
    outbox_rows,
    set_hub_url,
)

# The hub served on 127.0.0.1, and the city and Ba Đình connected to it.
hub_server = connector_tests.hub_server
exchange = connector_tests.exchange

WARD_CLERK = "badinh.vanthu"
WARD_ADMIN = "badinh.quantri"
CITY_CLERK = "thanhpho.vanthu"
PAGE_SIZE = 3


@pytest.fixture
def app_config():
    """Serve the hub API, give connectors short timeouts and lists short pages."""
    return {
        "HUB_ENABLED": True,
        "CONNECTOR_CONNECT_TIMEOUT": TIMEOUT_SECONDS,
        "CONNECTOR_READ_TIMEOUT": TIMEOUT_SECONDS,
        "PAGE_SIZE": PAGE_SIZE,
    }


def is_full_page(html: str) -> bool:
    return html.lstrip().lower().startswith("<!doctype html>")


def field_error(html: str, field: str) -> str:
    """Return the error text shown under a form field, or "" when there is none."""
    match = re.search(rf'<p class="error" id="err-{field}">([^<]*)</p>', html)
    return match.group(1) if match else ""


def outbox_message(session, organisation_name: str) -> OutboxMessage:
    """Return an outbox message sent by the organisation (the seed sends some)."""
    fresh()
    return session.scalar(
        select(OutboxMessage)
        .where(OutboxMessage.sender_organisation_id == org(organisation_name).id)
        .order_by(OutboxMessage.id)
    )


def make_failed(session, message_id: int, detail="Trục từ chối gói tin: thử.") -> None:
    fresh()
    message = session.get(OutboxMessage, message_id)
    message.state = "failed"
    message.sent_at = None
    message.attempts = 30
    message.error_detail = detail
    message.last_error = "POST /messages returned HTTP 422 unknown_recipient"
    session.commit()


def audit_rows(session, action: str) -> list[AuditEvent]:
    fresh()
    query = select(AuditEvent).where(AuditEvent.action == action)
    return list(session.scalars(query.order_by(AuditEvent.id)))


# Permissions


def exchange_urls(message_id: int) -> list[tuple[str, str]]:
    return [
        ("GET", "/exchange/"),
        ("POST", "/exchange/sync"),
        ("POST", f"/exchange/{message_id}/resend"),
        ("GET", "/exchange/settings"),
        ("POST", "/exchange/settings"),
        ("POST", "/exchange/settings/check"),
    ]


SETTINGS_URLS = {"/exchange/settings", "/exchange/settings/check"}


@pytest.mark.parametrize(
    ("username", "allowed"),
    [
        ("badinh.chuyenvien", set()),
        ("badinh.chutich", set()),
        ("badinh.truongphong", set()),
        (WARD_CLERK, {"/exchange/", "/exchange/sync", "resend"}),
        (WARD_ADMIN, {"/exchange/", "/exchange/sync", "resend", *SETTINGS_URLS}),
    ],
    ids=["officer", "leader", "head", "clerk", "admin"],
)
def test_role_by_page(login_as, session, username, allowed):
    message = outbox_message(session, "Ba Đình")
    make_failed(session, message.id)
    user = login_as(username)

    for method, url in exchange_urls(message.id):
        key = "resend" if url.endswith("/resend") else url
        if method == "GET":
            response = user.get(url)
        else:
            response = user.post(url, {"hub_url": "x", "poll_interval_seconds": "60"})
        if key in allowed:
            assert response.status_code in (200, 303, 422), (method, url)
        else:
            assert response.status_code == 403, (method, url)
    fresh()
    expected = "pending" if "resend" in allowed else "failed"
    assert session.get(OutboxMessage, message.id).state == expected


def test_menu_link_for_clerks_and_admins(login_as):
    for username, link_expected in [
        (WARD_CLERK, True),
        (WARD_ADMIN, True),
        ("badinh.chuyenvien", False),
        ("badinh.chutich", False),
    ]:
        html = login_as(username).get("/").get_data(as_text=True)
        assert ('href="/exchange/"' in html) is link_expected, username


def test_other_organisation_message_forbidden(login_as, session):
    city_message = outbox_message(session, "UBND Thành phố")
    make_failed(session, city_message.id)
    clerk = login_as(WARD_CLERK)

    assert clerk.post(f"/exchange/{city_message.id}/resend").status_code == 403
    assert clerk.post("/exchange/99999/resend").status_code == 404
    fresh()
    assert session.get(OutboxMessage, city_message.id).state == "failed"


def test_anonymous_sent_to_login(app, session):
    message = outbox_message(session, "Ba Đình")
    client = app.test_client()

    for method, url in exchange_urls(message.id):
        response = client.open(url, method=method)
        if method == "GET":
            assert response.status_code == 302, url
            assert "/login" in response.headers["Location"]
        else:
            # The CSRF check runs first and rejects the anonymous POST.
            assert response.status_code in (302, 400), url


# The list


def test_list_as_page(login_as):
    clerk = login_as(WARD_CLERK)

    response = clerk.get("/exchange/")

    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert is_full_page(html)
    assert "Liên thông văn bản" in html
    assert "Nhận về" in html
    assert "Báo trạng thái 01" in html
    assert "chưa cấu hình kết nối trục liên thông" in html
    assert "Đồng bộ ngay" in html


def test_list_as_fragment(login_as):
    clerk = login_as(WARD_CLERK)

    response = clerk.get("/exchange/?kind=received", htmx=True)

    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "HX-Request" in response.headers["Vary"]
    assert html.lstrip().startswith('<div id="exchange-entries">')
    assert not is_full_page(html)
    assert "Nhận về" in html
    assert "Báo trạng thái" not in html


def test_list_filters_by_state(login_as, session):
    message = outbox_message(session, "Ba Đình")
    make_failed(session, message.id, "Lý do riêng của trục")
    clerk = login_as(WARD_CLERK)

    failed = clerk.get("/exchange/?state=failed", htmx=True).get_data(as_text=True)
    sent = clerk.get("/exchange/?state=sent", htmx=True).get_data(as_text=True)

    assert f'id="exchange-sent-{message.id}"' in failed
    assert "Lý do riêng của trục" in failed
    assert "Gửi thất bại" in failed
    assert "Gửi lại" in failed
    assert "Nhận về" not in failed
    assert f'id="exchange-sent-{message.id}"' not in sent


def test_list_shows_retry_number_and_time(login_as, session):
    message = outbox_message(session, "Ba Đình")
    fresh()
    row = session.get(OutboxMessage, message.id)
    row.state = "retrying"
    row.sent_at = None
    row.attempts = 2
    row.next_attempt_at = now() + timedelta(minutes=2)
    session.commit()

    html = login_as(WARD_CLERK).get("/exchange/?state=retrying").get_data(as_text=True)

    assert "Đang thử lại (lần 2, lúc " in html


def test_list_pages(login_as, session):
    fresh()
    total = session.scalar(
        select(func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.sender_organisation_id == org("UBND Thành phố").id)
    )
    # The seed sends the trial guide to every ward, one message each.
    assert total > PAGE_SIZE
    pages = -(-total // PAGE_SIZE)
    clerk = login_as(CITY_CLERK)

    first = clerk.get("/exchange/?kind=sent", htmx=True).get_data(as_text=True)
    last = clerk.get(f"/exchange/?kind=sent&page={pages}", htmx=True)
    beyond = clerk.get("/exchange/?kind=sent&page=999", htmx=True)

    assert f"{total} mục" in first
    assert f"Trang 1/{pages}" in first
    assert first.count('id="exchange-sent-') == PAGE_SIZE
    last_html = last.get_data(as_text=True)
    assert f"Trang {pages}/{pages}" in last_html
    assert last_html.count('id="exchange-sent-') == total - (pages - 1) * PAGE_SIZE
    assert beyond.status_code == 200
    assert f"Trang {pages}/{pages}" in beyond.get_data(as_text=True)


def test_unknown_filters_ignored(login_as):
    clerk = login_as(WARD_CLERK)

    response = clerk.get("/exchange/?kind=x&state=y&page=%C2%B2")

    assert response.status_code == 200
    assert "Nhận về" in response.get_data(as_text=True)


# "Gửi lại"


def test_resend_requeues_and_audits(login_as, session):
    message = outbox_message(session, "Ba Đình")
    make_failed(session, message.id)
    clerk = login_as(WARD_CLERK)

    response = clerk.post(f"/exchange/{message.id}/resend")

    assert response.status_code == 303
    fresh()
    row = session.get(OutboxMessage, message.id)
    assert row.state == "pending"
    assert row.attempts == 0
    assert row.error_detail == ""
    assert row.next_attempt_at <= now()
    [event] = audit_rows(session, "outbox_requeued")
    assert event.user.username == WARD_CLERK
    assert event.organisation_id == row.sender_organisation_id
    assert event.detail["previous_states"] == {str(message.id): "failed"}
    page = clerk.get("/exchange/").get_data(as_text=True)
    assert "Đã đưa tin vào hàng đợi gửi lại" in page


def test_resend_as_fragment(login_as, session):
    message = outbox_message(session, "Ba Đình")
    make_failed(session, message.id)
    clerk = login_as(WARD_CLERK)

    response = clerk.post(f"/exchange/{message.id}/resend", htmx=True)

    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert html.lstrip().startswith(f'<tr id="exchange-sent-{message.id}"')
    assert "Đang chờ gửi" in html
    assert "Gửi lại" not in html


def test_resend_fragment_updates_package_rows(login_as, session):
    first = outbox_message(session, "UBND Thành phố")
    second = session.scalar(
        select(OutboxMessage)
        .where(
            OutboxMessage.document_id == first.document_id,
            OutboxMessage.kind == "document",
            OutboxMessage.id != first.id,
        )
        .order_by(OutboxMessage.id)
    )
    make_failed(session, first.id)
    make_failed(session, second.id)
    clerk = login_as(CITY_CLERK)

    response = clerk.post(f"/exchange/{first.id}/resend", htmx=True)

    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert html.lstrip().startswith(f'<tr id="exchange-sent-{first.id}"')
    # The other recipient's row travels in the same package, so it changed too.
    other = html[html.index(f'<tr id="exchange-sent-{second.id}"') :]
    assert other.startswith(f'<tr id="exchange-sent-{second.id}" hx-swap-oob="true"')
    assert "Đang chờ gửi" in other[: other.index("</tr>")]
    assert 'id="exchange-counts" aria-label' in html


def test_resend_of_sent_message_rejected(login_as, session):
    message = outbox_message(session, "Ba Đình")
    clerk = login_as(WARD_CLERK)

    response = clerk.post(f"/exchange/{message.id}/resend")

    assert response.status_code == 409
    assert "Chỉ gửi lại được" in response.get_data(as_text=True)
    fresh()
    assert session.get(OutboxMessage, message.id).state == "sent"
    assert audit_rows(session, "outbox_requeued") == []


def test_resend_needs_csrf(login_as, session):
    message = outbox_message(session, "Ba Đình")
    make_failed(session, message.id)
    clerk = login_as(WARD_CLERK)

    response = clerk.post(f"/exchange/{message.id}/resend", csrf=False)

    assert response.status_code == 400
    fresh()
    assert session.get(OutboxMessage, message.id).state == "failed"


# "Đồng bộ ngay"


def test_sync_without_connector(login_as):
    clerk = login_as(WARD_CLERK)

    response = clerk.post("/exchange/sync")

    assert response.status_code == 303
    page = clerk.get("/exchange/").get_data(as_text=True)
    assert "Đơn vị chưa cấu hình kết nối trục liên thông" in page


def test_sync_receives_from_hub(login_as, session, exchange):
    outgoing_id = city_issues(login_as, "Nhận bằng nút Đồng bộ ngay")
    clerk = login_as(WARD_CLERK)

    response = clerk.post("/exchange/sync")

    assert response.status_code == 303
    page = clerk.get("/exchange/").get_data(as_text=True)
    assert "nhận 1 văn bản" in page
    assert "gửi đi 1" in page
    assert "Nhận bằng nút Đồng bộ ngay" in page
    assert "Đã nhận qua trục liên thông" in page
    [event] = audit_rows(session, "exchange_synced")
    assert event.detail["moved"] == 2
    fresh()
    settings = session.get(ConnectorSettings, exchange.ward_settings_id)
    assert settings.last_sync_at is not None
    assert settings.lease_until is None
    assert outbox_rows(session, outgoing_id)[0].state == "sent"


def test_sync_reports_unreachable_hub(login_as, session, exchange):
    set_hub_url(session, exchange.ward_settings_id, f"http://127.0.0.1:{free_port()}")
    clerk = login_as(WARD_CLERK)

    clerk.post("/exchange/sync")

    page = clerk.get("/exchange/").get_data(as_text=True)
    assert "lỗi khi đồng bộ" in page
    assert "Có lỗi" in page
    assert 'class="alert alert-error"' in page


def test_sync_with_connector_disabled(login_as, session, exchange):
    fresh()
    session.get(ConnectorSettings, exchange.ward_settings_id).enabled = False
    session.commit()
    clerk = login_as(WARD_CLERK)

    clerk.post("/exchange/sync")

    page = clerk.get("/exchange/").get_data(as_text=True)
    assert "Kết nối trục liên thông của đơn vị đang tắt" in page


def test_resend_then_sync_sends(login_as, session, exchange):
    outgoing_id = city_issues(
        login_as, "Gửi lại sau khi trục nhận đơn vị", ("Ngọc Hà",)
    )
    [row] = outbox_rows(session, outgoing_id)
    assert row.state == "failed"
    ngoc_ha = org("Ngọc Hà")
    hub.add_organisation(session, ngoc_ha.code, ngoc_ha.name)
    session.commit()
    clerk = login_as(CITY_CLERK)

    assert clerk.post(f"/exchange/{row.id}/resend").status_code == 303
    clerk.post("/exchange/sync")

    [row] = outbox_rows(session, outgoing_id)
    assert row.state == "sent"
    assert row.message_id
    page = clerk.get("/exchange/").get_data(as_text=True)
    assert "gửi đi 1" in page


# Document page


def test_document_page_shows_failed_reason(login_as, session, exchange):
    outgoing_id = city_issues(login_as, "Gửi đơn vị chưa có trên trục", ("Ngọc Hà",))
    [row] = outbox_rows(session, outgoing_id)
    clerk = login_as(CITY_CLERK)

    page = clerk.get(f"/documents/{outgoing_id}").get_data(as_text=True)
    fragment = clerk.get(f"/documents/{outgoing_id}/recipients", htmx=True)

    assert "Gửi thất bại" in page
    assert row.error_detail.startswith("Trục liên thông từ chối gói tin")
    assert org("Ngọc Hà").code in row.error_detail
    assert row.error_detail in page
    html = fragment.get_data(as_text=True)
    assert html.lstrip().startswith('<section class="card" id="recipients"')
    assert row.error_detail in html


def test_document_page_shows_sent_to_hub(login_as, session, exchange):
    outgoing_id = city_issues(login_as, "Gửi lên trục thành công")

    page = login_as(CITY_CLERK).get(f"/documents/{outgoing_id}").get_data(as_text=True)

    assert "Đã gửi lên trục" in page


def test_document_page_shows_delivery_through_the_own_hub(login_as, session):
    outgoing_id = city_issues(login_as, "Chuyển trong hệ thống")

    page = login_as(CITY_CLERK).get(f"/documents/{outgoing_id}").get_data(as_text=True)

    # Organisations hosted here exchange through this installation's hub too.
    assert "Đã gửi lên trục" in page
    assert "Đã chuyển đến nơi nhận" not in page


# Settings


def valid_settings(url: str, token: str, **changes) -> dict:
    return {
        "hub_url": url,
        "token": token,
        "poll_interval_seconds": "120",
        "enabled": "y",
        **changes,
    }


def ward_settings(session) -> ConnectorSettings | None:
    fresh()
    return session.scalar(
        select(ConnectorSettings).where(
            ConnectorSettings.organisation_id == org("Ba Đình").id
        )
    )


def test_settings_page_for_new_connection(login_as):
    html = login_as(WARD_ADMIN).get("/exchange/settings").get_data(as_text=True)

    assert "Cấu hình kết nối trục liên thông" in html
    assert org("Ba Đình").code in html
    assert "readonly" in html
    assert "Kiểm tra kết nối" not in html


def test_settings_saved(login_as, session, hub_server):
    url, _ = hub_server
    admin = login_as(WARD_ADMIN)

    response = admin.post(
        "/exchange/settings", valid_settings(url, "ma-truy-cap-dai-12345678")
    )

    assert response.status_code == 303
    settings = ward_settings(session)
    assert settings.hub_url == url
    assert settings.token == "ma-truy-cap-dai-12345678"
    assert settings.poll_interval_seconds == 120
    assert settings.enabled
    [event] = audit_rows(session, "connector_settings_saved")
    assert event.detail["token_changed"] is True
    assert "ma-truy-cap-dai-12345678" not in str(event.detail)
    html = admin.get("/exchange/settings").get_data(as_text=True)
    assert "Đã lưu cấu hình kết nối trục liên thông" in html
    assert "****5678" in html
    assert "ma-truy-cap-dai-12345678" not in html


def test_empty_token_keeps_current(login_as, session, exchange):
    token = ward_settings(session).token
    admin = login_as(WARD_ADMIN)

    response = admin.post(
        "/exchange/settings",
        valid_settings(exchange.url, "", poll_interval_seconds="300", enabled=""),
    )

    assert response.status_code == 303
    settings = ward_settings(session)
    assert settings.token == token
    assert settings.poll_interval_seconds == 300
    assert not settings.enabled
    [event] = audit_rows(session, "connector_settings_saved")
    assert event.detail["token_changed"] is False
    assert event.detail["before"]["poll_interval_seconds"] != 300
    assert event.detail["before"]["enabled"] is True
    assert event.detail["after"]["poll_interval_seconds"] == 300
    assert event.detail["after"]["enabled"] is False
    assert token not in str(event.detail)


def test_settings_need_token_first_time(login_as, session, hub_server):
    url, _ = hub_server

    response = login_as(WARD_ADMIN).post("/exchange/settings", valid_settings(url, ""))

    assert response.status_code == 422
    assert "mã truy cập" in field_error(response.get_data(as_text=True), "token")
    assert ward_settings(session) is None


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"hub_url": "http://hub.example.invalid/api"}, "hub_url", "https://"),
        ({"hub_url": "ftp://127.0.0.1/x"}, "hub_url", "không hợp lệ"),
        ({"hub_url": ""}, "hub_url", "bắt buộc"),
        ({"poll_interval_seconds": "-5"}, "poll_interval_seconds", "từ 10 đến"),
        ({"poll_interval_seconds": "5"}, "poll_interval_seconds", "từ 10 đến"),
        ({"poll_interval_seconds": "abc"}, "poll_interval_seconds", "số nguyên"),
        ({"token": "ma co khoang trang 77"}, "token", "không có dấu cách"),
    ],
    ids=["http-remote", "ftp", "empty-url", "negative", "too-short", "text", "token"],
)
def test_settings_rejected(login_as, session, hub_server, changes, field, message):
    url, _ = hub_server
    typed = {**valid_settings(url, "ma-go-vao-khong-hien-lai"), **changes}

    response = login_as(WARD_ADMIN).post("/exchange/settings", typed)

    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in field_error(html, field)
    assert 'class="field invalid" id="field-' + field + '"' in html
    # What the user typed stays in the form, except the token.
    if field == "hub_url" and typed["hub_url"]:
        assert f'value="{typed["hub_url"]}"' in html
    if field == "poll_interval_seconds":
        assert f'value="{typed["poll_interval_seconds"]}"' in html
    assert typed["token"] not in html
    assert ward_settings(session) is None


def test_settings_errors_as_fragment(login_as, hub_server):
    url, _ = hub_server

    response = login_as(WARD_ADMIN).post(
        "/exchange/settings",
        valid_settings(url, "t", poll_interval_seconds="-1"),
        htmx=True,
    )

    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert html.lstrip().startswith("<form")
    assert 'id="connector-settings-form"' in html
    assert "từ 10 đến" in field_error(html, "poll_interval_seconds")


def test_unreadable_interval_one_message(login_as, hub_server):
    url, _ = hub_server

    response = login_as(WARD_ADMIN).post(
        "/exchange/settings",
        valid_settings(url, "t", poll_interval_seconds="abc"),
        htmx=True,
    )

    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert field_error(html, "poll_interval_seconds") == "Hãy nhập một số nguyên."
    assert html.count('id="err-poll_interval_seconds"') == 1


def test_token_never_shown_in_full(login_as, session, exchange):
    token = exchange.tokens[org("Ba Đình").code]
    outgoing_id = city_issues(login_as, "Kiểm tra mã truy cập không lộ")
    admin = login_as(WARD_ADMIN)
    clerk = login_as(WARD_CLERK)
    admin.post("/exchange/sync")

    pages = [
        admin.get("/exchange/settings"),
        admin.get("/exchange/"),
        admin.get("/exchange/", htmx=True),
        admin.post(
            "/exchange/settings", valid_settings(exchange.url, token, hub_url="x")
        ),
        admin.post("/exchange/settings/check"),
        clerk.get("/exchange/"),
        clerk.get("/"),
        login_as(CITY_CLERK).get(f"/documents/{outgoing_id}"),
    ]

    for response in pages:
        assert token not in response.get_data(as_text=True), response.request.path
    assert token[-4:] in pages[0].get_data(as_text=True)


# "Kiểm tra kết nối"


def test_check_connection_success(login_as, session, exchange):
    admin = login_as(WARD_ADMIN)

    response = admin.post("/exchange/settings/check")

    assert response.status_code == 303
    html = admin.get("/exchange/settings").get_data(as_text=True)
    assert "Kết nối thành công. Danh bạ trục có 2 đơn vị" in html


def test_check_connection_wrong_token(login_as, session, exchange):
    fresh()
    session.get(ConnectorSettings, exchange.ward_settings_id).token = "sai-ma-truy-cap"
    session.commit()
    admin = login_as(WARD_ADMIN)

    admin.post("/exchange/settings/check")

    html = admin.get("/exchange/settings").get_data(as_text=True)
    assert "Chưa kết nối được trục liên thông" in html
    assert "từ chối mã truy cập (HTTP 401)" in html
    assert "401" in ward_settings(session).last_error


def test_check_connection_unreachable(login_as, session, exchange):
    set_hub_url(session, exchange.ward_settings_id, f"http://127.0.0.1:{free_port()}")
    admin = login_as(WARD_ADMIN)

    admin.post("/exchange/settings/check")

    html = admin.get("/exchange/settings").get_data(as_text=True)
    assert "không kết nối được tới máy chủ: tên máy không tìm thấy, cổng" in html


def test_check_connection_without_settings(login_as):
    admin = login_as(WARD_ADMIN)

    admin.post("/exchange/settings/check")

    html = admin.get("/exchange/settings").get_data(as_text=True)
    assert "Chưa có cấu hình kết nối" in html
