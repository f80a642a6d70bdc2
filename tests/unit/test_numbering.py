"""Register numbers: format, local year, symbols, series and concurrency."""

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from vanban.extensions import db, sqlite_write_intent
from vanban.models import Document, NumberSeries, Organisation, SeriesCounter
from vanban.services import (
    ServiceError,
    drafts,
    numbering,
    register_books,
    register_settings,
)
from vanban.services.clock import LOCAL_TZ, local_year
from vanban.services.files import StoredFile

from ..roster import OTHER_WARD, load_ward

# 23:59:59 on 31 December 2026 in Hà Nội, and half an hour into 2027 there.
LAST_SECOND_OF_2026 = datetime(2026, 12, 31, 16, 59, 59, tzinfo=UTC)
EARLY_2027_LOCAL = datetime(2026, 12, 31, 17, 30, tzinfo=UTC)
SIGNED_PDF = StoredFile(
    sha256="0" * 64, size=1, content_type="application/pdf", original_name="ky.pdf"
)
THREADS = 8
REGISTRATIONS_PER_THREAD = 5


@pytest.fixture
def ward(session):
    return load_ward(session)


def series_of(session, organisation_id, direction, scope, secret=False):
    return session.scalar(
        select(NumberSeries).where(
            NumberSeries.organisation_id == organisation_id,
            NumberSeries.direction == direction,
            NumberSeries.scope == scope,
            NumberSeries.secret == secret,
        )
    )


def counter(session, series, year):
    return session.scalar(
        select(SeriesCounter).where(
            SeriesCounter.series_id == series.id, SeriesCounter.year == year
        )
    )


@pytest.mark.parametrize(
    "number, expected", [(1, "01"), (5, "05"), (10, "10"), (123, "123")]
)
def test_format_number(number, expected):
    assert numbering.format_number(number) == expected


def test_local_year_uses_vietnam_time():
    assert local_year(LAST_SECOND_OF_2026) == 2026
    assert local_year(EARLY_2027_LOCAL) == 2027
    assert EARLY_2027_LOCAL.year == 2026
    assert local_year(datetime(2027, 1, 1, 0, 5, tzinfo=LOCAL_TZ)) == 2027


def test_numbering_restarts_in_local_new_year(session, ward):
    series = series_of(session, ward.organisation.id, "outgoing", "cong_van")
    assert counter(session, series, 2027) is None

    year, first = numbering.take_number(session, series, LAST_SECOND_OF_2026)
    assert year == 2026
    assert numbering.take_number(session, series, LAST_SECOND_OF_2026) == (
        2026,
        first + 1,
    )
    assert numbering.take_number(session, series, EARLY_2027_LOCAL) == (2027, 1)
    assert numbering.take_number(session, series, EARLY_2027_LOCAL) == (2027, 2)
    assert numbering.take_number(session, series, LAST_SECOND_OF_2026) == (
        2026,
        first + 2,
    )


def test_series_counters_are_independent(session, ward):
    typed = series_of(session, ward.organisation.id, "outgoing", "typed")
    cong_van = series_of(session, ward.organisation.id, "outgoing", "cong_van")
    at = datetime(2031, 3, 1, tzinfo=UTC)

    assert numbering.take_number(session, typed, at) == (2031, 1)
    assert numbering.take_number(session, typed, at) == (2031, 2)
    assert numbering.take_number(session, cong_van, at) == (2031, 1)


def test_cong_van_notation_names_unit(session, ward):
    economy = ward.department(session, "KT")
    document = Document(type_abbreviation="", department=economy)
    assert numbering.outgoing_notation(document, ward.organisation) == "UBND-KT"


def test_cong_van_notation_without_unit(ward):
    document = Document(type_abbreviation="", department=None)
    assert numbering.outgoing_notation(document, ward.organisation) == "UBND-VP"


@pytest.mark.parametrize("abbreviation", ["QĐ", "BC", "TTr"])
def test_notation_of_typed_document(session, ward, abbreviation):
    document = Document(
        type_abbreviation=abbreviation, department=ward.department(session, "KT")
    )
    notation = numbering.outgoing_notation(document, ward.organisation)
    assert notation == f"{abbreviation}-UBND"


