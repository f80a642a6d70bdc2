"""Search internals: bounded text extraction, query terms, highlighting."""

import logging
import unicodedata
import zipfile
from pathlib import Path

import docx
import pytest
from pypdf import PdfWriter

from vanban.services import search, textextract
from vanban.services.files import DOCX
from vanban.services.textextract import PDF, Limits

FIXTURES = Path(__file__).parents[1] / "fixtures" / "documents"


def write_docx(path, *paragraphs):
    document = docx.Document()
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    document.save(path)
    return path


def test_extract_docx_text(tmp_path):
    path = write_docx(tmp_path / "a.docx", "Quyết định", "Về công tác văn thư")
    extracted = textextract.extract(path, DOCX)
    assert extracted.status == "ok"
    assert extracted.text == "Quyết định\nVề công tác văn thư"


def test_extract_docx_table_text(tmp_path):
    document = docx.Document()
    table = document.add_table(rows=1, cols=2)
    table.cell(0, 0).text = "Nơi nhận"
    table.cell(0, 1).text = "UBND phường"
    path = tmp_path / "table.docx"
    document.save(path)
    assert "UBND phường" in textextract.extract(path, DOCX).text


def test_extract_pdf_text():
    path = FIXTURES / "thanhpho_kich-ban-thu-nghiem.pdf"
    extracted = textextract.extract(path, PDF)
    assert extracted.status == "ok"
    assert "HAI CẤP" in extracted.text
    assert unicodedata.is_normalized("NFC", extracted.text)


def test_extract_zip_bomb_docx_bounded(tmp_path, caplog):
    # A real DOCX plus one member that inflates from about 100 KB to 100 MB.
    path = write_docx(tmp_path / "bomb.docx", "Bình thường")
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/media/bomb.bin", b"\0" * (100 * 1024 * 1024))
    assert path.stat().st_size < 1024 * 1024
    with caplog.at_level(logging.WARNING):
        extracted = textextract.extract(path, DOCX)
    assert extracted.status == "failed"
    assert extracted.text == ""
    assert "bytes once unzipped" in caplog.text
    assert "Bình thường" not in caplog.text


def test_extract_docx_too_many_members(tmp_path):
    path = write_docx(tmp_path / "many.docx", "Văn bản")
    with zipfile.ZipFile(path, "a") as archive:
        for index in range(30):
            archive.writestr(f"extra/{index}.xml", b"<a/>")
    extracted = textextract.extract(path, DOCX, Limits(max_members=20))
    assert extracted.status == "failed"


def test_extract_pdf_huge_page_count_bounded(tmp_path):
    writer = PdfWriter()
    for _ in range(2000):
        writer.add_blank_page(width=100, height=100)
    path = tmp_path / "pages.pdf"
    with open(path, "wb") as handle:
        writer.write(handle)
    extracted = textextract.extract(path, PDF, Limits(max_pages=50))
    # Blank pages hold no text, and only the first 50 were read.
    assert extracted.status == "empty"


def test_extract_pdf_page_limit_truncates():
    path = FIXTURES / "thanhpho_kich-ban-thu-nghiem.pdf"
    full = textextract.extract(path, PDF)
    first = textextract.extract(path, PDF, Limits(max_pages=1))
    assert first.status == "truncated"
    assert 0 < len(first.text) < len(full.text)


def test_extract_character_limit():
    path = FIXTURES / "nd-30-2020-ND-CP_nghi-dinh-cong-tac-van-thu.docx"
    extracted = textextract.extract(path, DOCX, Limits(max_chars=500))
    assert extracted.status == "truncated"
    assert len(extracted.text) <= 500


