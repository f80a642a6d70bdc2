"""Register books: columns, rows, gaps, closing, filters, duplicates and XLSX."""

import io
import unicodedata
import zipfile
from datetime import UTC, date, datetime

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from vanban.models import AuditEvent, Document, NumberSeries
from vanban.services import (
    ServiceError,
    clock,
    incoming,
    numbering,
    register_books,
    register_settings,
)
from vanban.services.clock import now

from ..roster import OTHER_WARD, load_ward

# Phụ lục IV of Nghị định 30/2020/NĐ-CP, column by column.
EXPECTED_INCOMING = [
    "Ngày đến",
    "Số đến",
    "Tác giả",
    "Số, ký hiệu văn bản",
    "Ngày tháng văn bản",
    "Tên loại và trích yếu nội dung văn bản",
    "Đơn vị hoặc người nhận",
    "Ngày chuyển",
    "Ký nhận",
    "Ghi chú",
]
EXPECTED_OUTGOING = [
    "Số, ký hiệu văn bản",
    "Ngày tháng văn bản",
    "Tên loại và trích yếu nội dung văn bản",
    "Người ký",
    "Nơi nhận văn bản",
    "Đơn vị, người nhận bản lưu",
    "Số lượng bản",
    "Ngày chuyển",
    "Ký nhận",
    "Ghi chú",
]
EXPECTED_FOLLOW_UP = [
    "Số đến",
    "Tên loại, số, ký hiệu, ngày tháng và cơ quan ban hành",
    "Đơn vị hoặc người nhận",
    "Thời hạn giải quyết",
    "Tiến độ giải quyết",
    "Số, ký hiệu văn bản trả lời",
    "Ghi chú",
]
CITY = "UBND Thành phố Hà Nội"
INJECTIONS = ['=HYPERLINK("http://x.invalid")', "+1+1", "-2+3", "@SUM(A1)", "\tcmd"]


@pytest.fixture
def ward(session):
    return load_ward(session)


def arrived(session, ward, **fields) -> Document:
    values = {
        "organisation_id": ward.organisation.id,
        "direction": "incoming",
        "state": "arrived",
        "type_name": "Công văn",
        "number": "05",
        "notation": "UBND-VP",
        "organ_name": CITY,
        "subject": "V/v thử sổ văn bản đến",
        "issued_date": date(2026, 11, 2),
        "received_at": now(),
    }
    values.update(fields)
    document = Document(**values)
    session.add(document)
    session.flush()
    return document


def registered(session, ward, **fields) -> Document:
    document = arrived(session, ward, **fields)
    incoming.register(session, ward.users["clerk"], document, confirm_duplicate=True)
    session.flush()
    return document


def incoming_series(session, ward, secret=False) -> NumberSeries:
    return numbering.series_for(
        session, ward.organisation.id, "incoming", typed=True, secret=secret
    )


@pytest.mark.parametrize(
    "slug, expected",
    [
        ("incoming", EXPECTED_INCOMING),
        ("outgoing", EXPECTED_OUTGOING),
        ("follow-up", EXPECTED_FOLLOW_UP),
    ],
)
def test_columns_follow_decree(slug, expected):
    assert list(register_books.KINDS[slug].columns) == expected


def test_incoming_rows_in_number_order(session, ward):
    year = now().year
    first = registered(session, ward, number="07", subject="Văn bản một")
    second = registered(session, ward, number="08", subject="Văn bản hai", urgency=1)
    book = register_books.build_book(session, ward.organisation, "incoming", year)
    rows = {row.document_id: row for row in book.rows if row.document_id}

    assert list(rows)[-2:] == [first.id, second.id]
    cells = rows[second.id].cells
    assert cells[1] == second.register_number
    assert cells[1] == first.register_number + 1
    assert cells[2] == CITY
    assert cells[3] == "08/UBND-VP"
    assert cells[4] == date(2026, 11, 2)
    assert cells[5] == "Công văn: Văn bản hai"
    assert isinstance(cells[0], date)
    assert cells[9] == "Khẩn"


def test_other_organisation_rows_excluded(session, ward):
    document = registered(session, ward)
    other = load_ward(session, OTHER_WARD)
    book = register_books.build_book(
        session, other.organisation, "incoming", document.register_year
    )
    assert document.id not in [row.document_id for row in book.rows]


def test_secret_documents_in_own_register(session, ward):
    secret = registered(session, ward, secrecy=1, number="31")
    year = secret.register_year
    open_book = register_books.build_book(session, ward.organisation, "incoming", year)
    secret_book = register_books.build_book(
        session, ward.organisation, "incoming", year, secret=True
    )
    assert secret.id not in [row.document_id for row in open_book.rows]
    assert secret.id in [row.document_id for row in secret_book.rows]


