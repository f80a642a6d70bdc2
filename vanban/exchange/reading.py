"""Read edXML elements into packages as data, noting what is odd."""

import binascii
import mimetypes
import re
from dataclasses import dataclass
from datetime import date, datetime

import pybase64
from lxml import etree

from vanban.exchange.packages import (
    DATE_FORMAT,
    MAX_SUBJECT_LENGTH,
    NAMESPACE,
    OCTET_STREAM,
    RECEIVER_TYPES,
    STATUS_CODES,
    TIMESTAMP_FORMAT,
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
    standard_document_id,
)
from vanban.exchange.zipped import Unpacked, ZipLimits, is_zip, too_large_error, unpack
from vanban.services import clock
from vanban.services.text import nfc

ZIP_CONTENT_TYPES = {"application/zip", "application/x-zip-compressed"}

_BUSINESS = ("Bussiness", "Business")
# ASCII characters that str.split() treats as whitespace, dropped from base64 text.
_ASCII_WHITESPACE = bytes(c for c in range(128) if chr(c).isspace())
_STANDARD_DOCUMENT_ID = re.compile(r"^[^,]+,\d{4}/\d{2}/\d{2},[^/]+/.+$")
_DATE_FORMATS = (DATE_FORMAT, "%d/%m/%Y", "%Y-%m-%d")
_TIMESTAMP_FORMATS = (TIMESTAMP_FORMAT, "%d/%m/%Y %H:%M:%S", "%Y-%m-%d %H:%M:%S")
# Python's built-in table (used without the system's mime.types, so that every
# machine guesses alike) lacks the Office Open XML and OpenDocument types.
_MIME_TYPES = mimetypes.MimeTypes()
for _suffix, _type in {
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".odt": "application/vnd.oasis.opendocument.text",
    ".ods": "application/vnd.oasis.opendocument.spreadsheet",
}.items():
    _MIME_TYPES.add_type(_type, _suffix)


class _Reader:
    """Read element values as data, noting what is odd instead of failing."""

    def __init__(self):
        self.warnings: list[str] = []

    def text(self, parent, *path) -> str:
        element = _find(parent, *path)
        return "" if element is None else nfc(element.text)

    def date(self, parent, *path) -> date | None:
        value = self.text(parent, *path)
        if not value:
            return None
        for index, pattern in enumerate(_DATE_FORMATS):
            try:
                parsed = datetime.strptime(value, pattern).date()
            except ValueError:
                continue
            if index:
                self._note_format(path, value, "yyyy/MM/dd")
            return parsed
        self.warnings.append(f"{_path_name(path)} {value!r} is not a date; ignored")
        return None

    def timestamp(self, parent, *path) -> datetime | None:
        value = self.text(parent, *path)
        if not value:
            return None
        for index, pattern in enumerate(_TIMESTAMP_FORMATS):
            try:
                parsed = datetime.strptime(value, pattern)
            except ValueError:
                continue
            if index:
                self._note_format(path, value, "yyyy/MM/dd HH:mm:ss")
            return parsed.replace(tzinfo=clock.LOCAL_TZ)
        self.warnings.append(
            f"{_path_name(path)} {value!r} is not a timestamp; ignored"
        )
        return None

    def integer(self, parent, *path) -> int | None:
        value = self.text(parent, *path)
        if not value:
            return None
        try:
            return int(value)
        except ValueError:
            self.warnings.append(
                f"{_path_name(path)} {value!r} is not a number; ignored"
            )
            return None

    def boolean(self, parent, *path) -> bool | None:
        value = self.text(parent, *path).lower()
        if value in ("true", "1"):
            return True
        if value in ("false", "0"):
            return False
        if value:
            self.warnings.append(f"{_path_name(path)} {value!r} is not true or false")
        return None

    def organisation(self, element) -> Organisation:
        return Organisation(
            organ_id=self.text(element, "OrganId"),
            organ_name=self.text(element, "OrganName"),
            organization_in_charge=self.text(element, "OrganizationInCharge"),
            organ_add=self.text(element, "OrganAdd"),
            email=self.text(element, "Email"),
            telephone=self.text(element, "Telephone"),
            fax=self.text(element, "Fax"),
            website=self.text(element, "Website"),
        )

    def response_for(self, element) -> ResponseFor:
        return ResponseFor(
            organ_id=self.text(element, "OrganId"),
            code=self.text(element, "Code"),
            promulgation_date=self.date(element, "PromulgationDate"),
            document_id=self.text(element, "DocumentId"),
        )

    def staff(self, parent) -> StaffInfo | None:
        element = child(parent, "StaffInfo")
        if element is None:
            return None
        return StaffInfo(
            department=self.text(element, "Department"),
            staff=self.text(element, "Staff"),
            email=self.text(element, "Email"),
            mobile=self.text(element, "Mobile"),
        )

    def _note_format(self, path, value: str, standard: str) -> None:
        self.warnings.append(
            f"{_path_name(path)} {value!r} is not in the form {standard}"
        )


