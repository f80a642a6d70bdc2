"""Role × page table of the admin settings pages.

The city's admin reaches every page. A ward's admin reaches the pages of their
own organisation only, with 404 for another ward's rows and 403 for the
installation-wide settings. Every other role gets 403, and an anonymous visitor
goes to the login page.
"""

import re

import pytest
from sqlalchemy import select

from tests.conftest import WebUser
from tests.roster import OTHER_WARD, WARD, find_user, load_ward, ward_username
from vanban.models import DocumentType, Organisation

CITY_ADMIN = "thanhpho.quantri"
WARD_ADMIN = ward_username("admin")
VISITORS = (
    CITY_ADMIN,
    WARD_ADMIN,
    ward_username("clerk"),
    ward_username("officer"),
    "tttt.huongdan",
    None,
)


def _pages(session):
    """(name, url, scope) for every admin GET page, with real ids."""
    ward = load_ward(session, WARD)
    other = load_ward(session, OTHER_WARD)
    city = session.scalar(select(Organisation).where(Organisation.kind == "city"))
    doctype = session.scalar(
        select(DocumentType).where(DocumentType.name == "Quyết định")
    )
    own_dept = ward.department(session, "KT")
    other_dept = other.department(session, "KT")
    own_org, other_org = ward.organisation.id, other.organisation.id
    return [
        ("index", "/admin/", "any"),
        ("organisations", "/admin/organisations", "any"),
        ("new organisation", "/admin/organisations/new", "city"),
        ("edit own organisation", f"/admin/organisations/{own_org}/edit", "city"),
        ("edit city", f"/admin/organisations/{city.id}/edit", "city"),
        ("import wards", "/admin/organisations/import", "city"),
        ("own users", f"/admin/users?organisation_id={own_org}", "any"),
        ("other ward's users", f"/admin/users?organisation_id={other_org}", "other"),
        ("new department", f"/admin/organisations/{own_org}/departments/new", "any"),
        (
            "new department elsewhere",
            f"/admin/organisations/{other_org}/departments/new",
            "other",
        ),
        ("edit department", f"/admin/departments/{own_dept.id}/edit", "any"),
        ("other department", f"/admin/departments/{other_dept.id}/edit", "other"),
        ("new user", f"/admin/organisations/{own_org}/users/new", "any"),
        ("new user elsewhere", f"/admin/organisations/{other_org}/users/new", "other"),
        ("edit user", f"/admin/users/{ward.users['clerk'].id}/edit", "any"),
        ("other user", f"/admin/users/{other.users['clerk'].id}/edit", "other"),
        ("reset password", f"/admin/users/{ward.users['clerk'].id}/password", "any"),
        (
            "other reset password",
            f"/admin/users/{other.users['clerk'].id}/password",
            "other",
        ),
        ("doctypes", "/admin/doctypes", "city"),
        ("new doctype", "/admin/doctypes/new", "city"),
        ("edit doctype", f"/admin/doctypes/{doctype.id}/edit", "city"),
        ("audit", "/admin/audit", "any"),
    ]


def _expected(visitor: str | None, scope: str) -> int:
    if visitor is None:
        return 302
    if visitor == CITY_ADMIN:
        return 200
    if visitor == WARD_ADMIN:
        return {"any": 200, "city": 403, "other": 404}[scope]
    return 403


@pytest.mark.parametrize("visitor", VISITORS, ids=lambda v: v or "anonymous")
def test_role_page_table(app, session, visitor):
    web = WebUser(app)
    if visitor:
        web.login(visitor)
    outcome = {}
    for name, url, _scope in _pages(session):
        response = web.get(url)
        outcome[name] = response.status_code
        if response.status_code == 302:
            assert "/login" in response.headers["Location"]
    expected = {name: _expected(visitor, scope) for name, _, scope in _pages(session)}
    assert outcome == expected


@pytest.mark.parametrize("visitor", VISITORS[2:5])
def test_non_admins_cannot_post(app, session, visitor):
    clerk = find_user(session, ward_username("clerk"))
    web = WebUser(app).login(visitor)
    response = web.post(f"/admin/users/{clerk.id}/active", {"active": "0"})
    assert response.status_code == 403
    session.rollback()
    assert find_user(session, ward_username("clerk")).active


def test_nav_link_only_for_admins(app):
    admin_page = WebUser(app).login(WARD_ADMIN).get("/").get_data(as_text=True)
    clerk_page = (
        WebUser(app).login(ward_username("clerk")).get("/").get_data(as_text=True)
    )
    assert 'href="/admin/"' in admin_page
    assert 'href="/admin/"' not in clerk_page


def test_index_links_registered_pages(app):
    city_page = WebUser(app).login(CITY_ADMIN).get("/admin/").get_data(as_text=True)
    ward_page = WebUser(app).login(WARD_ADMIN).get("/admin/").get_data(as_text=True)
    for url in ("/admin/organisations", "/admin/users", "/admin/audit"):
        assert f'href="{url}"' in city_page
        assert f'href="{url}"' in ward_page
    assert 'href="/admin/doctypes"' in city_page
    assert 'href="/admin/doctypes"' not in ward_page
    assert 'href="/exchange/settings"' in city_page


def test_index_titles_without_stray_colon(app):
    page = WebUser(app).login(WARD_ADMIN).get("/admin/").get_data(as_text=True)
    text = " ".join(re.sub(r"<[^>]+>", " ", page).split())
    assert "Đơn vị Thêm, sửa, ngừng hoạt động đơn vị" in text
    assert " :" not in text
