"""Organisations, the ward import from the units list, and document types."""

import pytest
from lxml import html as lxml_html
from sqlalchemy import func, select

from tests.conftest import WebUser
from tests.roster import find_user, ward_username
from vanban.models import AuditEvent, DocumentType, Organisation
from vanban.services import demo, doctypes, units

CITY_ADMIN = "thanhpho.quantri"


def _city(session) -> Organisation:
    return session.scalar(select(Organisation).where(Organisation.kind == "city"))


def _last_event(session, action):
    session.rollback()
    return session.scalars(
        select(AuditEvent)
        .where(AuditEvent.action == action)
        .order_by(AuditEvent.id.desc())
    ).first()


def _org_form(session, **overrides):
    form = {
        "name": "UBND Phường Thử Nghiệm",
        "code": "000.09.01.H01",
        "abbreviation": "UBND",
        "kind": "ward",
        "unit_code": "",
        "parent_id": str(_city(session).id),
    }
    form.update(overrides)
    return form


def test_create_edit_deactivate_organisation(app, session):
    web = WebUser(app).login(CITY_ADMIN)
    assert web.post("/admin/organisations/new", _org_form(session)).status_code == 303
    session.rollback()
    org = session.scalar(
        select(Organisation).where(Organisation.code == "000.09.01.H01")
    )
    assert (org.name, org.kind, org.parent_id) == (
        "UBND Phường Thử Nghiệm",
        "ward",
        _city(session).id,
    )
    edited = web.post(
        f"/admin/organisations/{org.id}/edit",
        _org_form(session, name="UBND Phường Đổi Tên", unit_code="00091"),
    )
    assert edited.status_code == 303
    event = _last_event(session, "settings.organisation.update")
    assert event.detail["before"]["name"] == "UBND Phường Thử Nghiệm"
    assert event.detail["after"]["name"] == "UBND Phường Đổi Tên"
    assert event.detail["after"]["unit_code"] == "00091"
    assert event.organisation_id == org.id
    response = web.post(f"/admin/organisations/{org.id}/active", {"active": "0"})
    assert response.status_code == 303
    session.rollback()
    assert not session.get(Organisation, org.id).active
    assert _last_event(session, "settings.organisation.deactivate").detail == {
        "before": {"active": True},
        "after": {"active": False},
    }


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"name": ""}, "Trường này là bắt buộc."),
        ({"code": "H01-000"}, "Mã định danh có dạng 000.00.00.H01"),
        (
            {"code": "000.01.01.H01"},
            "Mã định danh 000.01.01.H01 đã dùng cho UBND Phường Ba Đình.",
        ),
        ({"unit_code": "4"}, "Mã đơn vị hành chính gồm 2 chữ số"),
        ({"abbreviation": "UB ND"}, "không có dấu cách"),
        ({"kind": "province"}, "Lựa chọn không hợp lệ"),
    ],
)
def test_bad_organisation_is_refused_and_input_kept(app, session, overrides, message):
    web = WebUser(app).login(CITY_ADMIN)
    before = session.scalar(select(func.count(Organisation.id)))
    form = _org_form(session, **{"name": "UBND Phường Giữ Lại", **overrides})
    response = web.post("/admin/organisations/new", form)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert message in page
    if form["name"]:
        assert "UBND Phường Giữ Lại" in page
    session.rollback()
    assert session.scalar(select(func.count(Organisation.id))) == before


def test_deactivated_ward_users_cannot_log_in(app, session):
    clerk = WebUser(app).login(ward_username("clerk"))
    ward_id = find_user(session, ward_username("clerk")).organisation_id
    web = WebUser(app).login(CITY_ADMIN)
    response = web.post(f"/admin/organisations/{ward_id}/active", {"active": "0"})
    assert response.status_code == 303
    assert clerk.get("/").status_code == 302
    rejected = WebUser(app).post(
        "/login", {"username": ward_username("clerk"), "password": "VanBan@2026"}
    )
    assert "Đơn vị của bạn đã ngừng hoạt động" in rejected.get_data(as_text=True)
    web.post(f"/admin/organisations/{ward_id}/active", {"active": "1"})
    WebUser(app).login(ward_username("clerk"))


