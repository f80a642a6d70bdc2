"""Working-day calendar: lunar holidays, make-up days, admin changes, counting."""

from datetime import date

import lunar_vn
import pytest

from vanban.services.calendar import WorkCalendar, lunar_date, public_holidays

# Tết (1st day of the 1st lunar month) as published for Vietnam. In 1985 and
# 2007 the Chinese calendar (UTC+8) puts it a month or a day later.
TET = {
    1985: date(1985, 1, 21),
    2007: date(2007, 2, 17),
    2025: date(2025, 1, 29),
    2026: date(2026, 2, 17),
    2027: date(2027, 2, 6),
}


def calendar_with(*changes: tuple[date, str]) -> WorkCalendar:
    return WorkCalendar({day: (kind, "") for day, kind in changes})


@pytest.mark.parametrize("year", sorted(TET))
def test_tet_follows_vietnamese_calendar(year):
    assert lunar_date(1, 1, year) == TET[year]
    assert public_holidays(year)[TET[year]] == "Tết Nguyên đán"


@pytest.mark.parametrize("year", [1985, 2007])
def test_chinese_calendar_differs_in_those_years(year):
    chinese = lunar_vn.convert_lunar_to_solar(1, 1, year, time_zone=8.0)
    assert chinese != TET[year]


def test_1985_tet_is_not_the_chinese_date():
    # The Chinese new year of 1985 fell a month after the Vietnamese one.
    assert date(1985, 2, 20) not in public_holidays(1985)


def test_gio_to_2025():
    assert public_holidays(2025)[date(2025, 4, 7)] == "Giỗ Tổ Hùng Vương"


def test_tet_is_five_days_from_the_eve():
    holidays = public_holidays(2026)
    tet = [day for day, name in holidays.items() if name == "Tết Nguyên đán"]
    assert tet == [date(2026, 2, d) for d in range(16, 21)]


def test_fixed_holidays_2026():
    holidays = public_holidays(2026)
    for day in (date(2026, 1, 1), date(2026, 4, 30), date(2026, 5, 1)):
        assert day in holidays
    # 2 September 2026 is a Wednesday; the adjacent day defaults to the 3rd.
    assert holidays[date(2026, 9, 2)] == "Quốc khánh"
    assert holidays[date(2026, 9, 3)] == "Quốc khánh"


def test_national_day_pair_joins_weekend_2025():
    # 2 September 2025 is a Tuesday, and the government gave Monday 1 September.
    holidays = public_holidays(2025)
    assert date(2025, 9, 1) in holidays
    assert date(2025, 9, 3) not in holidays


def test_weekend_holiday_made_up():
    # Giỗ Tổ 2026 is Sunday 26 April, so Monday 27 April is off.
    holidays = public_holidays(2026)
    assert holidays[date(2026, 4, 26)] == "Giỗ Tổ Hùng Vương"
    assert holidays[date(2026, 4, 27)] == "Nghỉ bù Giỗ Tổ Hùng Vương"
    # Tết 2025 ran into Saturday 1 February, made up on Monday 3 February.
    assert public_holidays(2025)[date(2025, 2, 3)] == "Nghỉ bù Tết Nguyên đán"


def test_weekdays_and_weekends():
    calendar = WorkCalendar()
    assert calendar.is_working_day(date(2026, 3, 6))  # Friday
    assert not calendar.is_working_day(date(2026, 3, 7))  # Saturday
    assert not calendar.is_working_day(date(2026, 3, 8))  # Sunday


def test_deadline_across_tet():
    calendar = WorkCalendar()
    # Thursday 12 Feb 2026 + 3 working days: Fri 13, then Tết and two
    # weekends, then Mon 23 and Tue 24.
    assert calendar.add_working_days(date(2026, 2, 12), 3) == date(2026, 2, 24)
    assert calendar.working_days_between(date(2026, 2, 12), date(2026, 2, 24)) == 3


def test_extra_day_off_moves_deadline():
    calendar = calendar_with((date(2026, 2, 23), "off"))
    assert not calendar.is_working_day(date(2026, 2, 23))
    assert calendar.add_working_days(date(2026, 2, 12), 3) == date(2026, 2, 25)


def test_swapped_saturday_counts():
    calendar = calendar_with((date(2026, 2, 14), "work"))
    assert calendar.is_working_day(date(2026, 2, 14))
    assert calendar.add_working_days(date(2026, 2, 12), 3) == date(2026, 2, 23)


def test_admin_moves_national_day_pair():
    calendar = calendar_with((date(2026, 9, 3), "work"), (date(2026, 9, 1), "off"))
    assert calendar.is_working_day(date(2026, 9, 3))
    assert not calendar.is_working_day(date(2026, 9, 1))
    reasons = {info.day: info.working for info in calendar.days_off(2026)}
    assert reasons[date(2026, 9, 1)] is False
    assert reasons[date(2026, 9, 3)] is True


def test_previous_working_day_skips_tet():
    calendar = WorkCalendar()
    assert calendar.previous_working_day(date(2026, 2, 23)) == date(2026, 2, 13)
    assert calendar.previous_working_day(date(2026, 3, 10)) == date(2026, 3, 9)


def test_zero_working_days_is_start():
    assert WorkCalendar().add_working_days(date(2026, 3, 7), 0) == date(2026, 3, 7)


def test_negative_count_rejected():
    with pytest.raises(ValueError):
        WorkCalendar().add_working_days(date(2026, 3, 7), -1)
