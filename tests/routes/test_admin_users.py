"""Users and departments: create, edit, deactivate, reset a password, last admin."""

import pytest
from sqlalchemy import select

from tests.conftest import WebUser
from tests.roster import OTHER_WARD, add_user_like, find_user, load_ward, ward_username
from vanban.models import AuditEvent, Department

CITY_ADMIN = "thanhpho.quantri"
WARD_ADMIN = ward_username("admin")
LAST_ADMIN = "Không thể thực hiện: đây là quản trị cuối cùng còn hoạt động"


def _user_form(**overrides):
    form = {
        "full_name": "Nguyễn Văn Thử",
        "position": "Chuyên viên",
        "email": "nguoidung@example.invalid",
        "department_id": "0",
        "roles": ["officer"],
    }
    form.update(overrides)
    return form


def _last_event(session, action):
    session.rollback()
    return session.scalars(
        select(AuditEvent)
        .where(AuditEvent.action == action)
        .order_by(AuditEvent.id.desc())
    ).first()


def test_create_user_with_roles_who_must_change_password(app, session):
    ward = load_ward(session)
    dept = ward.department(session, "KT")
    web = WebUser(app).login(WARD_ADMIN)
    response = web.post(
        f"/admin/organisations/{ward.organisation.id}/users/new",
        _user_form(
            username="badinh.moi",
            password="BatDau2026",
            department_id=str(dept.id),
            roles=["officer", "head"],
        ),
    )
    assert response.status_code == 303
    session.rollback()
    user = find_user(session, "badinh.moi")
    assert user.roles == {"officer", "head"}
    assert user.must_change_password
    assert user.organisation_id == ward.organisation.id
    event = _last_event(session, "settings.user.create")
    assert event.user_id == ward.users["admin"].id
    assert event.detail["before"] is None
    assert event.detail["after"]["roles"] == ["head", "officer"]
    assert "password" not in str(event.detail).lower().replace(
        "must_change_password", ""
    )
    login = WebUser(app).post(
        "/login", {"username": "badinh.moi", "password": "BatDau2026"}
    )
    assert login.headers["Location"].endswith("/change-password")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"username": "", "password": "BatDau2026"}, "Trường này là bắt buộc."),
        (
            {"username": "Có Dấu", "password": "BatDau2026"},
            "Tên đăng nhập chỉ gồm chữ thường không dấu",
        ),
        (
            {"username": "badinh.vanthu", "password": "BatDau2026"},
            "Tên đăng nhập badinh.vanthu đã có người dùng.",
        ),
        (
            {"username": "badinh.moi", "password": "ngan"},
            "Mật khẩu cần ít nhất 8 ký tự.",
        ),
        (
            {"username": "badinh.moi", "password": "BatDau2026", "roles": []},
            "Hãy chọn ít nhất một vai trò.",
        ),
        (
            {
                "username": "badinh.moi",
                "password": "BatDau2026",
                "email": "khong-hop-le",
            },
            "Địa chỉ thư điện tử không hợp lệ.",
        ),
    ],
)
def test_bad_new_user_is_refused_and_input_kept(app, session, overrides, message):
    ward = load_ward(session)
    web = WebUser(app).login(WARD_ADMIN)
    form = _user_form(full_name="Trần Thị Giữ Lại", **overrides)
    response = web.post(f"/admin/organisations/{ward.organisation.id}/users/new", form)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert message in page
    assert "Trần Thị Giữ Lại" in page
    assert "BatDau2026" not in page
    assert (
        session.scalar(
            select(AuditEvent).where(AuditEvent.action == "settings.user.create")
        )
        is None
    )


def test_department_of_another_ward_is_refused(app, session):
    ward = load_ward(session)
    other = load_ward(session, OTHER_WARD)
    web = WebUser(app).login(CITY_ADMIN)
    response = web.post(
        f"/admin/organisations/{ward.organisation.id}/users/new",
        _user_form(
            username="badinh.moi",
            password="BatDau2026",
            department_id=str(other.department(session, "KT").id),
        ),
    )
    assert response.status_code == 400
    assert "Lựa chọn không hợp lệ" in response.get_data(as_text=True)


