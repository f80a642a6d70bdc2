"""Forced password change after an admin's reset."""

import pytest
from sqlalchemy import select

from tests.conftest import WebUser
from tests.roster import find_user
from vanban.models import AuditEvent
from vanban.services import accounts

ONE_TIME = "TamThoi123"
NEW = "MatKhauMoi2027"


def forced_login(app) -> WebUser:
    web = WebUser(app)
    web.post("/login", {"username": "badinh.vanthu", "password": ONE_TIME})
    web.get("/change-password")
    return web


@pytest.fixture
def forced(app, session):
    user = find_user(session, "badinh.vanthu")
    accounts.set_one_time_password(session, user, ONE_TIME)
    session.commit()
    return user


def test_forced_change_blocks_other_pages(app, forced):
    web = WebUser(app)
    response = web.post("/login", {"username": "badinh.vanthu", "password": ONE_TIME})
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/change-password")
    blocked = web.get("/")
    assert blocked.status_code == 303
    assert blocked.headers["Location"].endswith("/change-password")
    hx = web.get("/inbox/", htmx=True)
    assert hx.headers["HX-Redirect"].endswith("/change-password")
    page = web.get("/change-password")
    assert page.status_code == 200
    assert "Hãy chọn mật khẩu của riêng bạn" in page.get_data(as_text=True)


@pytest.mark.parametrize(
    ("current", "new", "confirm", "message"),
    [
        ("sai-mat-khau1", NEW, NEW, "Mật khẩu hiện tại không đúng."),
        (ONE_TIME, ONE_TIME, ONE_TIME, "Mật khẩu mới phải khác mật khẩu hiện tại."),
        (ONE_TIME, "ngan1", "ngan1", "Mật khẩu cần ít nhất 8 ký tự."),
        (ONE_TIME, "chicochu", "chicochu", "Mật khẩu cần có cả chữ cái và chữ số."),
        (ONE_TIME, NEW, NEW + "x", "Hai lần nhập mật khẩu mới không khớp."),
    ],
)
def test_bad_new_password_is_refused(
    app, session, forced, current, new, confirm, message
):
    web = forced_login(app)
    response = web.post(
        "/change-password",
        {
            "current_password": current,
            "new_password": new,
            "confirm_password": confirm,
        },
    )
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    session.rollback()
    assert find_user(session, "badinh.vanthu").must_change_password


def test_changing_password_clears_flag_and_is_audited(app, session, forced):
    web = forced_login(app)
    response = web.post(
        "/change-password",
        {"current_password": ONE_TIME, "new_password": NEW, "confirm_password": NEW},
    )
    assert response.status_code == 303
    assert web.get("/").status_code == 200
    session.rollback()
    user = find_user(session, "badinh.vanthu")
    assert not user.must_change_password
    event = session.scalars(
        select(AuditEvent).where(
            AuditEvent.action == "password.changed", AuditEvent.user_id == user.id
        )
    ).one()
    assert event.detail == {
        "before": {"must_change_password": True},
        "after": {"must_change_password": False},
    }
    again = WebUser(app)
    assert (
        again.post("/login", {"username": "badinh.vanthu", "password": NEW})
        .headers["Location"]
        .endswith("/")
    )


def test_one_time_password_ends_open_sessions(app, session):
    web = WebUser(app)
    web.login("badinh.vanthu")
    assert web.get("/").status_code == 200
    user = find_user(session, "badinh.vanthu")
    accounts.set_one_time_password(session, user, ONE_TIME)
    session.commit()
    assert web.get("/").status_code == 302
