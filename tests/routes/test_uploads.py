"""Attachment uploads and downloads: storage names, file types, sizes, headers."""

import hashlib
import http.client
import io
import os
import re
import subprocess
import sys
import time
import unicodedata
from pathlib import Path
from urllib.parse import quote

import pytest
from lxml import html
from sqlalchemy import func, select
from werkzeug.test import EnvironBuilder

from vanban.extensions import db
from vanban.models import Attachment, Document
from vanban.services import files

from ..conftest import FIXTURES, SHARED_SAMPLES, in_fresh_context
from ..scenario import city_issues_guide, fresh, handle_until_officer

CLERK = "thanhpho.vanthu"
OFFICER = "badinh.chuyenvien"
PDF = "application/pdf"
SHA256_NAME = re.compile(r"[0-9a-f]{64}")
SAMPLE_DOCUMENTS = SHARED_SAMPLES / "documents"
# What the content of each sample is, by its file name extension; other
# extensions (text, Markdown) must be rejected.
TYPE_BY_SUFFIX = {".pdf": PDF, ".docx": files.DOCX}

REJECTED_FORMAT = "Định dạng tệp không được chấp nhận"
TOO_LARGE = "Tệp vượt quá dung lượng cho phép"


def pdf_bytes(label: str) -> bytes:
    """Build a small PDF whose bytes, and so whose SHA-256, differ per label."""
    return (
        b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n% "
        + label.encode()
        + b"\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
    )


def compose_fields(**overrides) -> dict:
    fields = {
        "type_name": "Công văn",
        "subject": "V/v kiểm tra tệp đính kèm",
        "description": "Tóm tắt nội dung thử",
        "signer_position": "Chủ tịch",
        "signer_name": "Người ký (demo)",
        "urgency": "2",
        "secrecy": "0",
        "due_date": "",
    }
    fields.update(overrides)
    return fields


def compose(clerk, content: bytes, name: str, content_type=PDF, **overrides):
    """Post the compose form with one file, as a browser sends it."""
    data = compose_fields(**overrides)
    data["files"] = (io.BytesIO(content), name, content_type)
    return clerk.post("/documents/new", data, content_type="multipart/form-data")


def created_attachment(response) -> Attachment:
    """Return the one attachment of the document a successful post created."""
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    document_id = int(response.headers["Location"].rsplit("/", 1)[-1])
    fresh()
    [attachment] = db.session.scalars(
        select(Attachment).where(Attachment.document_id == document_id)
    )
    return attachment


def document_count() -> int:
    fresh()
    return db.session.scalar(select(func.count()).select_from(Document))


def stored_names(app) -> set[str]:
    return {p.name for p in (Path(app.instance_path) / "files").iterdir()}


def field_errors(page: str, field_id: str) -> list[str]:
    """Return the error texts shown inside a form field's wrapper."""
    tree = html.fromstring(page)
    return [
        " ".join(p.text_content().split())
        for p in tree.xpath(f'//*[@id="field-{field_id}"]//p[@class="error"]')
    ]


def input_value(page: str, name: str) -> str | None:
    tree = html.fromstring(page)
    [element] = tree.xpath(f'//form//*[@name="{name}"]')
    if element.tag == "select":
        selected = element.xpath("./option[@selected]")
        return selected[0].get("value") if selected else None
    if element.tag == "textarea":
        # HTML drops one newline right after <textarea>, as browsers do.
        return (element.text or "").removeprefix("\n")
    return element.get("value")


def multipart_body(fields: dict, filename: str, content: bytes) -> tuple[bytes, str]:
    """Encode a form with one file, writing the file name exactly as given.

    Werkzeug's test client does not escape backslashes in file names while its
    parser unescapes them, so names with backslashes need this hand encoding.
    """
    boundary = "----vanban-test-boundary"
    parts = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
            f"{value}\r\n".encode()
        )
    quoted = filename.replace("\\", "\\\\").replace('"', '\\"')
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; '
        f'filename="{quoted}"\r\nContent-Type: {PDF}\r\n\r\n'.encode()
        + content
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize(
    ("uploaded_name", "display_name"),
    [
        ("../x.pdf", "x.pdf"),
        ("../../../../etc/x.pdf", "x.pdf"),
        ("..\\..\\x.pdf", "x.pdf"),
        ("C:\\Users\\demo\\x.pdf", "x.pdf"),
        ("/tmp/x.pdf", "x.pdf"),
        ("bao\x00cao.pdf", "baocao.pdf"),
        ("x.pdf\x00.exe", "x.pdf.exe"),
        ("..", "tep-dinh-kem"),
    ],
)
def test_upload_stored_under_sha256(app, login_as, uploaded_name, display_name):
    clerk = login_as(CLERK)
    content = pdf_bytes(uploaded_name)
    before = stored_names(app)
    body, content_type = multipart_body(
        {**compose_fields(), "csrf_token": clerk.token}, uploaded_name, content
    )

    response = in_fresh_context(
        clerk.client.post, "/documents/new", data=body, content_type=content_type
    )

    attachment = created_attachment(response)
    digest = hashlib.sha256(content).hexdigest()
    files_dir = Path(app.instance_path) / "files"
    assert attachment.sha256 == digest
    assert files.path_for(attachment.sha256) == files_dir / digest
    assert (files_dir / digest).read_bytes() == content
    assert stored_names(app) - before == {digest}
    assert all(SHA256_NAME.fullmatch(name) for name in stored_names(app))
    assert not (Path(app.instance_path) / "x.pdf").exists()
    assert not (Path(app.instance_path).parent / "x.pdf").exists()
    assert attachment.original_name == display_name


