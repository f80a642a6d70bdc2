"""Audit page rows: hub organisations, deletions, dates, names and trials."""

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from tests.conftest import WebUser
from tests.roster import OTHER_WARD, find_user, load_ward, ward_username
from tests.scenario import fresh, org
from tests.statements import captured_statements
from vanban.models import AuditEvent, CalendarChange, DeadlineRule, HubOrganisation
from vanban.services import audit, audit_details, trial
from vanban.services.clock import local_today, now

CITY_ADMIN = "thanhpho.quantri"
TRAINER = "tttt.huongdan"


def _event(session, action, user, organisation_id=None, minute=0, **detail):
    """Add an audit row at a fixed time. A larger minute is listed higher."""
    row = audit.record(
        session, action, user=user, organisation_id=organisation_id, **detail
    )
    row.created_at = datetime(2026, 4, 1, 3, 0, tzinfo=UTC) + timedelta(minutes=minute)
    return row


def _rows(page: str) -> list[str]:
    body = page.split("<tbody>")[1].split("</tbody>")[0] if "<tbody>" in page else ""
    return body.split("<tr>")[1:]


def _cell(row: str, label: str) -> str:
    return row.split(f'<td data-label="{label}">')[1].split("</td>")[0]


def _page(web: WebUser, query: str) -> list[str]:
    response = web.get(f"/admin/audit?{query}")
    assert response.status_code == 200
    return _rows(response.get_data(as_text=True))


def _queries_on(statements: list[str], table: str) -> int:
    return sum(1 for statement in statements if f"FROM {table}" in statement)


# Hub organisations


def _add_hub_organisation(session, organ_id, name):
    session.add(
        HubOrganisation(
            organ_id=organ_id, name=name, token_hash="0" * 64, token_issued_at=now()
        )
    )


def test_hub_rows_name_organisation(app, session):
    admin = find_user(session, CITY_ADMIN)
    _add_hub_organisation(session, "000.07.01.H01", "UBND Phường Thử Trục")
    _add_hub_organisation(session, "000.07.02.H01", "UBND Phường Thử Trục Hai")
    for minute, (action, organ_id) in enumerate(
        [
            ("hub_organisation_added", "000.07.01.H01"),
            ("hub_token_issued", "000.07.02.H01"),
            ("hub_organisation_deactivated", "000.07.01.H01"),
            # A code no longer in the directory is still shown.
            ("hub_organisation_activated", "000.07.09.H01"),
        ]
    ):
        _event(session, action, admin, minute=minute, organ_id=organ_id)
    session.commit()

    web = WebUser(app).login(CITY_ADMIN)
    with captured_statements() as statements:
        rows = _page(web, "action=hub_")
    assert _queries_on(statements, "hub_organisations") == 1

    actions = [_cell(row, "Thao tác") for row in rows]
    assert len(actions) == 4
    assert "Mã định danh 000.07.09.H01" in actions[0]
    assert "UBND Phường Thử Trục (000.07.01.H01)" in actions[1]
    assert "UBND Phường Thử Trục Hai (000.07.02.H01)" in actions[2]
    assert "UBND Phường Thử Trục (000.07.01.H01)" in actions[3]
    assert actions[1].startswith("Ngừng kết nối đơn vị với trục liên thông<br>")


# Deletions of days off and deadline rules


def test_deletions_get_own_action_and_label(app, session, login_as):
    ward = load_ward(session)
    admin = login_as(ward_username("admin"))
    day = date(local_today().year, 12, 24)
    admin.post(
        "/deadlines/settings/calendar",
        {"day": day.isoformat(), "kind": "off", "note": "Nghỉ theo thông báo"},
    )
    admin.post(
        "/deadlines/settings/rules",
        {"type_name": "Kế hoạch", "urgency": "", "working_days": "15"},
    )
    fresh()
    change = session.scalar(select(CalendarChange))
    rule = session.scalar(
        select(DeadlineRule).where(
            DeadlineRule.organisation_id == ward.organisation.id,
            DeadlineRule.type_name == "Kế hoạch",
        )
    )
    response = admin.post(f"/deadlines/settings/calendar/{change.id}/delete")
    assert response.status_code == 303
    response = admin.post(f"/deadlines/settings/rules/{rule.id}/delete")
    assert response.status_code == 303
    fresh()
    actions = set(session.scalars(select(AuditEvent.action)))
    assert {"settings.holidays.delete", "settings.deadline_rules.delete"} <= actions

    holidays = _page(admin, "action=settings.holidays")
    assert [_cell(row, "Thao tác") for row in holidays] == [
        "Xóa ngày nghỉ, ngày làm bù",
        "Sửa ngày nghỉ, ngày làm bù",
    ]
    assert f"{day:%d/%m/%Y}" in _cell(holidays[0], "Trước")
    assert _cell(holidays[0], "Sau") == ""
    rules = _page(admin, "action=settings.deadline_rules")
    assert [_cell(row, "Thao tác") for row in rules] == [
        "Xóa quy tắc hạn xử lý",
        "Sửa quy tắc hạn xử lý",
    ]


