"""Register numbers: consecutive per series and local calendar year.

Series are configuration: each organisation decides which document types share
a series, the symbol pattern of each, and keeps secret documents apart. A
closed register (đóng sổ) takes no more numbers for its year, and a number
taken without a document is voided with a reason, so every gap is explained.
"""

import logging
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import object_session

from vanban.models import (
    Department,
    Document,
    NumberSeries,
    Organisation,
    RegisterClosure,
    SeriesCounter,
    User,
    VoidedNumber,
)
from vanban.services import ServiceError, audit
from vanban.services.clock import local_year, now
from vanban.services.text import nfc

logger = logging.getLogger(__name__)

DIRECTION_LABELS = {"incoming": "đến", "outgoing": "đi"}
# Placeholders of a symbol pattern: type abbreviation, issuing body, drafting unit.
SYMBOL_PLACEHOLDERS = ("loai", "coquan", "donvi")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
# Outside placeholders a symbol contains letters, digits, hyphens and dots only.
_SYMBOL_TEXT = re.compile(r"[\w.\-]*")
MAX_REASON_LENGTH = 500
# A notation is "<number>/<symbol>" and must fit the documents.notation column.
# The exchange's DocumentId contains it and then stays below its 255 characters.
MAX_NOTATION_LENGTH = Document.__table__.c.notation.type.length
# Room for a register number of up to six digits and its "/".
MAX_SYMBOL_LENGTH = MAX_NOTATION_LENGTH - 7
# Maximum length of each placeholder's value, from the column it is read from.
_PLACEHOLDER_LENGTHS = {
    "loai": Document.__table__.c.type_abbreviation.type.length,
    "coquan": Organisation.__table__.c.abbreviation.type.length,
    "donvi": Department.__table__.c.abbreviation.type.length,
}


def format_number(number: int) -> str:
    """Write a register number with a leading zero below 10, as in "05"."""
    return f"{number:02d}"


def series_for(
    session,
    organisation_id: int,
    direction: str,
    *,
    typed: bool,
    secret: bool,
    type_name: str | None = None,
) -> NumberSeries:
    """Pick the series that numbers a document of this kind in the organisation.

    A "listed" series naming the document's type wins; otherwise the series of
    the document's kind (typed or công văn), then the series for every document.
    """
    scopes = ["all"] if direction == "incoming" else outgoing_scopes(typed)
    candidates = session.scalars(
        select(NumberSeries)
        .where(
            NumberSeries.organisation_id == organisation_id,
            NumberSeries.direction == direction,
            NumberSeries.scope.in_(scopes),
            NumberSeries.secret == secret,
        )
        .order_by(NumberSeries.id)
    ).all()
    series = pick_series(candidates, scopes, type_name)
    if series is not None:
        return series
    raise ServiceError(
        "Đơn vị chưa có sổ văn bản phù hợp để lấy số. Liên hệ quản trị để cấu hình sổ."
    )


def outgoing_scopes(typed: bool) -> list[str]:
    """Return the scopes an outgoing document looks for, first choice first."""
    return ["listed", "typed" if typed else "cong_van", "all"]


def pick_series(candidates, scopes: list[str], type_name: str | None):
    """Return the first series of `candidates` (by id) that numbers the type, or None.

    A "listed" series naming the type wins. Next comes the series of the
    document's kind, then the series for every document.
    """
    type_name_nfc = nfc(type_name)
    for scope in scopes:
        for series in candidates:
            if series.scope != scope:
                continue
            if scope == "listed" and type_name_nfc not in (series.type_names or []):
                continue
            return series
    return None


def closure_of(
    session, organisation_id: int, direction: str, year: int
) -> RegisterClosure | None:
    """Return the closure of a register year, or None while the register is open."""
    return session.scalar(
        select(RegisterClosure).where(
            RegisterClosure.organisation_id == organisation_id,
            RegisterClosure.direction == direction,
            RegisterClosure.year == year,
        )
    )


