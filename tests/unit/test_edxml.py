"""The edXML parser and builder: real samples, our own packages, hostile input."""

import base64
import io
import json
import random
import re
import struct
import time
import zipfile
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from lxml import etree

from vanban.exchange import (
    Attachment,
    Business,
    EdocPackage,
    EdxmlError,
    Organisation,
    Receiver,
    ResponseFor,
    SignerInfo,
    StaffInfo,
    StatusPackage,
    TraceHeader,
    ZipLimits,
    build_edoc,
    build_status,
    parse_edoc,
    parse_package,
    parse_status,
)
from vanban.exchange.packages import NAMESPACE, STATUS_CODES
from vanban.services.clock import LOCAL_TZ

from ..conftest import make_app

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "edxml"
SHARED_SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples" / "edxml"
NS = {"e": NAMESPACE}
MIB = 1024 * 1024

STATUS_FIXTURE = FIXTURES / "truclienthong-example_status.edxml"
MESSY_FIXTURE = (
    FIXTURES / "api-gateway-ioffice_874e0f18-90dc-45fb-989a-65401470ba84.edxml"
)
LAYOUT_FIXTURE = FIXTURES / "api-gateway-ioffice_1760427207626_b.txt.edxml"
INVALID_FIXTURE = FIXTURES / "invalid_truclienthong-example_edoc.edxml"

NOW = datetime(2026, 3, 5, 2, 0, 0, tzinfo=UTC)  # 09:00 in Vietnam


def sample_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in (".edxml", ".xml"))


def unpack_independently(data: bytes) -> list[bytes]:
    """Decode each attachment the plain way, to compare with what the parser returns."""
    root = etree.fromstring(data, etree.XMLParser(resolve_entities=False))
    found = []
    for element in root.iterfind(".//e:ContentTransferEncoded", NS):
        found.append(base64.b64decode("".join(element.text.split())))
    for element in root.iterfind(".//e:AttachmentData", NS):
        found.append(base64.b64decode(element.text))
    files = []
    for payload in found:
        if payload.startswith(b"PK\x03\x04"):
            with zipfile.ZipFile(io.BytesIO(payload)) as archive:
                (entry,) = archive.infolist()
                payload = archive.read(entry)
        files.append(payload)
    return files


def a_package(**changes) -> EdocPackage:
    package = EdocPackage(
        sender=Organisation("000.00.00.H53", organ_name="UBND phường Bến Nghé"),
        recipients=[
            Organisation("000.00.01.H53", organ_name="UBND Thành phố"),
            Organisation("000.00.31.H53", organ_name="UBND phường Tân Định"),
        ],
        subject="Về việc báo cáo tình hình tiếp nhận văn bản điện tử",
        code_number="12",
        code_notation="UBND-VP",
        promulgation_place="Thành phố Hồ Chí Minh",
        promulgation_date=date(2026, 3, 5),
        document_type=1,
        type_name="Công văn",
        content="Đề nghị các đơn vị báo cáo trước ngày 20/3/2026.",
        signer=SignerInfo(position="Chủ tịch", full_name="Nguyễn Văn A"),
        due_date=date(2026, 3, 20),
        priority=0,
        steering_type=1,
        to_places=["Như trên", "Lưu: VT"],
        business=Business(doc_type=0, staff=StaffInfo(staff="Trần Thị B")),
        attachments=[
            Attachment(
                "Công văn 12.pdf", "application/pdf", b"%PDF-1.7\n" + bytes(range(256))
            )
        ],
    )
    return replace(package, **changes)


def a_status(**changes) -> StatusPackage:
    status = StatusPackage(
        sender=Organisation("000.00.31.H53", organ_name="UBND phường Tân Định"),
        response_for=ResponseFor(
            "000.00.00.H53",
            "12/UBND-VP",
            date(2026, 3, 5),
            "000.00.00.H53,2026/03/05,12/UBND-VP",
        ),
        status_code="01",
        description="Đã đến",
        timestamp=datetime(2026, 3, 5, 9, 30, tzinfo=LOCAL_TZ),
    )
    return replace(status, **changes)


