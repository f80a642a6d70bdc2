"""Register pages: permissions, book, filters, print, export, closing, settings, CLI."""

import io

import pytest
from lxml import html as lxml_html
from openpyxl import load_workbook
from sqlalchemy import select

from vanban.models import AuditEvent, Document, NumberSeries
from vanban.services import numbering
from vanban.services.clock import now

from ..roster import OTHER_WARD, WARD_ROLES, load_ward, ward_username
from ..scenario import fresh
from ..unit.test_register_books import CITY, arrived

YEAR = now().year
BOOK = f"/registers/books/incoming/{YEAR}"


@pytest.fixture
def ward(session):
    return load_ward(session)


def add_arrived(session, ward, **fields) -> int:
    """Add and commit an arrived incoming document, for the requests to see."""
    document_id = arrived(session, ward, **fields).id
    session.commit()
    return document_id


def register_via_page(login_as, document_id, **data):
    clerk = login_as(ward_username("clerk"))
    return clerk.post(f"/registers/incoming/{document_id}", data)


# role -> may read registers, may read settings, may edit settings, may close
ACCESS = {
    "clerk": (True, True, False, True),
    "advisor": (True, False, False, False),
    "leader": (True, False, False, False),
    "head": (False, False, False, False),
    "officer": (False, False, False, False),
    "format_reviewer": (False, False, False, False),
    "admin": (True, True, True, True),
}


def test_access_table_covers_roles():
    assert set(ACCESS) == set(WARD_ROLES)


@pytest.mark.parametrize("role", sorted(ACCESS))
def test_role_page_permissions(login_as, session, ward, role):
    reads, reads_settings, edits, keeps = ACCESS[role]
    series = numbering.series_for(
        session, ward.organisation.id, "outgoing", typed=False, secret=False
    )
    series_id, series_name = series.id, series.name
    fresh()
    user = login_as(ward_username(role))

    for url in (
        "/registers/",
        BOOK,
        f"/registers/books/follow-up/{YEAR}/print",
        f"/registers/books/outgoing/{YEAR}/export",
    ):
        assert user.get(url).status_code == (200 if reads else 403), url
    assert user.get("/registers/settings").status_code == (
        200 if reads_settings else 403
    )
    response = user.post(
        f"/registers/settings/{series_id}",
        {"name": "Đổi tên", "symbol_pattern": ""},
    )
    assert response.status_code == (303 if edits else 403)
    response = user.post("/registers/books/outgoing/2025/close", {"confirm": "1"})
    assert response.status_code == (303 if keeps else 403)
    fresh()
    renamed = session.get(NumberSeries, series_id).name
    assert renamed == ("Đổi tên" if edits else series_name)


def test_other_organisation_series_not_found(login_as, session, ward):
    series = numbering.series_for(
        session, ward.organisation.id, "outgoing", typed=False, secret=False
    )
    series_id = series.id
    fresh()
    other_admin = login_as(ward_username("admin", OTHER_WARD))
    response = other_admin.post(
        f"/registers/settings/{series_id}", {"name": "X", "symbol_pattern": ""}
    )
    assert response.status_code == 404
    response = other_admin.post(
        f"/registers/series/{series_id}/void", {"year": str(YEAR), "reason": "x"}
    )
    assert response.status_code == 404


def test_other_organisation_book_hides_documents(login_as, session, ward):
    document_id = add_arrived(session, ward, subject="Chỉ của Ba Đình")
    assert register_via_page(login_as, document_id).status_code == 303
    other = login_as(ward_username("clerk", OTHER_WARD))
    assert "Chỉ của Ba Đình" not in other.get(BOOK).get_data(as_text=True)
    own = login_as(ward_username("clerk"))
    assert "Chỉ của Ba Đình" in own.get(BOOK).get_data(as_text=True)


def test_secret_register_for_clerk_and_leader(login_as):
    for role, status in (("clerk", 200), ("leader", 200), ("advisor", 403)):
        user = login_as(ward_username(role))
        assert user.get(f"{BOOK}?secret=1").status_code == status, role


def test_book_page_columns_and_fragment(login_as, session, ward):
    document_id = add_arrived(session, ward, subject="Văn bản xem trên sổ")
    register_via_page(login_as, document_id)
    clerk = login_as(ward_username("clerk"))

    page = clerk.get(BOOK).get_data(as_text=True)
    assert page.lstrip().lower().startswith("<!doctype html>")
    headers = page.split('id="register-table"')[1].split("</thead>")[0]
    positions = [
        headers.index(f">{column}<")
        for column in (
            "Ngày đến",
            "Số đến",
            "Tác giả",
            "Số, ký hiệu văn bản",
            "Ghi chú",
        )
    ]
    assert positions == sorted(positions)
    assert "Công văn: Văn bản xem trên sổ" in page
    assert f'href="/documents/{document_id}"' in page

    fragment = clerk.get(BOOK, htmx=True).get_data(as_text=True)
    assert fragment.lstrip().startswith('<div id="register-book">')
    assert "Văn bản xem trên sổ" in fragment