def test_notation_uses_issuing_body_abbreviation(session):
    center = session.scalar(
        select(Organisation).where(Organisation.abbreviation == "TTTTDL")
    )
    document = Document(type_abbreviation="QĐ", department=None)
    assert numbering.outgoing_notation(document, center) == "QĐ-TTTTDL"


@pytest.mark.parametrize(
    "direction, typed, secret, scope",
    [
        ("outgoing", True, False, "typed"),
        ("outgoing", False, False, "cong_van"),
        ("outgoing", True, True, "all"),
        ("outgoing", False, True, "all"),
        ("incoming", True, False, "all"),
        ("incoming", False, False, "all"),
        ("incoming", True, True, "all"),
    ],
)
def test_series_pick(session, ward, direction, typed, secret, scope):
    org_id = ward.organisation.id
    series = numbering.series_for(
        session, org_id, direction, typed=typed, secret=secret
    )
    assert series.organisation_id == org_id
    assert series.direction == direction
    assert series.scope == scope
    assert series.secret is secret


@pytest.fixture
def one_series_unit(session):
    """An organisation whose only outgoing series numbers every document."""
    unit = Organisation(code="000.99.01.H01", name="UBND Phường Thử", kind="ward")
    session.add(unit)
    session.flush()
    session.add(
        NumberSeries(
            organisation_id=unit.id,
            direction="outgoing",
            name="Sổ văn bản đi",
            scope="all",
            secret=False,
        )
    )
    session.flush()
    return unit


@pytest.mark.parametrize("typed", [True, False])
def test_series_pick_falls_back(session, one_series_unit, typed):
    series = numbering.series_for(
        session, one_series_unit.id, "outgoing", typed=typed, secret=False
    )
    assert series.scope == "all"
    assert series.organisation_id == one_series_unit.id


@pytest.mark.parametrize("direction, secret", [("outgoing", True), ("incoming", False)])
def test_series_pick_without_series_fails(session, one_series_unit, direction, secret):
    with pytest.raises(ServiceError) as missing:
        numbering.series_for(
            session, one_series_unit.id, direction, typed=False, secret=secret
        )
    assert "quản trị" in missing.value.message


def issue_new(session, ward, other_ward, type_name, secrecy=0):
    clerk = ward.users["clerk"]
    document = drafts.compose(
        session,
        clerk,
        type_name=type_name,
        subject=f"{type_name} thử cấp số",
        description="",
        signer_name="Người ký",
        signer_position="Chủ tịch",
        urgency=0,
        secrecy=secrecy,
        due_date=None,
        files=[SIGNED_PDF],
    )
    drafts.issue(
        session,
        clerk,
        document,
        subject=document.subject,
        recipient_ids=[other_ward.organisation.id],
    )
    return document


def test_issue_numbers_each_series_apart(session, ward):
    other_ward = load_ward(session, OTHER_WARD)
    decision = issue_new(session, ward, other_ward, "Quyết định")
    letter = issue_new(session, ward, other_ward, "Công văn")
    secret_letter = issue_new(session, ward, other_ward, "Công văn", secrecy=1)
    second_letter = issue_new(session, ward, other_ward, "Công văn")

    assert decision.number_and_notation == "01/QĐ-UBND"
    assert letter.number_and_notation == "01/UBND-VP"
    assert secret_letter.number_and_notation == "01/UBND-VP"
    assert second_letter.number_and_notation == "02/UBND-VP"
    assert session.get(NumberSeries, decision.series_id).scope == "typed"
    assert session.get(NumberSeries, letter.series_id).scope == "cong_van"
    assert session.get(NumberSeries, secret_letter.series_id).secret is True
    assert second_letter.series_id == letter.series_id