def test_long_vietnamese_name_cut_at_character(app, login_as):
    clerk = login_as(CLERK)
    stem = "Công văn đề nghị phối hợp triển khai thử nghiệm " * 6
    name = stem + ".pdf"
    assert len(name.encode()) > 300

    attachment = created_attachment(compose(clerk, pdf_bytes("long name"), name))

    stored = attachment.original_name
    assert len(stored.encode()) <= 255
    assert stored.endswith(".pdf")
    assert unicodedata.is_normalized("NFC", stored)
    kept_stem = stored.removesuffix(".pdf")
    assert stem.startswith(kept_stem)
    # Cut at the last whole character that fits, not earlier.
    next_char = stem[len(kept_stem)]
    assert len((kept_stem + next_char + ".pdf").encode()) > 255


def test_nfd_name_stored_nfc(app, login_as):
    clerk = login_as(CLERK)
    nfc_name = "Báo cáo kết quả thử nghiệm đợt 1.pdf"
    nfd_name = unicodedata.normalize("NFD", nfc_name)
    assert nfd_name != nfc_name

    attachment = created_attachment(compose(clerk, pdf_bytes("nfd"), nfd_name))

    assert attachment.original_name == nfc_name
    page = clerk.get(f"/documents/{attachment.document_id}").get_data(as_text=True)
    assert nfc_name in page


def test_download_vietnamese_name_headers(app, login_as):
    clerk = login_as(CLERK)
    name = "Công văn số 12 gửi Phường Ba Đình.pdf"
    content = pdf_bytes("download")
    attachment = created_attachment(compose(clerk, content, name))

    response = clerk.get(f"/documents/attachments/{attachment.id}")

    disposition = response.headers["Content-Disposition"]
    assert response.status_code == 200
    assert response.data == content
    assert response.mimetype == PDF
    assert disposition.startswith("attachment;")
    assert f"filename*=UTF-8''{quote(name, safe='')}" in disposition
    fallback = re.search(r'filename="([^"]*)"', disposition)
    assert fallback is not None
    assert fallback.group(1).isascii()
    assert fallback.group(1).endswith(".pdf")
    assert disposition.isascii()
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_download_inline_only_for_pdf(app, login_as):
    clerk = login_as(CLERK)
    attachment = created_attachment(compose(clerk, pdf_bytes("inline"), "xem.pdf"))

    response = clerk.get(f"/documents/attachments/{attachment.id}?inline=1")

    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("inline")
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_stored_bytes_and_sha256_match(app, login_as):
    clerk = login_as(CLERK)
    source = FIXTURES / "documents" / "thanhpho_kich-ban-thu-nghiem.pdf"
    content = source.read_bytes()

    attachment = created_attachment(compose(clerk, content, source.name))

    assert attachment.sha256 == hashlib.sha256(content).hexdigest()
    assert attachment.size == len(content)
    assert attachment.content_type == PDF
    assert files.path_for(attachment.sha256).read_bytes() == content
    download = clerk.get(f"/documents/attachments/{attachment.id}")
    assert download.data == content


FAKE_PDFS = {
    "exe": b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 200,
    "html": b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>",
    "text": "Công văn số 01/UBND-VP ngày 01/01/2026".encode(),
}


