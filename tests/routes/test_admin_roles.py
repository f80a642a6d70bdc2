"""Who may grant which role, and which user names an admin may create."""

import pytest
from sqlalchemy import func, select

from tests.conftest import WebUser
from tests.roster import OTHER_WARD, add_user_like, find_user, load_ward, ward_username
from tests.routes.test_admin_organisations import _errors_at
from vanban.models import AuditEvent, User
from vanban.services import Forbidden, admin
from vanban.services.doctypes import ROLE_LABELS

CITY_ADMIN = "thanhpho.quantri"
WARD_ADMIN = ward_username("admin")
OFFICER = ward_username("officer")


def _user_form(user: User, roles: list[str]) -> dict:
    return {
        "full_name": user.full_name,
        "position": user.position,
        "email": user.email or "",
        "department_id": str(user.department_id or 0),
        "roles": roles,
        "active": "y",
    }


def _new_user_form(username: str, roles=("officer",)) -> dict:
    return {
        "username": username,
        "password": "BatDau2026",
        "full_name": "Nguyễn Văn Thử",
        "position": "",
        "email": "",
        "department_id": "0",
        "roles": list(roles),
    }


def _audit_count(session, action: str) -> int:
    session.rollback()
    return session.scalar(
        select(func.count(AuditEvent.id)).where(AuditEvent.action == action)
    )


def _roles_of(session, username: str) -> set[str]:
    session.rollback()
    return find_user(session, username).roles


def test_ward_admin_form_lacks_trainer_role(app, session):
    officer = find_user(session, OFFICER)
    page = WebUser(app).login(WARD_ADMIN).get(f"/admin/users/{officer.id}/edit")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'value="officer"' in html
    assert 'value="trainer"' not in html


def test_ward_admin_cannot_grant_trainer(app, session):
    officer = find_user(session, OFFICER)
    web = WebUser(app).login(WARD_ADMIN)
    response = web.post(
        f"/admin/users/{officer.id}/edit", _user_form(officer, ["officer", "trainer"])
    )
    assert response.status_code == 400
    assert _roles_of(session, OFFICER) == {"officer"}
    assert _audit_count(session, "settings.user.update") == 0


def test_ward_admin_cannot_create_trainer(app, session):
    ward = load_ward(session)
    web = WebUser(app).login(WARD_ADMIN)
    response = web.post(
        f"/admin/organisations/{ward.organisation.id}/users/new",
        _new_user_form("badinh.huongdan", roles=["trainer"]),
    )
    assert response.status_code == 400
    session.rollback()
    assert (
        session.scalar(select(User).where(User.username == "badinh.huongdan")) is None
    )
    assert _audit_count(session, "settings.user.create") == 0


def test_service_rejects_trainer_grant_by_ward_admin(app, session):
    ward_admin = find_user(session, WARD_ADMIN)
    officer = find_user(session, OFFICER)
    values = {"full_name": officer.full_name, "roles": ["officer", "trainer"]}
    with pytest.raises(Forbidden) as raised:
        admin.update_user(session, ward_admin, officer, values)
    assert raised.value.status_code == 403
    assert "Hướng dẫn thử nghiệm" in raised.value.message
    assert _roles_of(session, OFFICER) == {"officer"}


def test_service_rejects_user_of_other_ward(app, session):
    ward_admin = find_user(session, WARD_ADMIN)
    other_officer = find_user(session, ward_username("officer", OTHER_WARD))
    values = {"full_name": "Người khác", "roles": ["admin"]}
    with pytest.raises(Forbidden):
        admin.update_user(session, ward_admin, other_officer, values)
    with pytest.raises(Forbidden):
        admin.create_user(
            session,
            ward_admin,
            other_officer.organisation,
            {"username": "ngocha.moi", "full_name": "Người mới", "roles": ["admin"]},
            "BatDau2026",
        )
    session.rollback()
    assert find_user(session, ward_username("officer", OTHER_WARD)).roles == {"officer"}


def test_ward_admin_edit_keeps_existing_trainer(app, session):
    officer = find_user(session, OFFICER)
    trainer = add_user_like(session, officer, "badinh.huongdan")
    trainer.role_grants.append(type(trainer.role_grants[0])(role="trainer"))
    session.commit()
    web = WebUser(app).login(WARD_ADMIN)
    response = web.post(
        f"/admin/users/{trainer.id}/edit", _user_form(trainer, ["officer", "head"])
    )
    assert response.status_code == 303
    assert _roles_of(session, "badinh.huongdan") == {"officer", "head", "trainer"}


def test_city_admin_grants_trainer_and_other_admin(app, session):
    officer = find_user(session, OFFICER)
    other_officer = find_user(session, ward_username("officer", OTHER_WARD))
    web = WebUser(app).login(CITY_ADMIN)
    granted = web.post(
        f"/admin/users/{officer.id}/edit", _user_form(officer, ["officer", "trainer"])
    )
    assert granted.status_code == 303
    assert _roles_of(session, OFFICER) == {"officer", "trainer"}
    promoted = web.post(
        f"/admin/users/{other_officer.id}/edit",
        _user_form(other_officer, ["officer", "admin"]),
    )
    assert promoted.status_code == 303
    assert _roles_of(session, ward_username("officer", OTHER_WARD)) == {
        "officer",
        "admin",
    }
    removed = web.post(
        f"/admin/users/{officer.id}/edit", _user_form(officer, ["officer"])
    )
    assert removed.status_code == 303
    assert _roles_of(session, OFFICER) == {"officer"}


