"""Documents and statuses to edXML packages and back, through the real builder."""

import dataclasses
import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from vanban.exchange import build_edoc, build_status, parse_package
from vanban.exchange.mapping import (
    IntakeError,
    apply_status,
    document_package,
    receive_document,
    status_package,
)
from vanban.exchange.packages import Attachment as PackageAttachment
from vanban.exchange.packages import Organisation as PackageOrganisation
from vanban.models import (
    Attachment,
    Document,
    Organisation,
    OutboxMessage,
    ReceivedPackage,
    Recipient,
    RecipientStatus,
    User,
)
from vanban.services import ServiceError, drafts, files
from vanban.services.clock import local_today

from ..conftest import FIXTURES

PDF = FIXTURES / "documents" / "thanhpho_kich-ban-thu-nghiem.pdf"
DOCX = FIXTURES / "documents" / "nd-30-2020-ND-CP_nghi-dinh-cong-tac-van-thu.docx"


def organisation(session, name_part: str) -> Organisation:
    return session.scalar(
        select(Organisation).where(Organisation.name.contains(name_part))
    )


def issue_document(session) -> Document:
    """Let the city clerk issue a document with two files to two wards."""
    clerk = session.scalar(select(User).where(User.username == "thanhpho.vanthu"))
    stored = []
    for path in (PDF, DOCX):
        with open(path, "rb") as handle:
            stored.append(files.store(handle, f"Bản gốc {path.name}"))
    document = drafts.compose(
        session,
        clerk,
        type_name="Kế hoạch",
        subject="Kế hoạch thử nghiệm trao đổi văn bản điện tử",
        description="Các phường báo cáo kết quả trước ngày hết hạn.",
        signer_name="Người ký (demo)",
        signer_position="Phó Chủ tịch",
        urgency=2,
        secrecy=0,
        due_date=local_today() + timedelta(days=10),
        files=stored,
    )
    document.page_amount = 3
    wards = [organisation(session, "Ba Đình"), organisation(session, "Ngọc Hà")]
    drafts.issue(
        session,
        clerk,
        document,
        subject=document.subject,
        recipient_ids=[ward.id for ward in wards],
    )
    session.flush()
    return document


def round_trip(session, document: Document):
    """Build the document's package, parse it and return what was parsed."""
    return parse_package(build_edoc(document_package(session, document)))


def test_document_package_fields(session):
    document = issue_document(session)
    package = document_package(session, document)

    assert package.sender.organ_id == document.organisation.code
    assert package.sender.organ_name == document.organisation.name
    assert [r.organ_id for r in package.recipients] == [
        r.organisation.code for r in document.recipients
    ]
    assert package.document_id == document.exchange_id
    assert package.code_number == document.number
    assert package.code_notation == document.notation
    assert package.promulgation_date == document.issued_date
    assert package.type_name == "Kế hoạch"
    assert package.priority == 2
    assert package.business_doc_type == 0
    assert len(package.attachments) == 2


def test_written_text_travels_in_content(session):
    document = issue_document(session)
    document.body_text = "Nội dung soạn trên hệ thống."
    ward = organisation(session, "Ba Đình")

    received = receive_document(session, ward, round_trip(session, document), "m-1")
    incoming = session.get(Document, received.document_id)

    assert incoming.description == (
        "Các phường báo cáo kết quả trước ngày hết hạn.\n\nNội dung soạn trên hệ thống."
    )


def test_document_round_trip(session):
    document = issue_document(session)
    ward = organisation(session, "Ba Đình")

    received = receive_document(session, ward, round_trip(session, document), "m-1")
    incoming = session.get(Document, received.document_id)

    assert received.created
    assert incoming.organisation_id == ward.id
    assert incoming.direction == "incoming"
    assert incoming.state == "arrived"
    assert incoming.sender_organisation_id == document.organisation_id
    # The sender is hosted here too, so the copy links to its record.
    assert incoming.source_document_id == document.id
    assert incoming.received_at is not None
    for name in (
        "type_name",
        "type_abbreviation",
        "number",
        "notation",
        "issued_date",
        "organ_name",
        "subject",
        "description",
        "signer_position",
        "signer_name",
        "urgency",
        "page_amount",
        "due_date",
        "exchange_id",
    ):
        assert getattr(incoming, name) == getattr(document, name), name