def test_edit_user_changes_roles_and_audits_before_after(app, session):
    ward = load_ward(session)
    clerk = ward.users["clerk"]
    web = WebUser(app).login(WARD_ADMIN)
    response = web.post(
        f"/admin/users/{clerk.id}/edit",
        _user_form(full_name="Nguyễn Thị Sửa", roles=["clerk", "advisor"], active="y"),
    )
    assert response.status_code == 303
    session.rollback()
    assert clerk.full_name == "Nguyễn Thị Sửa"
    assert clerk.roles == {"clerk", "advisor"}
    event = _last_event(session, "settings.user.update")
    assert event.detail["before"]["roles"] == ["clerk"]
    assert event.detail["after"]["roles"] == ["advisor", "clerk"]
    assert event.detail["before"]["full_name"] != "Nguyễn Thị Sửa"
    assert event.detail["after"]["full_name"] == "Nguyễn Thị Sửa"


def test_deactivated_user_is_signed_out(app, session):
    ward = load_ward(session)
    clerk_web = WebUser(app).login(ward_username("clerk"))
    web = WebUser(app).login(WARD_ADMIN)
    response = web.post(
        f"/admin/users/{ward.users['clerk'].id}/active", {"active": "0"}
    )
    assert response.status_code == 303
    assert clerk_web.get("/").status_code == 302
    rejected = WebUser(app).post(
        "/login", {"username": ward_username("clerk"), "password": "VanBan@2026"}
    )
    assert "Tài khoản đã bị khóa" in rejected.get_data(as_text=True)
    event = _last_event(session, "settings.user.deactivate")
    assert event.detail["before"]["active"] is True
    assert event.detail["after"]["active"] is False


def test_reset_password_forces_a_change(app, session):
    ward = load_ward(session)
    web = WebUser(app).login(WARD_ADMIN)
    bad = web.post(
        f"/admin/users/{ward.users['clerk'].id}/password", {"password": "abc"}
    )
    assert bad.status_code == 400
    assert "Mật khẩu cần ít nhất 8 ký tự." in bad.get_data(as_text=True)
    response = web.post(
        f"/admin/users/{ward.users['clerk'].id}/password", {"password": "MotLan2026"}
    )
    assert response.status_code == 303
    session.rollback()
    assert ward.users["clerk"].must_change_password
    event = _last_event(session, "settings.user.reset_password")
    assert event.detail["after"]["must_change_password"] is True
    assert "MotLan2026" not in str(event.detail)
    login = WebUser(app).post(
        "/login", {"username": ward_username("clerk"), "password": "MotLan2026"}
    )
    assert login.headers["Location"].endswith("/change-password")


# The last admin of an organisation cannot be removed, in any of three ways.


def test_last_admin_cannot_be_deactivated(app, session):
    ward = load_ward(session)
    web = WebUser(app).login(CITY_ADMIN)
    response = web.post(
        f"/admin/users/{ward.users['admin'].id}/active", {"active": "0"}
    )
    assert response.status_code == 303
    assert LAST_ADMIN in web.get(response.headers["Location"]).get_data(as_text=True)
    session.rollback()
    assert ward.users["admin"].active


