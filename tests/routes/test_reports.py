"""Handling reports: the numbers, the department filter, XLSX, roles and bad dates."""

import io
from datetime import UTC, date, datetime, timedelta

import openpyxl
import pytest
from sqlalchemy import select

from tests.roster import (
    HANDLING_DEPARTMENT,
    document_in_state,
    load_ward,
    ward_username,
)
from tests.scenario import fresh
from vanban.models import Department, Notification
from vanban.services import reports
from vanban.services.clock import local_today

# A period in the past, before any demo document, so every count is ours.
START, END = date(2025, 3, 1), date(2025, 3, 31)
PERIOD = {"start": "2025-03-01", "end": "2025-03-31"}


def _at(day: int, month: int = 3, hour: int = 3) -> datetime:
    """Return a UTC instant in 2025. Hour 3 UTC is 10:00 in Hà Nội."""
    return datetime(2025, month, day, hour, 0, tzinfo=UTC)


@pytest.fixture
def ward(session):
    return load_ward(session)


@pytest.fixture
def documents(session, ward):
    """Add incoming and outgoing documents with known dates to Ba Đình."""
    economy = ward.department(session, HANDLING_DEPARTMENT)
    culture = ward.department(session, "VHXH")
    incoming_cases = [
        # (department, state, received, due, completed)
        (economy, "done", _at(3), date(2025, 3, 10), _at(9)),  # on time
        (economy, "done", _at(4), date(2025, 3, 10), _at(10, hour=16)),  # on time
        (economy, "done", _at(5), date(2025, 3, 10), _at(12)),  # late
        (economy, "in_progress", _at(6), date(2025, 3, 20), None),  # overdue
        (economy, "in_progress", _at(7), date(2025, 4, 15), None),  # in progress
        (economy, "with_officer", _at(8), None, None),  # in progress
        # Done after the period ended and past its due date: overdue on 31/03.
        (economy, "done", _at(9), date(2025, 3, 25), _at(2, month=4)),
        (culture, "done", _at(10), None, _at(11)),  # on time
        (culture, "with_head", _at(11), date(2025, 3, 30), None),  # overdue
        (None, "returned", _at(12), None, None),  # returned
        (None, "arrived", _at(31, hour=16), None, None),  # 23:00 local, in period
        # Outside the period: midnight local time on 1 April, and February.
        (economy, "done", _at(31, hour=17, month=3), None, _at(2, month=4)),
        (economy, "done", _at(20, month=2), None, _at(21, month=2)),
    ]
    for department, state, received, due, completed in incoming_cases:
        session.add(
            document_in_state(
                ward,
                session,
                "incoming",
                state,
                department_id=department.id if department else None,
                received_at=received,
                created_at=received,
                due_date=due,
                completed_at=completed,
            )
        )
    outgoing_cases = [
        (economy, "issued", _at(3), date(2025, 3, 15), _at(14)),  # on time
        (economy, "issued", _at(4), date(2025, 3, 15), _at(20)),  # late
        (economy, "drafting", _at(5), None, None),  # in progress
        (culture, "head_review", _at(6), date(2025, 3, 8), None),  # overdue
    ]
    for department, state, created, due, completed in outgoing_cases:
        session.add(
            document_in_state(
                ward,
                session,
                "outgoing",
                state,
                department_id=department.id,
                created_at=created,
                due_date=due,
                completed_at=completed,
            )
        )
    # Another ward's document in the same period is never counted.
    other = load_ward(session, "ngocha")
    session.add(
        document_in_state(
            other, session, "incoming", "done", received_at=_at(3), completed_at=_at(4)
        )
    )
    session.commit()
    return {"economy": economy, "culture": culture}


def _counts(counts: reports.Counts) -> dict[str, int]:
    return {
        "total": counts.total,
        "on_time": counts.on_time,
        "late": counts.late,
        "in_progress": counts.in_progress,
        "overdue": counts.overdue,
        "returned": counts.returned,
    }