def read_status(message_header) -> StatusPackage:
    """Read a status package from its MessageHeader."""
    reader = _Reader()
    sender = _require_organisation(reader, message_header)
    response_element = require(message_header, "ResponseFor", "MessageHeader")
    response_for = reader.response_for(response_element)
    if not response_for.document_id:
        raise _missing("ResponseFor/DocumentId", "mã văn bản được phản hồi")
    status_code = reader.text(message_header, "StatusCode")
    if not status_code:
        raise _missing("StatusCode", "mã trạng thái")
    if status_code not in STATUS_CODES:
        reader.warnings.append(f"StatusCode {status_code!r} is not a known status")

    timestamp = reader.timestamp(message_header, "Timestamp")
    if timestamp is None:
        reader.warnings.append("Timestamp is missing")
    return StatusPackage(
        sender=sender,
        response_for=response_for,
        status_code=status_code,
        description=reader.text(message_header, "Description"),
        timestamp=timestamp,
        staff=reader.staff(message_header),
        warnings=reader.warnings,
    )


def read_edoc(root, envelope, header, limits: ZipLimits) -> EdocPackage:
    """Read a document package, attachments unzipped within `limits`."""
    reader = _Reader()
    message_header = child(header, "MessageHeader")
    sender = _require_organisation(reader, message_header)
    subject = reader.text(message_header, "Subject")
    if not subject:
        raise _missing("Subject", "trích yếu văn bản")
    if len(subject) > MAX_SUBJECT_LENGTH:
        reader.warnings.append(
            f"Subject has {len(subject)} characters, more than {MAX_SUBJECT_LENGTH}"
        )
    document_id = reader.text(message_header, "DocumentId")
    if not document_id:
        raise _missing("DocumentId", "mã văn bản (DocumentId)")

    recipients = [
        reader.organisation(element) for element in _children(message_header, "To")
    ]
    if not recipients:
        reader.warnings.append("the package names no recipient (To)")
    response_for = [
        response
        for response in map(
            reader.response_for, _children(message_header, "ResponseFor")
        )
        if response != ResponseFor()
    ]
    content = reader.text(message_header, "Content") or reader.text(
        envelope, "edXMLBody", "Content"
    )
    other = ("OtherInfo",)
    package = EdocPackage(
        sender=sender,
        recipients=recipients,
        subject=subject,
        document_id=document_id,
        code_number=reader.text(message_header, "Code", "CodeNumber"),
        code_notation=reader.text(message_header, "Code", "CodeNotation"),
        promulgation_place=reader.text(message_header, "PromulgationInfo", "Place"),
        promulgation_date=reader.date(
            message_header, "PromulgationInfo", "PromulgationDate"
        ),
        document_type=reader.integer(message_header, "DocumentType", "Type"),
        type_detail=reader.integer(message_header, "DocumentType", "TypeDetail"),
        type_name=reader.text(message_header, "DocumentType", "TypeName"),
        content=content,
        signer=SignerInfo(
            competence=reader.text(message_header, "SignerInfo", "Competence"),
            position=reader.text(message_header, "SignerInfo", "Position"),
            full_name=reader.text(message_header, "SignerInfo", "FullName"),
        ),
        due_date=reader.date(message_header, "DueDate"),
        priority=reader.integer(message_header, *other, "Priority"),
        sphere_of_promulgation=reader.text(
            message_header, *other, "SphereOfPromulgation"
        ),
        typer_notation=reader.text(message_header, *other, "TyperNotation"),
        promulgation_amount=reader.integer(
            message_header, *other, "PromulgationAmount"
        ),
        page_amount=reader.integer(message_header, *other, "PageAmount"),
        direction=reader.boolean(message_header, *other, "Direction"),
        appendixes=_texts(message_header, *other, "Appendixes", "Appendix"),
        steering_type=reader.integer(message_header, "SteeringType"),
        to_places=_texts(message_header, "ToPlaces", "Place"),
        response_for=response_for,
        trace_headers=_read_trace_headers(reader, header),
        business=_read_business(reader, header),
        attachments=_read_attachments(reader, root, envelope, limits),
        warnings=reader.warnings,
    )
    _check_document_id(reader, package)
    return package