def test_last_admin_cannot_drop_the_admin_role(app, session):
    ward = load_ward(session)
    web = WebUser(app).login(CITY_ADMIN)
    response = web.post(
        f"/admin/users/{ward.users['admin'].id}/edit",
        _user_form(full_name="Tên Giữ Lại", roles=["clerk"], active="y"),
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert LAST_ADMIN in page
    assert "Tên Giữ Lại" in page
    session.rollback()
    assert ward.users["admin"].roles == {"admin"}


def test_last_admin_cannot_be_edited_inactive(app, session):
    city_admin = find_user(session, CITY_ADMIN)
    web = WebUser(app).login(CITY_ADMIN)
    response = web.post(
        f"/admin/users/{city_admin.id}/edit", _user_form(roles=["admin"])
    )
    assert response.status_code == 400
    assert LAST_ADMIN in response.get_data(as_text=True)
    session.rollback()
    assert city_admin.active


def test_admin_can_step_down_when_another_admin_remains(app, session):
    ward = load_ward(session)
    add_user_like(session, ward.users["admin"], "badinh.quantri.2")
    session.commit()
    # Another admin moves them, because no admin gives themselves a role that
    # reads documents.
    web = WebUser(app).login("badinh.quantri.2")
    response = web.post(
        f"/admin/users/{ward.users['admin'].id}/edit",
        _user_form(roles=["clerk"], active="y"),
    )
    assert response.status_code == 303
    session.rollback()
    assert ward.users["admin"].roles == {"clerk"}


def test_ward_admin_cannot_touch_another_ward(app, session):
    other = load_ward(session, OTHER_WARD)
    web = WebUser(app).login(WARD_ADMIN)
    target = other.users["clerk"]
    assert (
        web.post(f"/admin/users/{target.id}/active", {"active": "0"}).status_code == 404
    )
    assert (
        web.post(
            f"/admin/users/{target.id}/password", {"password": "MotLan2026"}
        ).status_code
        == 404
    )
    assert (
        web.post(
            f"/admin/users/{target.id}/edit", _user_form(roles=["admin"], active="y")
        ).status_code
        == 404
    )
    dept = other.department(session, "KT")
    assert (
        web.post(f"/admin/departments/{dept.id}/active", {"active": "0"}).status_code
        == 404
    )
    session.rollback()
    assert target.active and not target.must_change_password
    assert target.roles == {"clerk"}
    assert dept.active


# Departments


def test_department_create_edit_deactivate(app, session):
    ward = load_ward(session)
    web = WebUser(app).login(WARD_ADMIN)
    url = f"/admin/organisations/{ward.organisation.id}/departments/new"
    duplicate = web.post(url, {"name": "Phòng Trùng Tên", "abbreviation": "KT"})
    assert duplicate.status_code == 400
    assert "Chữ viết tắt KT đã dùng cho Phòng Kinh tế." in duplicate.get_data(
        as_text=True
    )
    assert "Phòng Trùng Tên" in duplicate.get_data(as_text=True)
    spaced = web.post(url, {"name": "Phòng Mới", "abbreviation": "K T"})
    assert spaced.status_code == 400
    assert "không có dấu cách" in spaced.get_data(as_text=True)
    empty = web.post(url, {"name": "", "abbreviation": "TN"})
    assert empty.status_code == 400
    assert "Trường này là bắt buộc." in empty.get_data(as_text=True)

    assert (
        web.post(url, {"name": "Phòng Tư pháp", "abbreviation": "TP"}).status_code
        == 303
    )
    session.rollback()
    dept = session.scalar(
        select(Department).where(
            Department.organisation_id == ward.organisation.id,
            Department.abbreviation == "TP",
        )
    )
    assert dept.name == "Phòng Tư pháp"
    edited = web.post(
        f"/admin/departments/{dept.id}/edit",
        {"name": "Phòng Tư pháp - Hộ tịch", "abbreviation": "TPHT"},
    )
    assert edited.status_code == 303
    assert (
        web.post(f"/admin/departments/{dept.id}/active", {"active": "0"}).status_code
        == 303
    )
    session.rollback()
    assert (dept.name, dept.abbreviation, dept.active) == (
        "Phòng Tư pháp - Hộ tịch",
        "TPHT",
        False,
    )
    update = _last_event(session, "settings.department.update")
    assert update.detail["before"]["abbreviation"] == "TP"
    assert update.detail["after"]["abbreviation"] == "TPHT"
    assert update.organisation_id == ward.organisation.id
    assert _last_event(session, "settings.department.deactivate").detail["after"] == {
        "id": dept.id,
        "active": False,
    }
