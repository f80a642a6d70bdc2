"""Logins in the audit trail: failed attempts within the login delay, successes."""

import unicodedata
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.conftest import WebUser
from tests.roster import find_user, load_ward, ward_username
from tests.scenario import fresh
from vanban.extensions import db
from vanban.models import AuditEvent
from vanban.services import ServiceError, accounts, demo
from vanban.services.clock import now

CITY_ADMIN = "thanhpho.quantri"
WARD_CLERK = ward_username("clerk")


def _try_login(app, username: str, password: str):
    visitor = WebUser(app)
    visitor.get("/login")
    return visitor.post("/login", {"username": username, "password": password})


def _failures() -> list[AuditEvent]:
    fresh()
    return list(
        db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "failed_login")
            .order_by(AuditEvent.id)
        )
    )


def _rows(page: str) -> list[str]:
    body = page.split("<tbody>")[1].split("</tbody>")[0] if "<tbody>" in page else ""
    return body.split("<tr>")[1:]


def test_wrong_password_recorded_without_password(app, session):
    ward = load_ward(session)
    password = "MatKhauSai-Zebra42"
    response = _try_login(app, WARD_CLERK.upper(), password)
    assert response.status_code == 422

    [event] = _failures()
    assert event.user_id is None
    assert event.document_id is None
    assert event.organisation_id == ward.organisation.id
    assert event.detail == {"username": WARD_CLERK.upper(), "reason": "wrong_password"}
    assert password not in str(event.detail)


def test_unknown_user_name_recorded_without_organisation(app):
    response = _try_login(app, "khong.ton.tai", "MatKhauSai-1")
    assert response.status_code == 422
    [event] = _failures()
    assert event.organisation_id is None
    assert event.detail == {"username": "khong.ton.tai", "reason": "unknown_user"}


def test_recorded_user_name_is_nfc_and_truncated(app, session):
    decomposed = unicodedata.normalize("NFD", "nguyễn.văn") + "x" * 100
    with pytest.raises(ServiceError):
        accounts.authenticate(session, decomposed, "sai", app.config)
    [event] = _failures()
    username = event.detail["username"]
    assert len(username) == accounts.AUDITED_USERNAME_LENGTH
    assert username.startswith("nguyễn.văn")
    assert unicodedata.is_normalized("NFC", username)


def test_throttled_attempts_not_recorded(app):
    free = app.config["LOGIN_FREE_ATTEMPTS"]
    statuses = [
        _try_login(app, WARD_CLERK, f"sai-{attempt}").status_code
        for attempt in range(free + 3)
    ]
    assert statuses == [422] * free + [429] * 3
    assert len(_failures()) == free

    # Once the delay has passed, the next attempt is let through and recorded.
    account = find_user(db.session, WARD_CLERK)
    account.last_failed_login_at = now() - timedelta(
        seconds=app.config["LOGIN_DELAY_SECONDS"] + 1
    )
    db.session.commit()
    assert _try_login(app, WARD_CLERK, "sai-nua").status_code == 422
    assert len(_failures()) == free + 1


def test_unknown_user_names_recorded_up_to_limit(app, monkeypatch):
    monkeypatch.setattr(accounts, "UNKNOWN_NAME_AUDIT_LIMIT", 3)
    for attempt in range(5):
        response = _try_login(app, f"khach.{attempt}", "MatKhauSai-1")
        assert response.status_code == 422
    names = [event.detail["username"] for event in _failures()]
    assert names == ["khach.0", "khach.1", "khach.2"]

    # Rows older than the window no longer count.
    for event in _failures():
        event.created_at = now() - accounts.UNKNOWN_NAME_AUDIT_WINDOW
    db.session.commit()
    _try_login(app, "khach.moi", "MatKhauSai-1")
    assert _failures()[-1].detail["username"] == "khach.moi"


def test_locked_account_attempts_recorded_and_delayed(app, session):
    account = find_user(session, WARD_CLERK)
    account.active = False
    session.commit()
    free = app.config["LOGIN_FREE_ATTEMPTS"]
    statuses = [
        _try_login(app, WARD_CLERK, demo.DEMO_PASSWORD).status_code
        for _ in range(free + 2)
    ]
    assert statuses == [422] * free + [429] * 2
    failures = _failures()
    assert len(failures) == free
    assert {event.detail["reason"] for event in failures} == {"user_inactive"}


def test_inactive_organisation_attempt_recorded(app, session):
    ward = load_ward(session)
    ward.organisation.active = False
    session.commit()
    response = _try_login(app, WARD_CLERK, demo.DEMO_PASSWORD)
    assert "Đơn vị của bạn đã ngừng hoạt động" in response.get_data(as_text=True)
    [event] = _failures()
    assert event.detail["reason"] == "organisation_inactive"
    assert event.organisation_id == ward.organisation.id


def test_successful_login_recorded(app, session):
    clerk = find_user(session, WARD_CLERK)
    WebUser(app).login(WARD_CLERK)
    fresh()
    logins = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "login")
    ).all()
    assert [event.user_id for event in logins] == [clerk.id]
    assert _failures() == []


def test_audit_page_shows_failed_logins(app, session):
    _try_login(app, WARD_CLERK, "MatKhauSai-1")
    _try_login(app, "khong.ton.tai", "MatKhauSai-1")

    ward_admin = WebUser(app).login(ward_username("admin"))
    page = ward_admin.get("/admin/audit?action=failed_login").get_data(as_text=True)
    [row] = _rows(page)
    assert '<td data-label="Người thực hiện">Chưa đăng nhập</td>' in row
    assert "Đăng nhập không thành công" in row
    assert f"Tên đăng nhập: {WARD_CLERK}" in row
    assert "Sai mật khẩu" in row
    assert ">Đăng nhập không thành công</option>" in page

    city_admin = WebUser(app).login(CITY_ADMIN)
    page = city_admin.get("/admin/audit?action=failed_login").get_data(as_text=True)
    newest, older = _rows(page)
    assert "Tên đăng nhập: khong.ton.tai" in newest
    assert "Không có tên đăng nhập này" in newest
    assert f"Tên đăng nhập: {WARD_CLERK}" in older
