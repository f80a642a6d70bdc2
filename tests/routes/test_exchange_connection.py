"""Hub connection settings and what a connection test or a sync reports.

The settings form and the `exchange connect` command apply the same rules.
Servers that are not the hub API are WSGI apps served on 127.0.0.1.
"""

# The fixtures imported from test_connector are parameters of the tests here.
# ruff: noqa: F811

import json
import logging
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from vanban.exchange import connection, connector, mapping
from vanban.extensions import db
from vanban.models import ConnectorSettings, Organisation
from vanban.models.hub import HubDelivery
from vanban.services.clock import now

from ..processes import free_port, serve_in_thread
from ..scenario import fresh, org
from .test_connector import (  # noqa: F401
    app_config,
    exchange,
    hub_server,
    run,
    set_hub_url,
)
from .test_delivery_reports import (
    REJECTED_BADGE,
    backdate_checks,
    rejection_notifications,
    revoke_delivery,
    revoke_over_http,
    revoke_report,
)
from .test_exchange_pages import WARD_ADMIN, WARD_CLERK, field_error, valid_settings

# Values the settings page and the command both reject, with part of the message.
INVALID_URLS = [
    ("http://127.0.0.1:99999/api", "cổng"),
    ("http://127.0.0.1:abc/api", "cổng"),
    ("http://127.0.0.1:0/api", "cổng"),
    ('https://"><script>alert(1)</script>', "dấu nháy"),
    ("https://truc .example.vn/api", "dấu cách"),
    ("http://hub.example.invalid/api", "https://"),
    ("http://10.0.0.5/api", "https://"),
    ("ftp://127.0.0.1/x", "https://"),
    ("https://10.0.0.256/api", "tên máy"),
    ("https://truc_lien_thong.vn/api", "tên máy"),
    ("https:///api", "thiếu tên máy"),
    ("https://nguoi:matkhau@truc.example.vn/api", "mật khẩu"),
    ("https://truc.example.vn/api?token=x", "dấu ?"),
    ("http://[x]/api", "IPv6"),
]
URL_IDS = [
    "port-over",
    "port-text",
    "port-zero",
    "markup",
    "space",
    "http-remote",
    "http-lan",
    "ftp",
    "bad-ip",
    "underscore",
    "no-host",
    "credentials",
    "query",
    "bad-ipv6",
]


def ward_settings() -> ConnectorSettings | None:
    fresh()
    return db.session.scalar(
        select(ConnectorSettings).where(
            ConnectorSettings.organisation_id == org("Ba Đình").id
        )
    )


def settings_count() -> int:
    fresh()
    return db.session.scalar(select(func.count()).select_from(ConnectorSettings))


# The hub URL rule


@pytest.mark.parametrize(("url", "message"), INVALID_URLS, ids=URL_IDS)
def test_settings_form_rejects_url(login_as, url, message):
    response = login_as(WARD_ADMIN).post(
        "/exchange/settings", valid_settings(url, "ma-truy-cap-dai-12345678")
    )

    html = response.get_data(as_text=True)
    assert response.status_code == 422
    error = field_error(html, "hub_url")
    assert "không hợp lệ" in error
    assert message in error
    assert "<script>alert(1)" not in html
    assert ward_settings() is None


@pytest.mark.parametrize(
    "url",
    [
        "http://[::1]:5601/api/edoc/v1",
        "http://localhost:5000/api/edoc/v1",
        "http://127.0.0.2:8080/api/edoc/v1",
        "https://truc.example.vn:8443/api/edoc/v1/",
        "https://10.0.0.5/api/edoc/v1",
    ],
    ids=["ipv6-loopback", "localhost", "loopback-range", "https-port", "https-ip"],
)
def test_settings_form_accepts_url(login_as, url):
    response = login_as(WARD_ADMIN).post(
        "/exchange/settings", valid_settings(url, "ma-truy-cap-dai-12345678")
    )

    assert response.status_code == 303
    assert ward_settings().hub_url == url.rstrip("/")


def test_settings_help_names_loopback_hosts(login_as):
    html = login_as(WARD_ADMIN).get("/exchange/settings").get_data(as_text=True)

    assert "localhost, địa chỉ 127.x.x.x hoặc [::1]" in html
    assert f'max="{connection.MAX_POLL_SECONDS}"' in html


def closed_port_url() -> str:
    """Return a hub URL on a loopback port where nothing listens."""
    return f"http://127.0.0.1:{free_port()}/api/edoc/v1"