def test_attachments_stay_byte_identical(session):
    document = issue_document(session)
    ward = organisation(session, "Ba Đình")

    received = receive_document(session, ward, round_trip(session, document), "m-1")
    incoming = session.get(Document, received.document_id)

    sent = sorted(document.attachments, key=lambda a: a.original_name)
    got = sorted(incoming.attachments, key=lambda a: a.original_name)
    assert [a.original_name for a in got] == [a.original_name for a in sent]
    for original, copy in zip(sent, got, strict=True):
        data = files.path_for(copy.sha256).read_bytes()
        assert copy.sha256 == original.sha256
        assert hashlib.sha256(data).hexdigest() == copy.sha256
        assert copy.content_type == original.content_type
        assert copy.size == original.size
    pdf = next(a for a in got if a.content_type == "application/pdf")
    assert files.path_for(pdf.sha256).read_bytes() == PDF.read_bytes()


def test_received_package_queues_status_01(session):
    document = issue_document(session)
    ward = organisation(session, "Ba Đình")

    received = receive_document(session, ward, round_trip(session, document), "m-1")
    session.flush()
    statuses = session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.kind == "status",
            OutboxMessage.document_id == received.document_id,
        )
    ).all()

    assert [m.status_code for m in statuses] == ["01"]
    assert statuses[0].sender_organisation_id == ward.id
    assert statuses[0].recipient_organisation_id == document.organisation_id


def test_same_package_stored_once(session):
    document = issue_document(session)
    ward = organisation(session, "Ba Đình")
    package = round_trip(session, document)

    first = receive_document(session, ward, package, "m-1")
    second = receive_document(session, ward, package, "m-2")

    assert not second.created
    assert second.document_id == first.document_id
    count = session.scalar(
        select(func.count())
        .select_from(ReceivedPackage)
        .where(
            ReceivedPackage.organisation_id == ward.id,
            ReceivedPackage.exchange_id == document.exchange_id,
        )
    )
    assert count == 1
    copies = session.scalar(
        select(func.count())
        .select_from(Document)
        .where(
            Document.organisation_id == ward.id,
            Document.exchange_id == document.exchange_id,
        )
    )
    assert copies == 1


def copy_package(session, document: Document, recipient: Organisation, sender=None):
    """Add the sender's outbox row of a copy sent again to `recipient`.

    Return the copy's package as the recipient parses it, from `sender` when
    given (a package of another organisation quoting the same DocumentId).
    """
    row = OutboxMessage(
        kind="document",
        sender_organisation_id=document.organisation_id,
        recipient_organisation_id=recipient.id,
        document_id=document.id,
        state="sent",
    )
    session.add(row)
    session.flush()
    row.exchange_id = f"{document.exchange_id}#r{row.id}"
    package = dataclasses.replace(
        document_package(session, document), document_id=row.exchange_id
    )
    parsed = parse_package(build_edoc(package))
    if sender is None:
        return parsed
    # Our builder writes only our own sender's DocumentIds, so the other
    # sender goes into the parsed package, as a hub would deliver it.
    return dataclasses.replace(
        parsed,
        sender=PackageOrganisation(organ_id=sender.code, organ_name=sender.name),
    )


def incoming_recipient(session, document: Document, ward: Organisation) -> Recipient:
    return session.scalar(
        select(Recipient).where(
            Recipient.document_id == document.id,
            Recipient.organisation_id == ward.id,
        )
    )


def test_resent_copy_links_to_sender_document(session):
    document = issue_document(session)
    document.secrecy = 1
    ward = organisation(session, "Ba Đình")
    package = copy_package(session, document, ward)

    received = receive_document(session, ward, package, "m-copy")
    incoming = session.get(Document, received.document_id)

    assert incoming.exchange_id == package.document_id
    assert incoming.source_document_id == document.id
    # Secrecy does not travel in edXML, so the copy takes it from the link.
    assert incoming.secrecy == 1
    recipient = incoming_recipient(session, document, ward)
    assert recipient.incoming_document_id == incoming.id


