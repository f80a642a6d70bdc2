"""Names an admin types twice: organisations, departments, types and registers.

Names are the same whatever their letter case, Unicode form (NFC or NFD) and
runs of spaces. Diacritics count.
"""

import unicodedata

import pytest
from lxml import html as lxml_html
from sqlalchemy import func, select

from tests.conftest import WebUser
from tests.roster import OTHER_WARD, load_ward, ward_username
from tests.routes.test_admin_organisations import _city, _errors_at, _org_form
from vanban.models import (
    AuditEvent,
    Department,
    DocumentType,
    NumberSeries,
    Organisation,
)
from vanban.services import doctypes

CITY_ADMIN = "thanhpho.quantri"
WARD_ADMIN = ward_username("admin")


def _count(session, model) -> int:
    session.rollback()
    return session.scalar(select(func.count(model.id)))


def _audited(session, action: str) -> int:
    session.rollback()
    return session.scalar(
        select(func.count(AuditEvent.id)).where(AuditEvent.action == action)
    )


# Organisations


def _center(session) -> Organisation:
    return session.scalar(select(Organisation).where(Organisation.kind == "center"))


def _ward(session, code: str = "00004") -> Organisation:
    return session.scalar(select(Organisation).where(Organisation.unit_code == code))


@pytest.mark.parametrize(
    "name",
    [
        "UBND Phường Ba Đình",
        "ubnd phường ba đình",
        "  UBND   Phường Ba  Đình ",
        unicodedata.normalize("NFD", "UBND PHƯỜNG BA ĐÌNH"),
        "ＵＢＮＤ Phường Ba Đình",
    ],
    ids=["same", "lower", "spaces", "nfd-upper", "full-width"],
)
def test_organisation_name_of_active_sibling_rejected(app, session, name):
    web = WebUser(app).login(CITY_ADMIN)
    count = _count(session, Organisation)

    response = web.post("/admin/organisations/new", _org_form(session, name=name))

    assert response.status_code == 400
    errors = _errors_at(response, "name")
    assert "trùng với đơn vị UBND Phường Ba Đình (mã định danh 000.01.01.H01)" in errors
    assert "cũng trực thuộc UBND Thành phố Hà Nội" in errors
    assert 'value="000.09.01.H01"' in response.get_data(as_text=True)
    assert _count(session, Organisation) == count


def test_organisation_rename_to_sibling_rejected(app, session):
    ward = _ward(session)
    web = WebUser(app).login(CITY_ADMIN)
    form = _org_form(
        session,
        name="UBND PHƯỜNG NGỌC HÀ",
        code=ward.code,
        unit_code=ward.unit_code,
    )

    response = web.post(f"/admin/organisations/{ward.id}/edit", form)

    assert response.status_code == 400
    assert "UBND Phường Ngọc Hà" in _errors_at(response, "name")
    session.rollback()
    assert ward.name == "UBND Phường Ba Đình"
    assert _audited(session, "settings.organisation.update") == 0


def test_organisation_keeps_own_name(app, session):
    ward = _ward(session)
    web = WebUser(app).login(CITY_ADMIN)
    form = _org_form(
        session, name="ubnd phường ba đình", code=ward.code, unit_code=ward.unit_code
    )

    response = web.post(f"/admin/organisations/{ward.id}/edit", form)

    assert response.status_code == 303
    session.rollback()
    assert ward.name == "ubnd phường ba đình"


def test_organisation_name_under_other_parent_allowed(app, session):
    web = WebUser(app).login(CITY_ADMIN)
    form = _org_form(
        session, name="UBND Phường Ba Đình", parent_id=str(_center(session).id)
    )

    response = web.post("/admin/organisations/new", form)

    assert response.status_code == 303


def test_organisation_name_of_inactive_one_allowed_once(app, session):
    ward = _ward(session)
    web = WebUser(app).login(CITY_ADMIN)
    assert (
        web.post(f"/admin/organisations/{ward.id}/active", {"active": "0"}).status_code
        == 303
    )

    created = web.post(
        "/admin/organisations/new", _org_form(session, name="UBND Phường Ba Đình")
    )
    reactivated = web.post(f"/admin/organisations/{ward.id}/active", {"active": "1"})

    assert created.status_code == 303
    assert reactivated.status_code == 303
    page = web.get(reactivated.headers["Location"]).get_data(as_text=True)
    assert "Không thể cho đơn vị hoạt động lại." in page
    assert "mã định danh 000.09.01.H01" in page
    session.rollback()
    assert not session.get(Organisation, ward.id).active


