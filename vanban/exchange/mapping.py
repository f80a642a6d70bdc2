"""Map documents and statuses to edXML packages and packages back to records."""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from vanban.exchange.packages import (
    BUSINESS_DOC_TYPES,
    STATUS_CODES,
    Business,
    EdocPackage,
    ResponseFor,
    SignerInfo,
    StatusPackage,
)
from vanban.exchange.packages import Attachment as PackageAttachment
from vanban.exchange.packages import Organisation as PackageOrganisation
from vanban.models import (
    Attachment,
    Document,
    Organisation,
    ReceivedPackage,
    Recipient,
    RecipientStatus,
)
from vanban.services import ServiceError, audit, doctypes, files, outbox
from vanban.services.clock import now
from vanban.services.documents import current_attachments

logger = logging.getLogger(__name__)

# DocumentType/Type. NOTE: every real sample writes 1, for a công văn and a
# thông tư alike, and the code table behind it is not verified, so every
# document goes out as 1 and the type travels in TypeName.
DOCUMENT_TYPE = 1
URGENCY_LEVELS = range(5)
# Above any real document, and far below the 32-bit integer column's limit.
MAX_PAGE_AMOUNT = 100_000
# Column widths of the fields that identify a received document. A longer
# value cannot be stored whole, so the package is rejected instead of cut.
_IDENTIFIER_WIDTHS = {"From/OrganId": 32, "DocumentId": 255}


class IntakeError(Exception):
    """A package that was read but cannot be taken in.

    `reason` is the Vietnamese text sent back to the hub with the failed
    acknowledgement, where the sending organisation can read it.
    """

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Received:
    """The incoming document a package became, and whether this call created it."""

    document_id: int
    created: bool


def document_package(session, document: Document) -> EdocPackage:
    """Build the package of an issued outgoing document for all its recipients."""
    sender = document.organisation
    attachments = [
        PackageAttachment(
            name=attachment.original_name,
            content_type=attachment.content_type,
            data=files.path_for(attachment.sha256).read_bytes(),
        )
        for attachment in current_attachments(session, document)
    ]
    recipients = [recipient.organisation for recipient in document.recipients]
    return EdocPackage(
        sender=_package_organisation(sender),
        recipients=[_package_organisation(o) for o in recipients],
        subject=document.subject,
        document_id=document.exchange_id or "",
        code_number=document.number or "",
        code_notation=document.notation or "",
        promulgation_date=document.issued_date,
        document_type=DOCUMENT_TYPE,
        type_name=document.type_name,
        content=_content(document),
        signer=SignerInfo(
            position=document.signer_position, full_name=document.signer_name
        ),
        due_date=document.due_date,
        priority=document.urgency,
        page_amount=document.page_amount,
        to_places=[o.name for o in recipients],
        business=Business(doc_type=0),
        attachments=attachments,
    )


def _content(document: Document) -> str:
    """Return the text for edXML Content: the summary, then any text written here.

    Content is the package's one free-text element, so a reply written in
    the app (body_text) travels in it after the summary, and the receiver
    stores it all as the summary.
    """
    parts = [document.description, document.body_text]
    return "\n\n".join(part for part in parts if part)


def status_package(
    incoming: Document, status_code: str, note: str, reported_at: datetime
) -> StatusPackage:
    """Build the package reporting a status of an incoming document to its sender."""
    return StatusPackage(
        sender=_package_organisation(incoming.organisation),
        response_for=ResponseFor(
            organ_id=incoming.sender_organisation.code,
            code=incoming.number_and_notation,
            promulgation_date=incoming.issued_date,
            document_id=incoming.exchange_id or "",
        ),
        status_code=status_code,
        description=note,
        timestamp=reported_at,
    )


def _package_organisation(organisation: Organisation) -> PackageOrganisation:
    return PackageOrganisation(organ_id=organisation.code, organ_name=organisation.name)