@pytest.mark.parametrize("login", [WARD_ADMIN, CITY_ADMIN])
def test_other_ward_prefix_is_refused(app, session, login):
    ward = load_ward(session)
    web = WebUser(app).login(login)
    response = web.post(
        f"/admin/organisations/{ward.organisation.id}/users/new",
        _new_user_form(f"{OTHER_WARD}.vanthu2"),
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert f"Tên đăng nhập bắt đầu bằng “{OTHER_WARD}.”" in page
    assert "Phường Ngọc Hà" in page
    session.rollback()
    assert (
        session.scalar(select(User).where(User.username == f"{OTHER_WARD}.vanthu2"))
        is None
    )
    assert _audit_count(session, "settings.user.create") == 0


def test_own_prefix_and_plain_names_are_allowed(app, session):
    ward = load_ward(session)
    web = WebUser(app).login(WARD_ADMIN)
    for username in ("badinh.vanthu2", "nguoidung2026"):
        response = web.post(
            f"/admin/organisations/{ward.organisation.id}/users/new",
            _new_user_form(username),
        )
        assert response.status_code == 303, username
    session.rollback()
    assert find_user(session, "badinh.vanthu2").organisation_id == ward.organisation.id


# An admin's own account: clearance and roles that read documents come from
# another admin.


def _clearance_of(session, username: str) -> bool:
    session.rollback()
    return find_user(session, username).secret_clearance


def test_admin_cannot_clear_themselves(app, session):
    me = find_user(session, WARD_ADMIN)
    web = WebUser(app).login(WARD_ADMIN)
    form = {**_user_form(me, ["admin"]), "full_name": "Tên Giữ Lại"}

    response = web.post(f"/admin/users/{me.id}/edit", {**form, "secret_clearance": "y"})

    assert response.status_code == 400
    assert "không thể tự cho mình được xem văn bản mật" in _errors_at(
        response, "secret_clearance"
    )
    assert "Tên Giữ Lại" in response.get_data(as_text=True)
    assert not _clearance_of(session, WARD_ADMIN)
    assert find_user(session, WARD_ADMIN).full_name == me.full_name
    assert _audit_count(session, "settings.user.update") == 0


def test_admin_cannot_clear_themselves_as_clerk(app, session):
    me = find_user(session, WARD_ADMIN)
    web = WebUser(app).login(WARD_ADMIN)

    response = web.post(
        f"/admin/users/{me.id}/edit",
        {**_user_form(me, ["admin", "clerk"]), "secret_clearance": "y"},
    )

    assert response.status_code == 400
    assert not _clearance_of(session, WARD_ADMIN)
    assert _roles_of(session, WARD_ADMIN) == {"admin"}
    assert _audit_count(session, "settings.user.update") == 0


@pytest.mark.parametrize(
    "role", ["clerk", "advisor", "leader", "head", "officer", "format_reviewer"]
)
def test_admin_cannot_give_themselves_reader_role(app, session, role):
    me = find_user(session, WARD_ADMIN)
    web = WebUser(app).login(WARD_ADMIN)

    response = web.post(f"/admin/users/{me.id}/edit", _user_form(me, ["admin", role]))

    assert response.status_code == 400
    errors = _errors_at(response, "roles")
    assert f"không thể tự giao cho mình vai trò {ROLE_LABELS[role]}" in errors
    assert _roles_of(session, WARD_ADMIN) == {"admin"}
    assert _audit_count(session, "settings.user.update") == 0


def test_city_admin_cannot_make_themselves_trainer(app, session):
    me = find_user(session, CITY_ADMIN)
    web = WebUser(app).login(CITY_ADMIN)

    response = web.post(
        f"/admin/users/{me.id}/edit", _user_form(me, ["admin", "trainer"])
    )

    assert response.status_code == 400
    assert "Hướng dẫn thử nghiệm" in _errors_at(response, "roles")
    assert _roles_of(session, CITY_ADMIN) == {"admin"}


def test_admin_may_give_up_own_clearance_and_roles(app, session):
    me = find_user(session, WARD_ADMIN)
    me.secret_clearance = True
    me.role_grants.append(type(me.role_grants[0])(role="clerk"))
    session.commit()
    web = WebUser(app).login(WARD_ADMIN)

    response = web.post(f"/admin/users/{me.id}/edit", _user_form(me, ["admin"]))

    assert response.status_code == 303
    assert not _clearance_of(session, WARD_ADMIN)
    assert _roles_of(session, WARD_ADMIN) == {"admin"}


def test_admin_keeps_own_clearance_and_roles(app, session):
    me = find_user(session, WARD_ADMIN)
    me.secret_clearance = True
    me.role_grants.append(type(me.role_grants[0])(role="clerk"))
    session.commit()
    web = WebUser(app).login(WARD_ADMIN)

    response = web.post(
        f"/admin/users/{me.id}/edit",
        {
            **_user_form(me, ["admin", "clerk"]),
            "full_name": "Tên Mới",
            "secret_clearance": "y",
        },
    )

    assert response.status_code == 303
    assert _clearance_of(session, WARD_ADMIN)
    assert _roles_of(session, WARD_ADMIN) == {"admin", "clerk"}


@pytest.mark.parametrize("granter", [CITY_ADMIN, "badinh.quantri.2"])
def test_another_admin_clears_an_admin(app, session, granter):
    me = find_user(session, WARD_ADMIN)
    add_user_like(session, me, "badinh.quantri.2")
    session.commit()
    web = WebUser(app).login(granter)

    response = web.post(
        f"/admin/users/{me.id}/edit",
        {**_user_form(me, ["admin", "clerk"]), "secret_clearance": "y"},
    )

    assert response.status_code == 303
    assert _clearance_of(session, WARD_ADMIN)
    assert _roles_of(session, WARD_ADMIN) == {"admin", "clerk"}