def _check_open(session, series: NumberSeries, year: int) -> None:
    if closure_of(session, series.organisation_id, series.direction, year):
        raise ServiceError(
            f"Sổ văn bản {DIRECTION_LABELS[series.direction]} năm {year} đã khóa "
            "(đóng sổ), không vào sổ thêm được. Liên hệ quản trị nếu cần mở lại sổ."
        )


def take_number(session, series: NumberSeries, at: datetime) -> tuple[int, int]:
    """Take the next number of a series for the local year of `at`.

    The counter row is incremented with a single UPDATE, which locks the row
    until the caller's transaction ends, so concurrent registrations queue up
    and the numbers have no gaps and no repeats. A closed register year raises
    ServiceError.
    """
    year = local_year(at)
    _check_open(session, series, year)
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(
        insert(SeriesCounter)
        .values(series_id=series.id, year=year, last_number=0)
        .on_conflict_do_nothing(index_elements=["series_id", "year"])
    )
    number = session.execute(
        update(SeriesCounter)
        .where(SeriesCounter.series_id == series.id, SeriesCounter.year == year)
        .values(last_number=SeriesCounter.last_number + 1)
        .returning(SeriesCounter.last_number)
    ).scalar_one()
    logger.info("series %s year %s took number %s", series.id, year, number)
    return year, number


def check_symbol_pattern(pattern: str) -> str:
    """Return the pattern in NFC, or raise ServiceError naming what is wrong."""
    pattern = nfc(pattern).replace(" ", "")
    if not pattern:
        return ""
    names = _PLACEHOLDER.findall(pattern)
    unknown = [name for name in names if name not in SYMBOL_PLACEHOLDERS]
    if unknown:
        raise ServiceError(
            f"Mẫu ký hiệu có phần giữ chỗ không hợp lệ: {{{unknown[0]}}}. Chỉ dùng "
            "{loai}, {coquan} và {donvi}.",
            field="symbol_pattern",
        )
    literal = _PLACEHOLDER.sub("", pattern)
    if "/" in literal or not _SYMBOL_TEXT.fullmatch(literal):
        raise ServiceError(
            "Mẫu ký hiệu chỉ gồm chữ, số, dấu gạch nối và các phần giữ chỗ "
            "{loai}, {coquan}, {donvi}; không có dấu cách hay dấu /.",
            field="symbol_pattern",
        )
    maximum = len(literal) + sum(_PLACEHOLDER_LENGTHS[name] for name in names)
    if maximum > MAX_SYMBOL_LENGTH:
        raise ServiceError(
            f"Mẫu ký hiệu quá dài: ký hiệu có thể dài tới {maximum} ký tự, trong khi "
            f"tối đa là {MAX_SYMBOL_LENGTH} ký tự để số và ký hiệu không vượt quá "
            f"{MAX_NOTATION_LENGTH} ký tự. Hãy rút gọn mẫu ({{loai}} tính "
            f"{_PLACEHOLDER_LENGTHS['loai']} ký tự, {{coquan}} và {{donvi}} mỗi phần "
            f"{_PLACEHOLDER_LENGTHS['coquan']} ký tự).",
            field="symbol_pattern",
        )
    return pattern


def render_symbol(pattern: str, values: dict[str, str]) -> str:
    """Fill a symbol pattern, dropping the groups that come out empty."""
    filled = _PLACEHOLDER.sub(lambda match: values.get(match.group(1), ""), pattern)
    return "-".join(group for group in filled.split("-") if group)