def _read_trace_headers(reader: _Reader, header) -> list[TraceHeader]:
    trace_list = child(header, "TraceHeaderList")
    if trace_list is None:
        return []
    return [
        TraceHeader(
            organ_id=reader.text(element, "OrganId"),
            timestamp=reader.timestamp(element, "Timestamp"),
        )
        for element in _children(trace_list, "TraceHeader")
    ]


def _read_business(reader: _Reader, header) -> Business:
    """Read the Bussiness block. A package without one is a new document."""
    element = _find(header, "TraceHeaderList", _BUSINESS)
    if element is None:
        element = _find(header, "MessageHeader", _BUSINESS)
    if element is None:
        return Business()

    info = child(element, "BussinessDocumentInfo", "BusinessDocumentInfo")
    receivers = []
    if info is not None:
        receivers = [
            Receiver(
                organ_id=reader.text(receiver, "OrganId"),
                receiver_type=reader.integer(receiver, "ReceiverType"),
            )
            for receiver in _children(child(info, "ReceiverList"), "Receiver")
        ]
    for receiver in receivers:
        known = receiver.receiver_type in (None, *RECEIVER_TYPES.values())
        if not known:
            # The recipient then files the document as for action.
            reader.warnings.append(
                f"ReceiverType {receiver.receiver_type} of {receiver.organ_id!r} "
                "is not 1 (for action) or 2 (for information); read as for action"
            )
    return Business(
        doc_type=reader.integer(element, ("BussinessDocType", "BusinessDocType")),
        doc_reason=reader.text(element, ("BussinessDocReason", "BusinessDocReason")),
        document_id=reader.text(element, "DocumentId"),
        paper=reader.integer(element, "Paper"),
        staff=reader.staff(element),
        document_info=None if info is None else reader.integer(info, "DocumentInfo"),
        document_receiver=(
            None if info is None else reader.integer(info, "DocumentReceiver")
        ),
        receivers=receivers,
    )


def _check_document_id(reader: _Reader, package: EdocPackage) -> None:
    """Note a DocumentId that is not the standard one for this package."""
    if not _STANDARD_DOCUMENT_ID.match(package.document_id):
        reader.warnings.append(
            f"DocumentId {package.document_id!r} is not in the form "
            "<OrganId>,<yyyy/MM/dd>,<CodeNumber>/<CodeNotation>"
        )
        return
    if package.promulgation_date is None:
        return
    expected = standard_document_id(
        package.sender.organ_id,
        package.promulgation_date,
        package.code_number,
        package.code_notation,
    )
    if package.document_id != expected:
        reader.warnings.append(
            f"DocumentId {package.document_id!r} does not match the sender, "
            f"promulgation date and code of the package ({expected!r})"
        )


@dataclass
class _Reference:
    """One manifest Reference: the real name, type and description of a file."""

    content_id: str
    content_type: str
    description: str
    name: str
    used: bool = False


@dataclass
class _Encoded:
    """One encoded attachment as found in the package, before decoding."""

    content_id: str
    name: str
    content_type: str
    description: str
    payload: str
    declared_size: int | None = None


