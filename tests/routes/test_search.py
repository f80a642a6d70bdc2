"""Search page: folding, attachment text, ranking, highlights, permissions, paging."""

import io
import re
import unicodedata
from datetime import date

import docx
import pytest

from vanban.models import Document

from ..roster import load_ward
from ..scenario import city_issues_guide, fresh

SUBJECT = "Quyết định kiện toàn Tổ công tác Đề án Đồng Xoài"


def add_document(session, ward="badinh", **fields) -> Document:
    """Save an incoming document of the ward, which the flush hook indexes."""
    values = {
        "organisation_id": load_ward(session, ward).organisation.id,
        "direction": "incoming",
        "state": "registered",
        "subject": SUBJECT,
        "organ_name": "UBND Thành phố Hà Nội",
        "issued_date": date(2026, 3, 2),
    }
    values.update(fields)
    document = Document(**values)
    session.add(document)
    session.commit()
    return document


def found_ids(user, **params) -> list[int]:
    response = user.get("/search/", query_string=params, htmx=True)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    html = response.get_data(as_text=True)
    return [int(i) for i in re.findall(r'href="/documents/(\d+)"', html)]


@pytest.fixture
def clerk(login_as):
    return login_as("badinh.vanthu")


@pytest.mark.parametrize(
    "query",
    [
        "quyet dinh dong xoai",
        "QUYẾT ĐỊNH ĐỒNG XOÀI",
        "Quyết định Đồng Xoài",
        unicodedata.normalize("NFC", "Quyết định Đồng Xoài"),
        unicodedata.normalize("NFD", "Quyết định Đồng Xoài"),
        unicodedata.normalize("NFD", "QUYẾT ĐỊNH ĐỒNG XOÀI"),
        "dong xoai",
        "đồng XOÀI",
        "\u00d0ồng xoài",
    ],
)
def test_search_folds_every_spelling(session, clerk, query):
    document = add_document(session)
    assert found_ids(clerk, q=query) == [document.id]


def test_search_stored_nfd_subject(session, clerk):
    document = add_document(session, subject=unicodedata.normalize("NFD", SUBJECT))
    assert found_ids(clerk, q="quyet dinh dong xoai") == [document.id]
    assert found_ids(clerk, q="Quyết định Đồng Xoài") == [document.id]


def test_search_words_in_any_order(session, clerk):
    document = add_document(session)
    assert found_ids(clerk, q="xoai de an quyet") == [document.id]
    assert found_ids(clerk, q="dong xoai khong-co-tu-nay") == []


def test_search_short_words(session, clerk):
    document = add_document(session, subject="Kế hoạch Đợt 2 về an toàn")
    assert found_ids(clerk, q="dot 2") == [document.id]
    assert document.id in found_ids(clerk, q="an")
    assert found_ids(clerk, q="dot 3") == []


def test_search_number_and_symbol(session, clerk):
    document = add_document(session, number="15", notation="QĐ-UBND")
    assert found_ids(clerk, q="15/QĐ-UBND") == [document.id]
    assert found_ids(clerk, q="15/qd-ubnd") == [document.id]
    assert found_ids(clerk, q="16/QD-UBND") == []


@pytest.mark.parametrize("query", ["%", "_", "quyet%dinh", "q_yet", '"'])
def test_search_wildcards_literal(session, clerk, query):
    add_document(session)
    assert found_ids(clerk, q=query) == []


def test_search_ranks_subject_above_text(session, clerk):
    # Created oldest first, so newest-first order would be the reverse.
    whole_subject = add_document(session, subject="Kế hoạch vùng Pác Bó")
    text_only = add_document(
        session, subject="Thông báo lịch họp", description="Về vùng Pác Bó"
    )
    part_subject = add_document(
        session, subject="Báo cáo Pác Bó", description="Khảo sát vùng núi"
    )
    ranked = found_ids(clerk, q="vung pac bo")
    assert ranked == [whole_subject.id, part_subject.id, text_only.id]
    newest = found_ids(clerk, q="vung pac bo", sort="newest")
    assert newest == [part_subject.id, text_only.id, whole_subject.id]


def test_search_ranks_number_first(session, clerk):
    subject_only = add_document(session, subject="Báo cáo 45/BC về kinh tế")
    number = add_document(
        session, subject="Báo cáo kinh tế", number="45", notation="BC"
    )
    assert found_ids(clerk, q="45/bc") == [number.id, subject_only.id]


def test_search_highlight_is_escaped(session, clerk):
    add_document(session, subject="<script>alert('quyết')</script> Quyết định")
    response = clerk.get("/search/", query_string={"q": "quyet"}, htmx=True)
    html = response.get_data(as_text=True)
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#39;<mark>quyết</mark>&#39;)&lt;/script&gt;" in html
    assert "<mark>Quyết</mark> định" in html


def test_search_highlight_keeps_diacritics(session, clerk):
    add_document(session)
    html = clerk.get("/search/?q=QUYET+DINH", htmx=True).get_data(as_text=True)
    assert "<mark>Quyết</mark> <mark>định</mark>" in html


def test_search_other_ward_never_shown(session, clerk, login_as):
    mine = add_document(session)
    theirs = add_document(session, ward="ngocha")
    assert found_ids(clerk, q="dong xoai") == [mine.id]
    other = login_as("ngocha.vanthu")
    assert found_ids(other, q="dong xoai") == [theirs.id]
    # An officer reads only documents held, written or assigned to them.
    officer = login_as("badinh.chuyenvien")
    assert found_ids(officer, q="dong xoai") == []


def test_search_officer_sees_held_document(session, login_as):
    ward = load_ward(session)
    held = add_document(session, holder_id=ward.users["officer"].id)
    add_document(session)
    officer = login_as("badinh.chuyenvien")
    assert found_ids(officer, q="dong xoai") == [held.id]


