"""Deadlines: default rules, overrides, highlighting, dashboard, settings and slip."""

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from vanban.models import Assignment, AuditEvent, Document, Instruction
from vanban.models.calendar import CalendarChange, DeadlineRule
from vanban.services import deadlines, incoming
from vanban.services.calendar import WorkCalendar
from vanban.services.clock import local_today

from ..roster import (
    OTHER_WARD,
    WARD_ROLES,
    document_in_state,
    find_user,
    load_ward,
    ward_username,
)
from ..scenario import fresh


@pytest.fixture
def ward(session):
    return load_ward(session)


def add_document(ward, session, state="with_officer", **fields) -> Document:
    document = document_in_state(ward, session, "incoming", state, **fields)
    session.add(document)
    session.commit()
    return document


def calendar_of(session, ward) -> WorkCalendar:
    return WorkCalendar.load(session, ward.organisation.id)


def audit_rows(session, action: str) -> list[AuditEvent]:
    fresh()
    return list(
        session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == action)
            .order_by(AuditEvent.id)
        )
    )


# completed_at


def test_finish_sets_completed_at(session, ward):
    document = add_document(ward, session, "in_progress")
    before = datetime.now(UTC)
    incoming.finish(session, ward.users["officer"], document, "Đã xử lý xong.")
    session.commit()
    assert document.state == "done"
    assert document.completed_at is not None
    assert document.completed_at >= before


# Default rules and the leader's override


def instruct(leader, document, lead, deadline=""):
    return leader.post(
        f"/annotation/{document.id}/instruct",
        {"text": "Giao Phòng Kinh tế chủ trì.", "lead": lead, "deadline": deadline},
    )


def test_demo_seed_has_rules(session, ward):
    rules = deadlines.rules(session, ward.organisation.id)
    assert len(rules) == len(deadlines.DEFAULT_RULES)
    general = [r for r in rules if r.type_name == "" and r.urgency is None]
    assert general[0].working_days == 10


def test_instruct_fills_default_deadline(session, ward, login_as):
    document = add_document(ward, session, "with_leader", holder_id=None)
    economy = ward.department(session, "KT")
    leader = login_as(ward_username("leader"))

    page = leader.get(f"/documents/{document.id}").get_data(as_text=True)
    expected = calendar_of(session, ward).add_working_days(local_today(), 10)
    assert f'value="{expected.isoformat()}"' in page

    response = instruct(leader, document, f"d{economy.id}")
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    fresh()
    document = session.get(Document, document.id)
    assert document.due_date == expected
    lead = session.scalar(
        select(Assignment).where(
            Assignment.document_id == document.id, Assignment.role == "lead"
        )
    )
    assert lead.deadline == expected


def test_type_rule_beats_urgency_rule(session, ward):
    document = document_in_state(
        ward, session, "incoming", "with_leader", type_name="Giấy mời", urgency=1
    )
    rule = deadlines.rule_for(session, document)
    assert rule.type_name == "Giấy mời"
    assert rule.working_days == 2
    urgent = document_in_state(ward, session, "incoming", "with_leader", urgency=3)
    assert deadlines.rule_for(session, urgent).working_days == 1
    start = local_today()
    expected = calendar_of(session, ward).add_working_days(start, 2)
    assert deadlines.default_deadline(session, document, start) == expected


def test_leader_overrides_default(session, ward, login_as):
    document = add_document(ward, session, "with_leader", holder_id=None)
    economy = ward.department(session, "KT")
    chosen = local_today() + timedelta(days=40)
    leader = login_as(ward_username("leader"))
    response = instruct(leader, document, f"d{economy.id}", chosen.isoformat())
    assert response.status_code == 303
    fresh()
    assert session.get(Document, document.id).due_date == chosen


def test_no_rule_no_default(session, ward, login_as):
    for rule in deadlines.rules(session, ward.organisation.id):
        session.delete(rule)
    document = add_document(ward, session, "with_leader", holder_id=None)
    economy = ward.department(session, "KT")
    response = instruct(login_as(ward_username("leader")), document, f"d{economy.id}")
    assert response.status_code == 303
    fresh()
    assert session.get(Document, document.id).due_date is None


