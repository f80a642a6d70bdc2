"""The audit page: every settings change listed, with filters and pages."""

from datetime import UTC, datetime

from sqlalchemy import select

from tests.conftest import WebUser
from tests.roster import OTHER_WARD, find_user, load_ward, ward_username
from vanban.models import AuditEvent
from vanban.services import audit
from vanban.services.admin import AUDIT_PAGE_SIZE

CITY_ADMIN = "thanhpho.quantri"


def _event(session, action, user, organisation_id, when, **detail):
    event = audit.record(
        session, action, user=user, organisation_id=organisation_id, **detail
    )
    event.created_at = when
    return event


def _seed_events(session):
    ward = load_ward(session)
    other = load_ward(session, OTHER_WARD)
    city_admin = find_user(session, CITY_ADMIN)
    _event(
        session,
        "settings.holiday.create",
        city_admin,
        city_admin.organisation_id,
        datetime(2026, 3, 2, 3, 0, tzinfo=UTC),
        before=None,
        after={"day": "2026-04-30"},
    )
    _event(
        session,
        "settings.series.update",
        ward.users["admin"],
        ward.organisation.id,
        datetime(2026, 3, 10, 3, 0, tzinfo=UTC),
        before={"name": "Sổ cũ"},
        after={"name": "Sổ mới"},
    )
    # 23:30 on 14 March in Hà Nội is still 14 March for the date filter.
    _event(
        session,
        "settings.user.update",
        other.users["admin"],
        other.organisation.id,
        datetime(2026, 3, 14, 16, 30, tzinfo=UTC),
        before={"full_name": "Trước"},
        after={"full_name": "Sau"},
    )
    session.commit()
    return ward, other


def _rows(page: str) -> list[str]:
    body = page.split("<tbody>")[1].split("</tbody>")[0] if "<tbody>" in page else ""
    return [row for row in body.split("<tr>")[1:]]


def test_city_admin_sees_everything(app, session):
    _seed_events(session)
    page = WebUser(app).login(CITY_ADMIN).get("/admin/audit").get_data(as_text=True)
    for action in (
        "settings.holiday.create",
        "settings.series.update",
        "settings.user.update",
    ):
        assert action in page
    assert "Sổ cũ" in page
    assert "Sổ mới" in page


def test_filters(app, session):
    ward, other = _seed_events(session)
    web = WebUser(app).login(CITY_ADMIN)

    def actions(query):
        response = web.get(f"/admin/audit?{query}")
        assert response.status_code == 200
        return [
            a
            for a in (
                "settings.holiday.create",
                "settings.series.update",
                "settings.user.update",
            )
            if a in "".join(_rows(response.get_data(as_text=True)))
        ]

    assert actions("action=settings.series.update") == ["settings.series.update"]
    assert actions(f"user={ward_username('admin', OTHER_WARD)}") == [
        "settings.user.update"
    ]
    assert actions(f"organisation_id={ward.organisation.id}") == [
        "settings.series.update"
    ]
    assert actions("start=2026-03-05&end=2026-03-14") == [
        "settings.series.update",
        "settings.user.update",
    ]
    assert actions("start=2026-03-01&end=2026-03-02") == ["settings.holiday.create"]
    assert actions("start=2026-03-15") == []
    response = web.get("/admin/audit?start=2026-03-15&end=2026-03-01&user=quantri")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Ngày kết thúc phải sau ngày bắt đầu." in page
    assert 'value="quantri"' in page


def test_ward_admin_sees_only_own_organisation(app, session):
    ward, other = _seed_events(session)
    web = WebUser(app).login(ward_username("admin"))
    page = web.get("/admin/audit").get_data(as_text=True)
    assert "settings.series.update" in page
    assert "settings.user.update" not in page
    assert "settings.holiday.create" not in page
    assert (
        web.get(f"/admin/audit?organisation_id={other.organisation.id}").status_code
        == 404
    )


def test_paging(app, session):
    ward = load_ward(session)
    for index in range(AUDIT_PAGE_SIZE + 5):
        _event(
            session,
            "settings.department.update",
            ward.users["admin"],
            ward.organisation.id,
            datetime(2026, 5, 1, 3, index % 60, tzinfo=UTC),
            before={"n": index},
            after={"n": index + 1},
        )
    session.commit()
    web = WebUser(app).login(CITY_ADMIN)
    first = web.get("/admin/audit?action=settings.department.update").get_data(
        as_text=True
    )
    assert len(_rows(first)) == AUDIT_PAGE_SIZE
    assert "Trang 1/2" in first
    assert "page=2" in first
    second = web.get("/admin/audit?action=settings.department.update&page=2").get_data(
        as_text=True
    )
    assert len(_rows(second)) == 5
    assert "Trang 2/2" in second


def test_page_change_is_listed(app, session):
    ward = load_ward(session)
    web = WebUser(app).login(ward_username("admin"))
    dept = ward.department(session, "VHXH")
    web.post(
        f"/admin/departments/{dept.id}/edit",
        {"name": "Phòng Văn hóa, Khoa học và Thông tin", "abbreviation": "VHXH"},
    )
    session.rollback()
    event = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "settings.department.update")
    ).one()
    assert event.user_id == ward.users["admin"].id
    assert event.detail["before"]["name"] == "Phòng Văn hóa - Xã hội"
    page = web.get("/admin/audit?action=settings.department.update").get_data(
        as_text=True
    )
    assert "Phòng Văn hóa, Khoa học và Thông tin" in page