def test_admin_cannot_deactivate_own_organisation(app, session):
    web = WebUser(app).login(CITY_ADMIN)
    response = web.post(
        f"/admin/organisations/{_city(session).id}/active", {"active": "0"}
    )
    assert "Không thể ngừng hoạt động đơn vị của chính bạn." in web.get(
        response.headers["Location"]
    ).get_data(as_text=True)
    session.rollback()
    assert _city(session).active


def test_ward_admin_cannot_change_organisations(app, session):
    web = WebUser(app).login(ward_username("admin"))
    assert web.post("/admin/organisations/new", _org_form(session)).status_code == 403
    assert (
        web.post(
            "/admin/organisations/import",
            {"province": "01", "parent_id": str(_city(session).id), "wards": ["00102"]},
        ).status_code
        == 403
    )


def test_import_wards_once(app, session):
    hanoi = units.find_province("01")
    fresh = [w for w in hanoi["Wards"] if w["Code"] not in demo.WARD_CODES][:2]
    web = WebUser(app).login(CITY_ADMIN)
    page = web.get("/admin/organisations/import?province=01").get_data(as_text=True)
    assert fresh[0]["FullName"] in page
    assert 'value="00004"' in page
    assert "đã có" in page
    city = _city(session)
    form = {
        "province": "01",
        "parent_id": str(city.id),
        "wards": [fresh[0]["Code"], fresh[1]["Code"], "00004"],
    }
    assert web.post("/admin/organisations/import", form).status_code == 303
    session.rollback()
    for ward in fresh:
        org = session.scalar(
            select(Organisation).where(Organisation.unit_code == ward["Code"])
        )
        assert org.name == f"UBND {ward['FullName']}"
        assert org.kind == "ward"
        assert org.parent_id == city.id
        assert org.code == f"TAM.{ward['Code']}"
    assert (
        session.scalar(
            select(func.count(Organisation.id)).where(Organisation.unit_code == "00004")
        )
        == 1
    )
    # A second import of the same wards adds nothing.
    count = session.scalar(select(func.count(Organisation.id)))
    assert web.post("/admin/organisations/import", form).status_code == 303
    session.rollback()
    assert session.scalar(select(func.count(Organisation.id))) == count
    events = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "settings.organisation.import")
    ).all()
    assert sorted(e.detail["after"]["unit_code"] for e in events) == sorted(
        w["Code"] for w in fresh
    )


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"province": "01", "wards": []}, "Hãy đánh dấu ít nhất một phường, xã."),
        ({"province": "01", "wards": ["26734"]}, "Có phường, xã không thuộc tỉnh"),
        (
            {"province": "99", "wards": ["00004"]},
            "Hãy chọn tỉnh, thành phố trong danh sách.",
        ),
    ],
)
def test_bad_ward_import_is_refused(app, session, form, message):
    web = WebUser(app).login(CITY_ADMIN)
    count = session.scalar(select(func.count(Organisation.id)))
    response = web.post(
        "/admin/organisations/import", {**form, "parent_id": str(_city(session).id)}
    )
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    session.rollback()
    assert session.scalar(select(func.count(Organisation.id))) == count


# Document types


@pytest.fixture(autouse=True)
def _shipped_doctypes():
    """Leave the process-wide type list as shipped for the tests that follow."""
    yield
    doctypes.use_shipped()


def test_doctype_edit_reaches_forms(app, session):
    doctype = session.scalar(
        select(DocumentType).where(DocumentType.name == "Tờ trình")
    )
    web = WebUser(app).login(CITY_ADMIN)
    response = web.post(
        f"/admin/doctypes/{doctype.id}/edit",
        {"name": "Tên khác", "abbreviation": "TTR", "active": "y"},
    )
    assert response.status_code == 303
    session.rollback()
    assert (doctype.name, doctype.abbreviation) == ("Tờ trình", "TTR")
    # The next request reads the edited table.
    web.get(response.headers["Location"])
    assert doctypes.ABBREVIATIONS["Tờ trình"] == "TTR"
    event = _last_event(session, "settings.doctype.update")
    assert event.detail["before"]["abbreviation"] == "TTr"
    assert event.detail["after"]["abbreviation"] == "TTR"
    # Turned off, the type leaves the choices of the drafting forms.
    web.post(f"/admin/doctypes/{doctype.id}/edit", {"abbreviation": "TTR"})
    web.get("/admin/doctypes")
    assert ("Tờ trình", "Tờ trình") not in doctypes.TYPE_CHOICES
    page = WebUser(app).login(ward_username("officer")).get("/documents/new-draft")
    assert "Tờ trình" not in page.get_data(as_text=True)
    assert "Quyết định" in page.get_data(as_text=True)