def test_concurrent_registrations_have_no_gaps(app, session, ward):
    series = series_of(session, ward.organisation.id, "incoming", "all")
    at = datetime(2030, 6, 1, tzinfo=UTC)
    assert counter(session, series, 2030) is None
    series_id = series.id
    session.rollback()

    start = threading.Barrier(THREADS)
    numbers = []
    errors = []

    def register_in_own_session():
        # A new thread starts with an empty context, as a new request would.
        sqlite_write_intent.set(True)
        try:
            with app.app_context():
                start.wait(timeout=30)
                for _ in range(REGISTRATIONS_PER_THREAD):
                    own_series = db.session.get(NumberSeries, series_id)
                    _, number = numbering.take_number(db.session, own_series, at)
                    db.session.commit()
                    numbers.append(number)
                db.session.remove()
        except Exception as error:  # reported by the assert below
            errors.append(error)

    workers = [threading.Thread(target=register_in_own_session) for _ in range(THREADS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)

    total = THREADS * REGISTRATIONS_PER_THREAD
    assert errors == []
    assert not any(worker.is_alive() for worker in workers)
    assert len(numbers) == total
    assert len(set(numbers)) == total
    assert sorted(numbers) == list(range(1, total + 1))
    session.rollback()
    assert counter(session, series, 2030).last_number == total


def test_duplicate_register_number_rejected(session, ward):
    series = series_of(session, ward.organisation.id, "incoming", "all")

    def registered(number):
        return Document(
            organisation_id=ward.organisation.id,
            direction="incoming",
            state="registered",
            subject=f"Văn bản số đến {number}",
            series_id=series.id,
            register_year=2030,
            register_number=number,
        )

    session.add_all([registered(7), registered(8)])
    session.flush()
    session.add(registered(7))
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()


def test_foreign_keys_are_enforced(session):
    session.add(
        Document(
            organisation_id=99999,
            direction="incoming",
            state="arrived",
            subject="Văn bản của đơn vị không tồn tại",
        )
    )
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()


# 23:30 on 31 December 2027 and 00:10 on 1 January 2028, both in Hà Nội.
LATE_31_DECEMBER = datetime(2027, 12, 31, 23, 30, tzinfo=LOCAL_TZ)
EARLY_1_JANUARY = datetime(2028, 1, 1, 0, 10, tzinfo=LOCAL_TZ)


def test_year_boundary_in_local_time(session, ward):
    series = series_of(session, ward.organisation.id, "incoming", "all")
    late = LATE_31_DECEMBER.astimezone(UTC)
    early = EARLY_1_JANUARY.astimezone(UTC)
    # In UTC both instants fall on 31 December 2027.
    assert late.date() == early.date()

    assert numbering.take_number(session, series, late) == (2027, 1)
    assert numbering.take_number(session, series, early) == (2028, 1)
    assert numbering.take_number(session, series, late) == (2027, 2)
    assert numbering.take_number(session, series, early) == (2028, 2)


def test_closed_year_keeps_next_year_open(session, ward):
    series = series_of(session, ward.organisation.id, "incoming", "all")
    register_books.close(session, ward.users["clerk"], "incoming", 2025)
    with pytest.raises(ServiceError):
        numbering.take_number(
            session, series, datetime(2025, 12, 31, 23, 30, tzinfo=LOCAL_TZ)
        )
    assert (
        numbering.take_number(
            session, series, datetime(2026, 1, 1, 0, 10, tzinfo=LOCAL_TZ)
        )[0]
        == 2026
    )


def test_issue_uses_listed_series_pattern(session, ward):
    other_ward = load_ward(session, OTHER_WARD)
    decisions = register_settings.create_series(
        session,
        ward.users["admin"],
        name="Sổ quyết định",
        secret=False,
        symbol_pattern="{loai}-{coquan}-{donvi}",
        type_names=["Quyết định"],
    )
    decision = issue_new(session, ward, other_ward, "Quyết định")
    report = issue_new(session, ward, other_ward, "Báo cáo")

    assert decision.series_id == decisions.id
    assert decision.number_and_notation == "01/QĐ-UBND-VP"
    assert report.series_id != decisions.id
    assert report.number_and_notation == "01/BC-UBND"
