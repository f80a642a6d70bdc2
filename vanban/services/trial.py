"""The city's trial window and its subject rule for documents sent to the city."""

from datetime import date

from vanban.models import Organisation, Setting
from vanban.services.clock import local_today
from vanban.services.text import fold, upper_vi

SUBJECT_PREFIX = "THỬ NGHIỆM TRAO ĐỔI GỬI NHẬN VĂN BẢN"
SETTING_KEY = "trial"


def window(session) -> tuple[date, date] | None:
    setting = session.get(Setting, SETTING_KEY)
    if setting is None or not setting.value.get("start"):
        return None
    return (
        date.fromisoformat(setting.value["start"]),
        date.fromisoformat(setting.value["end"]),
    )


def set_window(session, start: date, end: date) -> None:
    setting = session.get(Setting, SETTING_KEY)
    value = {"start": start.isoformat(), "end": end.isoformat()}
    if setting is None:
        session.add(Setting(key=SETTING_KEY, value=value))
    else:
        setting.value = value


def is_active(session, today: date | None = None) -> bool:
    span = window(session)
    today = today or local_today()
    return span is not None and span[0] <= today <= span[1]


def required_subject(organisation: Organisation) -> str:
    """Return the subject a ward must use for trial documents to the city units."""
    return f"{SUBJECT_PREFIX} - {upper_vi(organisation.name)}"


def applies(session, sender: Organisation, recipients: list[Organisation]) -> bool:
    return (
        sender.kind == "ward"
        and is_active(session)
        and any(r.is_city_level for r in recipients)
    )


def subject_matches(subject: str, organisation: Organisation) -> bool:
    """Accept the required subject in any case or Unicode form, with text after it."""
    return fold(subject).startswith(fold(required_subject(organisation)))