def test_create_doctype_and_bad_input(app, session):
    web = WebUser(app).login(CITY_ADMIN)
    duplicate = web.post(
        "/admin/doctypes/new", {"name": "Quyết định", "abbreviation": "QĐ2"}
    )
    assert duplicate.status_code == 400
    assert "Loại văn bản Quyết định đã có." in duplicate.get_data(as_text=True)
    assert "QĐ2" in duplicate.get_data(as_text=True)
    spaced = web.post(
        "/admin/doctypes/new", {"name": "Bản sao y", "abbreviation": "S Y"}
    )
    assert spaced.status_code == 400
    assert "không có dấu cách" in spaced.get_data(as_text=True)
    created = web.post(
        "/admin/doctypes/new",
        {"name": "Bản sao y", "abbreviation": "SY", "active": "y"},
    )
    assert created.status_code == 303
    session.rollback()
    assert (
        session.scalar(
            select(DocumentType.abbreviation).where(DocumentType.name == "Bản sao y")
        )
        == "SY"
    )
    assert _last_event(session, "settings.doctype.create").detail["before"] is None


def test_turned_off_type_still_filters_records(app, session):
    doctype = session.scalar(
        select(DocumentType).where(DocumentType.name == "Công văn")
    )
    web = WebUser(app).login(CITY_ADMIN)
    off = web.post(f"/admin/doctypes/{doctype.id}/edit", {"abbreviation": ""})
    assert off.status_code == 303
    clerk = WebUser(app).login(ward_username("clerk"))
    book = clerk.get("/registers/books/outgoing/2026?type=Công văn")
    assert book.status_code == 200
    assert "Loại văn bản không hợp lệ" not in book.get_data(as_text=True)
    assert ("Công văn", "Công văn") not in doctypes.TYPE_CHOICES
    assert ("Công văn", "Công văn") in doctypes.ALL_TYPE_CHOICES
    found = clerk.get("/search/?type_name=Công văn")
    assert found.status_code == 200
    unknown = clerk.get("/registers/books/outgoing/2026?type=Không có loại này")
    assert unknown.status_code == 422


def test_duplicate_doctype_abbreviation_is_refused(app, session):
    web = WebUser(app).login(CITY_ADMIN)
    count = session.scalar(select(func.count(DocumentType.id)))
    for abbreviation in ("QĐ", "qđ"):
        response = web.post(
            "/admin/doctypes/new",
            {"name": "Quyết định khác", "abbreviation": abbreviation, "active": "y"},
        )
        assert response.status_code == 400
        page = response.get_data(as_text=True)
        assert f"Chữ viết tắt {abbreviation} đã dùng cho loại Quyết định." in page
    hop_dong = session.scalar(
        select(DocumentType).where(DocumentType.name == "Hợp đồng")
    )
    taken = web.post(f"/admin/doctypes/{hop_dong.id}/edit", {"abbreviation": "KH"})
    assert taken.status_code == 400
    # HĐ of Hợp đồng and HD of Hướng dẫn differ, as in the decree's list.
    kept = web.post(
        f"/admin/doctypes/{hop_dong.id}/edit", {"abbreviation": "HĐ", "active": "y"}
    )
    assert kept.status_code == 303
    session.rollback()
    assert session.scalar(select(func.count(DocumentType.id))) == count
    assert hop_dong.abbreviation == "HĐ"


