"""Write edXML packages in the standard form, with attachments zipped."""

import uuid
from datetime import date, datetime

import pybase64
from lxml import etree

from vanban.exchange.packages import (
    BUSINESS_DOC_TYPES,
    MAX_SUBJECT_LENGTH,
    NAMESPACE,
    OCTET_STREAM,
    ROOT_TAG,
    STATUS_CODES,
    Attachment,
    Business,
    EdocPackage,
    EdxmlError,
    Organisation,
    ResponseFor,
    StaffInfo,
    StatusPackage,
    TraceHeader,
    format_date,
    standard_document_id,
)
from vanban.exchange.zipped import pack
from vanban.services import clock
from vanban.services.text import nfc

# Start of the placeholder text of an attachment's base64 data while building.
_MARKER_PREFIX = "vanban-attachment-"


def build_edoc(package: EdocPackage, now: datetime | None = None) -> bytes:
    """Write a document package in the standard form, each attachment zipped.

    The DocumentId is computed from the sender, promulgation date and code when
    the package has none. A package without trace headers gets one for the
    sender stamped `now` (default: the current time).
    """
    now = now or clock.now()
    document_id = _check_edoc(package)
    root, envelope = _new_root()
    header = _sub(envelope, "edXMLHeader")
    message_header = _sub(header, "MessageHeader")

    _write_organisation(message_header, "From", package.sender)
    for recipient in package.recipients:
        _write_organisation(message_header, "To", recipient)
    _sub(message_header, "DocumentId", document_id)
    code = _sub(message_header, "Code")
    _sub(code, "CodeNumber", package.code_number)
    _sub(code, "CodeNotation", package.code_notation)
    promulgation = _sub(message_header, "PromulgationInfo")
    _optional(promulgation, "Place", package.promulgation_place)
    _sub(promulgation, "PromulgationDate", package.promulgation_date)
    document_type = _sub(message_header, "DocumentType")
    _optional(document_type, "Type", package.document_type)
    _optional(document_type, "TypeDetail", package.type_detail)
    _optional(document_type, "TypeName", package.type_name)
    _sub(message_header, "Subject", package.subject)
    _optional(message_header, "Content", package.content)
    signer = _sub(message_header, "SignerInfo")
    _optional(signer, "Competence", package.signer.competence)
    _optional(signer, "Position", package.signer.position)
    _optional(signer, "FullName", package.signer.full_name)
    _optional(message_header, "DueDate", package.due_date)
    _write_other_info(message_header, package)
    for response in package.response_for:
        _write_response_for(message_header, response)
    _optional(message_header, "SteeringType", package.steering_type)
    if package.to_places:
        places = _sub(message_header, "ToPlaces")
        for place in package.to_places:
            _optional(places, "Place", place)

    trace_list = _sub(header, "TraceHeaderList")
    traces = package.trace_headers or [TraceHeader(package.sender.organ_id, now)]
    for trace in traces:
        trace_element = _sub(trace_list, "TraceHeader")
        _optional(trace_element, "OrganId", trace.organ_id)
        _optional(trace_element, "Timestamp", trace.timestamp)
    _write_business(trace_list, package.business)

    encoded: dict[str, bytes] = {}
    _write_attachments(root, envelope, package.attachments, now, encoded)
    return _serialise(root, encoded)


def build_status(package: StatusPackage, now: datetime | None = None) -> bytes:
    """Write a status package, stamped `now` (default: the current time) if unset."""
    _check_status(package)
    root, envelope = _new_root()
    header = _sub(envelope, "edXMLHeader")
    message_header = _sub(header, "MessageHeader")

    _write_organisation(message_header, "From", package.sender)
    _write_response_for(message_header, package.response_for)
    if package.staff is not None:
        _write_staff(message_header, package.staff)
    _sub(message_header, "StatusCode", package.status_code)
    _optional(message_header, "Description", package.description)
    _sub(message_header, "Timestamp", package.timestamp or now or clock.now())
    return _serialise(root)