def test_import_of_ward_with_taken_name_rejected(app, session):
    web = WebUser(app).login(CITY_ADMIN)
    assert (
        web.post(
            "/admin/organisations/new", _org_form(session, name="UBND Phường Hồng Hà")
        ).status_code
        == 303
    )
    count = _count(session, Organisation)

    response = web.post(
        "/admin/organisations/import",
        {
            "province": "01",
            "parent_id": str(_city(session).id),
            "wards": ["00091", "00097"],
        },
    )

    assert response.status_code == 400
    tree = lxml_html.fromstring(response.get_data(as_text=True))
    wards = tree.xpath("//fieldset[legend='Phường, xã']")[0]
    errors = " ".join(p.text_content() for p in wards.find_class("error"))
    assert "Không nhập được Phường Hồng Hà (mã 00097)" in errors
    checked = wards.xpath(".//input[@checked and not(@disabled)]/@value")
    assert checked == ["00091", "00097"]
    assert "mã định danh 000.09.01.H01" in errors
    assert _count(session, Organisation) == count


# Departments


def _department_url(ward) -> str:
    return f"/admin/organisations/{ward.organisation.id}/departments/new"


@pytest.mark.parametrize(
    ("typed", "field", "message"),
    [
        (
            {"name": "phòng kinh tế", "abbreviation": "PKT"},
            "name",
            "UBND Phường Ba Đình đã có phòng ban Phòng Kinh tế. Hãy đặt tên khác.",
        ),
        (
            {"name": " Phòng  Kinh TẾ ", "abbreviation": "PKT"},
            "name",
            "đã có phòng ban Phòng Kinh tế",
        ),
        (
            {"name": "Phòng Kinh tế số", "abbreviation": "kt"},
            "abbreviation",
            "Chữ viết tắt kt đã dùng cho Phòng Kinh tế.",
        ),
    ],
    ids=["name-case", "name-spaces", "abbreviation-case"],
)
def test_department_duplicate_rejected(app, session, typed, field, message):
    ward = load_ward(session)
    web = WebUser(app).login(WARD_ADMIN)
    count = _count(session, Department)

    response = web.post(_department_url(ward), typed)

    assert response.status_code == 400
    assert message in _errors_at(response, field)
    assert f'value="{typed["abbreviation"]}"' in response.get_data(as_text=True)
    assert _count(session, Department) == count


def test_department_rename_to_other_rejected(app, session):
    ward = load_ward(session)
    office = ward.department(session, "VP")
    web = WebUser(app).login(WARD_ADMIN)

    renamed = web.post(
        f"/admin/departments/{office.id}/edit",
        {"name": "PHÒNG KINH TẾ", "abbreviation": "VP"},
    )
    abbreviated = web.post(
        f"/admin/departments/{office.id}/edit",
        {"name": office.name, "abbreviation": "Kt"},
    )

    assert renamed.status_code == 400
    assert "đã có phòng ban Phòng Kinh tế" in _errors_at(renamed, "name")
    assert abbreviated.status_code == 400
    assert "đã dùng cho Phòng Kinh tế" in _errors_at(abbreviated, "abbreviation")
    session.rollback()
    assert (office.name, office.abbreviation) == ("Văn phòng HĐND-UBND", "VP")
    assert _audited(session, "settings.department.update") == 0


def test_department_keeps_own_name(app, session):
    ward = load_ward(session)
    economy = ward.department(session, "KT")
    web = WebUser(app).login(WARD_ADMIN)

    response = web.post(
        f"/admin/departments/{economy.id}/edit",
        {"name": "phòng kinh tế", "abbreviation": "kt"},
    )

    assert response.status_code == 303
    session.rollback()
    assert (economy.name, economy.abbreviation) == ("phòng kinh tế", "kt")


def test_department_of_inactive_name_rejected(app, session):
    ward = load_ward(session)
    economy = ward.department(session, "KT")
    web = WebUser(app).login(WARD_ADMIN)
    web.post(f"/admin/departments/{economy.id}/active", {"active": "0"})

    response = web.post(
        _department_url(ward), {"name": "Phòng Kinh tế", "abbreviation": "KT2"}
    )

    assert response.status_code == 400
    assert "đang ngừng hoạt động: hãy cho hoạt động lại" in _errors_at(response, "name")


