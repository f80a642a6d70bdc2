"""Working days: weekends, Vietnamese public holidays and an admin's yearly changes.

Public holidays follow the Labour Code 2019, Article 112: 1 January, five days
of Tết Nguyên Đán, Giỗ Tổ Hùng Vương (10th day of the 3rd lunar month), 30
April, 1 May, and 2 September with one adjacent day. A holiday that falls on a
weekend is made up on the next working day. Lunar dates come from `lunar-vn`
1.4.0, which computes the Vietnamese calendar (UTC+7). The Chinese calendar
(UTC+8) puts Tết on another day in some years, such as 1985 and 2007.
"""

import logging
from dataclasses import dataclass
from datetime import date, timedelta

import lunar_vn
from sqlalchemy import select

from vanban.models.calendar import CalendarChange

logger = logging.getLogger(__name__)

VIETNAM_UTC_OFFSET = 7.0
# Tết: the last day of the old lunar year and the first four days of the new one.
# NOTE: the government fixes the exact five days every year, so admins record
# its choice as calendar changes when it differs from this default.
TET_DAYS_BEFORE = 1
TET_DAYS_AFTER = 3


def lunar_date(day: int, month: int, year: int) -> date:
    """Return the solar date of a lunar date in the Vietnamese calendar."""
    return lunar_vn.convert_lunar_to_solar(
        day, month, year, time_zone=VIETNAM_UTC_OFFSET
    )


def _national_day_pair(year: int) -> date:
    """Return the day taken next to 2 September.

    The law leaves the choice (the day before or after) to each year's decision.
    The default joins the holiday to a weekend where it can: 1 September when
    2 September is a Tuesday, Friday or Sunday, otherwise 3 September.
    """
    national_day = date(year, 9, 2)
    if national_day.weekday() in (1, 4, 6):
        return national_day - timedelta(days=1)
    return national_day + timedelta(days=1)


def public_holidays(year: int) -> dict[date, str]:
    """Return the statutory days off of a year, make-up days included, by date."""
    holidays: dict[date, str] = {date(year, 1, 1): "Tết Dương lịch"}
    new_year = lunar_date(1, 1, year)
    for offset in range(-TET_DAYS_BEFORE, TET_DAYS_AFTER + 1):
        holidays[new_year + timedelta(days=offset)] = "Tết Nguyên đán"
    holidays[lunar_date(10, 3, year)] = "Giỗ Tổ Hùng Vương"
    holidays[date(year, 4, 30)] = "Ngày Chiến thắng"
    holidays[date(year, 5, 1)] = "Ngày Quốc tế Lao động"
    holidays[date(year, 9, 2)] = "Quốc khánh"
    holidays[_national_day_pair(year)] = "Quốc khánh"

    made_up: dict[date, str] = {}
    for day in sorted(holidays):
        if day.weekday() < 5:
            continue
        substitute = day + timedelta(days=1)
        while (
            substitute.weekday() >= 5 or substitute in holidays or substitute in made_up
        ):
            substitute += timedelta(days=1)
        made_up[substitute] = f"Nghỉ bù {holidays[day]}"
    return dict(sorted({**holidays, **made_up}.items()))


@dataclass(frozen=True)
class DayInfo:
    """Whether a day is worked, and why not."""

    day: date
    working: bool
    reason: str = ""


class WorkCalendar:
    """One organisation's working days: the default calendar and its changes."""

    def __init__(self, changes: dict[date, tuple[str, str]] | None = None):
        # Day -> (kind, note), where kind is "off" or "work". Plain values, so
        # that a cached calendar outlives the session that loaded it.
        self.changes = changes or {}
        self._holidays: dict[int, dict[date, str]] = {}

    @classmethod
    def load(cls, session, organisation_id: int) -> "WorkCalendar":
        rows = session.execute(
            select(CalendarChange.day, CalendarChange.kind, CalendarChange.note).where(
                CalendarChange.organisation_id == organisation_id
            )
        )
        return cls({day: (kind, note) for day, kind, note in rows})

    def holidays(self, year: int) -> dict[date, str]:
        if year not in self._holidays:
            self._holidays[year] = public_holidays(year)
        return self._holidays[year]

    def describe(self, day: date) -> DayInfo:
        change = self.changes.get(day)
        if change is not None:
            kind, note = change
            if kind == "work":
                return DayInfo(day, True, note or "Ngày làm việc bù")
            return DayInfo(day, False, note or "Ngày nghỉ theo thông báo")
        holiday = self.holidays(day.year).get(day)
        if holiday is not None:
            return DayInfo(day, False, holiday)
        if day.weekday() >= 5:
            return DayInfo(day, False, "Nghỉ cuối tuần")
        return DayInfo(day, True)

    def is_working_day(self, day: date) -> bool:
        return self.describe(day).working

    def add_working_days(self, start: date, count: int) -> date:
        """Return the count-th working day after start; start itself is not counted."""
        if count < 0:
            raise ValueError(f"count must be 0 or more, not {count}")
        day = start
        while count > 0:
            day += timedelta(days=1)
            if self.is_working_day(day):
                count -= 1
        return day

    def previous_working_day(self, day: date) -> date:
        day -= timedelta(days=1)
        while not self.is_working_day(day):
            day -= timedelta(days=1)
        return day

    def working_days_between(self, start: date, end: date) -> int:
        """Count the working days after start up to and including end."""
        if end <= start:
            return 0
        return sum(
            1
            for offset in range(1, (end - start).days + 1)
            if self.is_working_day(start + timedelta(days=offset))
        )

    def days_off(self, year: int) -> list[DayInfo]:
        """Describe every public holiday and every changed day of a year."""
        days = set(self.holidays(year))
        days.update(d for d in self.changes if d.year == year)
        return [self.describe(day) for day in sorted(days)]