def test_copy_id_of_other_sender_not_linked(session):
    document = issue_document(session)
    ward = organisation(session, "Ba Đình")
    other = organisation(session, "Ngọc Hà")
    package = copy_package(session, document, ward, sender=other)

    received = receive_document(session, ward, package, "m-copy")
    incoming = session.get(Document, received.document_id)

    assert incoming.sender_organisation_id == other.id
    assert incoming.source_document_id is None
    assert incoming_recipient(session, document, ward).incoming_document_id is None


def test_copy_for_other_recipient_not_linked(session):
    document = issue_document(session)
    ward = organisation(session, "Ba Đình")
    package = copy_package(session, document, organisation(session, "Ngọc Hà"))

    received = receive_document(session, ward, package, "m-copy")

    assert session.get(Document, received.document_id).source_document_id is None


def test_unknown_copy_suffix_not_linked(session):
    document = issue_document(session)
    ward = organisation(session, "Ba Đình")
    package = dataclasses.replace(
        round_trip(session, document), document_id=f"{document.exchange_id}#r999999"
    )

    received = receive_document(session, ward, package, "m-copy")

    assert session.get(Document, received.document_id).source_document_id is None


def test_update_applies_to_the_document_it_names(session):
    document = issue_document(session)
    ward = organisation(session, "Ba Đình")
    package = round_trip(session, document)

    first = receive_document(session, ward, package, "m-1")
    package.business.doc_type = 2
    package.business.document_id = package.document_id
    package.subject = "Kế hoạch đã sửa"
    update = receive_document(session, ward, package, "m-2")

    assert update.created
    assert update.document_id == first.document_id
    assert session.get(Document, first.document_id).subject == "Kế hoạch đã sửa"


def test_unknown_sender_is_added(session):
    document = issue_document(session)
    ward = organisation(session, "Ba Đình")
    package = round_trip(session, document)
    package.sender.organ_id = "000.00.00.G22"
    package.sender.organ_name = "Bộ Nội vụ"

    received = receive_document(session, ward, package, "m-1")

    sender = session.get(Document, received.document_id).sender_organisation
    assert sender.code == "000.00.00.G22"
    assert sender.name == "Bộ Nội vụ"
    assert sender.kind == "ward"


def test_rejected_attachment_stores_nothing(session):
    document = issue_document(session)
    ward = organisation(session, "Ba Đình")
    package = round_trip(session, document)
    package.attachments.append(
        PackageAttachment("ghi-chu.txt", "text/plain", b"plain text, not accepted")
    )

    with pytest.raises(IntakeError) as caught:
        receive_document(session, ward, package, "m-1")

    assert "ghi-chu.txt" in caught.value.reason
    copies = session.scalar(
        select(func.count())
        .select_from(Document)
        .where(
            Document.organisation_id == ward.id,
            Document.exchange_id == document.exchange_id,
        )
    )
    assert copies == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [("organ_id", "0" * 33), ("organ_id", ""), ("document_id", "x" * 256)],
)
def test_overlong_identifier_rejected(session, field, value):
    document = issue_document(session)
    ward = organisation(session, "Ba Đình")
    package = round_trip(session, document)
    if field == "organ_id":
        package.sender.organ_id = value
    else:
        package.document_id = value

    with pytest.raises(IntakeError):
        receive_document(session, ward, package, "m-1")


def test_status_package_fields(session):
    document = issue_document(session)
    ward = organisation(session, "Ba Đình")
    received = receive_document(session, ward, round_trip(session, document), "m-1")
    incoming = session.get(Document, received.document_id)
    reported_at = datetime(2026, 3, 5, 2, 30, 15, tzinfo=UTC)

    package = status_package(incoming, "03", "Đã vào sổ", reported_at)

    assert package.sender.organ_id == ward.code
    assert package.response_for.organ_id == document.organisation.code
    assert package.response_for.document_id == document.exchange_id
    assert package.response_for.code == document.number_and_notation
    assert package.response_for.promulgation_date == document.issued_date
    assert package.status_code == "03"
    assert package.description == "Đã vào sổ"
    assert package.timestamp == reported_at