@pytest.mark.parametrize("kind", sorted(FAKE_PDFS))
def test_fake_pdf_rejected_in_form(app, login_as, kind):
    clerk = login_as(CLERK)
    documents_before = document_count()
    names_before = stored_names(app)

    response = compose(
        clerk,
        FAKE_PDFS[kind],
        "cong-van.pdf",
        subject="Trích yếu đã gõ",
        signer_name="Nguyễn Văn Demo",
        urgency="3",
    )

    page = response.get_data(as_text=True)
    errors = field_errors(page, "files")
    assert response.status_code == 422
    assert len(errors) == 1
    assert REJECTED_FORMAT in errors[0]
    assert "cong-van.pdf" in errors[0]
    assert input_value(page, "subject") == "Trích yếu đã gõ"
    assert input_value(page, "signer_name") == "Nguyễn Văn Demo"
    assert input_value(page, "urgency") == "3"
    assert input_value(page, "description") == "Tóm tắt nội dung thử"
    assert document_count() == documents_before
    assert stored_names(app) == names_before


def test_pdf_named_docx_stored_as_pdf(app, login_as):
    clerk = login_as(CLERK)

    attachment = created_attachment(
        compose(clerk, pdf_bytes("docx name"), "du-thao.docx", content_type=files.DOCX)
    )

    assert attachment.content_type == PDF
    download = login_as(CLERK).get(f"/documents/attachments/{attachment.id}")
    assert download.mimetype == PDF


@pytest.mark.parametrize(
    "path",
    sorted((FIXTURES / "documents").glob("*.docx")),
    ids=lambda p: p.name,
)
def test_docx_fixture_detected(app, login_as, path):
    clerk = login_as(CLERK)

    attachment = created_attachment(
        compose(clerk, path.read_bytes(), "tep-tai-len.bin", "application/octet-stream")
    )

    assert attachment.content_type == files.DOCX


def test_upload_over_size_limit_in_form(app, login_as):
    app.config["MAX_UPLOAD_BYTES"] = 1024 * 1024
    clerk = login_as(CLERK)
    content = pdf_bytes("big") + b"0" * (1024 * 1024)
    names_before = stored_names(app)

    response = compose(clerk, content, "qua-lon.pdf", subject="Giữ trích yếu")

    page = response.get_data(as_text=True)
    errors = field_errors(page, "files")
    assert response.status_code == 422
    assert len(errors) == 1
    assert TOO_LARGE in errors[0]
    assert "1 MB" in errors[0]
    assert "qua-lon.pdf" in errors[0]
    assert input_value(page, "subject") == "Giữ trích yếu"
    assert stored_names(app) == names_before


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_request_over_max_content_length(app, login_as, htmx):
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    clerk = login_as(CLERK)
    documents_before = document_count()
    data = compose_fields()
    data["files"] = (io.BytesIO(pdf_bytes("huge") + b"0" * 128 * 1024), "x.pdf")

    response = clerk.post(
        "/documents/new", data, htmx=htmx, content_type="multipart/form-data"
    )

    body = response.get_data(as_text=True)
    assert response.status_code == 413
    assert response.mimetype == "text/html"
    assert "Dữ liệu gửi lên quá lớn" in body
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    if htmx:
        assert response.headers["HX-Retarget"] == "#flash"
    else:
        assert "<html" in body
    assert document_count() == documents_before


def test_oversized_body_read_before_413(app):
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    body = b"0" * (512 * 1024)
    stream = io.BytesIO(body)
    builder = EnvironBuilder(
        path="/documents/new",
        method="POST",
        input_stream=stream,
        content_length=len(body),
        content_type="multipart/form-data; boundary=b",
    )

    response = in_fresh_context(app.test_client().open, builder)

    # A server closing the socket with body bytes unread makes the browser
    # report a connection reset instead of showing the 413 page.
    assert response.status_code == 413
    assert stream.tell() == len(body)


WSGI_MODULE = """
from vanban import create_app

app = create_app(
    {{
        "SECRET_KEY": "test-secret-key",
        "MAX_CONTENT_LENGTH": 64 * 1024,
        "SQLALCHEMY_DATABASE_URI": "sqlite:///{folder}/unused.sqlite",
    }},
    instance_path="{folder}/instance",
)
"""


@pytest.fixture
def gunicorn_url(tmp_path):
    """Start gunicorn on a free local port with a 64 KiB request limit."""
    (tmp_path / "vanban_wsgi.py").write_text(WSGI_MODULE.format(folder=tmp_path))
    environment = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        "127.0.0.1:0",
        "--workers",
        "1",
        "--no-control-socket",
        "--chdir",
        str(tmp_path),
        "vanban_wsgi:app",
    ]
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(command, env=environment, stderr=log)
    try:
        url = None
        deadline = time.monotonic() + 30
        while url is None and time.monotonic() < deadline:
            match = re.search(
                r"Listening at: (http://127\.0\.0\.1:\d+)", log_path.read_text()
            )
            if match:
                url = match.group(1)
            elif server.poll() is not None:
                break
            else:
                time.sleep(0.1)
        if url is None:
            pytest.fail(f"gunicorn did not start:\n{log_path.read_text()}")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_oversized_upload_413_over_gunicorn(gunicorn_url):
    port = int(gunicorn_url.rsplit(":", 1)[1])
    body = b"0" * (8 * 1024 * 1024)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    connection.request(
        "POST",
        "/documents/new",
        body=body,
        headers={"Content-Type": "multipart/form-data; boundary=b"},
    )
    response = connection.getresponse()
    page = response.read().decode()
    connection.close()

    assert response.status == 413
    assert "Dữ liệu gửi lên quá lớn" in page