def test_book_filters(login_as, session, ward):
    first = add_arrived(
        session,
        ward,
        number="61",
        organ_name="Sở Tài chính",
        subject="Văn bản Sở Tài chính",
    )
    second = add_arrived(
        session, ward, number="62", urgency=3, subject="Văn bản hỏa tốc"
    )
    register_via_page(login_as, first)
    register_via_page(login_as, second)
    clerk = login_as(ward_username("clerk"))

    by_organ = clerk.get(f"{BOOK}?organ=tai+chinh").get_data(as_text=True)
    assert "Văn bản Sở Tài chính" in by_organ
    assert "Văn bản hỏa tốc" not in by_organ
    by_urgency = clerk.get(f"{BOOK}?urgency=3").get_data(as_text=True)
    assert "Văn bản hỏa tốc" in by_urgency
    assert "Văn bản Sở Tài chính" not in by_urgency
    last_year = clerk.get(f"{BOOK}?date_from={YEAR - 1}-01-01&date_to={YEAR - 1}-12-31")
    assert "Văn bản hỏa tốc" not in last_year.get_data(as_text=True)


@pytest.mark.parametrize(
    "query, message",
    [
        ("date_from=2026-02-30", "Từ ngày không hợp lệ"),
        ("date_from=2026-05-01&date_to=2026-04-01", "phải trước"),
        ("urgency=9", "Độ khẩn không hợp lệ"),
        ("type=Kh%C3%B4ng+c%C3%B3", "Loại văn bản không hợp lệ"),
        ("department=999999", "Phòng ban không hợp lệ"),
        ("date_to=9999-12-31", "“Đến ngày” phải nằm trong khoảng từ năm 1900"),
        ("date_from=0001-01-01", "“Từ ngày” phải nằm trong khoảng từ năm 1900"),
    ],
)
def test_bad_filter_rejected(login_as, query, message):
    clerk = login_as(ward_username("clerk"))
    response = clerk.get(f"{BOOK}?{query}")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert message in page
    assert 'name="date_from"' in page


@pytest.mark.parametrize("query", ["date_to=9999-12-31", "date_from=0001-01-01"])
def test_extreme_dates_rejected_on_export(login_as, query):
    clerk = login_as(ward_username("clerk"))
    response = clerk.get(f"{BOOK}/export?{query}")
    assert response.status_code == 422
    assert "phải nằm trong khoảng từ năm 1900" in response.get_data(as_text=True)


def test_links_ignore_stray_query_keys(login_as):
    clerk = login_as(ward_username("clerk"))
    response = clerk.get(f"{BOOK}?year=1&slug=x&urgency=1")
    assert response.status_code == 200
    assert f"/registers/books/incoming/{YEAR}/print?urgency=1" in response.get_data(
        as_text=True
    )


def test_unknown_book_and_year(login_as):
    clerk = login_as(ward_username("clerk"))
    assert clerk.get(f"/registers/books/secret/{YEAR}").status_code == 404
    assert clerk.get("/registers/books/incoming/1999").status_code == 404
    assert clerk.get("/registers/books/incoming/99999").status_code == 404


def test_print_page_has_cover(login_as, session, ward):
    document_id = add_arrived(session, ward, subject="Văn bản để in")
    register_via_page(login_as, document_id)
    leader = login_as(ward_username("leader"))
    page = leader.get(f"{BOOK}/print").get_data(as_text=True)

    assert 'id="cover"' in page
    assert "SỔ ĐĂNG KÝ VĂN BẢN ĐẾN" in page
    assert f"Năm {YEAR}" in page
    assert "register-print.css" in page
    assert page.index('id="cover"') < page.index('id="register-table"')
    assert "Công văn: Văn bản để in" in page
    css = leader.get("/static/css/register-print.css").get_data(as_text=True)
    assert "size: A4 landscape" in css
    assert "break-after: page" in css


def test_export_download(login_as, session, ward):
    document_id = add_arrived(session, ward, subject="=1+2")
    register_via_page(login_as, document_id)
    clerk = login_as(ward_username("clerk"))
    response = clerk.get(f"/registers/books/incoming/{YEAR}/export")

    assert response.status_code == 200
    assert response.mimetype.endswith("spreadsheetml.sheet")
    assert f"so-incoming-{YEAR}.xlsx" in response.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(response.data))["Sổ"]
    assert sheet["A1"].value == "Ngày đến"
    values = [row[5].value for row in sheet.iter_rows(min_row=2)]
    assert "Công văn: =1+2" in values