def connect(app, *options: str):
    return app.test_cli_runner().invoke(
        args=["exchange", "connect", *options], env={"VANBAN_HUB_TOKEN": None}
    )


@pytest.mark.parametrize(("url", "message"), INVALID_URLS, ids=URL_IDS)
def test_connect_command_rejects_url(app, url, message):
    code = org("Ba Đình").code

    result = connect(app, "--org", code, "--hub", url, "--token", "t")

    assert result.exit_code == 2, result.output
    assert "Giá trị không hợp lệ cho '--hub'" in result.output
    assert message in result.output
    assert settings_count() == 0


@pytest.mark.parametrize(
    ("interval", "accepted"),
    [
        ("99999999999", False),
        (str(connection.MAX_POLL_SECONDS + 1), False),
        (str(connection.MIN_POLL_SECONDS - 1), False),
        (str(connection.MAX_POLL_SECONDS), True),
    ],
)
def test_connect_command_interval_bounds(app, interval, accepted):
    options = ["--org", org("Ba Đình").code, "--hub", closed_port_url()]

    result = connect(app, *options, "--token", "t", "--interval", interval)

    if accepted:
        # Saved, then the test of the connection finds nothing listening.
        assert result.exit_code == 1, result.output
        assert ward_settings().poll_interval_seconds == int(interval)
    else:
        assert result.exit_code == 2, result.output
        assert "10<=x<=86400" in result.output
        assert settings_count() == 0


def test_connect_command_saved_interval_passes_form(app, login_as):
    """What the command saves, the settings page saves again unchanged."""
    options = ["--org", org("Ba Đình").code, "--hub", closed_port_url()]
    connect(app, *options, "--token", "t", "--interval", "86400")
    saved = ward_settings()

    response = login_as(WARD_ADMIN).post(
        "/exchange/settings",
        valid_settings(saved.hub_url, "", poll_interval_seconds="86400"),
    )

    assert response.status_code == 303


@pytest.mark.parametrize(
    ("code", "token", "option", "message"),
    [
        ("x", "t", "--org", "NNN.NN.NN.ANN"),
        ("TAM.00001", "t", "--org", "mã tạm"),
        (None, "t" * (connection.MAX_TOKEN_LENGTH + 1), "--token", "quá 500 ký tự"),
    ],
    ids=["org-form", "org-provisional", "token-length"],
)
def test_connect_command_checks_options(app, code, token, option, message):
    code = code or org("Ba Đình").code

    result = connect(app, "--org", code, "--hub", closed_port_url(), "--token", token)

    assert result.exit_code == 2, result.output
    assert f"Giá trị không hợp lệ cho '{option}'" in result.output
    assert message in result.output
    assert settings_count() == 0


# Servers that respond, but not as the hub API


def answering(status: str, content_type: str, body, headers=()):
    """Return a WSGI app that responds to every request the same way."""

    def app(environ, start_response):
        start_response(status, [("Content-Type", content_type), *headers])
        return body() if callable(body) else [body]

    return app


def big_body():
    """Yield 11 MiB in chunks, more than any response of the hub API."""
    chunk = b"x" * (1024 * 1024)
    for _ in range(11):
        yield chunk


def check_connection_against(login_as, session, exchange, app) -> str:
    """Point Ba Đình at `app`, run "Kiểm tra kết nối" and return the page."""
    admin = login_as(WARD_ADMIN)
    with serve_in_thread(app, name="not-the-hub") as base_url:
        set_hub_url(session, exchange.ward_settings_id, f"{base_url}/api/edoc/v1")
        response = admin.post("/exchange/settings/check")
    assert response.status_code == 303
    return admin.get("/exchange/settings").get_data(as_text=True)


