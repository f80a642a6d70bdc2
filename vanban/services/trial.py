"""The city's trial: its window, subject rule, participating wards and resets."""

import logging
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time

from sqlalchemy import select
from sqlalchemy.orm import object_session

from vanban.models import Organisation, Setting, TrialWard, User
from vanban.services import ServiceError, audit
from vanban.services.clock import LOCAL_TZ, check_day, local_today, now
from vanban.services.text import nfc, upper_vi

logger = logging.getLogger(__name__)

SUBJECT_PREFIX = "THỬ NGHIỆM TRAO ĐỔI GỬI NHẬN VĂN BẢN"
SETTING_KEY = "trial"
# The dashboard highlights a ward whose current step waited longer than this.
DEFAULT_STUCK_HOURS = 2
MAX_STUCK_HOURS = 720
MAX_PREFIX_LENGTH = 200


@dataclass(frozen=True)
class TrialSettings:
    """The trial window, the subject prefix and the dashboard's stuck threshold."""

    start: date | None
    end: date | None
    subject_prefix: str
    stuck_hours: int

    def as_audit(self) -> dict:
        values = asdict(self)
        values["start"] = self.start.isoformat() if self.start else None
        values["end"] = self.end.isoformat() if self.end else None
        return values


def settings(session) -> TrialSettings:
    setting = session.get(Setting, SETTING_KEY)
    value = setting.value if setting is not None else {}
    return TrialSettings(
        start=date.fromisoformat(value["start"]) if value.get("start") else None,
        end=date.fromisoformat(value["end"]) if value.get("end") else None,
        subject_prefix=value.get("subject_prefix") or SUBJECT_PREFIX,
        stuck_hours=int(value.get("stuck_hours") or DEFAULT_STUCK_HOURS),
    )


def _spaced(value: str | None) -> str:
    """Return the text in NFC with each run of spaces as one space."""
    return " ".join(nfc(value).split())


def _store(session, **changes) -> None:
    setting = session.get(Setting, SETTING_KEY)
    if setting is None:
        session.add(Setting(key=SETTING_KEY, value=changes))
    else:
        # A new dict, because the JSON column does not track changes in place.
        setting.value = {**setting.value, **changes}


def window(session) -> tuple[date, date] | None:
    current = settings(session)
    if current.start is None or current.end is None:
        return None
    return current.start, current.end


def set_window(session, start: date, end: date) -> None:
    _store(session, start=start.isoformat(), end=end.isoformat())


def update_settings(
    session,
    user: User,
    *,
    start: date,
    end: date,
    subject_prefix: str,
    stuck_hours: int,
) -> TrialSettings:
    """Check and save the trial settings, with an audit row of the change."""
    check_day(start, "Ngày bắt đầu", field="start")
    check_day(end, "Ngày kết thúc", field="end")
    if end < start:
        raise ServiceError(
            "Ngày kết thúc phải bằng hoặc sau ngày bắt đầu thử nghiệm.", field="end"
        )
    subject_prefix = _spaced(subject_prefix)
    if not subject_prefix:
        raise ServiceError(
            "Hãy nhập phần đầu bắt buộc của trích yếu.", field="subject_prefix"
        )
    if len(subject_prefix) > MAX_PREFIX_LENGTH:
        raise ServiceError(
            f"Phần đầu của trích yếu dài quá {MAX_PREFIX_LENGTH} ký tự, hãy rút gọn.",
            field="subject_prefix",
        )
    if not 1 <= stuck_hours <= MAX_STUCK_HOURS:
        raise ServiceError(
            f"Ngưỡng cảnh báo phải từ 1 đến {MAX_STUCK_HOURS} giờ.",
            field="stuck_hours",
        )

    before = settings(session)
    _store(
        session,
        start=start.isoformat(),
        end=end.isoformat(),
        subject_prefix=subject_prefix,
        stuck_hours=stuck_hours,
    )
    after = settings(session)

    audit.record(
        session,
        "settings.trial.update",
        user=user,
        organisation_id=user.organisation_id,
        before=before.as_audit(),
        after=after.as_audit(),
    )
    logger.info("trial settings changed by user %s", user.id)
    return after


def window_start_instant(session) -> datetime | None:
    """Return the first instant of the trial window (midnight in Vietnam) in UTC."""
    span = window(session)
    if span is None:
        return None
    return datetime.combine(span[0], time.min, tzinfo=LOCAL_TZ).astimezone(UTC)


def is_active(session, today: date | None = None) -> bool:
    span = window(session)
    today = today or local_today()
    return span is not None and span[0] <= today <= span[1]


def required_subject(organisation: Organisation) -> str:
    """Return the subject a ward must use for trial documents to the city units."""
    session = object_session(organisation)
    prefix = settings(session).subject_prefix if session else SUBJECT_PREFIX
    return f"{prefix} - {upper_vi(organisation.name)}"


def applies(session, sender: Organisation, recipients: list[Organisation]) -> bool:
    return (
        sender.kind == "ward"
        and is_active(session)
        and any(r.is_city_level for r in recipients)
    )


def subject_matches(subject: str, organisation: Organisation) -> bool:
    """Tell whether the subject starts with the required subject, in capitals.

    The comparison is exact after NFC, except that runs of spaces count as one.
    """
    return _spaced(subject).startswith(_spaced(required_subject(organisation)))


# Who may do what


def can_manage(user) -> bool:
    """Tell whether the user may change the trial settings: an admin of the city."""
    return bool(
        user.is_authenticated
        and user.has_role("admin")
        and user.organisation.kind == "city"
    )


def can_run(user) -> bool:
    """Tell whether the user may prepare wards, watch progress and reset them."""
    return bool(
        user.is_authenticated and (user.has_role("trainer") or can_manage(user))
    )


# Participating wards


def participants(session) -> list[TrialWard]:
    return list(
        session.scalars(
            select(TrialWard)
            .join(TrialWard.organisation)
            .order_by(Organisation.name, Organisation.id)
        )
    )


def is_participant(session, organisation_id: int) -> bool:
    return session.get(TrialWard, organisation_id) is not None


def add_participant(session, user: User, ward: Organisation) -> TrialWard:
    """Add the ward to the trial, or return its row when it takes part already."""
    if ward.kind != "ward" or not ward.active:
        raise ServiceError(
            f"{ward.name} không phải phường, xã đang hoạt động.", field="wards"
        )
    row = session.get(TrialWard, ward.id)
    if row is None:
        row = TrialWard(organisation_id=ward.id, added_by_id=user.id, added_at=now())
        session.add(row)
        session.flush()
        logger.info("ward %s joined the trial by user %s", ward.id, user.id)
    return row


def counting_from(session, row: TrialWard) -> datetime | None:
    """Return the instant from which the ward's documents count for the trial."""
    start = window_start_instant(session)
    if row.reset_at is None:
        return start
    if start is None:
        return row.reset_at
    return max(start, row.reset_at)