def test_close_blocks_registering(login_as, session, ward):
    document_id = add_arrived(session, ward)
    clerk = login_as(ward_username("clerk"))
    unconfirmed = clerk.post(f"/registers/books/incoming/{YEAR}/close")
    assert unconfirmed.status_code == 422
    assert "hãy đánh dấu ô xác nhận" in unconfirmed.get_data(as_text=True)
    fresh()
    assert numbering.closure_of(session, ward.organisation.id, "incoming", YEAR) is None
    closing = clerk.post(f"/registers/books/incoming/{YEAR}/close", {"confirm": "1"})
    assert closing.status_code == 303
    index = clerk.get("/registers/").get_data(as_text=True)
    assert "Đã đóng sổ" in index

    response = register_via_page(login_as, document_id)
    assert response.status_code == 422
    assert "đã khóa" in response.get_data(as_text=True)
    fresh()
    assert session.get(Document, document_id).register_number is None

    leader = login_as(ward_username("leader"))
    assert "Đã đóng sổ" in leader.get(BOOK).get_data(as_text=True)
    assert leader.post(f"/registers/books/incoming/{YEAR}/reopen").status_code == 403
    assert clerk.post(f"/registers/books/incoming/{YEAR}/reopen").status_code == 403
    admin = login_as(ward_username("admin"))
    assert admin.post(f"/registers/books/incoming/{YEAR}/reopen").status_code == 303
    assert register_via_page(login_as, document_id).status_code == 303
    fresh()
    actions = session.scalars(
        select(AuditEvent.action).where(AuditEvent.action.like("register.%"))
    ).all()
    assert actions == ["register.close", "register.reopen"]


def test_void_number_from_page(login_as, session, ward):
    series = numbering.series_for(
        session, ward.organisation.id, "incoming", typed=True, secret=False
    )
    series_id = series.id
    fresh()
    clerk = login_as(ward_username("clerk"))
    response = clerk.post(
        f"/registers/series/{series_id}/void",
        {"year": str(YEAR), "number": "", "reason": "Giữ số rồi hủy"},
    )
    assert response.status_code == 303
    page = clerk.get(BOOK).get_data(as_text=True)
    assert "đã hủy, lý do: Giữ số rồi hủy" in page
    rejected = [
        ("abc", "Lý do vẫn còn", "Số cần hủy phải là một số nguyên dương."),
        ("999", "Số chưa cấp", "Số 999 chưa được cấp"),
    ]
    for number, reason, message in rejected:
        response = clerk.post(
            f"/registers/series/{series_id}/void",
            {"year": str(YEAR), "number": number, "reason": reason},
        )
        assert response.status_code == 422
        page = response.get_data(as_text=True)
        assert message in page
        # The form keeps what was typed.
        assert f">{reason}</textarea>" in page
        assert f'value="{number}"' in page


def test_duplicate_warning_on_document(login_as, session, ward):
    earlier = add_arrived(session, ward, number="77", notation="QĐ-UBND")
    later = add_arrived(
        session, ward, number="077", notation="QĐ-UBND", organ_name=CITY.upper()
    )
    assert register_via_page(login_as, earlier).status_code == 303
    clerk = login_as(ward_username("clerk"))

    page = clerk.get(f"/documents/{later}").get_data(as_text=True)
    assert 'id="duplicate-warning"' in page
    assert f'href="/documents/{earlier}"' in page
    response = clerk.post(f"/registers/incoming/{later}", {})
    assert response.status_code == 422
    assert "có thể đã được nhận trước đây" in response.get_data(as_text=True)


def test_duplicate_confirmed_from_other_year(login_as, session, ward):
    earlier = add_arrived(
        session,
        ward,
        exchange_id="000.00.00.H01,2026/11/02,05/UBND-VP",
        state="registered",
        register_year=YEAR - 1,
        register_number=3,
        series_id=numbering.series_for(
            session, ward.organisation.id, "incoming", typed=True, secret=False
        ).id,
    )
    later = add_arrived(
        session, ward, exchange_id="000.00.00.H01,2026/11/02,05/UBND-VP"
    )
    response = register_via_page(login_as, later, confirm_duplicate="1")
    assert response.status_code == 303
    fresh()
    assert session.get(Document, later).state == "registered"
    assert earlier != later