@pytest.fixture
def officer_case(app, login_as):
    """An incoming document assigned to the ward officer, who may reply to it."""
    _, incoming_id = city_issues_guide(login_as)
    handle_until_officer(login_as, incoming_id)
    return login_as(OFFICER), incoming_id


def reply(officer, incoming_id, content, name, htmx=False, **overrides):
    data = {
        "type_name": "Công văn",
        "subject": "V/v báo cáo kết quả",
        "body_text": "",
        "files": (io.BytesIO(content), name, PDF),
    }
    data.update(overrides)
    return officer.post(
        f"/approval/{incoming_id}/reply",
        data,
        htmx=htmx,
        content_type="multipart/form-data",
    )


def test_reply_form_keeps_name_and_bytes(app, officer_case):
    officer, incoming_id = officer_case
    name = unicodedata.normalize("NFD", "../Báo cáo kết quả xử lý.pdf")
    content = pdf_bytes("reply")

    response = reply(officer, incoming_id, content, name)

    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    draft_id = int(response.headers["Location"].rsplit("/", 1)[-1])
    fresh()
    [attachment] = db.session.get(Document, draft_id).attachments
    assert attachment.original_name == "Báo cáo kết quả xử lý.pdf"
    assert attachment.sha256 == hashlib.sha256(content).hexdigest()
    assert files.path_for(attachment.sha256).read_bytes() == content
    download = officer.get(f"/documents/attachments/{attachment.id}")
    assert download.data == content
    assert download.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_reply_form_rejects_fake_pdf(app, officer_case, htmx):
    officer, incoming_id = officer_case
    documents_before = document_count()

    response = reply(
        officer,
        incoming_id,
        FAKE_PDFS["html"],
        "tra-loi.pdf",
        htmx=htmx,
        subject="Trích yếu trả lời đã gõ",
        body_text="Nội dung đã gõ",
    )

    page = response.get_data(as_text=True)
    errors = field_errors(page, "files")
    assert response.status_code == 422
    assert len(errors) == 1
    assert REJECTED_FORMAT in errors[0]
    assert input_value(page, "subject") == "Trích yếu trả lời đã gõ"
    assert input_value(page, "body_text") == "Nội dung đã gõ"
    assert document_count() == documents_before
    if htmx:
        assert "<html" not in page
        assert 'id="document"' in page


def test_reply_form_over_size_limit(app, officer_case):
    app.config["MAX_UPLOAD_BYTES"] = 1024 * 1024
    officer, incoming_id = officer_case

    response = reply(
        officer,
        incoming_id,
        pdf_bytes("reply big") + b"0" * (1024 * 1024),
        "tra-loi.pdf",
        htmx=True,
        subject="Trích yếu giữ lại",
    )

    page = response.get_data(as_text=True)
    errors = field_errors(page, "files")
    assert response.status_code == 422
    assert len(errors) == 1
    assert TOO_LARGE in errors[0]
    assert input_value(page, "subject") == "Trích yếu giữ lại"


def test_shared_samples_detected_by_content(app, login_as):
    if not SAMPLE_DOCUMENTS.is_dir():
        pytest.skip(f"sample folder {SAMPLE_DOCUMENTS} is absent")
    samples = sorted(p for p in SAMPLE_DOCUMENTS.iterdir() if p.is_file())
    assert samples, f"no files in {SAMPLE_DOCUMENTS}"
    clerk = login_as(CLERK)

    for path in samples:
        content = path.read_bytes()
        expected = TYPE_BY_SUFFIX.get(path.suffix.lower())
        # A wrong declared type and extension must not change the decision.
        response = compose(clerk, content, "mau.bin", "application/octet-stream")
        if expected is None:
            errors = field_errors(response.get_data(as_text=True), "files")
            assert response.status_code == 422, path.name
            assert len(errors) == 1, path.name
            assert REJECTED_FORMAT in errors[0], path.name
            continue
        attachment = created_attachment(response)
        assert attachment.content_type == expected, path.name
        assert attachment.sha256 == hashlib.sha256(content).hexdigest(), path.name
        assert files.path_for(attachment.sha256).read_bytes() == content, path.name