def receive_document(
    session, organisation: Organisation, package: EdocPackage, message_id: str
) -> Received:
    """Store a document package as an incoming document of `organisation`.

    The same sender, DocumentId and business type are stored once: a repeat
    returns the first document with `created` false and queues nothing. A new
    document is audited and status 01 is queued for its sender. Raise
    IntakeError when the package cannot be stored.
    """
    sender_code = package.sender.organ_id
    exchange_id = package.document_id
    business_type = _business_type(package)
    _check_identifiers(sender_code, exchange_id)
    existing = _received(
        session, organisation.id, sender_code, exchange_id, business_type
    )
    if existing is not None:
        logger.info(
            "package %s from %s already received as document %s",
            exchange_id,
            sender_code,
            existing.document_id,
        )
        return Received(existing.document_id, created=False)

    stored = [_store_attachment(attachment) for attachment in package.attachments]
    sender = known_organisation(session, sender_code, package.sender.organ_name)
    try:
        with session.begin_nested():
            incoming = _incoming_document(organisation, sender, package)
            session.add(incoming)
            session.flush()
            session.add(
                ReceivedPackage(
                    organisation_id=organisation.id,
                    sender_code=sender_code,
                    exchange_id=exchange_id,
                    business_doc_type=business_type,
                    message_id=message_id,
                    document_id=incoming.id,
                )
            )
            session.flush()
    except IntegrityError:
        # Another run stored the same package between the check and the insert.
        existing = _received(
            session, organisation.id, sender_code, exchange_id, business_type
        )
        if existing is None:
            raise
        return Received(existing.document_id, created=False)

    for item in stored:
        session.add(
            Attachment(
                document_id=incoming.id,
                sha256=item.sha256,
                size=item.size,
                content_type=item.content_type,
                original_name=item.original_name,
            )
        )
    audit.record(
        session,
        "received",
        document=incoming,
        sender=sender.name,
        message_id=message_id,
        business_doc_type=business_type,
    )
    # TODO: a revocation, update or replacement (BussinessDocType 1-3) is
    # stored as a new incoming document, and the one it concerns is unchanged.
    outbox.queue_status(session, incoming, "01")
    logger.info(
        "package %s from %s received at organisation %s as document %s",
        exchange_id,
        sender_code,
        organisation.id,
        incoming.id,
    )
    return Received(incoming.id, created=True)


def _business_type(package: EdocPackage) -> int:
    business_type = package.business_doc_type
    if business_type is None:
        return 0
    if business_type not in BUSINESS_DOC_TYPES:
        raise IntakeError(
            f"BussinessDocType {business_type} is not one of {BUSINESS_DOC_TYPES}",
            f"Loại nghiệp vụ của gói tin ({business_type}) không hợp lệ.",
        )
    return business_type


def _check_identifiers(sender_code: str, exchange_id: str) -> None:
    values = {"From/OrganId": sender_code, "DocumentId": exchange_id}
    for element, value in values.items():
        width = _IDENTIFIER_WIDTHS[element]
        if not value or len(value) > width:
            raise IntakeError(
                f"{element} {value[:300]!r} is empty or longer than {width} characters",
                f"Gói tin có {element} rỗng hoặc dài quá {width} ký tự.",
            )


def _received(session, organisation_id, sender_code, exchange_id, business_type):
    return session.scalar(
        select(ReceivedPackage).where(
            ReceivedPackage.organisation_id == organisation_id,
            ReceivedPackage.sender_code == sender_code,
            ReceivedPackage.exchange_id == exchange_id,
            ReceivedPackage.business_doc_type == business_type,
        )
    )


def _store_attachment(attachment: PackageAttachment) -> files.StoredFile:
    """Store the attachment's bytes as they are, with the checks an upload gets."""
    try:
        return files.store_bytes(attachment.data, attachment.name)
    except ServiceError as exc:
        raise IntakeError(
            f"attachment {attachment.name!r} rejected: {exc.message}",
            f"Tệp đính kèm “{files.clean_name(attachment.name)}”: {exc.message}",
        ) from exc