def test_settings_edit_keeps_typed_values(login_as, session, ward):
    admin = login_as(ward_username("admin"))
    response = admin.post(
        "/registers/settings/new",
        {
            "name": "Sổ quyết định",
            "symbol_pattern": "{sai}",
            "type_names": "Quyết định",
        },
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "không hợp lệ: {sai}" in html
    assert 'value="Sổ quyết định"' in html

    response = admin.post(
        "/registers/settings/new",
        {
            "name": "Sổ quyết định",
            "symbol_pattern": "{loai}-{coquan}",
            "type_names": "Quyết định",
        },
    )
    assert response.status_code == 303
    fresh()
    created = session.scalar(
        select(NumberSeries).where(NumberSeries.name == "Sổ quyết định")
    )
    assert created.type_names == ["Quyết định"]
    event = session.scalar(
        select(AuditEvent).where(AuditEvent.action == "settings.series.create")
    )
    assert event.detail["after"]["type_names"] == ["Quyết định"]
    assert event.detail["before"] == {}
    clerk = login_as(ward_username("clerk"))
    page = clerk.get("/registers/settings").get_data(as_text=True)
    assert "Sổ quyết định" in page
    assert "chỉ được xem" in page
    assert "/registers/settings/new" not in page


def test_nav_link_for_readers(login_as):
    clerk = login_as(ward_username("clerk")).get("/").get_data(as_text=True)
    officer = login_as(ward_username("officer")).get("/").get_data(as_text=True)
    assert ">Sổ văn bản</a>" in clerk
    assert ">Sổ văn bản</a>" not in officer


# Command line


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def test_cli_export_writes_workbook(runner, session, ward, tmp_path, login_as):
    document_id = add_arrived(session, ward, subject="Văn bản xuất bằng lệnh")
    register_via_page(login_as, document_id)
    target = tmp_path / "so-den.xlsx"
    fresh()
    result = runner.invoke(
        args=[
            "registers",
            "export",
            "--org",
            ward.organisation.code,
            "--kind",
            "incoming",
            "--year",
            str(YEAR),
            str(target),
        ]
    )
    assert result.exit_code == 0, result.output
    assert "Đã ghi Sổ đăng ký văn bản đến" in result.output
    sheet = load_workbook(target)["Sổ"]
    assert [cell.value for cell in sheet[1]][0] == "Ngày đến"
    subjects = [row[5].value for row in sheet.iter_rows(min_row=2)]
    assert "Công văn: Văn bản xuất bằng lệnh" in subjects


@pytest.mark.parametrize(
    "args, message",
    [
        (["--kind", "incoming", "--year", "2026"], "thiếu --org"),
        (["--org", "X", "--kind", "sideways", "--year", "2026"], "--kind"),
        (["--org", "X", "--kind", "outgoing", "--year", "20x6"], "--year"),
        (["--org", "X", "--kind", "outgoing", "--year", "1990"], "không hợp lệ"),
        (
            ["--org", "000.99.99.H99", "--kind", "outgoing", "--year", "2026"],
            "không có đơn vị",
        ),
    ],
)
def test_cli_export_rejects(runner, tmp_path, args, message):
    result = runner.invoke(
        args=["registers", "export", *args, str(tmp_path / "x.xlsx")]
    )
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "x.xlsx").exists()


def test_cli_export_needs_xlsx_name(runner, ward, tmp_path):
    result = runner.invoke(
        args=[
            "registers",
            "export",
            "--org",
            ward.organisation.code,
            "--kind",
            "outgoing",
            "--year",
            "2026",
            str(tmp_path / "x.csv"),
        ]
    )
    assert result.exit_code == 2
    assert ".xlsx" in result.output


def test_symbol_pattern_length_limited(login_as, session, ward):
    admin = login_as(ward_username("admin"))
    typed = {
        "name": "Sổ quyết định",
        "symbol_pattern": "x" * 500,
        "type_names": "Quyết định",
    }
    response = admin.post("/registers/settings/new", typed)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Mẫu ký hiệu quá dài" in page
    assert 'value="Sổ quyết định"' in page
    longest = "{loai}-{coquan}-{donvi}-" + "x" * 6
    assert numbering.check_symbol_pattern(longest) == longest
    too_long = longest + "x"
    response = admin.post(
        "/registers/settings/new", {**typed, "symbol_pattern": too_long}
    )
    assert response.status_code == 422
    fresh()
    assert (
        session.scalar(select(NumberSeries).where(NumberSeries.name == "Sổ quyết định"))
        is None
    )


def test_settings_show_which_series_numbers_each_type(login_as):
    admin = login_as(ward_username("admin"))
    response = admin.post(
        "/registers/settings/new",
        {"name": "Sổ CV mới", "symbol_pattern": "", "type_names": "Công văn"},
    )
    assert response.status_code == 303
    page = lxml_html.fromstring(admin.get("/registers/settings").get_data(as_text=True))
    rows = {
        row.xpath("string(td[1])").strip(): row.xpath("string(td[5])").split()
        for row in page.xpath('//table[@class="list"]/tbody/tr')
    }
    assert rows["Sổ CV mới"] == ["Công", "văn"]
    assert rows["Sổ công văn đi"][0] == "Không"
    assert "Quyết" in rows["Sổ văn bản đi có tên loại"]
    assert "“Đang cấp số cho”" in admin.get("/registers/settings").get_data(
        as_text=True
    )
