"""Register numbers: consecutive per series and local calendar year."""

import logging
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from vanban.models import Document, NumberSeries, Organisation, SeriesCounter
from vanban.services import ServiceError
from vanban.services.clock import local_year

logger = logging.getLogger(__name__)


def format_number(number: int) -> str:
    """Write a register number with a leading zero below 10, as in "05"."""
    return f"{number:02d}"


def series_for(
    session, organisation_id: int, direction: str, *, typed: bool, secret: bool
) -> NumberSeries:
    """Pick the series that numbers a document of this kind in the organisation."""
    scopes = (
        ["all"]
        if direction == "incoming"
        else ["typed" if typed else "cong_van", "all"]
    )
    candidates = session.scalars(
        select(NumberSeries).where(
            NumberSeries.organisation_id == organisation_id,
            NumberSeries.direction == direction,
            NumberSeries.scope.in_(scopes),
            NumberSeries.secret == secret,
        )
    ).all()
    for scope in scopes:
        for series in candidates:
            if series.scope == scope:
                return series
    raise ServiceError(
        "Đơn vị chưa có sổ văn bản phù hợp để lấy số. Liên hệ quản trị để cấu hình sổ."
    )


def take_number(session, series: NumberSeries, at: datetime) -> tuple[int, int]:
    """Take the next number of a series for the local year of `at`.

    The counter row is incremented with a single UPDATE, which locks the row
    until the caller's transaction ends, so concurrent registrations queue up
    and the numbers have no gaps and no repeats.
    """
    year = local_year(at)
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


def outgoing_notation(document: Document, organisation: Organisation) -> str:
    """Build the symbol: <type>-<body> for typed documents, <body>-<unit> otherwise."""
    if document.type_abbreviation:
        return f"{document.type_abbreviation}-{organisation.abbreviation}"
    unit = document.department.abbreviation if document.department else "VP"
    return f"{organisation.abbreviation}-{unit}"