def test_assign_keeps_leader_deadline(session, ward, login_as):
    due = local_today() + timedelta(days=20)
    document = add_document(ward, session, "with_head", holder_id=None, due_date=due)
    head = login_as(ward_username("head"))
    page = head.get(f"/documents/{document.id}").get_data(as_text=True)
    assert f'value="{due.isoformat()}"' in page
    response = head.post(
        f"/annotation/{document.id}/assign",
        {"officer": str(ward.users["officer"].id), "text": "", "deadline": ""},
    )
    assert response.status_code == 303
    fresh()
    assignment = session.scalar(
        select(Assignment).where(
            Assignment.document_id == document.id,
            Assignment.user_id == ward.users["officer"].id,
        )
    )
    assert assignment.deadline == due


# Highlighting in lists and on the document page


def row_of(html: str, subject: str) -> str:
    for row in re.findall(r"<tr class=\"[^\"]*\">.*?</tr>", html, re.S):
        if subject in row:
            return row
    raise AssertionError(f"no row for {subject}")


def test_list_flags_use_working_days(session, ward, login_as):
    today = local_today()
    calendar = calendar_of(session, ward)
    soon_limit = calendar.add_working_days(today, 2)
    cases = {
        "Văn bản quá hạn thử": (today - timedelta(days=1), "row-overdue"),
        "Văn bản đến hạn hôm nay thử": (today, "row-soon"),
        "Văn bản hạn sau hai ngày làm việc thử": (soon_limit, "row-soon"),
        "Văn bản còn hạn thử": (soon_limit + timedelta(days=1), None),
    }
    for subject, (due, _) in cases.items():
        add_document(ward, session, subject=subject, due_date=due)
    add_document(
        ward,
        session,
        "done",
        subject="Văn bản đã xong thử",
        due_date=today - timedelta(days=3),
    )

    html = login_as(ward_username("leader")).get("/inbox/").get_data(as_text=True)
    for subject, (_, css_class) in cases.items():
        row = row_of(html, subject)
        if css_class:
            assert css_class in row, subject
        else:
            assert "row-overdue" not in row, subject
            assert "row-soon" not in row, subject
    done_row = row_of(html, "Văn bản đã xong thử")
    assert "row-overdue" not in done_row


def test_soon_filter_uses_working_days(session, ward, login_as):
    today = local_today()
    soon_limit = calendar_of(session, ward).add_working_days(today, 2)
    add_document(
        ward, session, subject="Hạn cuối khoảng báo trước", due_date=soon_limit
    )
    add_document(
        ward,
        session,
        subject="Hạn sau khoảng báo trước",
        due_date=soon_limit + timedelta(days=1),
    )
    html = (
        login_as(ward_username("leader"))
        .get("/inbox/", query_string={"due": "soon"}, htmx=True)
        .get_data(as_text=True)
    )
    assert "Hạn cuối khoảng báo trước" in html
    assert "Hạn sau khoảng báo trước" not in html


def test_document_page_flags_overdue(session, ward, login_as):
    overdue = add_document(ward, session, due_date=local_today() - timedelta(days=2))
    later = add_document(ward, session, due_date=local_today() + timedelta(days=60))
    officer = login_as(ward_username("officer"))
    html = officer.get(f"/documents/{overdue.id}").get_data(as_text=True)
    assert 'class="due-overdue"' in html
    assert "Quá hạn" in html
    html = officer.get(f"/documents/{later.id}").get_data(as_text=True)
    assert "due-overdue" not in html
    assert "due-soon" not in html


def test_holiday_change_moves_soon_flag(session, ward):
    today = local_today()
    calendar = calendar_of(session, ward)
    first = calendar.add_working_days(today, 1)
    third = calendar.add_working_days(today, 3)
    document = add_document(ward, session, due_date=third)
    assert deadlines.flag(document, 2) == ""
    admin = ward.users["admin"]
    deadlines.save_calendar_change(
        session, admin, ward.organisation.id, first, "off", "Nghỉ thêm"
    )
    session.commit()
    # One working day fewer before the deadline, so it is now due soon.
    assert deadlines.flag(document, 2) == "soon"


# Settings


