"""Data classes for edXML packages (QCVN 102:2016/BTTTT) and the error they raise.

Field names follow the edXML element names in snake case. Text fields contain
NFC text and are "" when the element is absent or empty. Numeric codes are None
when absent or not a number.
"""

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime

NAMESPACE = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
ROOT_TAG = f"{{{NAMESPACE}}}edXML"
OCTET_STREAM = "application/octet-stream"

DATE_FORMAT = "%Y/%m/%d"
TIMESTAMP_FORMAT = "%Y/%m/%d %H:%M:%S"

# BussinessDocType values: new, revoke, update, replace.
BUSINESS_DOC_TYPES = (0, 1, 2, 3)
STATUS_CODES = ("01", "02", "03", "04", "05", "06", "13", "15", "16")
# Bussiness/BussinessDocumentInfo/ReceiverList/Receiver/ReceiverType: why each
# recipient gets the document. NOTE: the exchange contract names no element
# for it and no public code table fixes the values, so these are our own. A
# package without a Receiver entry for us means "for action".
RECEIVER_TYPES = {"action": 1, "info": 2}
MAX_SUBJECT_LENGTH = 500


class EdxmlError(ValueError):
    """A package that cannot be read or built.

    The message is in English for logs and names the element or attachment at
    fault. `user_message` is the Vietnamese text shown to the clerk, and
    `element` is the edXML element at fault when there is one.
    """

    def __init__(
        self,
        message: str,
        user_message: str = "Gói tin edXML không hợp lệ.",
        element: str | None = None,
    ):
        super().__init__(message)
        self.user_message = user_message
        self.element = element


@dataclass
class Organisation:
    """A From or To block: the organisation and its public contact data."""

    organ_id: str
    organ_name: str = ""
    organization_in_charge: str = ""
    organ_add: str = ""
    email: str = ""
    telephone: str = ""
    fax: str = ""
    website: str = ""


@dataclass
class SignerInfo:
    competence: str = ""
    position: str = ""
    full_name: str = ""


@dataclass
class StaffInfo:
    """The staff member who handled a package at the sending organisation."""

    department: str = ""
    staff: str = ""
    email: str = ""
    mobile: str = ""


@dataclass
class ResponseFor:
    """The document a status (or a reply document) refers to."""

    organ_id: str = ""
    code: str = ""
    promulgation_date: date | None = None
    document_id: str = ""


@dataclass
class TraceHeader:
    """One hop of the package: the organisation and when it passed there."""

    organ_id: str = ""
    timestamp: datetime | None = None


@dataclass
class Receiver:
    """A recipient named in an update or revocation (BussinessDocumentInfo)."""

    organ_id: str = ""
    receiver_type: int | None = None


@dataclass
class Business:
    """The Bussiness block: what this package does to the document."""

    doc_type: int | None = 0
    doc_reason: str = ""
    # The document an update, revocation or replacement concerns.
    document_id: str = ""
    paper: int | None = None
    staff: StaffInfo | None = None
    document_info: int | None = None
    document_receiver: int | None = None
    receivers: list[Receiver] = field(default_factory=list)


@dataclass
class Attachment:
    """An attachment as the original file: unzipped, with its real content type."""

    name: str
    content_type: str
    data: bytes
    description: str = ""
    # The manifest's "cid:..." link. The builder generates one when it is empty.
    content_id: str = field(default="", compare=False)

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class EdocPackage:
    """A document package: metadata, trace, business block and attachments."""

    sender: Organisation
    recipients: list[Organisation]
    subject: str
    document_id: str = ""
    code_number: str = ""
    code_notation: str = ""
    promulgation_place: str = ""
    promulgation_date: date | None = None
    document_type: int | None = None
    type_detail: int | None = None
    type_name: str = ""
    content: str = ""
    signer: SignerInfo = field(default_factory=SignerInfo)
    due_date: date | None = None
    priority: int | None = None
    sphere_of_promulgation: str = ""
    typer_notation: str = ""
    promulgation_amount: int | None = None
    page_amount: int | None = None
    direction: bool | None = None
    appendixes: list[str] = field(default_factory=list)
    steering_type: int | None = None
    to_places: list[str] = field(default_factory=list)
    response_for: list[ResponseFor] = field(default_factory=list)
    trace_headers: list[TraceHeader] = field(default_factory=list)
    business: Business = field(default_factory=Business)
    attachments: list[Attachment] = field(default_factory=list)
    # What the parser found odd but read anyway, in English for logs.
    warnings: list[str] = field(default_factory=list, compare=False)

    @property
    def business_doc_type(self) -> int | None:
        return self.business.doc_type


@dataclass
class StatusPackage:
    """A status package: how far a receiver got with a document."""

    sender: Organisation
    response_for: ResponseFor
    status_code: str
    description: str = ""
    timestamp: datetime | None = None
    staff: StaffInfo | None = None
    warnings: list[str] = field(default_factory=list, compare=False)


def standard_document_id(
    organ_id: str, promulgation_date: date, code_number: str, code_notation: str
) -> str:
    """Return the DocumentId `<OrganId>,<yyyy/MM/dd>,<CodeNumber>/<CodeNotation>`."""
    return f"{organ_id},{format_date(promulgation_date)},{code_number}/{code_notation}"


def format_date(value: date) -> str:
    """Return the date as yyyy/MM/dd, zero-padded for any year."""
    return f"{value.year:04d}/{value.month:02d}/{value.day:02d}"