def _read_attachments(reader: _Reader, root, envelope, limits) -> list[Attachment]:
    references = _read_manifest(reader, envelope)
    budget = limits.max_total_size
    attachments = []
    for index, item in enumerate(_read_encoded(reader, root, envelope), start=1):
        reference = _match_reference(item, references)
        attachment = _read_attachment(reader, item, reference, index, budget, limits)
        budget -= attachment.size
        attachments.append(attachment)
    for reference in references:
        if not reference.used:
            reader.warnings.append(
                f"manifest lists {reference.content_id or reference.name!r} but the "
                "package carries no data for it"
            )
    return attachments


def _read_manifest(reader: _Reader, envelope) -> list[_Reference]:
    manifest = _find(envelope, "edXMLBody", "edXMLManifest")
    return [
        _Reference(
            content_id=reader.text(element, "ContentId"),
            content_type=reader.text(element, "ContentType").lower(),
            description=reader.text(element, "Description"),
            name=reader.text(element, "AttachmentName"),
        )
        for element in _children(manifest, "Reference")
    ]


def _read_encoded(reader: _Reader, root, envelope) -> list[_Encoded]:
    """Collect attachments from AttachmentEncoded and the edXMLAttachments layout."""
    found = []
    for container in (
        child(root, "AttachmentEncoded"),
        child(envelope, "AttachmentEncoded"),
    ):
        for element in _children(container, "Attachment"):
            found.append(
                _Encoded(
                    content_id=reader.text(element, "ContentId"),
                    name=reader.text(element, "AttachmentName"),
                    content_type=reader.text(element, "ContentType").lower(),
                    description=reader.text(element, "Description"),
                    payload=_raw_text(element, "ContentTransferEncoded"),
                )
            )

    # Some gateways put name, type, size and raw base64 data inside the envelope.
    for container in (
        child(envelope, "edXMLAttachments"),
        _find(envelope, "edXMLBody", "edXMLAttachments"),
    ):
        if container is not None:
            reader.warnings.append(
                "attachments use the edXMLAttachments layout instead of "
                "edXMLManifest and AttachmentEncoded"
            )
        for element in _children(container, "Attachment"):
            found.append(
                _Encoded(
                    content_id="",
                    name=reader.text(element, "AttachmentName"),
                    content_type=_type_from_label(
                        reader.text(element, "AttachmentType")
                    ),
                    description="",
                    payload=_raw_text(element, "AttachmentData"),
                    declared_size=reader.integer(element, "AttachmentSize"),
                )
            )
    return found


def _match_reference(item: _Encoded, references: list[_Reference]) -> _Reference | None:
    """Find the manifest Reference for an attachment by ContentId, else by name."""
    key = _content_id_key(item.content_id)
    candidates = [r for r in references if not r.used]
    match = next(
        (r for r in candidates if key and _content_id_key(r.content_id) == key), None
    )
    if match is None and item.name:
        match = next((r for r in candidates if r.name == item.name), None)
    if match is not None:
        match.used = True
    return match


def _read_attachment(
    reader: _Reader,
    item: _Encoded,
    reference: _Reference | None,
    index: int,
    budget: int,
    limits: ZipLimits,
) -> Attachment:
    """Decode one attachment, unzip it and settle its name and real type."""
    name = item.name or (reference.name if reference else "")
    if not name:
        name = f"tep-dinh-kem-{index}"
        reader.warnings.append(f"attachment {index} has no name; called {name!r}")
    payload = _decode_base64(item.payload, name)
    if not payload:
        reader.warnings.append(f"attachment {name!r} is empty")

    if is_zip(payload):
        unpacked = unpack(payload, name, budget, limits)
        wrapped = unpacked.entry_name is not None
        if wrapped and item.content_type not in ZIP_CONTENT_TYPES | {""}:
            reader.warnings.append(
                f"attachment {name!r} is declared {item.content_type} but holds "
                "a zip archive"
            )
    else:
        if len(payload) > budget:
            raise too_large_error(name, limits)
        unpacked = Unpacked(payload)
        reader.warnings.append(f"attachment {name!r} is not zipped")
    data = unpacked.data
    if item.declared_size is not None and item.declared_size != len(data):
        reader.warnings.append(
            f"attachment {name!r} declares {item.declared_size} bytes but holds "
            f"{len(data)}"
        )

    declared = (reference.content_type if reference else "", item.content_type)
    content_type = _real_content_type(declared, unpacked, name)
    description = item.description or (reference.description if reference else "")
    return Attachment(
        name=name,
        content_type=content_type,
        data=data,
        description=description,
        content_id=item.content_id or (reference.content_id if reference else ""),
    )