def test_old_deletions_recorded_as_updates_labelled(app, session):
    ward = load_ward(session)
    admin = ward.users["admin"]
    organisation_id = ward.organisation.id
    rule = {"type_name": "", "urgency": None, "working_days": 10}
    day = {"day": "2026-12-24", "kind": "off", "note": ""}
    for minute, (action, before, after) in enumerate(
        [
            ("settings.holidays.update", None, day),
            ("settings.holidays.update", day, None),
            ("settings.deadline_rules.update", rule, None),
            ("settings.deadline_rules.update", rule, {**rule, "working_days": 5}),
        ]
    ):
        _event(
            session,
            action,
            admin,
            organisation_id,
            minute=minute,
            before=before,
            after=after,
        )
    session.commit()

    rows = _page(WebUser(app).login(ward_username("admin")), "action=settings.")
    assert [_cell(row, "Thao tác") for row in rows] == [
        "Sửa quy tắc hạn xử lý",
        "Xóa quy tắc hạn xử lý",
        "Xóa ngày nghỉ, ngày làm bù",
        "Sửa ngày nghỉ, ngày làm bù",
    ]


# Dates and times


def test_dates_shown_day_first_and_local(app, session):
    ward = load_ward(session)
    _event(
        session,
        "register.reopen",
        ward.users["admin"],
        ward.organisation.id,
        # 17:30 UTC on 31 December is 00:30 on 1 January in Hà Nội.
        before={"year": 2025, "closed": True, "closed_at": "2025-12-31T17:30:00+00:00"},
        after={"start": "2026-12-24", "note": "2026-02-30"},
    )
    session.commit()

    [row] = _page(WebUser(app).login(ward_username("admin")), "action=register.")
    before = _cell(row, "Trước")
    after = _cell(row, "Sau")
    assert "<dd>01/01/2026 00:30</dd>" in before
    assert "<dd>2025</dd>" in before
    assert "<dd>24/12/2026</dd>" in after
    # A text that only looks like a date stays as it was recorded.
    assert "<dd>2026-02-30</dd>" in after
    assert "2025-12-31" not in row
    assert "2026-12-24" not in row


# Names of departments and organisations


def test_department_and_parent_shown_by_name(app, session):
    ward = load_ward(session)
    other = load_ward(session, OTHER_WARD)
    city = org("UBND Thành phố")
    economy = ward.department(session, "KT")
    culture = ward.department(session, "VHXH")
    other_office = other.department(session, "VP")
    city_admin = find_user(session, CITY_ADMIN)
    _event(
        session,
        "settings.user.update",
        ward.users["admin"],
        ward.organisation.id,
        minute=1,
        before={"full_name": "Cán bộ", "department_id": economy.id},
        after={"full_name": "Cán bộ", "department_id": culture.id},
    )
    _event(
        session,
        "settings.user.create",
        other.users["admin"],
        other.organisation.id,
        minute=2,
        before=None,
        after={"department_id": other_office.id},
    )
    _event(
        session,
        "settings.organisation.update",
        city_admin,
        city_admin.organisation_id,
        minute=3,
        before={"parent_id": None},
        after={"parent_id": city.id},
    )
    # Ids without a row left are shown as ids.
    _event(
        session,
        "settings.organisation.update",
        city_admin,
        city_admin.organisation_id,
        minute=4,
        before={"parent_id": 999999, "department_id": 888888},
        after=None,
    )
    session.commit()

    web = WebUser(app).login(CITY_ADMIN)
    with captured_statements() as statements:
        rows = _page(web, "action=settings.")
    assert _queries_on(statements, "departments") == 1

    missing, parent, created, updated = rows
    assert "<dd>Đơn vị mã số 999999</dd>" in _cell(missing, "Trước")
    assert "<dd>Phòng ban mã số 888888</dd>" in _cell(missing, "Trước")
    assert "<dt>Trực thuộc</dt><dd>(trống)</dd>" in _cell(parent, "Trước")
    assert f"<dt>Trực thuộc</dt><dd>{city.name}</dd>" in _cell(parent, "Sau")
    assert f"<dt>Phòng ban</dt><dd>{other_office.name}</dd>" in _cell(created, "Sau")
    assert f"<dd>{economy.name}</dd>" in _cell(updated, "Trước")
    assert f"<dd>{culture.name}</dd>" in _cell(updated, "Sau")
    assert "mã số)" not in "".join(rows)


