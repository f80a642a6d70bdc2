"""The audit page: every settings change listed, with filters and pages."""

import re
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

import vanban
from tests.conftest import WebUser
from tests.roster import OTHER_WARD, find_user, load_ward, ward_username
from vanban.models import AuditEvent
from vanban.services import audit, audit_labels, workflow
from vanban.services.admin import AUDIT_PAGE_SIZE
from vanban.services.audit_labels import action_label

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
        "settings.holidays.update",
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


def _action_cell(label: str) -> str:
    return f'<td data-label="Thao tác">{label}</td>'


def _rows(page: str) -> list[str]:
    body = page.split("<tbody>")[1].split("</tbody>")[0] if "<tbody>" in page else ""
    return [row for row in body.split("<tr>")[1:]]


def test_city_admin_sees_everything(app, session):
    _seed_events(session)
    page = WebUser(app).login(CITY_ADMIN).get("/admin/audit").get_data(as_text=True)
    rows = "".join(_rows(page))
    for label in (
        "Sửa ngày nghỉ, ngày làm bù",
        "Sửa sổ văn bản",
        "Sửa người dùng",
    ):
        assert _action_cell(label) in rows
    assert "settings." not in rows
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
                "settings.holidays.update",
                "settings.series.update",
                "settings.user.update",
            )
            if _action_cell(action_label(a))
            in "".join(_rows(response.get_data(as_text=True)))
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
    assert actions("start=2026-03-01&end=2026-03-02") == ["settings.holidays.update"]
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
    assert "Sửa sổ văn bản" in page
    assert "Sửa người dùng" not in page
    assert "Sửa ngày nghỉ, ngày làm bù" not in page
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


# Audit actions as the source code records them.
SOURCE = Path(vanban.__file__).parent
RECORD = re.compile(r"audit\.record\(\s*(?:db\.)?session,\s*(f?\"[^\"]*\"|\w+)")
QUOTED = re.compile(r"\"([^\"]+)\"")
# deadlines._delete_setting passes its action argument on to audit.record.
DELETE_SETTING = re.compile(
    r"_delete_setting\(\s*session,\s*user,\s*\w+,\s*\"([^\"]+)\""
)


def _things(text: str, helper: str) -> list[str]:
    return re.findall(helper + r"\(\s*session,\s*admin,\s*\"(\w+)\"", text)


def _recorded_actions() -> set[str]:
    """Return every action name passed to audit.record in the code base.

    A call whose action argument has a shape this scan does not expand fails
    the test, so that a new kind of call gets its labels checked too.
    """
    actions = set()
    for path in sorted(SOURCE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for argument in RECORD.findall(text):
            if argument.startswith('"'):
                actions.add(argument.strip('"'))
            elif argument.startswith('f"settings.{thing}.{verb}'):
                for thing in _things(text, "_save_row"):
                    actions |= {f"settings.{thing}.create", f"settings.{thing}.update"}
            elif argument.startswith("f\"settings.{thing}.{'activate'"):
                for thing in _things(text, "_set_active"):
                    actions |= {
                        f"settings.{thing}.activate",
                        f"settings.{thing}.deactivate",
                    }
            elif argument == "name":
                # Transition helpers: workflow.require accepts only these names.
                actions |= set(workflow.BY_NAME)
            elif argument == "action":
                for line in re.findall(r"^\s*action = (.+)$", text, re.M):
                    actions |= set(QUOTED.findall(line))
                actions |= set(DELETE_SETTING.findall(text))
            elif argument.isupper():
                # A module constant, such as accounts.FAILED_LOGIN_ACTION.
                [value] = re.findall(rf"^{argument} = \"([^\"]+)\"$", text, re.M)
                actions.add(value)
            else:
                raise AssertionError(f"unexpected action {argument} in {path}")
    return actions


def test_every_recorded_action_has_label():
    actions = _recorded_actions()
    assert {"login", "trial.prepare", "settings.user.create"} <= actions
    assert {"failed_login", "settings.holidays.delete"} <= actions
    assert "settings.deadline_rules.delete" in actions
    assert "hub_organisation_deactivated" in actions
    assert "settings.organisation.deactivate" in actions
    missing = sorted(a for a in actions if a not in audit_labels.ACTION_LABELS)
    assert missing == []


def test_unknown_action_and_field_get_vietnamese():
    assert action_label("settings.khac.update") == "Thay đổi cấu hình"
    assert action_label("khac") == "Thao tác khác"
    assert audit_labels.field_label("khac") == "Thông tin khác"
    assert audit_labels.value_label("direction", "outgoing") == "Văn bản đi"
    assert audit_labels.value_label(None, "drafting") == "Đang soạn thảo"
    assert audit_labels.value_label("roles", ["admin"]) == "Quản trị"


def test_page_shows_vietnamese_labels(app, session):
    ward = load_ward(session)
    details = {
        "settings.series.update": {
            "before": {"symbol_pattern": "{so}/{loai}", "direction": "outgoing"},
            "after": {"type_names": ["Công văn"], "working_days": 5},
        },
        "trial.prepare": {},
    }
    for day, (action, detail) in enumerate(details.items(), start=10):
        when = datetime(2026, 3, day, 3, 0, tzinfo=UTC)
        admin = ward.users["admin"]
        _event(session, action, admin, ward.organisation.id, when, **detail)
    session.commit()
    page = WebUser(app).login(ward_username("admin")).get("/admin/audit")
    html = page.get_data(as_text=True)
    rows = "".join(_rows(html))
    for label in (
        "Sửa sổ văn bản",
        "Chuẩn bị thử nghiệm",
        "Mẫu ký hiệu",
        "Văn bản đi",
        "Các loại văn bản",
        "Số ngày làm việc",
    ):
        assert label in rows
    for code in ("symbol_pattern", "working_days", "type_names", "outgoing"):
        assert code not in rows
    admin = ward.users["admin"]
    user_cell = f"{admin.full_name} ({admin.username})</td>"
    assert f'<td data-label="Người thực hiện">{user_cell}' in rows
    assert ">Chuẩn bị thử nghiệm</option>" in html
    assert ">trial.prepare</option>" not in html
