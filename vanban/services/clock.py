"""Local time for Vietnam; instants are stored in UTC."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from vanban.services import ServiceError

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")

# Days a user may type as a filter or period bound. Far outside this window,
# turning a local day into UTC instants overflows Python's datetime.
FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(2100, 12, 31)


def now() -> datetime:
    return datetime.now(UTC)


def local(instant: datetime) -> datetime:
    return instant.astimezone(LOCAL_TZ)


def local_today() -> date:
    return local(now()).date()


def local_year(instant: datetime) -> int:
    """Return the calendar year of an instant in Vietnam, which numbering uses."""
    return local(instant).year


def check_day(day: date, label: str, field: str | None = None) -> date:
    """Return the day when it lies in the accepted window, else raise ServiceError."""
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ServiceError(
            f"“{label}” phải nằm trong khoảng từ năm {FIRST_DAY.year} "
            f"đến năm {LAST_DAY.year}.",
            field=field,
        )
    return day


def day_start(day: date) -> datetime:
    """Return local midnight at the start of `day`, the lower bound of a day filter."""
    check_day(day, "Ngày")
    return datetime.combine(day, time.min, tzinfo=LOCAL_TZ)


def day_end(day: date) -> datetime:
    """Return local midnight after `day`, the exclusive upper bound of a day filter."""
    check_day(day, "Ngày")
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=LOCAL_TZ)
