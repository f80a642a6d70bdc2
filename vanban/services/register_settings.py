"""Number series settings of an organisation: names, shared types, symbol patterns."""

import logging

from sqlalchemy import select

from vanban.models import NumberSeries, User
from vanban.services import ServiceError, audit, numbering
from vanban.services.doctypes import ABBREVIATIONS
from vanban.services.names import find_same
from vanban.services.text import nfc

logger = logging.getLogger(__name__)

SCOPE_LABELS = {
    "all": "Mọi văn bản",
    "cong_van": "Công văn",
    "typed": "Văn bản có tên loại (trừ loại đã có sổ riêng)",
    "listed": "Các loại văn bản được chọn",
}
MAX_NAME_LENGTH = 255


def can_read(user: User) -> bool:
    return bool(user.is_authenticated and user.has_role("admin", "clerk"))


def can_edit(user: User) -> bool:
    return bool(user.is_authenticated and user.has_role("admin"))


def series_list(session, organisation_id: int) -> list[NumberSeries]:
    return list(
        session.scalars(
            select(NumberSeries)
            .where(NumberSeries.organisation_id == organisation_id)
            .order_by(NumberSeries.direction, NumberSeries.secret, NumberSeries.id)
        )
    )


def types_by_series(series_list: list[NumberSeries]) -> dict[int, list[str]]:
    """Return, for each outgoing series, the document types it numbers now.

    A series left with no type (its types all moved to "listed" series) takes
    no more numbers, and the settings page shows it as unused.
    """
    routes: dict[int, list[str]] = {}
    for secret in (False, True):
        candidates = [
            series
            for series in series_list
            if series.direction == "outgoing" and series.secret == secret
        ]
        candidates.sort(key=lambda series: series.id)
        for type_name, abbreviation in ABBREVIATIONS.items():
            scopes = numbering.outgoing_scopes(typed=bool(abbreviation))
            series = numbering.pick_series(candidates, scopes, type_name)
            if series is not None:
                routes.setdefault(series.id, []).append(type_name)
    return routes


def snapshot(series: NumberSeries) -> dict:
    """Return the settings of a series as the audit trail stores them."""
    return {
        "name": series.name,
        "direction": series.direction,
        "scope": series.scope,
        "secret": series.secret,
        "type_names": list(series.type_names or []),
        "symbol_pattern": series.symbol_pattern,
    }


def _clean_name(name: str) -> str:
    name = nfc(name)
    if not name:
        raise ServiceError("Vui lòng nhập tên sổ.", field="name")
    if len(name) > MAX_NAME_LENGTH:
        raise ServiceError(
            f"Tên sổ dài quá {MAX_NAME_LENGTH} ký tự, hãy rút gọn.", field="name"
        )
    return name


def _check_name_free(
    session, organisation_id: int, name: str, series: NumberSeries | None
) -> None:
    """Reject the name of another series of the organisation, whatever the case.

    Incoming and outgoing, secret or not, an organisation's series are listed
    together and named in messages, so their names tell them apart.
    """
    other = find_same(series_list(session, organisation_id), name, excluding=series)
    if other is not None:
        raise ServiceError(
            f"Đơn vị đã có sổ “{other.name}”. Hãy đặt tên khác để phân biệt hai sổ.",
            field="name",
        )


def _clean_types(
    session, organisation_id: int, secret: bool, names, series_id: int | None
) -> list[str]:
    """Check the types of a "listed" series: known, and in no other such series."""
    chosen = list(dict.fromkeys(nfc(name) for name in names if nfc(name)))
    unknown = [name for name in chosen if name not in ABBREVIATIONS]
    if unknown:
        raise ServiceError(
            f"Loại văn bản không hợp lệ: {unknown[0]}.", field="type_names"
        )
    if not chosen:
        raise ServiceError(
            "Chọn ít nhất một loại văn bản được cấp số theo sổ này.",
            field="type_names",
        )
    others = session.scalars(
        select(NumberSeries).where(
            NumberSeries.organisation_id == organisation_id,
            NumberSeries.direction == "outgoing",
            NumberSeries.scope == "listed",
            NumberSeries.secret == secret,
        )
    )
    for other in others:
        if other.id == series_id:
            continue
        shared = [name for name in chosen if name in (other.type_names or [])]
        if shared:
            raise ServiceError(
                f"Loại “{shared[0]}” đã được cấp số theo sổ “{other.name}”. Mỗi loại "
                "văn bản chỉ thuộc một sổ.",
                field="type_names",
            )
    return chosen


def update_series(
    session,
    user: User,
    series: NumberSeries,
    *,
    name: str,
    symbol_pattern: str,
    type_names=(),
) -> None:
    """Change a series' name, symbol pattern and, for a "listed" series, its types."""
    before = snapshot(series)
    name = _clean_name(name)
    _check_name_free(session, series.organisation_id, name, series)
    series.name = name
    series.symbol_pattern = numbering.check_symbol_pattern(symbol_pattern)
    if series.scope == "listed":
        series.type_names = _clean_types(
            session, series.organisation_id, series.secret, type_names, series.id
        )
    after = snapshot(series)
    if after == before:
        return
    audit.record(
        session,
        "settings.series.update",
        user=user,
        organisation_id=series.organisation_id,
        series_id=series.id,
        before=before,
        after=after,
    )
    logger.info("number series %s changed by user %s", series.id, user.id)


def create_series(
    session,
    user: User,
    *,
    name: str,
    secret: bool,
    symbol_pattern: str,
    type_names=(),
) -> NumberSeries:
    """Add an outgoing series for the chosen document types of the organisation."""
    organisation_id = user.organisation_id
    name = _clean_name(name)
    _check_name_free(session, organisation_id, name, None)
    series = NumberSeries(
        organisation_id=organisation_id,
        direction="outgoing",
        name=name,
        scope="listed",
        secret=secret,
        symbol_pattern=numbering.check_symbol_pattern(symbol_pattern),
        type_names=_clean_types(session, organisation_id, secret, type_names, None),
    )
    session.add(series)
    session.flush()
    audit.record(
        session,
        "settings.series.create",
        user=user,
        organisation_id=organisation_id,
        series_id=series.id,
        before={},
        after=snapshot(series),
    )
    logger.info("number series %s created by user %s", series.id, user.id)
    return series
