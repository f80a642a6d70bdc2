"""Packages and directory entries for the city hub tests."""

from dataclasses import replace
from datetime import UTC, date, datetime

from lxml import etree

from vanban.exchange import (
    Attachment,
    Business,
    EdocPackage,
    Organisation,
    ResponseFor,
    StatusPackage,
    build_edoc,
    build_status,
    hub,
    standard_document_id,
)
from vanban.exchange.packages import NAMESPACE
from vanban.services.clock import LOCAL_TZ

CITY = "000.00.00.H01"
CENTER = "000.01.00.H01"
WARD = "000.01.01.H01"
OTHER_WARD = "000.02.01.H01"
ORGANISATIONS = {
    CITY: "UBND Thành phố Hà Nội",
    CENTER: "Trung tâm Truyền thông, Dữ liệu và Công nghệ số",
    WARD: "UBND Phường Ba Đình",
    OTHER_WARD: "UBND Phường Ngọc Hà",
}
NOW = datetime(2026, 3, 5, 2, 0, 0, tzinfo=UTC)  # 09:00 in Vietnam
PROMULGATED = date(2026, 3, 5)
NS = {"e": NAMESPACE}


def register_all(session) -> dict[str, str]:
    """Register the test organisations and return their tokens by organ_id."""
    tokens = {}
    for organ_id, name in ORGANISATIONS.items():
        parent = None if organ_id == CITY else CITY
        _, tokens[organ_id] = hub.add_organisation(session, organ_id, name, parent)
    session.commit()
    return tokens


def document_id(sender: str = WARD, number: str = "12") -> str:
    return standard_document_id(sender, PROMULGATED, number, "UBND-VP")


def edoc(
    sender: str = WARD,
    recipients: tuple[str, ...] = (CITY,),
    number: str = "12",
    doc_type: int = 0,
    **changes,
) -> EdocPackage:
    package = EdocPackage(
        sender=Organisation(sender, organ_name=ORGANISATIONS.get(sender, "")),
        recipients=[
            Organisation(code, organ_name=ORGANISATIONS.get(code, ""))
            for code in recipients
        ],
        subject="Về việc báo cáo tình hình tiếp nhận văn bản điện tử",
        code_number=number,
        code_notation="UBND-VP",
        promulgation_place="Hà Nội",
        promulgation_date=PROMULGATED,
        type_name="Công văn",
        business=Business(doc_type=doc_type),
        attachments=[
            Attachment(
                "Công văn 12.pdf", "application/pdf", b"%PDF-1.7\n" + bytes(range(256))
            )
        ],
    )
    return replace(package, **changes)


def edoc_bytes(*args, **kwargs) -> bytes:
    return build_edoc(edoc(*args, **kwargs), now=NOW)


def status(
    sender: str = CITY,
    responds_to: str = WARD,
    code: str = "01",
    minute: int = 30,
    **changes,
) -> StatusPackage:
    package = StatusPackage(
        sender=Organisation(sender, organ_name=ORGANISATIONS.get(sender, "")),
        response_for=ResponseFor(
            responds_to, "12/UBND-VP", PROMULGATED, document_id(responds_to)
        ),
        status_code=code,
        description="Đã đến",
        timestamp=datetime(2026, 3, 5, 9, minute, tzinfo=LOCAL_TZ),
    )
    return replace(package, **changes)


def status_bytes(*args, **kwargs) -> bytes:
    return build_status(status(*args, **kwargs), now=NOW)


def edit(data: bytes, path: str, text: str | None) -> bytes:
    """Set the text of every element at an XPath (prefix e:), or remove it if None."""
    root = etree.fromstring(data)
    elements = root.xpath(path, namespaces=NS)
    assert elements, f"{path} not found in the package"
    for element in elements:
        if text is None:
            element.getparent().remove(element)
        else:
            element.text = text
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def duplicate_first(data: bytes, path: str) -> bytes:
    """Insert a copy of the first element at an XPath right after it."""
    root = etree.fromstring(data)
    element = root.xpath(path, namespaces=NS)[0]
    element.addnext(etree.fromstring(etree.tostring(element)))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


MESSAGE_HEADER = "//e:edXMLHeader/e:MessageHeader"

BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE edXML [\n<!ENTITY lol0 "lol">\n'
    + b"".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">\n'.encode() for i in range(1, 10)
    )
    + b"]>\n"
    + b'<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016"><edXMLEnvelope>'
    b"<edXMLHeader><MessageHeader><From><OrganId>000.01.01.H01</OrganId></From>"
    b"<To><OrganId>000.00.00.H01</OrganId></To>"
    b"<DocumentId>x</DocumentId><Subject>&lol9;</Subject>"
    b"</MessageHeader></edXMLHeader></edXMLEnvelope></edXML>"
)


def external_entity(path) -> bytes:
    """Return a package whose Subject pulls a local file in through an entity."""
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE edXML [<!ENTITY xxe SYSTEM "'
        f'{path.as_uri()}">]>\n'
        '<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016"><edXMLEnvelope>'
        "<edXMLHeader><MessageHeader><From><OrganId>000.01.01.H01</OrganId></From>"
        "<To><OrganId>000.00.00.H01</OrganId></To>"
        "<DocumentId>x</DocumentId><Subject>&xxe;</Subject>"
        "</MessageHeader></edXMLHeader></edXMLEnvelope></edXML>"
    ).encode()