def test_ward_import_counts_added_and_present(app, session):
    hanoi = units.find_province("01")
    fresh = [w for w in hanoi["Wards"] if w["Code"] not in demo.WARD_CODES][:1]
    web = WebUser(app).login(CITY_ADMIN)
    form = {
        "province": "01",
        "parent_id": str(_city(session).id),
        "wards": [fresh[0]["Code"], *demo.WARD_CODES[:2]],
    }
    response = web.post("/admin/organisations/import", form)
    assert response.status_code == 303
    page = web.get(response.headers["Location"]).get_data(as_text=True)
    assert "Đã thêm 1 phường, xã." in page
    assert "2 phường, xã đã có từ trước nên không thêm lại." in page
    again = web.post("/admin/organisations/import", form)
    page = web.get(again.headers["Location"]).get_data(as_text=True)
    assert "Đã thêm 0 phường, xã." in page
    assert "3 phường, xã đã có từ trước" in page


# The administrative unit code fits the kind, exists and is used once.


def _ward(session, code: str = "00004") -> Organisation:
    return session.scalar(select(Organisation).where(Organisation.unit_code == code))


def _errors_at(response, field: str) -> str:
    """Return the error messages the form shows under one field."""
    tree = lxml_html.fromstring(response.get_data(as_text=True))
    errors = tree.get_element_by_id(f"field-{field}").find_class("error")
    return " ".join(error.text_content() for error in errors)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"kind": "city", "unit_code": "00091"}, "cần mã tỉnh, thành phố gồm 2"),
        ({"kind": "ward", "unit_code": "01"}, "cần mã phường, xã gồm 5 chữ số"),
        ({"kind": "ward", "unit_code": "99999"}, "Không có mã 99999 trong danh mục"),
        ({"kind": "city", "unit_code": "99"}, "Không có mã 99 trong danh mục"),
        ({"kind": "center", "unit_code": "00091"}, "không có mã đơn vị hành chính"),
        ({"kind": "ward", "unit_code": "25747"}, "thuộc Thành phố Hồ Chí Minh"),
        ({"kind": "ward", "unit_code": "00004"}, "đã dùng cho UBND Phường Ba Đình"),
    ],
    ids=[
        "city-ward-code",
        "ward-city-code",
        "unknown-ward",
        "unknown-province",
        "center-code",
        "other-province",
        "taken",
    ],
)
def test_new_organisation_unit_code_checked(app, session, overrides, message):
    web = WebUser(app).login(CITY_ADMIN)
    count = session.scalar(select(func.count(Organisation.id)))

    response = web.post("/admin/organisations/new", _org_form(session, **overrides))

    assert response.status_code == 400
    assert message in _errors_at(response, "unit_code")
    assert 'value="UBND Phường Thử Nghiệm"' in response.get_data(as_text=True)
    session.rollback()
    assert session.scalar(select(func.count(Organisation.id))) == count


def test_ward_cannot_become_city_with_ward_code(app, session):
    ward = _ward(session)
    web = WebUser(app).login(CITY_ADMIN)
    form = _org_form(
        session,
        name=ward.name,
        code=ward.code,
        kind="city",
        unit_code="00004",
    )

    response = web.post(f"/admin/organisations/{ward.id}/edit", form)

    assert response.status_code == 400
    assert "cần mã tỉnh, thành phố gồm 2 chữ số" in _errors_at(response, "unit_code")
    assert "Mã 00004 là mã của Phường Ba Đình." in _errors_at(response, "unit_code")
    session.rollback()
    assert (ward.kind, ward.unit_code) == ("ward", "00004")
    assert _last_event(session, "settings.organisation.update") is None


def test_ward_edit_keeps_own_unit_code(app, session):
    ward = _ward(session)
    web = WebUser(app).login(CITY_ADMIN)
    form = _org_form(
        session, name=ward.name, code=ward.code, kind="ward", unit_code="00004"
    )

    response = web.post(f"/admin/organisations/{ward.id}/edit", form)

    assert response.status_code == 303


def test_ward_cannot_take_used_unit_code(app, session):
    ward = _ward(session)
    web = WebUser(app).login(CITY_ADMIN)
    form = _org_form(session, name=ward.name, code=ward.code, unit_code="00008")

    response = web.post(f"/admin/organisations/{ward.id}/edit", form)

    assert response.status_code == 400
    assert "00008 đã dùng cho UBND Phường Ngọc Hà" in _errors_at(response, "unit_code")
    session.rollback()
    assert ward.unit_code == "00004"