def _incoming_document(
    organisation: Organisation, sender: Organisation, package: EdocPackage
) -> Document:
    type_name = _fit(package.type_name, 64) or "Công văn"
    urgency = package.priority if package.priority in URGENCY_LEVELS else 0
    return Document(
        organisation_id=organisation.id,
        direction="incoming",
        state="arrived",
        type_name=type_name,
        type_abbreviation=doctypes.ABBREVIATIONS.get(type_name, ""),
        number=_fit(package.code_number, 16) or None,
        notation=_fit(package.code_notation, 64) or None,
        issued_date=package.promulgation_date,
        organ_name=_fit(package.sender.organ_name or sender.name, 255),
        subject=_fit(package.subject, 500),
        description=package.content,
        signer_position=_fit(package.signer.position, 255),
        signer_name=_fit(package.signer.full_name, 255),
        urgency=urgency,
        page_amount=_page_amount(package.page_amount),
        due_date=package.due_date,
        exchange_id=package.document_id,
        sender_organisation_id=sender.id,
        received_at=now(),
    )


def _page_amount(value: int | None) -> int | None:
    """Keep a page count that a document can have; others are dropped as noise."""
    if value is None or not 0 < value < MAX_PAGE_AMOUNT:
        return None
    return value


def _fit(value: str, width: int) -> str:
    """Cut a display field to its column width; identifiers are checked instead."""
    if len(value) > width:
        logger.warning("received value cut from %d to %d characters", len(value), width)
        return value[:width]
    return value


def known_organisation(session, code: str, name: str = "") -> Organisation:
    """Return the organisation with this code, adding it when it is new here."""
    organisation = session.scalar(select(Organisation).where(Organisation.code == code))
    if organisation is None:
        organisation = new_organisation(code, name)
        session.add(organisation)
        session.flush()
        logger.info("organisation %s added from the exchange", code)
    return organisation


def new_organisation(code: str, name: str) -> Organisation:
    # NOTE: neither packages nor the hub's directory state whether a unit is a
    # city unit or a ward. "ward" is the kind that adds no default recipients
    # and no trial rules, and an administrator can correct it.
    return Organisation(code=code, name=_fit(name, 255) or code, kind="ward")


def apply_status(
    session, organisation: Organisation, package: StatusPackage
) -> Recipient | None:
    """Record a received status on the outgoing document's recipient row.

    The document is found by ResponseFor/DocumentId among `organisation`'s
    outgoing documents and the recipient by the status sender's code. Return
    None when either is unknown. A status already recorded with the same code
    and timestamp is not recorded again. Raise IntakeError for an unknown code.
    """
    if package.status_code not in STATUS_CODES:
        raise IntakeError(
            f"StatusCode {package.status_code!r} is not one of {STATUS_CODES}",
            f"Mã trạng thái “{package.status_code}” không hợp lệ.",
        )
    recipient = session.scalar(
        select(Recipient)
        .join(Document, Recipient.document_id == Document.id)
        .join(Organisation, Recipient.organisation_id == Organisation.id)
        .where(
            Document.organisation_id == organisation.id,
            Document.direction == "outgoing",
            Document.exchange_id == package.response_for.document_id,
            Organisation.code == package.sender.organ_id,
        )
    )
    if recipient is None:
        return None

    reported_at = (package.timestamp or now()).astimezone(UTC)
    repeated = session.scalar(
        select(RecipientStatus.id).where(
            RecipientStatus.recipient_id == recipient.id,
            RecipientStatus.status_code == package.status_code,
            RecipientStatus.reported_at == reported_at,
        )
    )
    if repeated is not None:
        logger.info(
            "status %s of recipient %s already recorded",
            package.status_code,
            recipient.id,
        )
        return recipient
    outbox.record_recipient_status(
        session, recipient, package.status_code, package.description, reported_at
    )
    return recipient