# Numbers


def test_incoming_numbers(session, ward, documents):
    report = reports.build_report(
        session, ward.users["leader"], "incoming", START, END, None
    )

    assert report.as_of == END
    assert _counts(report.totals) == {
        "total": 11,
        "on_time": 3,
        "late": 1,
        "in_progress": 3,
        "overdue": 3,
        "returned": 1,
    }
    by_label = {row.label: _counts(row.counts) for row in report.rows}
    assert by_label[documents["economy"].name]["total"] == 7
    assert by_label[documents["economy"].name]["overdue"] == 2
    assert by_label[documents["culture"].name]["on_time"] == 1
    assert by_label["Chưa giao phòng ban"]["returned"] == 1


def test_incoming_department_filter(session, ward, documents):
    economy = documents["economy"]

    report = reports.build_report(
        session, ward.users["leader"], "incoming", START, END, economy.id
    )

    assert report.department.id == economy.id
    assert report.rows == []
    assert _counts(report.totals) == {
        "total": 7,
        "on_time": 2,
        "late": 1,
        "in_progress": 2,
        "overdue": 2,
        "returned": 0,
    }


def test_outgoing_numbers(session, ward, documents):
    report = reports.build_report(
        session, ward.users["advisor"], "outgoing", START, END, None
    )

    assert _counts(report.totals) == {
        "total": 4,
        "on_time": 1,
        "late": 1,
        "in_progress": 1,
        "overdue": 1,
        "returned": 0,
    }


def test_as_of_today_for_running_period(session, ward):
    today = local_today()
    start, end = today.replace(day=1), today + timedelta(days=10)

    report = reports.build_report(
        session, ward.users["leader"], "incoming", start, end, None
    )

    assert report.as_of == today


@pytest.mark.parametrize(
    ("state", "due", "completed", "expected"),
    [
        ("done", date(2025, 3, 10), _at(10), "on_time"),
        ("done", date(2025, 3, 10), _at(11), "late"),
        ("done", None, _at(11), "on_time"),
        ("done", date(2025, 3, 10), _at(2, month=4), "overdue"),
        ("done", date(2025, 4, 10), _at(2, month=4), "in_progress"),
        ("with_officer", date(2025, 3, 31), None, "in_progress"),
        ("with_officer", date(2025, 3, 30), None, "overdue"),
        ("returned", date(2025, 3, 1), None, "returned"),
    ],
)
def test_classify(state, due, completed, expected):
    assert reports.classify(state, due, completed, END) == expected


def test_classify_uses_local_day():
    # 23:30 on 10 March in Hà Nội is still 10 March there, 16:30 UTC.
    completed = datetime(2025, 3, 10, 16, 30, tzinfo=UTC)

    assert reports.classify("done", date(2025, 3, 10), completed, END) == "on_time"


# Pages


def test_report_page_shows_numbers_and_chart(documents, login_as):
    web = login_as("badinh.chutich")

    response = web.get("/reports/incoming", query_string=PERIOD)

    assert response.status_code == 200
    html = response.text
    assert "Báo cáo tình hình giải quyết văn bản đến" in html
    assert '<td data-label="Văn bản đến" id="total-total"><strong>11</strong>' in html
    assert 'id="total-overdue"><strong>3</strong>' in html
    assert "<svg" in html
    assert html.count("<rect") == 5
    assert "<script" not in html.split('<main class="container">')[1]
    assert 'value="2025-03-01"' in html


def test_report_fragment_for_htmx(documents, login_as):
    web = login_as("badinh.chutich")

    response = web.get("/reports/outgoing", query_string=PERIOD, htmx=True)

    assert response.status_code == 200
    assert 'id="report"' in response.text
    assert "<html" not in response.text
    assert 'id="total-total"><strong>4</strong>' in response.text


