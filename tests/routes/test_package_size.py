"""Attachments too large for one exchange package are rejected before numbering."""

import io
import os
from datetime import date

import pytest
from sqlalchemy import func, select

from vanban.exchange import Attachment, EdocPackage, Organisation, build_edoc
from vanban.extensions import db
from vanban.models import Document, OutboxMessage
from vanban.services import drafts

from ..scenario import fresh, org
from .test_uploads import compose_fields, input_value

MIB = 1024 * 1024
CLERK = "thanhpho.vanthu"
OFFICER = "badinh.chuyenvien"


@pytest.fixture
def app_config():
    # Leaves about 760 KiB of attachments per package, so that small files
    # cross the limit.
    return {"CONNECTOR_MAX_PACKAGE_BYTES": 2 * MIB}


def pdf_of_size(size: int) -> bytes:
    """Build PDF bytes of exactly `size` bytes that do not compress."""
    head, tail = b"%PDF-1.4\n%", b"\n%%EOF\n"
    return head + os.urandom(size - len(head) - len(tail)) + tail


def post_compose(clerk, sizes: list[int], subject: str):
    data = compose_fields(subject=subject)
    data["files"] = [
        (io.BytesIO(pdf_of_size(size)), f"phu-luc-{index}.pdf", "application/pdf")
        for index, size in enumerate(sizes)
    ]
    return clerk.post("/documents/new", data, content_type="multipart/form-data")


def document_count() -> int:
    fresh()
    return db.session.scalar(select(func.count()).select_from(Document))


def test_compose_rejects_files_over_package(app, login_as):
    clerk = login_as(CLERK)
    before = document_count()

    response = post_compose(clerk, [450_000, 450_000], "V/v hai phụ lục lớn")

    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Tổng dung lượng tệp đính kèm" in page
    assert "gói tin liên thông" in page
    assert input_value(page, "subject") == "V/v hai phụ lục lớn"
    assert document_count() == before


def test_new_draft_rejects_files_over_package(app, login_as):
    officer = login_as(OFFICER)
    before = document_count()
    files = [
        (io.BytesIO(pdf_of_size(450_000)), f"du-thao-{index}.pdf", "application/pdf")
        for index in range(2)
    ]

    response = officer.post(
        "/documents/new-draft",
        {
            "type_name": "Công văn",
            "subject": "V/v dự thảo có tệp lớn",
            "body_text": "",
            "files": files,
        },
        content_type="multipart/form-data",
    )

    assert response.status_code == 422
    assert "Tổng dung lượng tệp đính kèm" in response.get_data(as_text=True)
    assert document_count() == before


def test_issue_rejects_files_over_package(app, login_as):
    clerk = login_as(CLERK)
    response = post_compose(clerk, [700_000], "V/v phụ lục vừa đủ")
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    document_id = int(response.headers["Location"].rsplit("/", 1)[-1])
    # The limit drops after the document was entered, as when the setting changes.
    app.config["CONNECTOR_MAX_PACKAGE_BYTES"] = 3 * MIB // 2
    ward = org("Ba Đình")

    response = clerk.post(
        f"/registers/outgoing/{document_id}/issue",
        {"subject": "V/v phụ lục vừa đủ (sửa)", "recipients": [str(ward.id)]},
    )

    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Tổng dung lượng tệp đính kèm" in page
    assert input_value(page, "subject") == "V/v phụ lục vừa đủ (sửa)"
    fresh()
    document = db.session.get(Document, document_id)
    assert document.state == "approved"
    assert document.number is None
    assert document.register_number is None
    queued = db.session.scalar(
        select(func.count()).where(OutboxMessage.document_id == document_id)
    )
    assert queued == 0


def test_issue_accepts_files_within_package(app, login_as):
    clerk = login_as(CLERK)
    response = post_compose(clerk, [700_000], "V/v phụ lục trong giới hạn")
    document_id = int(response.headers["Location"].rsplit("/", 1)[-1])
    ward = org("Ba Đình")

    response = clerk.post(
        f"/registers/outgoing/{document_id}/issue",
        {"subject": "V/v phụ lục trong giới hạn", "recipients": [str(ward.id)]},
    )

    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    fresh()
    assert db.session.get(Document, document_id).state == "issued"


def test_largest_allowed_files_fit_package(app):
    """Files at the computed maximum, with the longest header, fit the package limit."""
    limit = app.config["CONNECTOR_MAX_PACKAGE_BYTES"]
    count = 3
    allowed = drafts.max_attachment_bytes(db.session, org("Ba Đình").id, count)
    long_name = "Phụ lục " + "ệ" * 80 + ".pdf"
    recipients = [
        Organisation(f"000.00.{index:02d}.H53", organ_name="UBND phường " + "Đ" * 100)
        for index in range(100)
    ]
    package = EdocPackage(
        sender=Organisation("000.00.00.H53", organ_name="UBND phường Bến Nghé"),
        recipients=recipients,
        subject="ệ" * 500,
        code_number="12",
        code_notation="UBND-VP",
        promulgation_date=date(2026, 3, 5),
        type_name="Công văn",
        content="ệ" * 104_000,
        to_places=[r.organ_name for r in recipients],
        attachments=[
            Attachment(long_name, "application/pdf", pdf_of_size(allowed // count))
            for _ in range(count)
        ],
    )

    built = build_edoc(package)

    assert len(built) <= limit


def test_default_limit_allows_three_12mb_files(app):
    app.config.pop("CONNECTOR_MAX_PACKAGE_BYTES")

    allowed = drafts.max_attachment_bytes(db.session, org("Ba Đình").id, 3)

    assert allowed >= 36 * 1000 * 1000
    assert allowed < 3 * 19 * 1000 * 1000


def test_own_hub_limit_applies_without_connector(app):
    ward_id = org("Ba Đình").id
    app.config["HUB_ENABLED"] = True
    app.config["HUB_MAX_PACKAGE_BYTES"] = 3 * MIB // 2
    hub_allowed = drafts.max_attachment_bytes(db.session, ward_id, 1)

    app.config["HUB_ENABLED"] = False
    connector_allowed = drafts.max_attachment_bytes(db.session, ward_id, 1)

    assert hub_allowed < connector_allowed
    assert hub_allowed < MIB // 2