def test_gap_shows_void_reason(session, ward):
    document = registered(session, ward)
    series = incoming_series(session, ward)
    year = document.register_year
    numbering.take_number(session, series, now())
    numbering.take_number(session, series, now())
    top = numbering.last_number(session, series, year)
    numbering.void_number(
        session, ward.users["clerk"], series, year, top - 1, "Nhập nhầm văn bản"
    )

    gaps = {gap.number: gap.reason for gap in numbering.gaps(session, series, year)}
    assert gaps[top - 1] == "Nhập nhầm văn bản"
    assert gaps[top] is None
    book = register_books.build_book(session, ward.organisation, "incoming", year)
    notes = [row.cells[-1] for row in book.rows if row.gap]
    assert f"Số {top - 1} bị bỏ trống: Nhập nhầm văn bản" in notes
    assert f"Số {top} bị bỏ trống, chưa ghi lý do" in notes


def test_void_next_number_takes_it(session, ward):
    series = incoming_series(session, ward)
    year = now().year
    before = numbering.last_number(session, series, year)
    voided = numbering.void_number(
        session, ward.users["clerk"], series, year, None, "Giữ số cho bản giấy, đã hủy"
    )
    assert voided.number == before + 1
    assert numbering.last_number(session, series, year) == before + 1
    event = session.scalar(
        select(AuditEvent).where(AuditEvent.action == "register.number.void")
    )
    assert event.detail["number"] == voided.number


@pytest.mark.parametrize(
    "offset, reason, message",
    [
        (0, "Lý do", "đã được cấp cho một văn bản"),
        (1, "Lý do", "chưa được cấp"),
        (0, "   ", "lý do hủy số"),
    ],
)
def test_void_number_rejects(session, ward, offset, reason, message):
    document = registered(session, ward)
    series = incoming_series(session, ward)
    with pytest.raises(ServiceError) as rejected:
        numbering.void_number(
            session,
            ward.users["clerk"],
            series,
            document.register_year,
            document.register_number + offset,
            reason,
        )
    assert message in rejected.value.message


def test_closed_year_takes_no_number(session, ward):
    clerk = ward.users["clerk"]
    series = incoming_series(session, ward)
    in_2025 = datetime(2025, 6, 1, tzinfo=UTC)
    register_books.close(session, clerk, "incoming", 2025)

    with pytest.raises(ServiceError) as closed:
        numbering.take_number(session, series, in_2025)
    assert "đã khóa" in closed.value.message
    outgoing = numbering.series_for(
        session, ward.organisation.id, "outgoing", typed=False, secret=False
    )
    assert numbering.take_number(session, outgoing, in_2025) == (2025, 1)

    register_books.reopen(session, ward.users["admin"], "incoming", 2025)
    assert numbering.take_number(session, series, in_2025) == (2025, 1)
    actions = session.scalars(
        select(AuditEvent.action).where(AuditEvent.action.like("register.%"))
    ).all()
    assert actions == ["register.close", "register.reopen"]


def test_close_twice_and_future_rejected(session, ward):
    clerk = ward.users["clerk"]
    register_books.close(session, clerk, "outgoing", 2025)
    with pytest.raises(ServiceError):
        register_books.close(session, clerk, "outgoing", 2025)
    with pytest.raises(ServiceError):
        register_books.close(session, clerk, "outgoing", now().year + 1)


def test_filters_select_rows(session, ward):
    kt = ward.department(session, "KT")
    plain = registered(session, ward, number="41", organ_name="Sở Tài chính")
    urgent = registered(
        session,
        ward,
        number="42",
        type_name="Quyết định",
        urgency=2,
        department_id=kt.id,
    )
    year = plain.register_year

    def ids(**filters):
        book = register_books.build_book(
            session,
            ward.organisation,
            "incoming",
            year,
            filters=register_books.BookFilters(**filters),
        )
        return {row.document_id for row in book.rows}

    assert plain.id in ids(organ="so tai chinh")
    assert urgent.id not in ids(organ="so tai chinh")
    assert ids(type_name="Quyết định") >= {urgent.id}
    assert plain.id not in ids(type_name="Quyết định")
    assert urgent.id in ids(urgency=2)
    assert plain.id not in ids(urgency=2)
    assert ids(department_id=kt.id) == {urgent.id}
    today = now().date()
    assert plain.id in ids(date_from=date(year, 1, 1), date_to=date(year, 12, 31))
    assert ids(date_from=date(year - 1, 1, 1), date_to=date(year - 1, 12, 31)) == set()
    assert None not in ids(date_from=today)