def _check_edoc(package: EdocPackage) -> str:
    """Check the package against the standard form and return its DocumentId."""
    sender_id = nfc(package.sender.organ_id)
    _check_organ_id(sender_id, "From/OrganId")
    subject = nfc(package.subject)
    if not subject:
        raise EdxmlError(
            "Subject is empty", "Văn bản chưa có trích yếu.", element="Subject"
        )
    if len(subject) > MAX_SUBJECT_LENGTH:
        raise EdxmlError(
            f"Subject has {len(subject)} characters, more than {MAX_SUBJECT_LENGTH}",
            f"Trích yếu dài quá {MAX_SUBJECT_LENGTH} ký tự.",
            element="Subject",
        )

    if not package.recipients:
        raise EdxmlError(
            "the package has no recipient (To)",
            "Văn bản chưa có nơi nhận.",
            element="To",
        )
    seen = set()
    for recipient in package.recipients:
        organ_id = nfc(recipient.organ_id)
        _check_organ_id(organ_id, "To/OrganId")
        if organ_id in seen:
            raise EdxmlError(
                f"recipient {organ_id} appears twice in To",
                f"Nơi nhận {organ_id} bị trùng.",
                element="To",
            )
        seen.add(organ_id)

    number, notation = nfc(package.code_number), nfc(package.code_notation)
    if not (number and notation and package.promulgation_date):
        raise EdxmlError(
            "CodeNumber, CodeNotation and PromulgationDate are needed for the "
            "DocumentId",
            "Văn bản chưa có số, ký hiệu hoặc ngày ban hành nên chưa tạo được mã "
            "văn bản để gửi liên thông.",
            element="DocumentId",
        )
    expected = standard_document_id(
        sender_id, package.promulgation_date, number, notation
    )
    # A sender's second document with the same number, symbol and date (a
    # secret series) carries "#<local id>" after the standard form.
    if package.document_id and nfc(package.document_id).split("#")[0] != expected:
        raise EdxmlError(
            f"DocumentId {package.document_id!r} is not the standard {expected!r}",
            "Mã văn bản (DocumentId) không khớp với đơn vị gửi, số, ký hiệu và ngày "
            "ban hành.",
            element="DocumentId",
        )
    if package.business.doc_type not in BUSINESS_DOC_TYPES:
        raise EdxmlError(
            f"BussinessDocType {package.business.doc_type!r} is not one of "
            f"{BUSINESS_DOC_TYPES}",
            "Loại nghiệp vụ của gói tin không hợp lệ.",
            element="BussinessDocType",
        )
    for attachment in package.attachments:
        if not nfc(attachment.name):
            raise EdxmlError(
                "an attachment has no name",
                "Có tệp đính kèm chưa có tên.",
                element="AttachmentName",
            )
    return nfc(package.document_id) or expected


def _check_status(package: StatusPackage) -> None:
    _check_organ_id(nfc(package.sender.organ_id), "From/OrganId")
    _check_organ_id(nfc(package.response_for.organ_id), "ResponseFor/OrganId")
    if not nfc(package.response_for.document_id):
        raise EdxmlError(
            "ResponseFor/DocumentId is empty",
            "Trạng thái chưa gắn với mã văn bản nào.",
            element="ResponseFor/DocumentId",
        )
    if package.status_code not in STATUS_CODES:
        raise EdxmlError(
            f"StatusCode {package.status_code!r} is not one of {STATUS_CODES}",
            "Mã trạng thái không hợp lệ.",
            element="StatusCode",
        )


def _check_organ_id(organ_id: str, element: str) -> None:
    if not organ_id or "," in organ_id:
        raise EdxmlError(
            f"{element} {organ_id!r} is empty or contains a comma",
            f"Mã định danh đơn vị “{organ_id}” không hợp lệ.",
            element=element,
        )


def _new_root():
    """Return the root and envelope with the prefixes the real packages use."""
    root = etree.Element(ROOT_TAG, nsmap={None: NAMESPACE})
    envelope = etree.SubElement(
        root, f"{{{NAMESPACE}}}edXMLEnvelope", nsmap={"edXML": NAMESPACE}
    )
    return root, envelope


def _serialise(root, encoded: dict[str, bytes] | None = None) -> bytes:
    """Serialise the tree, putting each marker's bytes of `encoded` in its place."""
    etree.indent(root, space="  ")
    body = etree.tostring(root, encoding="UTF-8", xml_declaration=False)
    parts = [b'<?xml version="1.0" encoding="UTF-8"?>\n']
    for marker, data in (encoded or {}).items():
        before, found, body = body.partition(marker.encode("ascii"))
        if not found:
            raise AssertionError("an attachment marker is missing from the package")
        parts += [before, data]
    parts += [body, b"\n"]
    return b"".join(parts)


def _sub(parent, name: str, value=None, nsmap=None):
    """Append an element, with the value (if any) in its edXML text form."""
    element = etree.SubElement(parent, f"{{{NAMESPACE}}}{name}", nsmap=nsmap)
    if value is None:
        return element
    text = _text_form(value, name)
    try:
        element.text = text
    except ValueError as exc:  # lxml rejects characters that XML 1.0 forbids.
        raise EdxmlError(
            f"{name} contains characters that XML 1.0 forbids: {exc}",
            "Văn bản có ký tự không hợp lệ, không gửi liên thông được.",
            element=name,
        ) from exc
    return element


def _optional(parent, name: str, value) -> None:
    """Append an element only when the value is set and not empty."""
    if value is None:
        return
    if isinstance(value, str) and not nfc(value):
        return
    _sub(parent, name, value)