def test_search_finds_pdf_attachment_text(login_as):
    # The guide's PDF contains "THEO MÔ HÌNH HAI CẤP", and its subject does not.
    _, incoming_id = city_issues_guide(login_as, subject="Văn bản thử tìm nội dung")
    clerk = login_as("badinh.vanthu")
    assert incoming_id in found_ids(clerk, q="mo hinh hai cap")
    html = clerk.get("/search/?q=mo+hinh+hai+cap", htmx=True).get_data(as_text=True)
    assert "<mark>MÔ</mark> <mark>HÌNH</mark> <mark>HAI</mark> <mark>CẤP</mark>" in html


def docx_bytes(*paragraphs: str) -> bytes:
    document = docx.Document()
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def test_search_finds_docx_attachment_text(login_as):
    clerk = login_as("thanhpho.vanthu")
    data = docx_bytes("Mở đầu", "Nội dung về bồi dưỡng cán bộ cơ sở năm 2026")
    response = clerk.post(
        "/documents/new",
        {
            "type_name": "Công văn",
            "subject": "Công văn thử đính kèm DOCX",
            "description": "",
            "signer_position": "Chánh Văn phòng",
            "signer_name": "Người ký (demo)",
            "urgency": "0",
            "secrecy": "0",
            "files": (io.BytesIO(data), "cong-van.docx"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 303, response.get_data(as_text=True)[:1000]
    document_id = int(response.headers["Location"].rsplit("/", 1)[-1])
    assert found_ids(clerk, q="BOI DUONG can bo") == [document_id]
    assert found_ids(clerk, content="bồi dưỡng") == [document_id]
    assert found_ids(clerk, subject="bồi dưỡng") == []


def test_search_index_follows_edit(session, clerk):
    document = add_document(session)
    document.subject = "Thông báo kết luận giao ban"
    session.commit()
    assert found_ids(clerk, q="giao ban") == [document.id]
    assert found_ids(clerk, q="dong xoai") == []


def test_search_advanced_fields(session, clerk):
    signed = add_document(
        session,
        signer_name="Người ký (demo)",
        signer_position="Phó Chủ tịch",
        type_name="Quyết định",
        urgency=2,
        issued_date=date(2026, 1, 10),
    )
    other = add_document(session, organ_name="Sở Nội vụ", issued_date=date(2026, 5, 1))
    assert found_ids(clerk, signer="pho chu tich") == [signed.id]
    assert found_ids(clerk, organ="so noi vu") == [other.id]
    assert found_ids(clerk, urgency="2") == [signed.id]
    assert found_ids(clerk, type_name="Quyết định", q="xoai") == [signed.id]
    assert found_ids(clerk, date_from="2026-04-01", q="xoai") == [other.id]
    assert found_ids(clerk, date_to="2026-02-01", q="xoai") == [signed.id]
    both = found_ids(clerk, q="xoai", sort="newest", direction="incoming")
    assert sorted(both) == sorted([signed.id, other.id])
    assert found_ids(clerk, q="xoai", direction="outgoing") == []


def test_search_bad_date_keeps_input(session, clerk):
    response = clerk.get(
        "/search/", query_string={"q": "quyết định", "date_from": "2026-02-31"}
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Ngày không hợp lệ" in html
    assert 'value="quyết định"' in html
    assert 'value="2026-02-31"' in html


def test_search_reversed_dates_rejected(clerk):
    response = clerk.get(
        "/search/",
        query_string={"date_from": "2026-05-01", "date_to": "2026-04-01"},
        htmx=True,
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Ngày kết thúc phải sau hoặc trùng ngày bắt đầu." in html
    assert 'id="search"' in html


def test_search_bad_choice_rejected(clerk):
    response = clerk.get("/search/", query_string={"urgency": "9"})
    assert response.status_code == 400
    assert "Lựa chọn không hợp lệ" in response.get_data(as_text=True)


def test_search_long_query_rejected(clerk):
    response = clerk.get("/search/", query_string={"q": "a" * 201})
    assert response.status_code == 400
    assert "dài quá 200 ký tự" in response.get_data(as_text=True)


def test_search_page_and_fragments(session, clerk, app):
    for number in range(app.config["PAGE_SIZE"] + 3):
        add_document(session, subject=f"Đồng Xoài đợt {number}")
    page = clerk.get("/search/?q=xoai")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "<html" in html
    assert 'class="topbar-search"' in html
    assert "Trang 1/2" in html

    form_fragment = clerk.get("/search/?q=xoai", htmx=True).get_data(as_text=True)
    assert "<html" not in form_fragment
    assert form_fragment.lstrip().startswith('<section class="card" id="search">')

    response = clerk.get(
        "/search/?q=xoai&page=2",
        headers={"HX-Target": "search-results"},
        htmx=True,
    )
    fragment = response.get_data(as_text=True)
    assert response.status_code == 200
    assert fragment.lstrip().startswith('<div id="search-results">')
    assert "Trang 2/2" in fragment
    assert len(re.findall(r'href="/documents/\d+"', fragment)) == 3
    assert 'hx-target="#search-results"' in fragment
    assert "Trang trước" in fragment


def test_search_empty_form(clerk):
    response = clerk.get("/search/")
    assert response.status_code == 200
    assert "Nhập từ khóa hoặc điều kiện tìm kiếm" in response.get_data(as_text=True)


def test_search_requires_login(client):
    response = client.get("/search/?q=xoai")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_list_search_uses_index(session, clerk):
    document = add_document(session, description="nội dung về phòng cháy chữa cháy")
    fresh()
    html = clerk.get("/inbox/?q=phong+chay", htmx=True).get_data(as_text=True)
    assert f'href="/documents/{document.id}"' in html