def _real_content_type(declared: tuple[str, str], unpacked: Unpacked, name: str):
    """Pick the manifest's type, then the attachment's, then a guess from names.

    A zip type names the wrapper once it is removed, so it is skipped then.
    """
    wrapped = unpacked.entry_name is not None
    for content_type in declared:
        if content_type and not (wrapped and content_type in ZIP_CONTENT_TYPES):
            return content_type
    return _guess_type(unpacked.entry_name or "") or _guess_type(name) or OCTET_STREAM


def _decode_base64(text: str, name: str) -> bytes:
    """Decode base64 text strictly, allowing line breaks and other whitespace.

    Text without whitespace inside, as our builder writes it, is decoded in
    one pass. Other text fails that pass at its first line break, and is
    decoded again without its whitespace.
    """
    try:
        try:
            data = text.encode("ascii").strip()
        except UnicodeEncodeError:
            data = "".join(text.split()).encode("ascii")
        try:
            return pybase64.b64decode(data, validate=True)
        except binascii.Error:
            data = data.translate(None, _ASCII_WHITESPACE)
            return pybase64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise EdxmlError(
            f"attachment {name!r}: ContentTransferEncoded is not valid base64: {exc}",
            f"Tệp đính kèm “{name}” bị hỏng (dữ liệu không đúng mã base64).",
            element="ContentTransferEncoded",
        ) from exc


def _guess_type(name: str) -> str | None:
    return _MIME_TYPES.guess_type(name, strict=False)[0] if name else None


def _type_from_label(label: str) -> str:
    """Turn a label such as `TXT` or `PDF` into a content type, else keep it."""
    if "/" in label:
        return label.lower()
    return _guess_type(f"file.{label}") or ""


def _content_id_key(content_id: str) -> str:
    key = content_id.strip().strip("<>")
    return key[4:] if key.lower().startswith("cid:") else key


# Element lookup: children match by local name in the edXML namespace or in
# none, because implementations differ in how they declare prefixes.


def _matches(element, names) -> bool:
    qname = etree.QName(element)
    return qname.localname in names and qname.namespace in (NAMESPACE, None)


def _children(parent, *names):
    if parent is None:
        return []
    return [el for el in parent.iterchildren(etree.Element) if _matches(el, names)]


def child(parent, *names):
    found = _children(parent, *names)
    return found[0] if found else None


def _find(parent, *path):
    """Follow a path of child names, where a tuple step accepts any of its names."""
    element = parent
    for step in path:
        names = step if isinstance(step, tuple) else (step,)
        element = child(element, *names)
        if element is None:
            return None
    return element


def _texts(parent, *path) -> list[str]:
    """Return the non-empty texts of the last step's elements under the path."""
    container = _find(parent, *path[:-1])
    return [
        text for text in (nfc(el.text) for el in _children(container, path[-1])) if text
    ]


def _raw_text(parent, name: str) -> str:
    element = child(parent, name)
    return "" if element is None or element.text is None else element.text


def require(parent, name: str, parent_path: str = "edXML"):
    element = child(parent, name)
    if element is None:
        raise _missing(f"{parent_path}/{name}", f"phần tử {name}")
    return element


def _require_organisation(reader: _Reader, message_header) -> Organisation:
    element = require(message_header, "From", "MessageHeader")
    sender = reader.organisation(element)
    if not sender.organ_id:
        raise _missing("From/OrganId", "mã định danh đơn vị gửi")
    return sender


def _missing(element: str, label: str) -> EdxmlError:
    return EdxmlError(
        f"required element {element} is missing or empty",
        f"Gói tin thiếu {label}.",
        element=element,
    )


def _path_name(path) -> str:
    return "/".join(step[0] if isinstance(step, tuple) else step for step in path)