def with_payload(payload: bytes, content_type: str = "application/zip") -> bytes:
    """Return a built package whose only attachment carries the given payload."""
    root = etree.fromstring(build_edoc(a_package(), now=NOW))
    (encoded,) = root.iterfind(".//e:ContentTransferEncoded", NS)
    encoded.text = base64.b64encode(payload).decode("ascii")
    (declared,) = root.iterfind("e:AttachmentEncoded/e:Attachment/e:ContentType", NS)
    declared.text = content_type
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def zip_of(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


# Real samples


VALID_SAMPLES = sample_files(SHARED_SAMPLES)
INVALID_SAMPLES = sample_files(SHARED_SAMPLES / "invalid")


@pytest.mark.parametrize(
    "path", VALID_SAMPLES or [None], ids=lambda p: p.name if p else "absent"
)
def test_shared_sample_parses(path):
    if path is None:
        pytest.skip(f"the shared edXML samples folder {SHARED_SAMPLES} is absent")
    data = path.read_bytes()

    package = parse_package(data)

    assert package.sender.organ_id
    if "status" in path.name:
        assert isinstance(package, StatusPackage)
        assert package.status_code in STATUS_CODES
        assert package.response_for.document_id
        assert package.timestamp is not None
    else:
        assert isinstance(package, EdocPackage)
        assert package.subject
        assert package.document_id
        assert package.recipients
        assert [a.data for a in package.attachments] == unpack_independently(data)
        for attachment in package.attachments:
            assert attachment.name
            assert attachment.content_type not in ("", "application/zip")


@pytest.mark.parametrize(
    "path", INVALID_SAMPLES or [None], ids=lambda p: p.name if p else "absent"
)
def test_shared_invalid_sample_rejected(path):
    if path is None:
        pytest.skip(f"the shared edXML samples folder {SHARED_SAMPLES} is absent")
    with pytest.raises(EdxmlError) as caught:
        parse_package(path.read_bytes())
    assert "not well-formed" in str(caught.value)
    assert caught.value.user_message


def test_status_fixture_fields():
    package = parse_status(STATUS_FIXTURE.read_bytes())

    assert package.sender.organ_id == "000.00.00.H41"
    assert package.sender.organ_name == "UBND Tỉnh Nghệ An"
    assert package.response_for == ResponseFor(
        organ_id="000.00.00.G22",
        code="7816/VPCP-TTĐT",
        promulgation_date=date(2018, 9, 28),
        document_id="000.00.00.G22,2015/09/30,7816/VPCP-TTĐT",
    )
    assert package.status_code == "01"
    assert package.timestamp == datetime(2018, 9, 28, 17, 25, 11, tzinfo=LOCAL_TZ)
    assert package.staff == StaffInfo(
        department="Văn thư văn phòng",
        staff="Trần Thị B",
        email="user@example.invalid",
        mobile="0900000000",
    )
    assert package.description.startswith("Văn thư - Phòng Văn thư - Lưu trữ: Đã đến")
    assert package.warnings == []


def test_messy_fixture_read_as_data():
    data = MESSY_FIXTURE.read_bytes()

    package = parse_edoc(data)

    assert package.document_id == "5e515fca-3627-4f2e-b517-7169acdc8bda"
    assert any("is not in the form" in w for w in package.warnings)
    assert package.sender == Organisation(
        organ_id="vxp.saas.03",
        organ_add="Số 1, Hà Nội",
        email="contact-vxp3@example.vn",
        telephone="+84 24 1234 5678",
        fax="+84 24 8765 4321",
        website="https://vxp3.example.vn",
    )
    assert [t.organ_id for t in package.trace_headers] == ["null", ""]
    assert package.trace_headers[1].timestamp == datetime(
        2025, 10, 23, 16, 28, 43, tzinfo=LOCAL_TZ
    )
    assert package.appendixes == ["Phụ lục"]
    assert package.to_places == ["Các bộ"]
    assert package.business == Business()
    (attachment,) = package.attachments
    assert attachment.name == "1761211722949_TestTrucLienThong.pdf"
    assert attachment.content_type == "application/pdf"
    assert attachment.size == 11229
    assert attachment.data.startswith(b"%PDF-1.3")
    assert [attachment.data] == unpack_independently(data)


def test_nonstandard_layout_fixture():
    package = parse_edoc(LAYOUT_FIXTURE.read_bytes())

    (attachment,) = package.attachments
    assert attachment.name == "1760427207626_b.txt"
    assert attachment.data == b"b"
    assert attachment.content_type == "text/plain"
    assert package.content == "File uploaded via Gateway"
    assert package.promulgation_date == date(2025, 10, 14)
    assert any("not zipped" in w for w in package.warnings)


def test_invalid_fixture_rejected_with_line():
    with pytest.raises(EdxmlError) as caught:
        parse_package(INVALID_FIXTURE.read_bytes())

    assert "not well-formed" in str(caught.value)
    assert "MessageHeader, line 74" in str(caught.value)
    assert "dòng 74" in caught.value.user_message


# Our own packages


def test_built_package_has_sample_shape():
    package = a_package()

    data = build_edoc(package, now=NOW)

    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<edXML xmlns=')
    root = etree.fromstring(data)
    assert root.nsmap == {None: NAMESPACE}
    envelope = root.find("e:edXMLEnvelope", NS)
    assert envelope.prefix == "edXML"
    header = envelope.find("e:edXMLHeader/e:MessageHeader", NS)
    assert header.findtext("e:DocumentId", namespaces=NS) == (
        "000.00.00.H53,2026/03/05,12/UBND-VP"
    )
    assert header.findtext("e:PromulgationInfo/e:PromulgationDate", namespaces=NS) == (
        "2026/03/05"
    )
    trace = envelope.find("e:edXMLHeader/e:TraceHeaderList", NS)
    assert trace.findtext("e:TraceHeader/e:Timestamp", namespaces=NS) == (
        "2026/03/05 09:00:00"
    )
    assert trace.findtext("e:Bussiness/e:BussinessDocType", namespaces=NS) == "0"

    reference = envelope.find("e:edXMLBody/e:edXMLManifest/e:Reference", NS)
    assert reference.findtext("e:ContentType", namespaces=NS) == "application/pdf"
    attachment = root.find("e:AttachmentEncoded/e:Attachment", NS)
    assert attachment.prefix is None
    assert attachment.findtext("e:ContentType", namespaces=NS) == "application/zip"
    content_id = attachment.findtext("e:ContentId", namespaces=NS)
    assert content_id == reference.findtext("e:ContentId", namespaces=NS)
    assert content_id.startswith("cid:")
    encoded = attachment.find("e:ContentTransferEncoded", NS)
    assert encoded.prefix == "edXML"
    with zipfile.ZipFile(io.BytesIO(base64.b64decode(encoded.text))) as archive:
        (entry,) = archive.infolist()
        assert re.fullmatch(r"[0-9a-f-]{36}\.pdf", entry.filename)
        assert archive.read(entry) == package.attachments[0].data


def test_built_package_round_trips():
    package = a_package(
        trace_headers=[TraceHeader("000.00.00.H53", NOW)],
        response_for=[
            ResponseFor(
                "000.00.01.H53",
                "7/UBND",
                date(2026, 2, 1),
                "000.00.01.H53,2026/02/01,7/UBND",
            )
        ],
    )

    parsed = parse_edoc(build_edoc(package, now=NOW))

    assert parsed == replace(package, document_id="000.00.00.H53,2026/03/05,12/UBND-VP")
    assert parsed.warnings == []


@pytest.mark.parametrize(
    ("receiver_type", "warned"), [(1, False), (2, False), (7, True)]
)
def test_unknown_receiver_type_noted(receiver_type, warned):
    receivers = [
        Receiver("000.00.01.H53", 1),
        Receiver("000.00.31.H53", receiver_type),
    ]
    package = a_package(business=Business(doc_type=0, receivers=receivers))

    parsed = parse_edoc(build_edoc(package, now=NOW))

    assert parsed.business.receivers[1].receiver_type == receiver_type
    notes = [w for w in parsed.warnings if "ReceiverType" in w]
    if warned:
        [note] = notes
        assert "ReceiverType 7" in note
        assert "000.00.31.H53" in note
    else:
        assert notes == []


def test_builder_stamps_sender_trace_header():
    parsed = parse_edoc(build_edoc(a_package(trace_headers=[]), now=NOW))

    assert parsed.trace_headers == [TraceHeader("000.00.00.H53", NOW)]


def test_zip_file_attachment_round_trips():
    original = zip_of({"a.txt": b"one", "b.txt": b"two"})
    attachment = Attachment("hồ sơ.zip", "application/zip", original)

    parsed = parse_edoc(build_edoc(a_package(attachments=[attachment]), now=NOW))

    assert parsed.attachments == [attachment]


def test_status_round_trips():
    status = a_status(staff=StaffInfo("Văn phòng", "Trần Thị B", "b@example.invalid"))

    data = build_status(status)

    assert b"<edXML:StatusCode>01</edXML:StatusCode>" in data
    assert b"<edXML:Timestamp>2026/03/05 09:30:00</edXML:Timestamp>" in data
    assert parse_status(data) == status


def test_status_without_timestamp_gets_now():
    parsed = parse_status(build_status(a_status(timestamp=None), now=NOW))

    assert parsed.timestamp == NOW


def test_business_spelling_accepted():
    data = build_edoc(a_package(business=Business(doc_type=2, doc_reason="Cập nhật")))
    data = data.replace(b"Bussiness", b"Business")

    parsed = parse_edoc(data)

    assert parsed.business.doc_type == 2
    assert parsed.business.doc_reason == "Cập nhật"


def test_day_first_date_read_with_warning():
    data = build_edoc(a_package(), now=NOW).replace(b"2026/03/05<", b"05/03/2026<")

    parsed = parse_edoc(data)

    assert parsed.promulgation_date == date(2026, 3, 5)
    assert any(
        "'05/03/2026' is not in the form yyyy/MM/dd" in w for w in parsed.warnings
    )


def test_unparseable_values_read_as_none():
    data = build_edoc(a_package(), now=NOW)
    data = data.replace(b"DueDate>2026/03/20<", "DueDate>sớm<".encode())
    data = data.replace(b"<edXML:SteeringType>1<", b"<edXML:SteeringType>x<")

    parsed = parse_edoc(data)

    assert parsed.due_date is None
    assert parsed.steering_type is None
    assert len(parsed.warnings) == 2


def test_document_id_of_other_sender_noted():
    data = build_edoc(a_package(), now=NOW).replace(
        b"000.00.00.H53,2026/03/05", b"000.00.00.G22,2015/09/30"
    )

    parsed = parse_edoc(data)

    assert parsed.document_id == "000.00.00.G22,2015/09/30,12/UBND-VP"
    assert any("does not match the sender" in w for w in parsed.warnings)


def test_parse_edoc_rejects_status():
    with pytest.raises(EdxmlError, match="found a status package"):
        parse_edoc(STATUS_FIXTURE.read_bytes())


def test_parse_status_rejects_edoc():
    with pytest.raises(EdxmlError, match="expected a status package"):
        parse_status(build_edoc(a_package(), now=NOW))


@pytest.mark.parametrize(
    ("changes", "element"),
    [
        ({"subject": "  "}, "Subject"),
        ({"subject": "x" * 501}, "Subject"),
        ({"recipients": []}, "To"),
        ({"recipients": [Organisation("000.00.01.H53")] * 2}, "To"),
        ({"sender": Organisation("")}, "From/OrganId"),
        ({"code_number": ""}, "DocumentId"),
        ({"promulgation_date": None}, "DocumentId"),
        ({"document_id": "5e515fca-3627-4f2e-b517-7169acdc8bda"}, "DocumentId"),
        ({"business": Business(doc_type=4)}, "BussinessDocType"),
        ({"attachments": [Attachment(" ", "text/plain", b"x")]}, "AttachmentName"),
        ({"trace_headers": [TraceHeader("x", datetime(2026, 1, 1))]}, "Timestamp"),
        ({"content": "bad \ud800 surrogate"}, "Content"),
    ],
)
def test_builder_rejects_edoc(changes, element):
    with pytest.raises(EdxmlError) as caught:
        build_edoc(a_package(**changes), now=NOW)
    assert caught.value.element == element
    assert caught.value.user_message


@pytest.mark.parametrize(
    ("changes", "element"),
    [
        ({"status_code": "07"}, "StatusCode"),
        ({"response_for": ResponseFor("000.00.00.H53")}, "ResponseFor/DocumentId"),
        ({"response_for": ResponseFor("", document_id="x")}, "ResponseFor/OrganId"),
    ],
)
def test_builder_rejects_status(changes, element):
    with pytest.raises(EdxmlError) as caught:
        build_status(a_status(**changes))
    assert caught.value.element == element


# Hostile and broken packages


def test_missing_subject_rejected():
    data = re.sub(rb"<edXML:Subject>.*?</edXML:Subject>", b"", build_edoc(a_package()))

    with pytest.raises(EdxmlError) as caught:
        parse_package(data)

    assert caught.value.element == "Subject"
    assert "trích yếu" in caught.value.user_message


def test_missing_sender_rejected():
    data = re.sub(
        rb"<edXML:From>.*?</edXML:From>", b"", build_edoc(a_package()), flags=re.S
    )

    with pytest.raises(EdxmlError) as caught:
        parse_package(data)

    assert caught.value.element == "MessageHeader/From"


BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE edXML [\n<!ENTITY lol0 "lol">\n'
    + b"".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">\n'.encode() for i in range(1, 10)
    )
    + b"]>\n"
    + b'<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016"><edXMLEnvelope>'
    b"<edXMLHeader><MessageHeader><From><OrganId>1</OrganId></From>"
    b"<DocumentId>x</DocumentId><Subject>&lol9;</Subject>"
    b"</MessageHeader></edXMLHeader></edXMLEnvelope></edXML>"
)