def test_follow_up_row(session, ward):
    document = registered(session, ward, due_date=date(2020, 1, 2), number="12")
    book = register_books.build_book(
        session, ward.organisation, "follow-up", document.register_year
    )
    row = next(row for row in book.rows if row.document_id == document.id)
    assert row.cells[0] == document.register_number
    assert row.cells[1] == f"Công văn số 12/UBND-VP ngày 02/11/2026 của {CITY}"
    assert row.cells[3] == date(2020, 1, 2)
    assert row.cells[4].endswith("(quá hạn)")


def workbook_of(book):
    data = register_books.workbook_bytes(book)
    return data, load_workbook(io.BytesIO(data))


def test_xlsx_header_dates_and_text(session, ward):
    documents = [
        registered(session, ward, number=f"{50 + i}", subject=text, organ_name=text)
        for i, text in enumerate(INJECTIONS)
    ]
    book = register_books.build_book(
        session, ward.organisation, "incoming", documents[0].register_year
    )
    data, workbook = workbook_of(book)
    sheet = workbook["Sổ"]

    header = [cell.value for cell in sheet[1]]
    assert header == EXPECTED_INCOMING
    by_number = {row[1].value: row for row in sheet.iter_rows(min_row=2)}
    for document, text in zip(documents, INJECTIONS, strict=True):
        row = by_number[document.register_number]
        assert row[0].is_date
        assert row[0].number_format == "DD/MM/YYYY"
        assert row[4].is_date
        assert row[4].value.date() == date(2026, 11, 2)
        assert row[2].data_type == "s"
        assert row[2].value == text
        assert row[2].quotePrefix is True
        assert row[5].value == f"Công văn: {text}"
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        sheet_xml = archive.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet_xml
    assert "<f " not in sheet_xml


def test_xlsx_drops_illegal_characters(session, ward):
    document = registered(session, ward, subject="Trích yếu\x01 có ký tự lạ")
    book = register_books.build_book(
        session, ward.organisation, "incoming", document.register_year
    )
    _, workbook = workbook_of(book)
    subjects = [row[5].value for row in workbook["Sổ"].iter_rows(min_row=2)]
    assert "Công văn: Trích yếu có ký tự lạ" in subjects


# Duplicate warning


@pytest.mark.parametrize(
    "fields",
    [
        {"exchange_id": "000.00.00.H01,2026/11/02,05/UBND-VP", "number": "99"},
        {"number": "5"},
        {"notation": "ubnd-vp "},
        {"organ_name": unicodedata.normalize("NFD", CITY)},
    ],
)
def test_duplicate_variants_found(session, ward, fields):
    earlier = registered(
        session, ward, exchange_id="000.00.00.H01,2026/11/02,05/UBND-VP"
    )
    later = arrived(session, ward, **fields)
    assert incoming.duplicates_of(session, later) == [earlier]


def test_lookalike_letter_duplicate(session, ward):
    earlier = registered(session, ward, number="15", notation="QĐ-UBND")
    # U+00D0 (Ð, Icelandic eth) looks like U+0110 (Đ).
    later = Document(
        organisation_id=ward.organisation.id,
        direction="incoming",
        state="arrived",
        subject="Bản sao",
        number="15",
        notation="Q\u00d0-UBND",
        organ_name=CITY,
    )
    session.add(later)
    session.flush()
    # Store the look-alike as it arrived, bypassing any normalisation.
    session.execute(
        Document.__table__.update()
        .where(Document.id == later.id)
        .values(notation="Q\u00d0-UBND")
    )
    session.expire(later)
    assert later.notation == "Q\u00d0-UBND"
    assert incoming.duplicates_of(session, later) == [earlier]


@pytest.mark.parametrize(
    "fields",
    [{"number": "06"}, {"organ_name": "Sở Nội vụ"}, {"notation": "UBND-KT"}],
)
def test_different_document_not_duplicate(session, ward, fields):
    registered(session, ward)
    later = arrived(session, ward, **fields)
    assert incoming.duplicates_of(session, later) == []


def test_register_needs_confirmation(session, ward):
    earlier = registered(session, ward)
    later = arrived(session, ward, number="5", notation="ubnd-vp")
    clerk = ward.users["clerk"]
    with pytest.raises(ServiceError) as warned:
        incoming.register(session, clerk, later)
    assert earlier.number_and_notation in warned.value.message
    assert later.register_number is None

    incoming.register(session, clerk, later, confirm_duplicate=True)
    assert later.state == "registered"
    event = session.scalar(
        select(AuditEvent).where(
            AuditEvent.document_id == later.id, AuditEvent.action == "register"
        )
    )
    assert event.detail["duplicate_of"] == [earlier.id]