def test_report_defaults_to_this_month(login_as):
    web = login_as("badinh.chutich")

    response = web.get("/reports/incoming")

    assert response.status_code == 200
    first_day = local_today().replace(day=1).isoformat()
    assert f'value="{first_day}"' in response.text


def test_department_filter_on_page(documents, login_as):
    web = login_as("badinh.chutich")
    economy = documents["economy"]

    response = web.get(
        "/reports/incoming", query_string={**PERIOD, "department": economy.id}
    )

    assert 'id="total-total"><strong>7</strong>' in response.text


def test_head_sees_own_department(documents, login_as):
    web = login_as("badinh.truongphong")

    response = web.get("/reports/incoming", query_string=PERIOD)

    assert response.status_code == 200
    assert 'id="total-total"><strong>7</strong>' in response.text
    assert "Tất cả phòng ban" not in response.text


def test_head_cannot_see_other_department(documents, login_as):
    web = login_as("badinh.truongphong")
    culture = documents["culture"]

    response = web.get(
        "/reports/incoming", query_string={**PERIOD, "department": culture.id}
    )

    assert response.status_code == 403


def test_leader_cannot_see_other_ward_department(session, login_as):
    other = load_ward(session, "ngocha").department(session, HANDLING_DEPARTMENT)
    web = login_as("badinh.chutich")

    response = web.get(
        "/reports/incoming", query_string={**PERIOD, "department": other.id}
    )

    assert response.status_code == 403


ALLOWED_ROLES = {"leader", "advisor", "head"}
REPORT_URLS = ("/reports/incoming", "/reports/outgoing", "/reports/incoming/export")


@pytest.mark.parametrize(
    "role",
    ["clerk", "advisor", "leader", "head", "officer", "format_reviewer", "admin"],
)
def test_report_permissions_by_role(login_as, role):
    web = login_as(ward_username(role))
    expected = 200 if role in ALLOWED_ROLES else 403

    for url in REPORT_URLS:
        response = web.get(url, query_string=PERIOD)
        assert response.status_code == expected, url


@pytest.mark.parametrize("username", ["thanhpho.vanthu", "tttt.huongdan"])
def test_city_users_cannot_see_reports(login_as, username):
    web = login_as(username)

    assert web.get("/reports/incoming").status_code == 403


def test_reports_need_login(client):
    response = client.get("/reports/incoming")

    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_unknown_report_kind(login_as):
    web = login_as("badinh.chutich")

    assert web.get("/reports/everything").status_code == 404


def test_menu_link_by_role(login_as):
    assert "/reports/incoming" in login_as("badinh.chutich").get("/").text
    assert "/reports/incoming" not in login_as("badinh.vanthu").get("/").text


# Bad input


BAD_INPUT = [
    ({"start": "31/02/2025", "end": "2025-03-31"}, "“Từ ngày” không hợp lệ"),
    ({"start": "2025-03-01", "end": "hôm qua"}, "“Đến ngày” không hợp lệ"),
    ({"start": "", "end": "2025-03-31"}, "Vui lòng nhập “Từ ngày”"),
    ({"start": "2025-03-31", "end": "2025-03-01"}, "phải bằng hoặc sau"),
    ({"start": "1900-01-01", "end": "2025-03-01"}, "Kỳ báo cáo dài tối đa"),
    ({**PERIOD, "department": "abc"}, "Phòng ban không hợp lệ"),
    ({"start": "2025-03-01" * 5, "end": "2025-03-31"}, "“Từ ngày” không hợp lệ"),
]


def test_bad_input_keeps_form(login_as):
    web = login_as("badinh.chutich")

    for query, message in BAD_INPUT:
        response = web.get("/reports/incoming", query_string=query)
        assert response.status_code == 400, query
        assert message in response.text, query
        assert f'value="{query["end"]}"' in response.text, query
        assert "<svg" not in response.text, query