def status_round_trip(session, code="03", note="Đã vào sổ", seconds=15):
    """Return the city, the Ba Đình recipient row and a parsed status from it."""
    document = issue_document(session)
    ward = organisation(session, "Ba Đình")
    received = receive_document(session, ward, round_trip(session, document), "m-1")
    incoming = session.get(Document, received.document_id)
    reported_at = datetime(2026, 3, 5, 2, 30, seconds, tzinfo=UTC)
    data = build_status(status_package(incoming, code, note, reported_at))
    recipient = session.scalar(
        select(Recipient).where(
            Recipient.document_id == document.id,
            Recipient.organisation_id == ward.id,
        )
    )
    return document.organisation, recipient, parse_package(data)


def test_status_applied_to_recipient(session):
    city, recipient, package = status_round_trip(session)

    applied = apply_status(session, city, package)

    assert applied.recipient is recipient
    assert applied.recorded
    assert recipient.status_code == "03"
    assert recipient.status_note == "Đã vào sổ"
    assert recipient.status_at == datetime(2026, 3, 5, 2, 30, 15, tzinfo=UTC)
    assert [h.status_code for h in recipient.history] == ["03"]


def test_same_status_recorded_once(session):
    city, recipient, package = status_round_trip(session)

    first = apply_status(session, city, package)
    second = apply_status(session, city, package)
    session.flush()

    assert first.recorded
    assert second.recipient is recipient
    assert not second.recorded

    count = session.scalar(
        select(func.count())
        .select_from(RecipientStatus)
        .where(RecipientStatus.recipient_id == recipient.id)
    )
    assert count == 1


def test_older_status_kept_in_history_only(session):
    city, recipient, package = status_round_trip(session, "05", "", seconds=40)
    apply_status(session, city, package)
    package.status_code = "03"
    package.timestamp = package.timestamp - timedelta(seconds=20)

    apply_status(session, city, package)

    assert recipient.status_code == "05"
    assert [h.status_code for h in recipient.history] == ["05", "03"]


def test_status_for_unknown_document_is_none(session):
    city, recipient, package = status_round_trip(session)
    package.response_for.document_id = "000.00.00.H01,2026/03/05,999/UBND-VP"

    assert apply_status(session, city, package).recipient is None
    assert recipient.history == []


def test_status_from_non_recipient_is_none(session):
    city, recipient, package = status_round_trip(session)
    package.sender.organ_id = organisation(session, "Trung tâm").code

    assert apply_status(session, city, package).recipient is None


def test_unknown_status_code_rejected(session):
    city, recipient, package = status_round_trip(session)
    package.status_code = "99"

    with pytest.raises(IntakeError):
        apply_status(session, city, package)


def test_store_bytes_keeps_bytes(app):
    data = PDF.read_bytes()

    stored = files.store_bytes(data, "../../ke-hoach.pdf")

    assert stored.original_name == "ke-hoach.pdf"
    assert stored.content_type == "application/pdf"
    assert stored.size == len(data)
    assert files.path_for(stored.sha256).read_bytes() == data


@pytest.mark.parametrize("data", [b"", b"plain text"])
def test_store_bytes_rejects_like_upload(app, data):
    with pytest.raises(ServiceError):
        files.store_bytes(data, "tep.txt")


def test_store_bytes_applies_size_limit(app):
    app.config["MAX_UPLOAD_BYTES"] = 1000

    with pytest.raises(ServiceError):
        files.store_bytes(PDF.read_bytes(), "lon.pdf")


def test_attachment_rows_reference_stored_files(session):
    document = issue_document(session)
    ward = organisation(session, "Ba Đình")
    received = receive_document(session, ward, round_trip(session, document), "m-1")
    session.flush()

    rows = session.scalars(
        select(Attachment).where(Attachment.document_id == received.document_id)
    ).all()

    assert len(rows) == 2
    assert all(files.path_for(row.sha256).exists() for row in rows)