# Series settings


def test_listed_series_numbers_its_types(session, ward):
    admin = ward.users["admin"]
    created = register_settings.create_series(
        session,
        admin,
        name="Sổ quyết định",
        secret=False,
        symbol_pattern="{loai}-{coquan}-{donvi}",
        type_names=["Quyết định"],
    )
    picked = numbering.series_for(
        session,
        ward.organisation.id,
        "outgoing",
        typed=True,
        secret=False,
        type_name="Quyết định",
    )
    assert picked.id == created.id
    other = numbering.series_for(
        session,
        ward.organisation.id,
        "outgoing",
        typed=True,
        secret=False,
        type_name="Báo cáo",
    )
    assert other.scope == "typed"
    document = Document(
        organisation_id=ward.organisation.id,
        direction="outgoing",
        state="approved",
        subject="Quyết định thử",
        type_abbreviation="QĐ",
        series_id=created.id,
        department_id=ward.department(session, "KT").id,
    )
    session.add(document)
    session.flush()
    assert numbering.outgoing_notation(document, ward.organisation) == "QĐ-UBND-KT"

    # A pattern stored before lengths were checked falls back to the default rule.
    created.symbol_pattern = "x" * 60
    session.flush()
    assert numbering.outgoing_notation(document, ward.organisation) == "QĐ-UBND"


def test_type_in_two_series_rejected(session, ward):
    admin = ward.users["admin"]
    register_settings.create_series(
        session,
        admin,
        name="Sổ QĐ",
        secret=False,
        symbol_pattern="",
        type_names=["Quyết định"],
    )
    with pytest.raises(ServiceError) as rejected:
        register_settings.create_series(
            session,
            admin,
            name="Sổ khác",
            secret=False,
            symbol_pattern="",
            type_names=["Quyết định", "Báo cáo"],
        )
    assert rejected.value.field == "type_names"


@pytest.mark.parametrize(
    "pattern, field_error",
    [("{loai}-{xyz}", True), ("QĐ/UBND", True), ("{loai} {coquan}", False)],
)
def test_symbol_pattern_checked(pattern, field_error):
    if field_error:
        with pytest.raises(ServiceError) as rejected:
            numbering.check_symbol_pattern(pattern)
        assert rejected.value.field == "symbol_pattern"
    else:
        assert numbering.check_symbol_pattern(pattern) == "{loai}{coquan}"


def test_series_update_is_audited(session, ward):
    admin = ward.users["admin"]
    series = numbering.series_for(
        session, ward.organisation.id, "outgoing", typed=False, secret=False
    )
    old_name = series.name
    register_settings.update_series(
        session, admin, series, name="Sổ công văn", symbol_pattern="{coquan}-{donvi}"
    )
    event = session.scalar(
        select(AuditEvent).where(AuditEvent.action == "settings.series.update")
    )
    assert event.organisation_id == ward.organisation.id
    assert event.user_id == admin.id
    assert event.detail["before"]["name"] == old_name
    assert event.detail["after"]["name"] == "Sổ công văn"
    assert event.detail["after"]["symbol_pattern"] == "{coquan}-{donvi}"


def test_two_senders_same_symbol_both_registered(session, ward):
    """Incoming documents keep their senders' numbers, which may repeat in a year."""
    first = registered(session, ward, organ_name="UBND phường Ngọc Hà")
    second = registered(session, ward, organ_name="UBND phường Giảng Võ")
    assert (first.number, first.notation) == (second.number, second.notation)
    assert first.register_year == second.register_year
    assert second.register_number == first.register_number + 1


def test_day_bounds_refuse_days_outside_the_window():
    assert clock.day_start(date(1900, 1, 1)).tzinfo == clock.LOCAL_TZ
    assert clock.day_end(date(2100, 12, 31)) == datetime(
        2101, 1, 1, tzinfo=clock.LOCAL_TZ
    )
    for day in (date(1, 1, 1), date(1899, 12, 31), date(2101, 1, 1), date.max):
        with pytest.raises(ServiceError, match="từ năm 1900 đến năm 2100"):
            clock.day_end(day)
        with pytest.raises(ServiceError, match="“Từ ngày”"):
            register_books.parse_date(day.isoformat().zfill(10), "Từ ngày")