def test_bad_dates_htmx_fragment(login_as):
    web = login_as("badinh.chutich")

    response = web.get(
        "/reports/incoming",
        query_string={"start": "32/01/2025", "end": "2025-03-31"},
        htmx=True,
    )

    assert response.status_code == 400
    assert 'value="32/01/2025"' in response.text
    assert "<html" not in response.text


def test_export_bad_dates_shows_form(login_as):
    web = login_as("badinh.chutich")

    response = web.get(
        "/reports/outgoing/export", query_string={"start": "x", "end": "y"}
    )

    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert "“Từ ngày” không hợp lệ" in response.text


# XLSX


def _workbook(response):
    assert response.status_code == 200
    assert response.mimetype == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert "attachment" in response.headers["Content-Disposition"]
    return openpyxl.load_workbook(io.BytesIO(response.data))


def _rows_by_label(sheet) -> dict[str, list]:
    return {
        row[0]: list(row[1:])
        for row in sheet.iter_rows(min_row=9, values_only=True)
        if row[0]
    }


def test_xlsx_read_back(documents, login_as):
    web = login_as("badinh.chutich")

    workbook = _workbook(web.get("/reports/incoming/export", query_string=PERIOD))

    sheet = workbook.active
    assert sheet["A2"].value == "Báo cáo tình hình giải quyết văn bản đến"
    assert sheet["B3"].value == datetime(2025, 3, 1)
    assert sheet["B3"].is_date
    assert sheet["B4"].value == datetime(2025, 3, 31)
    headings = [cell.value for cell in sheet[8]]
    assert headings[:3] == ["Phòng ban", "Văn bản đến", "Đã giải quyết đúng hạn"]
    rows = _rows_by_label(sheet)
    assert rows["Tổng cộng"] == [11, 3, 1, 3, 3, 1]
    assert rows[documents["economy"].name][0] == 7


def test_xlsx_department_and_outgoing(documents, login_as):
    web = login_as("badinh.chutich")
    culture = documents["culture"]

    workbook = _workbook(
        web.get(
            "/reports/outgoing/export",
            query_string={**PERIOD, "department": culture.id},
        )
    )

    sheet = workbook.active
    assert sheet["B6"].value == culture.name
    assert _rows_by_label(sheet)["Tổng cộng"] == [1, 0, 0, 0, 1]


def test_xlsx_text_never_formula(session, ward, login_as):
    session.add(
        Department(
            organisation_id=ward.organisation.id,
            name='=HYPERLINK("http://example.invalid","x")',
            abbreviation="XX",
        )
    )
    session.commit()
    web = login_as("badinh.chutich")

    workbook = _workbook(web.get("/reports/incoming/export", query_string=PERIOD))

    cells = [
        cell
        for row in workbook.active.iter_rows()
        for cell in row
        if isinstance(cell.value, str) and cell.value.startswith("=")
    ]
    assert len(cells) == 1
    assert cells[0].data_type == "s"
    assert cells[0].quotePrefix


def test_reports_create_no_notifications(session, documents, login_as):
    before = session.scalar(select(Notification.id).order_by(Notification.id.desc()))
    web = login_as("badinh.chutich")

    web.get("/reports/incoming", query_string=PERIOD)

    fresh()
    after = session.scalar(select(Notification.id).order_by(Notification.id.desc()))
    assert after == before


@pytest.mark.parametrize(
    "url, period, label",
    [
        ("/reports/incoming", ("9999-12-30", "9999-12-31"), "Từ ngày"),
        ("/reports/incoming", ("0001-01-01", "0001-01-02"), "Từ ngày"),
        ("/reports/outgoing/export", ("2025-01-01", "9999-12-31"), "Đến ngày"),
    ],
)
def test_extreme_dates_rejected(login_as, url, period, label):
    web = login_as("badinh.chutich")

    response = web.get(url, query_string={"start": period[0], "end": period[1]})

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert f"“{label}” phải nằm trong khoảng từ năm 1900 đến năm 2100." in page
    assert f'value="{period[0]}"' in page