@pytest.mark.parametrize(
    ("server", "expected"),
    [
        (
            answering("200 OK", "text/html", b"<html><body>Home</body></html>"),
            "câu trả lời là text/html (Content-Type), không phải JSON",
        ),
        (
            answering("200 OK", "application/json", b'{"trang": "chu"}'),
            "không có danh sách organizations",
        ),
        (
            answering("200 OK", "application/json", b'{"organizations": [1, 2]}'),
            "không có danh sách organizations gồm các đối tượng",
        ),
        (
            answering("200 OK", "application/json", b"{khong phai json"),
            "ghi là JSON nhưng không đọc được",
        ),
        (
            answering("200 OK", "application/octet-stream", big_body),
            "câu trả lời lớn hơn 10 MB",
        ),
        (
            answering(
                "200 OK",
                "application/json",
                b"{}",
                headers=[("Content-Length", str(200 * 1024 * 1024))],
            ),
            "câu trả lời lớn hơn 10 MB",
        ),
    ],
    ids=["html", "other-json", "no-objects", "bad-json", "large", "large-declared"],
)
def test_check_connection_names_wrong_answer(
    login_as, session, exchange, server, expected
):
    page = check_connection_against(login_as, session, exchange, server)

    assert "Chưa kết nối được trục liên thông: máy chủ ở địa chỉ này có trả lời" in page
    assert expected in page
    assert "không phải API của trục liên thông" in page
    assert "/api/edoc/v1" in page
    assert "không kết nối được" not in page
    assert "HTTP 200" in page
    assert "lỗi HTTP 200" not in page
    assert "HTTP 200" in ward_settings().last_error


def test_check_connection_bare_error_status(login_as, session, exchange):
    app = answering("404 Not Found", "text/html", b"<h1>Not Found</h1>")

    page = check_connection_against(login_as, session, exchange, app)

    assert "máy chủ trả lời lỗi HTTP 404 mà không kèm lỗi của API trục" in page
    assert "&lt;h1&gt;" not in page


def test_check_connection_redirect(login_as, session, exchange):
    app = answering(
        "302 Found", "text/html", b"", headers=[("Location", "https://x.invalid/")]
    )

    page = check_connection_against(login_as, session, exchange, app)

    assert "máy chủ chuyển sang một địa chỉ khác (HTTP 302)" in page


def test_connect_command_names_wrong_answer(app, session):
    code = org("Ba Đình").code
    html = answering("200 OK", "text/html; charset=utf-8", b"<html></html>")

    with serve_in_thread(html, name="not-the-hub") as base_url:
        result = connect(
            app, "--org", code, "--hub", f"{base_url}/api/edoc/v1", "--token", "t"
        )

    assert result.exit_code == 1, result.output
    assert "máy chủ ở địa chỉ này có trả lời (HTTP 200)" in result.output
    assert "text/html" in result.output


def test_sync_reports_pending_list_without_ids(login_as, session, exchange):
    """A list whose items have no message_id is an error, not an empty poll."""
    body = json.dumps({"messages": [{"id": None}]}).encode()
    app = answering("200 OK", "application/json", body)
    clerk = login_as(WARD_CLERK)

    with serve_in_thread(app, name="not-the-hub") as base_url:
        set_hub_url(session, exchange.ward_settings_id, f"{base_url}/api/edoc/v1")
        clerk.post("/exchange/sync")

    page = clerk.get("/exchange/").get_data(as_text=True)
    assert "lỗi khi đồng bộ" in page
    assert "mục thứ 1 của messages thiếu message_id" in ward_settings().last_error


def test_pending_list_with_ids_still_read(session, exchange):
    """Items with a message_id and fields of their own are all kept."""
    items = [{"message_id": "a1", "extra": 1}, {"message_id": "b2"}]
    body = json.dumps({"messages": items}).encode()
    with serve_in_thread(answering("200 OK", "application/json", body)) as base_url:
        client = connector.HubClient(
            base_url, "000.00.00.H01", "t", connector.ConnectorConfig()
        )
        try:
            assert client.pending("edoc", 10) == items
        finally:
            client.close()


# Names from the hub's directory and from packages


class DirectoryClient:
    """A client whose directory has names with tabs, line breaks and the like."""

    def organizations(self):
        return [
            {"organ_id": "000.09.05.H01", "name": "UBND\tPhường\nMới"},
            {"organ_id": "000.09.05.H02", "name": "Phường\u200bẨn\u2028Hai"},
            {"organ_id": "000.09.05.H03", "name": "\t\n"},
        ]


def test_directory_names_made_one_line(session):
    report = connector.SyncReport()

    connector.refresh_directory(session, DirectoryClient(), report)

    fresh()
    names = dict(
        session.execute(
            select(Organisation.code, Organisation.name).where(
                Organisation.code.like("000.09.05.%")
            )
        ).all()
    )
    assert names == {
        "000.09.05.H01": "UBND Phường Mới",
        "000.09.05.H02": "PhườngẨn Hai",
        "000.09.05.H03": "000.09.05.H03",
    }
    assert report.directory_created == 3

    # A second refresh finds the same names and renames nothing.
    again = connector.SyncReport()
    connector.refresh_directory(session, DirectoryClient(), again)
    assert again.directory_updated == 0