def test_admin_adds_day_off_with_audit(session, ward, login_as):
    admin = login_as(ward_username("admin"))
    day = date(local_today().year, 12, 31)
    response = admin.post(
        "/deadlines/settings/calendar",
        {"day": day.isoformat(), "kind": "off", "note": "Nghỉ theo thông báo"},
    )
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    rows = audit_rows(session, "settings.holidays.update")
    assert len(rows) == 1
    assert rows[0].detail["before"] is None
    assert rows[0].detail["after"] == {
        "day": day.isoformat(),
        "kind": "off",
        "note": "Nghỉ theo thông báo",
    }
    assert rows[0].organisation_id == ward.organisation.id

    page = admin.get(f"/deadlines/settings?year={day.year}").get_data(as_text=True)
    assert "Nghỉ theo thông báo" in page

    change = session.scalar(select(CalendarChange))
    response = admin.post(f"/deadlines/settings/calendar/{change.id}/delete")
    assert response.status_code == 303
    assert len(audit_rows(session, "settings.holidays.update")) == 1
    rows = audit_rows(session, "settings.holidays.delete")
    assert len(rows) == 1
    assert rows[0].detail["after"] is None
    assert rows[0].detail["before"]["kind"] == "off"
    assert session.scalar(select(CalendarChange)) is None


def test_swapped_working_day_replaces_change(session, ward, login_as):
    admin = login_as(ward_username("admin"))
    saturday = local_today() + timedelta(days=(5 - local_today().weekday()) % 7 or 7)
    for kind in ("off", "work"):
        response = admin.post(
            "/deadlines/settings/calendar",
            {"day": saturday.isoformat(), "kind": kind, "note": "Làm bù"},
        )
        assert response.status_code == 303
    fresh()
    changes = list(session.scalars(select(CalendarChange)))
    assert [(c.day, c.kind) for c in changes] == [(saturday, "work")]
    assert calendar_of(session, ward).is_working_day(saturday)
    rows = audit_rows(session, "settings.holidays.update")
    assert rows[-1].detail["before"]["kind"] == "off"
    assert rows[-1].detail["after"]["kind"] == "work"