def _text_form(value, name: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise EdxmlError(
                f"{name} {value.isoformat()} has no time zone",
                "Thời điểm ghi trong gói tin thiếu múi giờ.",
                element=name,
            )
        local = clock.local(value)
        return f"{format_date(local.date())} {local:%H:%M:%S}"
    if isinstance(value, date):
        return format_date(value)
    if isinstance(value, int):
        return str(value)
    return nfc(value)


def _write_organisation(parent, tag: str, organisation: Organisation) -> None:
    element = _sub(parent, tag)
    _sub(element, "OrganId", organisation.organ_id)
    _optional(element, "OrganizationInCharge", organisation.organization_in_charge)
    _optional(element, "OrganName", organisation.organ_name)
    _optional(element, "OrganAdd", organisation.organ_add)
    _optional(element, "Email", organisation.email)
    _optional(element, "Telephone", organisation.telephone)
    _optional(element, "Fax", organisation.fax)
    _optional(element, "Website", organisation.website)


def _write_other_info(parent, package: EdocPackage) -> None:
    values = (
        ("Priority", package.priority),
        ("SphereOfPromulgation", package.sphere_of_promulgation),
        ("TyperNotation", package.typer_notation),
        ("PromulgationAmount", package.promulgation_amount),
        ("PageAmount", package.page_amount),
        ("Direction", package.direction),
    )
    if not (package.appendixes or any(v not in (None, "") for _, v in values)):
        return
    other = _sub(parent, "OtherInfo")
    for name, value in values:
        _optional(other, name, value)
    if package.appendixes:
        appendixes = _sub(other, "Appendixes")
        for appendix in package.appendixes:
            _optional(appendixes, "Appendix", appendix)


def _write_response_for(parent, response: ResponseFor) -> None:
    element = _sub(parent, "ResponseFor")
    _sub(element, "OrganId", response.organ_id)
    _optional(element, "Code", response.code)
    _optional(element, "PromulgationDate", response.promulgation_date)
    _sub(element, "DocumentId", response.document_id)


def _write_staff(parent, staff: StaffInfo) -> None:
    element = _sub(parent, "StaffInfo")
    _optional(element, "Department", staff.department)
    _optional(element, "Staff", staff.staff)
    _optional(element, "Email", staff.email)
    _optional(element, "Mobile", staff.mobile)


def _write_business(parent, business: Business) -> None:
    element = _sub(parent, "Bussiness")
    _optional(element, "DocumentId", business.document_id)
    _sub(element, "BussinessDocType", business.doc_type)
    _optional(element, "BussinessDocReason", business.doc_reason)
    _optional(element, "Paper", business.paper)
    if (
        business.document_info is not None
        or business.document_receiver is not None
        or business.receivers
    ):
        info = _sub(element, "BussinessDocumentInfo")
        _optional(info, "DocumentInfo", business.document_info)
        _optional(info, "DocumentReceiver", business.document_receiver)
        if business.receivers:
            receiver_list = _sub(info, "ReceiverList")
            for receiver in business.receivers:
                receiver_element = _sub(receiver_list, "Receiver")
                _sub(receiver_element, "OrganId", receiver.organ_id)
                _optional(receiver_element, "ReceiverType", receiver.receiver_type)
    if business.staff is not None:
        _write_staff(element, business.staff)


def _write_attachments(
    root, envelope, attachments: list[Attachment], now, encoded: dict[str, bytes]
) -> None:
    """Write the manifest with real types and AttachmentEncoded with zipped data.

    Each attachment's text is a marker, mapped in `encoded` to its base64 bytes.
    """
    body = _sub(envelope, "edXMLBody")
    manifest = _sub(body, "edXMLManifest")
    manifest.set("version", "1.0")
    if not attachments:
        return

    container = _sub(root, "AttachmentEncoded")
    for attachment in attachments:
        content_id = attachment.content_id or f"cid:{uuid.uuid4()}"
        content_type = nfc(attachment.content_type) or OCTET_STREAM
        reference = _sub(manifest, "Reference")
        _sub(reference, "ContentId", content_id)
        _sub(reference, "ContentType", content_type)
        _optional(reference, "Description", attachment.description)
        _sub(reference, "AttachmentName", attachment.name)

        element = _sub(container, "Attachment")
        _sub(element, "ContentId", content_id)
        _sub(element, "AttachmentName", attachment.name)
        _optional(element, "Description", attachment.description)
        _sub(element, "ContentType", "application/zip")
        zipped = pack(nfc(attachment.name), attachment.data, clock.local(now))
        # The base64 text goes into the serialised bytes in place of a marker
        # (see `_serialise`), because megabytes of it would otherwise be
        # decoded into a str, copied into the tree and copied out again.
        # Base64 is plain ASCII and needs no escaping or normalisation.
        marker = f"{_MARKER_PREFIX}{uuid.uuid4().hex}"
        encoded_text = _sub(
            element, "ContentTransferEncoded", nsmap={"edXML": NAMESPACE}
        )
        encoded_text.text = marker
        encoded[marker] = pybase64.b64encode(zipped)