def test_entity_bomb_rejected():
    started = time.perf_counter()

    with pytest.raises(EdxmlError) as caught:
        parse_package(BILLION_LAUGHS)

    assert caught.value.element == "DOCTYPE"
    assert "DOCTYPE" in str(caught.value)
    assert time.perf_counter() - started < 5


def test_utf16_entity_bomb_rejected():
    data = BILLION_LAUGHS.decode("ascii").encode("utf-16")

    with pytest.raises(EdxmlError) as caught:
        parse_package(data)

    assert caught.value.element == "DOCTYPE"


def test_doctype_after_long_comment_rejected():
    # The prolog scan stops after 64 KiB; the check after parsing still applies.
    prolog = b"<!--" + b"x" * 70_000 + b"-->\n<!DOCTYPE edXML>\n"
    data = build_edoc(a_package()).replace(b"?>\n", b"?>\n" + prolog, 1)

    with pytest.raises(EdxmlError) as caught:
        parse_package(data)

    assert caught.value.element == "DOCTYPE"
    assert "(<!DOCTYPE edXML>)" in str(caught.value)


def test_external_entity_rejected(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET-CONTENT")
    data = (
        '<?xml version="1.0"?>\n'
        f'<!DOCTYPE edXML [<!ENTITY xxe SYSTEM "{secret.as_uri()}">]>\n'
        f'<edXML xmlns="{NAMESPACE}"><edXMLEnvelope><edXMLHeader><MessageHeader>'
        "<From><OrganId>1</OrganId></From><DocumentId>x</DocumentId>"
        "<Subject>&xxe;</Subject></MessageHeader></edXMLHeader></edXMLEnvelope>"
        "</edXML>"
    ).encode()

    with pytest.raises(EdxmlError) as caught:
        parse_package(data)

    assert caught.value.element == "DOCTYPE"
    assert "SECRET-CONTENT" not in str(caught.value)


def test_external_dtd_rejected(tmp_path):
    dtd = tmp_path / "evil.dtd"
    dtd.write_text('<!ENTITY leak "LEAKED">')
    data = build_edoc(a_package()).replace(
        b"?>\n", f'?>\n<!DOCTYPE edXML SYSTEM "{dtd.as_uri()}">\n'.encode(), 1
    )

    with pytest.raises(EdxmlError) as caught:
        parse_package(data)

    assert caught.value.element == "DOCTYPE"


def test_non_edxml_root_rejected():
    with pytest.raises(EdxmlError) as caught:
        parse_package(b'<html xmlns="http://www.w3.org/1999/xhtml"><body/></html>')

    assert caught.value.element == "edXML"
    assert "QCVN 102:2016" in caught.value.user_message


def test_edxml_root_without_namespace_rejected():
    with pytest.raises(EdxmlError) as caught:
        parse_package(b"<edXML><edXMLEnvelope/></edXML>")

    assert caught.value.element == "edXML"
    assert NAMESPACE in str(caught.value)


def test_zip_bomb_rejected_by_ratio():
    bomb = zip_of({"bomb.pdf": bytes(10 * MIB)})

    with pytest.raises(EdxmlError) as caught:
        parse_package(with_payload(bomb))

    assert "compression ratio" in str(caught.value)
    assert "tỷ lệ nén bất thường" in caught.value.user_message


def test_zip_over_size_limit_rejected():
    bomb = zip_of({"bomb.pdf": bytes(60 * MIB)})

    with pytest.raises(EdxmlError) as caught:
        parse_package(with_payload(bomb))

    assert "exceed 52428800 bytes" in str(caught.value)


def test_zip_with_false_size_header_rejected():
    archive = bytearray(zip_of({"bomb.pdf": bytes(2 * MIB)}))
    # Claim 100 uncompressed bytes in the local header and the central directory.
    struct.pack_into("<L", archive, 22, 100)
    struct.pack_into("<L", archive, archive.find(b"PK\x01\x02") + 24, 100)

    with pytest.raises(EdxmlError) as caught:
        parse_package(with_payload(bytes(archive)))

    assert "cannot be read" in str(caught.value)


def test_zip_with_too_many_entries_rejected():
    archive = zip_of({f"{i}.txt": b"x" for i in range(25)})

    with pytest.raises(EdxmlError) as caught:
        parse_package(with_payload(archive))

    assert "25 entries" in str(caught.value)


def test_package_attachments_share_size_limit():
    attachments = [
        Attachment(f"{i}.bin", "application/octet-stream", bytes(range(256)) * 1600)
        for i in range(3)
    ]
    data = build_edoc(a_package(attachments=attachments), now=NOW)
    limits = ZipLimits(max_total_size=1 * MIB)

    with pytest.raises(EdxmlError) as caught:
        parse_package(data, limits)

    assert "'2.bin'" in str(caught.value)


def test_corrupt_zip_rejected():
    archive = zip_of({"a.pdf": b"%PDF" * 1000})
    broken = archive[:40] + bytes(len(archive) - 80) + archive[-40:]

    with pytest.raises(EdxmlError) as caught:
        parse_package(with_payload(broken))

    assert caught.value.element == "AttachmentEncoded/Attachment"


def test_invalid_base64_rejected():
    data = build_edoc(a_package())
    data = re.sub(rb"(ContentTransferEncoded[^>]*>)[^<]+", rb"\1${test.txt}", data)

    with pytest.raises(EdxmlError) as caught:
        parse_package(data)

    assert caught.value.element == "ContentTransferEncoded"


def test_unzipped_attachment_kept_as_is():
    parsed = parse_edoc(with_payload(b"%PDF-1.4 raw", content_type="application/pdf"))

    assert parsed.attachments[0].data == b"%PDF-1.4 raw"
    assert parsed.attachments[0].content_type == "application/pdf"
    assert any("is not zipped" in w for w in parsed.warnings)


def test_several_entry_zip_kept_as_file():
    docx_like = zip_of(
        {"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w/>"}
    )

    parsed = parse_edoc(with_payload(docx_like))

    assert parsed.attachments[0].data == docx_like


def a_large_package(size: int) -> tuple[bytes, bytes]:
    """Build a package with one incompressible attachment; return it and the bytes."""
    data = random.Random(size).randbytes(size)
    attachment = Attachment("Bản scan.pdf", "application/pdf", data)
    return build_edoc(a_package(attachments=[attachment]), now=NOW), data


def test_ten_megabyte_attachment_round_trips():
    package, data = a_large_package(10 * MIB)
    # The zipped attachment in base64 is one text node of about 14 million
    # characters, over libxml2's limit of 10,000,000 without huge_tree.
    assert len(package) > 13_000_000

    parsed = parse_edoc(package)

    [attachment] = parsed.attachments
    assert attachment.name == "Bản scan.pdf"
    assert attachment.data == data


def test_attachment_over_configured_limit_rejected():
    package, _ = a_large_package(10 * MIB)

    with pytest.raises(EdxmlError) as caught:
        parse_package(package, ZipLimits(max_total_size=8 * MIB))

    assert f"exceed {8 * MIB} bytes" in str(caught.value)
    assert "Bản scan.pdf" in str(caught.value)


def test_parser_takes_bytes_only():
    with pytest.raises(TypeError):
        parse_package(STATUS_FIXTURE.read_text())


# Command line


@pytest.fixture
def cli_runner(tmp_path):
    app = make_app(f"sqlite:///{tmp_path / 'cli.sqlite'}", tmp_path / "instance")
    return app.test_cli_runner()


def test_cli_prints_document_json(cli_runner):
    result = cli_runner.invoke(args=["exchange", "parse", str(MESSY_FIXTURE)])

    # The sample names its sender among its recipients, which the hub rejects,
    # and the command still prints all it read.
    assert result.exit_code == 1, result.output
    printed = json.loads(result.stdout)
    assert printed["kind"] == "edoc"
    assert printed["subject"] == "Binary fix test"
    assert printed["promulgation_date"] == "2025-10-23"
    (attachment,) = printed["attachments"]
    assert attachment["size"] == 11229
    assert attachment["content_type"] == "application/pdf"
    assert re.fullmatch(r"[0-9a-f]{64}", attachment["sha256"])
    assert "data" not in attachment
    assert [r["error"] for r in printed["hub_rejections"]] == ["sender_is_recipient"]


def test_cli_prints_status_json(cli_runner):
    result = cli_runner.invoke(args=["exchange", "parse", str(STATUS_FIXTURE)])

    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["kind"] == "status"
    assert printed["status_code"] == "01"
    assert printed["timestamp"] == "2018-09-28T17:25:11+07:00"
    assert printed["hub_rejections"] == []


def test_cli_package_hub_takes(cli_runner, tmp_path):
    path = tmp_path / "goi-tin.edxml"
    path.write_bytes(build_edoc(a_package(), now=NOW))

    result = cli_runner.invoke(args=["exchange", "parse", str(path)])

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["hub_rejections"] == []
    assert result.stderr == ""


def test_cli_lists_every_hub_rejection(cli_runner, tmp_path):
    subject = b"<edXML:Subject>Binary fix test</edXML:Subject>"
    data = MESSY_FIXTURE.read_bytes()
    assert data.count(subject) == 1
    path = tmp_path / "trich-yeu-dai.edxml"
    long_subject = b"<edXML:Subject>" + b"x" * 200_000 + b"</edXML:Subject>"
    path.write_bytes(data.replace(subject, long_subject))

    result = cli_runner.invoke(args=["exchange", "parse", str(path)])

    assert result.exit_code == 1, result.output
    printed = json.loads(result.stdout)
    assert len(printed["subject"]) == 200_000
    rejections = printed["hub_rejections"]
    assert [r["error"] for r in rejections] == [
        "sender_is_recipient",
        "invalid_package",
    ]
    assert rejections[1]["status"] == 400
    assert rejections[1]["detail"] == (
        "Trích yếu (Subject) dài 200000 ký tự, vượt quá 500 ký tự."
    )
    assert "Lỗi: Trục liên thông sẽ từ chối gói tin này: Đơn vị gửi" in result.stderr
    assert "Còn 1 lỗi khác, xem mục hub_rejections." in result.stderr


@pytest.mark.parametrize("extra", [1, 10_000])
def test_cli_rejects_file_over_hub_limit(tmp_path, extra):
    limit = 4096
    app = make_app(
        f"sqlite:///{tmp_path / 'cli.sqlite'}",
        tmp_path / "instance",
        HUB_MAX_PACKAGE_BYTES=limit,
    )
    path = tmp_path / "lon.edxml"
    path.write_bytes(b"x" * (limit + extra))

    result = app.test_cli_runner().invoke(args=["exchange", "parse", str(path)])

    assert result.exit_code == 1, result.output
    assert "lớn hơn giới hạn gói tin của trục (4096 byte" in result.output
    assert result.stdout == ""


def test_cli_reads_device_without_size_bounded(tmp_path):
    """/dev/zero never ends and stat reports no size, but the read stops."""
    zero = Path("/dev/zero")
    if not zero.exists():
        pytest.skip("no /dev/zero on this system")
    app = make_app(
        f"sqlite:///{tmp_path / 'cli.sqlite'}",
        tmp_path / "instance",
        HUB_MAX_PACKAGE_BYTES=MIB,
    )

    result = app.test_cli_runner().invoke(args=["exchange", "parse", str(zero)])

    assert result.exit_code == 1, result.output
    assert "lớn hơn giới hạn gói tin của trục (1048576 byte" in result.output


def test_cli_reads_package_at_hub_limit(tmp_path):
    data = build_edoc(a_package(), now=NOW)
    app = make_app(
        f"sqlite:///{tmp_path / 'cli.sqlite'}",
        tmp_path / "instance",
        HUB_MAX_PACKAGE_BYTES=len(data),
    )
    path = tmp_path / "vua-du.edxml"
    path.write_bytes(data)

    result = app.test_cli_runner().invoke(args=["exchange", "parse", str(path)])

    assert result.exit_code == 0, result.output


def test_cli_reports_invalid_package(cli_runner):
    result = cli_runner.invoke(args=["exchange", "parse", str(INVALID_FIXTURE)])

    assert result.exit_code == 1
    assert "Gói tin không phải là XML hợp lệ (lỗi ở dòng 74)" in result.output