def test_extract_time_limit(tmp_path):
    path = FIXTURES / "nd-30-2020-ND-CP_nghi-dinh-cong-tac-van-thu.docx"
    extracted = textextract.extract(path, DOCX, Limits(max_seconds=-1))
    assert extracted.status == "failed"


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"%PDF-1.7\n1 0 obj <<>> garbage", PDF),
        (b"PK\x03\x04 not really a zip", DOCX),
        (b"", PDF),
    ],
)
def test_extract_broken_file_logged_without_content(
    tmp_path, caplog, content, content_type
):
    path = tmp_path / "broken"
    path.write_bytes(content)
    with caplog.at_level(logging.WARNING):
        extracted = textextract.extract(path, content_type)
    assert extracted.status == "failed"
    assert extracted.text == ""
    assert "garbage" not in caplog.text


def test_extract_unsupported_type(tmp_path):
    path = tmp_path / "image.png"
    path.write_bytes(b"\x89PNG")
    assert textextract.extract(path, "image/png").status == "unsupported"


def test_search_terms_fold_and_split():
    assert search.search_terms("  Quyết   ĐỊNH quyết ") == ["quyet", "dinh"]
    nfd = unicodedata.normalize("NFD", "Đợt Một")
    assert search.search_terms(nfd) == ["dot", "mot"]
    assert search.search_terms("") == []
    assert len(search.search_terms(" ".join(f"w{i}" for i in range(20)))) == 8


def test_highlight_escapes_and_marks():
    html = search.highlight("<b>Quyết</b> định & Đợt", ["quyet", "dot"])
    assert str(html) == (
        "&lt;b&gt;<mark>Quyết</mark>&lt;/b&gt; định &amp; <mark>Đợt</mark>"
    )


def test_highlight_nfd_input():
    html = search.highlight(unicodedata.normalize("NFD", "Quyết định"), ["dinh"])
    assert str(html) == "Quyết <mark>định</mark>"


def test_highlight_joins_touching_and_overlapping_matches():
    html = search.highlight("Đại hội thể dục", ["dai", "hoi", "ai h", "the"])
    assert str(html) == "<mark>Đại hội</mark> <mark>thể</mark> dục"


def test_highlight_letter_that_folds_to_two():
    # "ß" folds to "ss", so folded positions no longer match the text's.
    assert str(search.highlight("Straße 5", ["ss"])) == "Stra<mark>ß</mark>e 5"
    assert str(search.highlight("Straße 5", ["asse"])) == "Str<mark>aße</mark> 5"


def test_highlight_mark_that_folds_to_nothing():
    # No letter combines with U+0301 here, so it stays apart and folds to
    # nothing. The marks go around it.
    html = search.highlight("x\u0301y <z>", ["xy"])
    assert str(html) == "<mark>x</mark>\u0301<mark>y</mark> &lt;z&gt;"


def test_highlight_without_terms_escapes():
    assert str(search.highlight("<i>x</i>", [])) == "&lt;i&gt;x&lt;/i&gt;"


def test_snippet_finds_line():
    text = "Dòng đầu\n" + "x " * 200 + "Nội dung về PHÒNG CHÁY chữa cháy ở đây"
    html = str(search.snippet([None, text], ["phong", "chay"]))
    assert "<mark>PHÒNG</mark> <mark>CHÁY</mark>" in html
    assert html.startswith("… ")


def test_snippet_without_match():
    assert search.snippet(["không có"], ["xoai"]) is None


def test_index_fields_fold():
    class Row:
        number = "05"
        notation = "QĐ-UBND"
        type_name = "Quyết định"
        subject = "Về việc ĐỢT 1"
        organ_name = "UBND Phường Ba Đình"
        signer_name = "Người ký"
        signer_position = "Chủ tịch"
        description = ""
        body_text = ""

    fields = search.index_fields(Row, ["Nội dung tệp"])
    assert fields["number_text"] == "05/qd-ubnd"
    assert fields["subject_text"] == "ve viec dot 1"
    assert fields["organ_text"] == "ubnd phuong ba dinh"
    assert fields["signer_text"] == "nguoi ky chu tich"
    assert "noi dung tep" in fields["content_text"]
    assert "quyet dinh" not in fields["content_text"]
    assert "quyet dinh" in fields["all_text"]
    assert all(value in fields["all_text"] for value in fields.values() if value)
