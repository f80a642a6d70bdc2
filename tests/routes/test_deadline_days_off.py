"""Deadlines and days off: our defaults land on working days, a sender's
deadline on a day off stays as written and is pointed out."""

from datetime import date, timedelta

import pytest

from tests.roster import document_in_state, load_ward, ward_username
from vanban.models.calendar import CalendarChange
from vanban.services import deadlines
from vanban.services.doctypes import URGENCY_LABELS

# A Saturday, a Sunday and a weekday of December 2026.
SATURDAY = date(2026, 12, 12)
SUNDAY = date(2026, 12, 20)
WEEKDAY = date(2026, 12, 15)


@pytest.fixture
def ward(session):
    return load_ward(session)


def _incoming(session, ward, **fields):
    document = document_in_state(ward, session, "incoming", "with_officer", **fields)
    session.add(document)
    session.commit()
    return document


@pytest.mark.parametrize("urgency", sorted(URGENCY_LABELS))
@pytest.mark.parametrize("type_name", ["Công văn", "Giấy mời", "Công điện"])
def test_default_deadline_is_a_working_day(session, ward, type_name, urgency):
    document = document_in_state(
        ward, session, "incoming", "with_leader", type_name=type_name, urgency=urgency
    )
    calendar = deadlines.calendar_for(session, ward.organisation.id)
    # Every start day of a stretch with weekends, New Year and Tết in it.
    for offset in range(75):
        start = date(2026, 12, 20) + timedelta(days=offset)
        due = deadlines.default_deadline(session, document, start)
        assert due is not None
        assert due > start
        assert calendar.is_working_day(due), (start, due)


def test_default_deadline_skips_announced_day_off(session, ward):
    # Friday 11/12/2026, with Monday 14/12 announced as a day off.
    session.add(
        CalendarChange(
            organisation_id=ward.organisation.id,
            day=date(2026, 12, 14),
            kind="off",
            note="Nghỉ theo thông báo thử",
        )
    )
    session.commit()
    deadlines._forget_calendar(session, ward.organisation.id)
    document = document_in_state(
        ward, session, "incoming", "with_leader", type_name="Công điện", urgency=1
    )

    due = deadlines.default_deadline(session, document, date(2026, 12, 11))

    assert due == date(2026, 12, 15)


@pytest.mark.parametrize(
    ("day", "reason"), [(SATURDAY, "Nghỉ cuối tuần"), (SUNDAY, "Nghỉ cuối tuần")]
)
def test_sender_deadline_on_day_off_kept_with_hint(
    session, ward, login_as, day, reason
):
    document = _incoming(session, ward, due_date=day)
    officer = login_as(ward_username("officer"))

    html = officer.get(f"/documents/{document.id}").get_data(as_text=True)

    session.refresh(document)
    assert document.due_date == day
    assert f"{day:%d/%m/%Y}" in html
    assert f"(rơi vào ngày nghỉ: {reason})" in html


def test_sender_deadline_on_working_day_has_no_hint(session, ward, login_as):
    document = _incoming(session, ward, due_date=WEEKDAY)
    officer = login_as(ward_username("officer"))

    html = officer.get(f"/documents/{document.id}").get_data(as_text=True)

    assert f"{WEEKDAY:%d/%m/%Y}" in html
    assert "rơi vào ngày nghỉ" not in html