# Trial preparation and reset


def test_reset_rows_count_documents(app, session, login_as):
    ward = org("Ba Đình")
    trial.add_participant(session, find_user(session, TRAINER), ward)
    session.commit()
    trainer = login_as(TRAINER)
    for _ in range(2):
        response = trainer.post(
            f"/trial/wards/{ward.id}/reset", {"confirm_name": ward.name}
        )
        assert response.status_code == 303
    fresh()
    resets = list(
        session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "trial.reset")
            .order_by(AuditEvent.id)
        )
    )
    # The second reset finds nothing left to delete and is still recorded.
    assert len(resets) == 2
    deleted = len(resets[0].detail["deleted_document_ids"])
    assert deleted > 0
    assert resets[1].detail["deleted_document_ids"] == []

    rows = _page(login_as(CITY_ADMIN), "action=trial.reset")
    assert [_cell(row, "Thao tác") for row in rows] == [
        'Đặt lại dữ liệu thử nghiệm<br><small class="muted">'
        "Không có dữ liệu nào cần xóa</small>",
        'Đặt lại dữ liệu thử nghiệm<br><small class="muted">'
        f"Đã xóa {deleted} văn bản</small>",
    ]


def test_reset_row_counts_kept_documents(app, session):
    ward = org("Ba Đình")
    _event(
        session,
        "trial.reset",
        find_user(session, TRAINER),
        ward.id,
        deleted_document_ids=[11, 12, 13, 14, 15],
        kept_document_ids=[16, 17],
    )
    session.commit()
    [row] = _page(WebUser(app).login(CITY_ADMIN), "action=trial.reset")
    assert "Đã xóa 5 văn bản, giữ 2 văn bản đã phát hành chính thức" in _cell(
        row, "Thao tác"
    )


def test_prepare_rows_name_wards(app, session, login_as):
    ward = org("Ba Đình")
    other = org("Ngọc Hà")
    trainer = login_as(TRAINER)
    response = trainer.post("/trial/prepare", {"wards": [str(ward.id)]})
    assert response.status_code == 200
    fresh()
    event = session.scalar(
        select(AuditEvent).where(AuditEvent.action == "trial.prepare")
    )
    assert event.detail["wards"] == [{"name": ward.name, "code": ward.code}]
    # A row recorded before the names were added holds only the ids.
    _event(
        session,
        "trial.prepare",
        find_user(session, TRAINER),
        event.organisation_id,
        minute=-60,
        ward_ids=[other.id, 999999],
        created=["a", "b"],
        new_passwords=["c"],
    )
    session.commit()

    rows = _page(login_as(CITY_ADMIN), "action=trial.prepare")
    new, old = (_cell(row, "Thao tác") for row in rows)
    assert f"Phường, xã: {ward.name} ({ward.code})" in new
    assert f"Phường, xã: {other.name} ({other.code}), Đơn vị mã số 999999" in old
    assert "Tạo 2 tài khoản mới" in old
    assert "Cấp mật khẩu mới cho 1 tài khoản" in old


def test_rows_without_details_show_no_summary(app, session):
    ward = load_ward(session)
    event = _event(
        session,
        "settings.series.update",
        ward.users["admin"],
        ward.organisation.id,
        before={"name": "Sổ cũ"},
        after={"name": "Sổ mới"},
    )
    session.commit()
    text = audit_details.row_texts(session, [event])[event.id]
    assert text.summary == ()
    assert text.before == (("Tên", "Sổ cũ"),)
    assert text.after == (("Tên", "Sổ mới"),)
    assert (
        text.actor
        == f"{ward.users['admin'].full_name} ({ward.users['admin'].username})"
    )
