"""Local time for Vietnam; instants are stored in UTC."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def now() -> datetime:
    return datetime.now(UTC)


def local(instant: datetime) -> datetime:
    return instant.astimezone(LOCAL_TZ)


def local_today() -> date:
    return local(now()).date()


def local_year(instant: datetime) -> int:
    """Return the calendar year of an instant in Vietnam, which numbering uses."""
    return local(instant).year