def test_directory_rename_made_one_line(session):
    ward = org("Ba Đình")
    session.execute(
        update(Organisation).where(Organisation.id == ward.id).values(name="Cũ")
    )
    session.commit()

    class Client:
        def organizations(self):
            return [{"organ_id": ward.code, "name": "UBND\r\nPhường Ba Đình"}]

    connector.refresh_directory(session, Client(), connector.SyncReport())

    assert org("Ba Đình").name == "UBND Phường Ba Đình"


def test_package_sender_name_made_one_line():
    added = mapping.new_organisation("000.09.05.H09", "UBND\tPhường\x0bThử")

    assert added.name == "UBND Phường Thử"


# A long rejection reason


LONG_REASON_WORDS = 400


def reject_with_long_reason(login_as, session, exchange) -> tuple[int, str]:
    """Let Ba Đình reject a revocation, then give the hub's row a long reason."""
    outgoing_id = revoke_over_http(login_as, session, exchange)
    for _ in range(5):
        run(session, exchange.ward_settings_id)
    delivery = revoke_delivery()
    assert delivery.state == "failed"
    words = (f"lý-do-{index}" for index in range(LONG_REASON_WORDS))
    reason = " ".join(words)[:2000].strip()
    session.execute(
        update(HubDelivery)
        .where(HubDelivery.id == delivery.id)
        .values(last_error=reason)
    )
    session.commit()
    backdate_checks(session)
    run(session, exchange.city_settings_id)
    return outgoing_id, reason


def test_long_rejection_reason_shortened(login_as, session, exchange):
    outgoing_id, reason = reject_with_long_reason(login_as, session, exchange)
    assert revoke_report(session, outgoing_id).reason == reason

    clerk = login_as("thanhpho.vanthu")
    for url in ("/exchange/", f"/documents/{outgoing_id}"):
        page = clerk.get(url).get_data(as_text=True)
        assert REJECTED_BADGE in page, url
        marker = '<small class="transport-reason">Lý do: '
        shown = page.split(marker, 1)[1].split("</small>", 1)[0]
        assert len(shown) <= 300, url
        assert shown.endswith("…"), url
        # Cut at a word break: the last word shown is a whole one.
        assert shown[:-1].rsplit(" ", 1)[1] in reason.split(" "), url
        assert "<summary>Xem đầy đủ lý do</summary>" in page, url
        assert reason in page, url

    [notice, *_] = rejection_notifications(session)
    assert reason not in notice.text
    assert "…" in notice.text
    assert notice.text.count("lý-do-") < 60


def test_short_rejection_reason_whole(login_as, session, exchange):
    outgoing_id = revoke_over_http(login_as, session, exchange)
    for _ in range(5):
        run(session, exchange.ward_settings_id)
    backdate_checks(session)
    run(session, exchange.city_settings_id)

    page = login_as("thanhpho.vanthu").get("/exchange/").get_data(as_text=True)
    reason = revoke_report(session, outgoing_id).reason
    assert 0 < len(reason) <= 300
    assert f"Lý do: {reason}</small>" in page
    assert "Xem đầy đủ lý do" not in page
    [notice, *_] = rejection_notifications(session)
    assert reason in notice.text


def test_busy_sync_logged_with_holder(login_as, session, exchange, caplog):
    """The clerk reads a plain message, and the log names the holder."""
    fresh()
    settings = session.get(ConnectorSettings, exchange.ward_settings_id)
    settings.lease_until = now() + timedelta(minutes=5)
    settings.lease_host = "may-dong-bo.invalid"
    settings.lease_pid = 4242
    settings.lease_started_at = now()
    session.commit()
    clerk = login_as(WARD_CLERK)

    with caplog.at_level(logging.INFO, logger="vanban.blueprints.exchange"):
        clerk.post("/exchange/sync")

    page = clerk.get("/exchange/").get_data(as_text=True)
    assert "Một lần đồng bộ khác đang chạy, hãy thử lại sau ít phút." in page
    assert "may-dong-bo.invalid" not in page
    assert "tiến trình 4242" not in page
    assert "process 4242 on may-dong-bo.invalid" in caplog.text