def outgoing_notation(document: Document, organisation: Organisation) -> str:
    """Build the symbol: <type>-<body> for typed documents, <body>-<unit> otherwise.

    The pattern of the document's series, when it has one, replaces this rule.
    """
    unit = document.department.abbreviation if document.department else "VP"
    values = {
        "loai": document.type_abbreviation or "",
        "coquan": organisation.abbreviation,
        "donvi": unit,
    }
    session = object_session(document)
    series = (
        session.get(NumberSeries, document.series_id)
        if session is not None and document.series_id
        else None
    )
    if series is not None and series.symbol_pattern:
        symbol = render_symbol(series.symbol_pattern, values)
        if len(symbol) > MAX_SYMBOL_LENGTH:
            # A pattern saved before its length was checked: the default rule
            # keeps the notation within its column.
            logger.warning("symbol pattern of series %s too long, ignored", series.id)
        elif symbol:
            return symbol
    if document.type_abbreviation:
        return render_symbol("{loai}-{coquan}", values)
    return render_symbol("{coquan}-{donvi}", values)


@dataclass
class Gap:
    """A number of a series given to no document, and why when it was voided."""

    number: int
    reason: str | None


def last_number(session, series: NumberSeries, year: int) -> int:
    counter = session.scalar(
        select(SeriesCounter.last_number).where(
            SeriesCounter.series_id == series.id, SeriesCounter.year == year
        )
    )
    return counter or 0


def used_numbers(session, series: NumberSeries, year: int) -> set[int]:
    return set(
        session.scalars(
            select(Document.register_number).where(
                Document.series_id == series.id,
                Document.register_year == year,
                Document.register_number.is_not(None),
            )
        )
    )


def gaps(session, series: NumberSeries, year: int) -> list[Gap]:
    """List the numbers up to the series' last number given to no document."""
    used = used_numbers(session, series, year)
    reasons = dict(
        session.execute(
            select(VoidedNumber.number, VoidedNumber.reason).where(
                VoidedNumber.series_id == series.id, VoidedNumber.year == year
            )
        ).all()
    )
    top = last_number(session, series, year)
    return [
        Gap(number, reasons.get(number))
        for number in range(1, top + 1)
        if number not in used
    ]


def void_number(
    session,
    user: User,
    series: NumberSeries,
    year: int,
    number: int | None,
    reason: str,
) -> VoidedNumber:
    """Record why a number of the series has no document.

    With no number, the next number of the current year is taken and voided at
    once (a number reserved, then cancelled). Otherwise the number must be a gap.
    """
    reason = nfc(reason)
    if not reason:
        raise ServiceError("Vui lòng nhập lý do hủy số.", field="reason")
    if len(reason) > MAX_REASON_LENGTH:
        raise ServiceError(
            f"Lý do hủy số dài quá {MAX_REASON_LENGTH} ký tự, hãy rút gọn.",
            field="reason",
        )
    if number is None:
        at = now()
        if local_year(at) != year:
            raise ServiceError(
                f"Chỉ lấy và hủy số tiếp theo được trong năm hiện tại, không phải "
                f"năm {year}.",
                field="number",
            )
        year, number = take_number(session, series, at)
    else:
        _check_open(session, series, year)
        top = last_number(session, series, year)
        if not 1 <= number <= top:
            raise ServiceError(
                f"Số {number} chưa được cấp trong năm {year} (số lớn nhất đã cấp là "
                f"{top}), nên không có gì để hủy.",
                field="number",
            )
        if number in used_numbers(session, series, year):
            raise ServiceError(
                f"Số {number} đã được cấp cho một văn bản, không hủy được.",
                field="number",
            )
        already = session.scalar(
            select(VoidedNumber.id).where(
                VoidedNumber.series_id == series.id,
                VoidedNumber.year == year,
                VoidedNumber.number == number,
            )
        )
        if already is not None:
            raise ServiceError(f"Số {number} đã được ghi lý do hủy.", field="number")
    voided = VoidedNumber(
        series_id=series.id,
        year=year,
        number=number,
        reason=reason,
        voided_by_id=user.id,
    )
    session.add(voided)
    audit.record(
        session,
        "register.number.void",
        user=user,
        organisation_id=series.organisation_id,
        series_id=series.id,
        year=year,
        number=number,
        reason=reason,
    )
    logger.info(
        "number %s of series %s year %s voided by user %s",
        number,
        series.id,
        year,
        user.id,
    )
    return voided