def test_department_name_of_other_ward_allowed(app, session):
    ward = load_ward(session)
    other = load_ward(session, OTHER_WARD)
    web = WebUser(app).login(CITY_ADMIN)
    typed = {"name": "Phòng Tư pháp", "abbreviation": "TP"}

    first = web.post(_department_url(ward), typed)
    second = web.post(_department_url(other), typed)

    assert first.status_code == 303
    assert second.status_code == 303


# Document types


@pytest.fixture
def shipped_doctypes():
    """Leave the process-wide type list as shipped for the tests that follow."""
    yield
    doctypes.use_shipped()


@pytest.mark.parametrize(
    "name",
    ["quyết định", " QUYẾT   ĐỊNH ", unicodedata.normalize("NFD", "Quyết định")],
    ids=["lower", "spaces-upper", "nfd"],
)
def test_doctype_name_taken_rejected(app, session, shipped_doctypes, name):
    web = WebUser(app).login(CITY_ADMIN)
    count = _count(session, DocumentType)

    response = web.post("/admin/doctypes/new", {"name": name, "abbreviation": "QDK"})

    assert response.status_code == 400
    assert "Loại văn bản Quyết định đã có." in _errors_at(response, "name")
    assert 'value="QDK"' in response.get_data(as_text=True)
    assert _count(session, DocumentType) == count


def test_doctype_abbreviation_spacing_and_case(app, session, shipped_doctypes):
    web = WebUser(app).login(CITY_ADMIN)

    response = web.post(
        "/admin/doctypes/new", {"name": "Quyết định cá biệt", "abbreviation": "qĐ"}
    )

    assert response.status_code == 400
    assert "Chữ viết tắt qĐ đã dùng cho loại Quyết định." in _errors_at(
        response, "abbreviation"
    )


# Registers (number series)


def _series_named(session, organisation_id: int, name: str) -> NumberSeries:
    return session.scalar(
        select(NumberSeries).where(
            NumberSeries.organisation_id == organisation_id,
            NumberSeries.name == name,
        )
    )


def _new_series(name: str) -> dict:
    return {"name": name, "symbol_pattern": "", "type_names": "Quyết định"}


@pytest.mark.parametrize(
    "name",
    ["sổ công văn đi", " SỔ  CÔNG VĂN ĐI", "Sổ văn bản đến mật"],
    ids=["lower", "spaces-upper", "other-direction"],
)
def test_series_name_taken_rejected(login_as, session, name):
    admin = login_as(WARD_ADMIN)
    count = _count(session, NumberSeries)

    response = admin.post("/registers/settings/new", _new_series(name))

    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Đơn vị đã có sổ “" in page
    assert "Hãy đặt tên khác để phân biệt hai sổ." in page
    assert f'value="{name}"' in page
    assert _count(session, NumberSeries) == count


def test_series_rename_to_other_rejected(login_as, session):
    ward = load_ward(session)
    series = _series_named(session, ward.organisation.id, "Sổ công văn đi")
    admin = login_as(WARD_ADMIN)

    response = admin.post(
        f"/registers/settings/{series.id}",
        {"name": "SỔ VĂN BẢN ĐI CÓ TÊN LOẠI", "symbol_pattern": ""},
    )

    assert response.status_code == 422
    assert "Đơn vị đã có sổ “Sổ văn bản đi có tên loại”" in response.get_data(
        as_text=True
    )
    session.rollback()
    assert series.name == "Sổ công văn đi"
    assert _audited(session, "settings.series.update") == 0


def test_series_keeps_own_name(login_as, session):
    ward = load_ward(session)
    series = _series_named(session, ward.organisation.id, "Sổ công văn đi")
    admin = login_as(WARD_ADMIN)

    response = admin.post(
        f"/registers/settings/{series.id}",
        {"name": "sổ công văn đi", "symbol_pattern": ""},
    )

    assert response.status_code == 303
    session.rollback()
    assert series.name == "sổ công văn đi"


def test_series_name_of_other_ward_allowed(login_as, session):
    first = login_as(WARD_ADMIN).post(
        "/registers/settings/new", _new_series("Sổ quyết định")
    )
    second = login_as(ward_username("admin", OTHER_WARD)).post(
        "/registers/settings/new", _new_series("Sổ quyết định")
    )

    assert first.status_code == 303
    assert second.status_code == 303