def test_invalid_change_keeps_input(session, ward, login_as):
    admin = login_as(ward_username("admin"))
    response = admin.post(
        "/deadlines/settings/calendar",
        {"day": "2026-02-30", "kind": "off", "note": "Ghi chú đã nhập"},
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Ngày không hợp lệ" in html
    assert "Ghi chú đã nhập" in html
    response = admin.post(
        "/deadlines/settings/calendar",
        {"day": "2026-03-02", "kind": "holiday", "note": ""},
    )
    assert response.status_code == 422
    assert audit_rows(session, "settings.holidays.update") == []


def test_far_year_rejected(session, ward, login_as):
    admin = login_as(ward_username("admin"))
    response = admin.post(
        "/deadlines/settings/calendar",
        {"day": "1990-01-02", "kind": "off", "note": ""},
    )
    assert response.status_code == 422
    assert "Chỉ sửa được lịch" in response.get_data(as_text=True)


def test_admin_saves_rule_with_audit(session, ward, login_as):
    admin = login_as(ward_username("admin"))
    response = admin.post(
        "/deadlines/settings/rules",
        {"type_name": "Kế hoạch", "urgency": "", "working_days": "15"},
    )
    assert response.status_code == 303
    response = admin.post(
        "/deadlines/settings/rules",
        {"type_name": "Kế hoạch", "urgency": "", "working_days": "12"},
    )
    assert response.status_code == 303
    fresh()
    plans = session.scalars(
        select(DeadlineRule).where(
            DeadlineRule.organisation_id == ward.organisation.id,
            DeadlineRule.type_name == "Kế hoạch",
        )
    ).all()
    assert [(r.urgency, r.working_days) for r in plans] == [(None, 12)]
    rows = audit_rows(session, "settings.deadline_rules.update")
    assert rows[0].detail["before"] is None
    assert rows[1].detail["before"]["working_days"] == 15
    assert rows[1].detail["after"]["working_days"] == 12

    response = admin.post(f"/deadlines/settings/rules/{plans[0].id}/delete")
    assert response.status_code == 303
    assert len(audit_rows(session, "settings.deadline_rules.update")) == 2
    rows = audit_rows(session, "settings.deadline_rules.delete")
    assert len(rows) == 1
    assert rows[0].detail["before"]["working_days"] == 12
    assert rows[0].detail["after"] is None


@pytest.mark.parametrize(
    "data",
    [
        {"type_name": "", "urgency": "", "working_days": "0"},
        {"type_name": "", "urgency": "", "working_days": "abc"},
        {"type_name": "Không có loại này", "urgency": "", "working_days": "3"},
        {"type_name": "", "urgency": "9", "working_days": "3"},
    ],
)
def test_invalid_rule_rejected(session, ward, login_as, data):
    admin = login_as(ward_username("admin"))
    response = admin.post("/deadlines/settings/rules", data)
    assert response.status_code == 422
    assert audit_rows(session, "settings.deadline_rules.update") == []


def test_other_organisation_rule_not_found(session, login_as):
    other = load_ward(session, OTHER_WARD)
    rule = deadlines.rules(session, other.organisation.id)[0]
    admin = login_as(ward_username("admin"))
    response = admin.post(f"/deadlines/settings/rules/{rule.id}/delete")
    assert response.status_code == 404
    fresh()
    assert session.get(DeadlineRule, rule.id) is not None


# Dashboard


def completed(due, days_after):
    return datetime.combine(due + timedelta(days=days_after), datetime.min.time(), UTC)


def test_dashboard_counts(session, ward, login_as):
    today = local_today()
    economy = ward.department(session, "KT")
    culture = ward.department(session, "VHXH")
    officer = ward.users["officer"]
    past = today - timedelta(days=10)
    leader = login_as(ward_username("leader"))
    # The seeded trial guide may carry a deadline too, so totals are compared.
    before = totals_of(leader.get("/deadlines/").get_data(as_text=True))
    fresh()
    add_document(ward, session, due_date=today + timedelta(days=60))
    add_document(ward, session, due_date=today - timedelta(days=1))
    add_document(ward, session, due_date=today - timedelta(days=2))
    for days_after in (-1, 2):
        done = add_document(
            ward,
            session,
            "done",
            holder_id=None,
            due_date=past,
            completed_at=completed(past, days_after),
        )
        session.add(
            Assignment(
                document_id=done.id,
                role="lead",
                user_id=officer.id,
                assigned_by_id=ward.users["head"].id,
            )
        )
    add_document(
        ward,
        session,
        "with_head",
        holder_id=None,
        department_id=culture.id,
        due_date=today - timedelta(days=1),
    )
    other = load_ward(session, OTHER_WARD)
    session.add(
        document_in_state(other, session, "incoming", "with_officer", due_date=past)
    )
    session.commit()

    html = leader.get("/deadlines/").get_data(as_text=True)
    totals = totals_of(html)
    assert totals["Quá hạn"] - before["Quá hạn"] == 3
    assert totals["Còn hạn"] - before["Còn hạn"] == 1
    assert totals["Hoàn thành đúng hạn"] - before["Hoàn thành đúng hạn"] == 1
    assert totals["Hoàn thành trễ hạn"] - before["Hoàn thành trễ hạn"] == 1
    assert tally_row(html, economy.name) == ["1", "0", "2", "1", "1"]
    assert tally_row(html, culture.name) == ["0", "0", "1", "0", "0"]
    assert tally_row(html, officer.full_name) == ["1", "0", "2", "1", "1"]

    head = login_as(ward_username("head"))
    head_html = head.get("/deadlines/").get_data(as_text=True)
    assert tally_row(head_html, economy.name) == ["1", "0", "2", "1", "1"]
    assert culture.name not in head_html


def totals_of(html: str) -> dict[str, int]:
    totals_html = html.split('id="deadline-totals"')[1].split("</dl>")[0]
    pairs = re.findall(r"<dt>([^<]+)</dt><dd>(\d+)</dd>", totals_html)
    return {name: int(count) for name, count in pairs}


def tally_row(html: str, name: str) -> list[str]:
    match = re.search(
        rf"<td data-label=\"[^\"]+\">{re.escape(name)}</td>(.*?)</tr>", html, re.S
    )
    assert match, name
    return re.findall(r">(\d+)</td>", match.group(1))


# Processing slip


def test_slip_shows_handling(session, ward, login_as):
    document = add_document(
        ward,
        session,
        "with_officer",
        register_number=42,
        number="15",
        notation="UBND-VP",
        organ_name="UBND Thành phố",
        due_date=local_today() + timedelta(days=5),
    )
    leader, head = ward.users["leader"], ward.users["head"]
    session.add_all(
        [
            Instruction(
                document_id=document.id,
                author_id=ward.users["advisor"].id,
                kind="proposal",
                text="Đề xuất giao Phòng Kinh tế.",
            ),
            Instruction(
                document_id=document.id,
                author_id=leader.id,
                kind="instruction",
                text="Phòng Kinh tế chủ trì, báo cáo trước hạn.",
            ),
            Instruction(
                document_id=document.id,
                author_id=head.id,
                kind="head_instruction",
                text="Chuyên viên xử lý ngay.",
            ),
            Assignment(
                document_id=document.id,
                role="lead",
                department_id=ward.department(session, "KT").id,
                deadline=document.due_date,
                assigned_by_id=leader.id,
            ),
            Assignment(
                document_id=document.id,
                role="support",
                department_id=ward.department(session, "VHXH").id,
                deadline=document.due_date,
                assigned_by_id=leader.id,
            ),
            Assignment(
                document_id=document.id,
                role="lead",
                user_id=ward.users["officer"].id,
                deadline=document.due_date - timedelta(days=1),
                assigned_by_id=head.id,
            ),
        ]
    )
    session.commit()

    response = login_as(ward_username("officer")).get(f"/deadlines/{document.id}/slip")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "PHIẾU GIẢI QUYẾT VĂN BẢN ĐẾN" in html
    assert "15/UBND-VP" in html
    assert "42" in html
    assert "Đề xuất giao Phòng Kinh tế." in html
    part1 = html.split('id="slip-part-1"')[1].split('id="slip-part-2"')[0]
    part2 = html.split('id="slip-part-2"')[1].split('id="slip-part-3"')[0]
    assert "Phòng Kinh tế chủ trì, báo cáo trước hạn." in part1
    assert "Phối hợp" in part1
    assert document.due_date.strftime("%d/%m/%Y") in part1
    assert ward.users["officer"].full_name in part2
    assert (document.due_date - timedelta(days=1)).strftime("%d/%m/%Y") in part2
    assert "Chuyên viên xử lý ngay." in part2
    assert html.count("(Ký, ghi rõ họ tên)") == 3


def test_slip_only_for_incoming(session, ward, login_as):
    outgoing = document_in_state(ward, session, "outgoing", "drafting")
    session.add(outgoing)
    session.commit()
    response = login_as(ward_username("leader")).get(f"/deadlines/{outgoing.id}/slip")
    assert response.status_code == 404


def test_document_page_links_slip(session, ward, login_as):
    document = add_document(ward, session)
    html = login_as(ward_username("officer")).get(f"/documents/{document.id}")
    assert f"/deadlines/{document.id}/slip" in html.get_data(as_text=True)


# Role × page


PAGE_ACCESS = {
    # page -> roles answered with 200; every other ward role gets 403.
    "dashboard": {"leader", "head"},
    "settings": {"admin"},
    # Everyone who may read the document: the admin role reads no documents.
    "slip": set(WARD_ROLES) - {"admin"},
}


@pytest.mark.parametrize("role", WARD_ROLES)
def test_pages_by_role(session, ward, login_as, role):
    document = add_document(ward, session)
    urls = {
        "dashboard": "/deadlines/",
        "settings": "/deadlines/settings",
        "slip": f"/deadlines/{document.id}/slip",
    }
    user = login_as(ward_username(role))
    for page, url in urls.items():
        expected = 200 if role in PAGE_ACCESS[page] else 403
        assert user.get(url).status_code == expected, page
    menu = user.get("/").get_data(as_text=True)
    assert ('href="/deadlines/"' in menu) == (role in PAGE_ACCESS["dashboard"])
    assert ('href="/deadlines/settings"' in menu) == (role in PAGE_ACCESS["settings"])


@pytest.mark.parametrize("role", WARD_ROLES)
def test_settings_posts_by_role(session, ward, login_as, role):
    user = login_as(ward_username(role))
    response = user.post(
        "/deadlines/settings/calendar",
        {"day": local_today().isoformat(), "kind": "off", "note": ""},
    )
    assert response.status_code == (303 if role == "admin" else 403)


@pytest.mark.parametrize("role", WARD_ROLES)
def test_other_ward_cannot_read_slip(session, ward, login_as, role):
    document = add_document(ward, session)
    user = login_as(ward_username(role, OTHER_WARD))
    assert user.get(f"/deadlines/{document.id}/slip").status_code == 403


def test_anonymous_redirected(client):
    for url in ("/deadlines/", "/deadlines/settings", "/deadlines/1/slip"):
        response = client.get(url)
        assert response.status_code in (302, 303, 401), url


def test_csrf_required(session, ward, login_as):
    admin = login_as(ward_username("admin"))
    response = admin.post(
        "/deadlines/settings/rules",
        {"type_name": "", "urgency": "", "working_days": "3"},
        csrf=False,
    )
    assert response.status_code in (400, 403)
    assert find_user(session, ward_username("admin")) is not None
