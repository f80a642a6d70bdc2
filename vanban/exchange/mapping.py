"""Map documents and statuses to edXML packages and packages back to records."""

import logging
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from vanban.exchange.packages import (
    BUSINESS_DOC_TYPES,
    RECEIVER_TYPES,
    STATUS_CODES,
    Business,
    EdocPackage,
    Receiver,
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
    OutboxMessage,
    ReceivedPackage,
    Recipient,
    RecipientStatus,
)
from vanban.services import ServiceError, audit, changes, doctypes, files, outbox
from vanban.services.clock import now
from vanban.services.documents import current_attachments
from vanban.services.text import nfc, one_line

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
# Fields an update (BussinessDocType 2) may change on the received document.
_UPDATED_FIELDS = (
    "subject",
    "description",
    "body_text",
    "due_date",
    "urgency",
    "type_name",
    "signer_position",
    "signer_name",
    "page_amount",
)
# BussinessDocType values other than a new document.
REVOKE, UPDATE, REPLACE = 1, 2, 3
_CHANGE_VERBS = {REVOKE: "thu hồi", UPDATE: "cập nhật"}


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


def document_package(
    session,
    document: Document,
    business_doc_type: int = 0,
    reason: str = "",
    recipient_ids: Collection[int] | None = None,
) -> EdocPackage:
    """Build the package of an issued outgoing document for its recipients.

    `business_doc_type` 1-3 makes it a revocation, update or replacement with
    `reason`; a revocation carries no files. A replacement goes to the
    recipients of the document it replaces, who hold that one. With
    `recipient_ids` (organisation ids) the package goes only to those of the
    recipients, else to all of them.

    NOTE: DOMAIN.md §5 does not say whether secret documents (Mật, Tối mật,
    Tuyệt mật) may travel over the electronic exchange, and edXML has no
    element for secrecy, so they go out like any other document. The rules
    on state secrets may ask for an encrypted channel; to confirm.
    """
    sender = document.organisation
    attachments = []
    if business_doc_type != REVOKE:
        attachments = [
            PackageAttachment(
                name=attachment.original_name,
                content_type=attachment.content_type,
                data=files.path_for(attachment.sha256).read_bytes(),
                # Fixed per attachment, so that every build has the same bytes.
                content_id=_content_id(attachment),
            )
            for attachment in current_attachments(session, document)
        ]
    addressees = _addressees(session, document, business_doc_type)
    if recipient_ids is not None:
        addressees = [r for r in addressees if r.organisation_id in recipient_ids]
    recipients = [recipient.organisation for recipient in addressees]
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
        business=_business(session, document, business_doc_type, reason, addressees),
        attachments=attachments,
    )


def _content_id(attachment: Attachment) -> str:
    name = f"vanban:attachment:{attachment.id}:{attachment.sha256}"
    return f"cid:{uuid.uuid5(uuid.NAMESPACE_URL, name)}"


def _replaced(session, document: Document) -> Document | None:
    """Return the document that `document` replaces, if any."""
    return session.scalar(
        select(Document).where(Document.replaced_by_id == document.id).limit(1)
    )


def _addressees(session, document: Document, business_doc_type: int) -> list:
    """Return the recipient rows a package goes to.

    A replacement goes to those of the replaced document, the others to the
    document's own. A recipient that refused the replaced document (status
    02) gets the replacement too, because senders issue a replacement most
    often to correct what a recipient refused.
    """
    if business_doc_type == REPLACE:
        replaced = _replaced(session, document)
        if replaced is not None:
            return list(replaced.recipients)
    return list(document.recipients)


def _business(
    session, document: Document, business_doc_type: int, reason: str, addressees
):
    """Return the Bussiness block: the change, its reason, and each addressee's purpose.

    For an update or revocation Bussiness/DocumentId is the document itself;
    for a replacement it is the document replaced.
    """
    concerned = ""
    if business_doc_type in (REVOKE, UPDATE):
        concerned = document.exchange_id or ""
    elif business_doc_type == REPLACE:
        replaced = _replaced(session, document)
        concerned = replaced.exchange_id if replaced is not None else ""
    receivers = [
        Receiver(
            organ_id=recipient.organisation.code,
            receiver_type=RECEIVER_TYPES[recipient.purpose],
        )
        for recipient in addressees
    ]
    return Business(
        doc_type=business_doc_type,
        doc_reason=reason,
        document_id=concerned,
        receivers=receivers,
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
    session,
    organisation: Organisation,
    package: EdocPackage,
    message_id: str,
    stored: list[files.StoredFile] | None = None,
) -> Received:
    """Take in a document package for `organisation`.

    A new document (BussinessDocType 0) or a replacement (3) becomes an
    incoming document. It is audited, and status 01 is queued for its sender.
    A replacement also links the document it replaces. A revocation (1) or an
    update (2) changes the incoming document it names instead. The same
    sender, DocumentId and business type are taken in once. A repeat returns
    the first document with `created` false and queues nothing. Raise
    IntakeError when the package cannot be taken in. `stored` contains the
    attachments as `store_files` already stored them, if it was called.
    """
    key = {
        "organisation_id": organisation.id,
        "sender_code": package.sender.organ_id,
        "exchange_id": package.document_id,
        "business_doc_type": _business_type(package),
    }
    _check_identifiers(key["sender_code"], key["exchange_id"])
    existing = _received(session, **key)
    if existing is not None:
        logger.info(
            "package %s from %s already received as document %s",
            key["exchange_id"],
            key["sender_code"],
            existing.document_id,
        )
        return Received(existing.document_id, created=False)
    if key["business_doc_type"] in (REVOKE, UPDATE):
        return _apply_change(session, organisation, package, message_id, key)
    if key["business_doc_type"] == REPLACE:
        # The replacing document may have come already as a new document.
        first = _received(session, **{**key, "business_doc_type": 0})
        if first is not None:
            incoming = session.get(Document, first.document_id)
            # Taken in like a revocation or an update: applied to a record.
            applied = _record_once(session, key, message_id, incoming)
            if applied:
                _link_replaced(session, incoming, package)
            return Received(incoming.id, created=applied)
    if stored is None:
        stored = store_files(package)
    return _store_new(session, organisation, package, message_id, key, stored)


def brings_files(package: EdocPackage) -> bool:
    """Tell whether taking the package in may store its attachments.

    A revocation or an update changes a document already received and keeps
    its files.
    """
    return _business_type(package) not in (REVOKE, UPDATE)


def store_files(package: EdocPackage) -> list[files.StoredFile]:
    """Store the package's attachments; raise IntakeError for one refused.

    It needs the app but no database, so the connector calls it while it
    stores the previous package.
    """
    return [_store_attachment(attachment) for attachment in package.attachments]


def _store_new(session, organisation, package, message_id, key, stored) -> Received:
    """Store a new or replacing document with its files and queue status 01."""
    sender = known_organisation(session, key["sender_code"], package.sender.organ_name)
    incoming = _incoming_document(organisation, sender, package)
    # Added with the document, so that one flush writes both and indexes once.
    incoming.attachments = [
        Attachment(
            sha256=item.sha256,
            size=item.size,
            content_type=item.content_type,
            original_name=item.original_name,
        )
        for item in stored
    ]
    if not _record_once(session, key, message_id, incoming):
        return Received(_received(session, **key).document_id, created=False)

    _link_source(session, incoming, sender)
    audit.record(
        session,
        "received",
        document=incoming,
        sender=sender.name,
        message_id=message_id,
        business_doc_type=key["business_doc_type"],
    )
    if key["business_doc_type"] == REPLACE:
        _link_replaced(session, incoming, package)
    outbox.queue_status(session, incoming, "01")
    logger.info(
        "package %s from %s received at organisation %s as document %s",
        key["exchange_id"],
        key["sender_code"],
        organisation.id,
        incoming.id,
    )
    return Received(incoming.id, created=True)


def _record_once(session, key: dict, message_id: str, document: Document) -> bool:
    """Add the document (when new) and the package's ledger row together.

    Return False when another run took in the same package between the
    check and the insert, and nothing was added.
    """
    try:
        with session.begin_nested():
            if document.id is None:
                session.add(document)
                session.flush()
            session.add(
                ReceivedPackage(**key, message_id=message_id, document_id=document.id)
            )
            session.flush()
    except IntegrityError:
        if _received(session, **key) is None:
            raise
        return False
    return True


def _apply_change(session, organisation, package, message_id, key) -> Received:
    """Revoke or update the incoming document a package names; queue status 15."""
    business_type = key["business_doc_type"]
    target_id = package.business.document_id or package.document_id
    target = _incoming_from(session, organisation, key["sender_code"], target_id)
    if target is None:
        verb = _CHANGE_VERBS[business_type]
        raise IntakeError(
            f"no incoming document {target_id[:300]!r} from {key['sender_code']} "
            f"to apply BussinessDocType {business_type} to",
            _missing_target_reason(session, package, target_id, verb),
        )
    if not _record_once(session, key, message_id, target):
        return Received(target.id, created=False)

    reason = _fit(package.business.doc_reason, 2000)
    if business_type == REVOKE:
        before = target.state
        target.state = "revoked"
        target.revoked_at = now()
        target.revoke_reason = reason
        target.holder_id = None
        audit.record(
            session,
            "revoked_by_sender",
            document=target,
            before=before,
            after="revoked",
            note=reason,
        )
    else:
        changes = _update_fields(target, package)
        audit.record(
            session, "updated_by_sender", document=target, note=reason, **changes
        )
    outbox.queue_status(session, target, "15", reason)
    logger.info(
        "package %s from %s applied as business type %s to document %s",
        key["exchange_id"],
        key["sender_code"],
        business_type,
        target.id,
    )
    return Received(target.id, created=True)


def _missing_target_reason(
    session, package: EdocPackage, target_id: str, verb: str
) -> str:
    """Write why a change names a document this organisation does not have.

    The sender's clerk reads it, so it names the document by its number,
    symbol and date and the sender by its name when known. The DocumentId
    `<OrganId>,<yyyy/MM/dd>,<number>/<symbol>[#<id>]` follows as a detail.
    """
    sender_code = package.sender.organ_id
    sender_name = session.scalar(
        select(Organisation.name).where(Organisation.code == sender_code).limit(1)
    )
    sender = sender_name or package.sender.organ_name.strip() or sender_code
    parts = target_id.split("#")[0].split(",")
    if len(parts) == 3 and parts[2]:
        document = f"văn bản số {parts[2][:100]}"
        try:
            issued = datetime.strptime(parts[1], "%Y/%m/%d")
        except ValueError:
            pass
        else:
            document += f" ngày {issued:%d/%m/%Y}"
    else:
        document = "văn bản được nêu"
    return (
        f"Không có {document} của {sender} tại đơn vị nhận để {verb} "
        f"(mã văn bản liên thông: {target_id[:300]})."
    )


def _incoming_from(session, organisation, sender_code: str, exchange_id: str):
    """Return the organisation's incoming document with this sender and DocumentId.

    Without one, return the latest copy the sender sent again after this
    organisation rejected the document: its DocumentId is the document's
    followed by "#r<number>".
    """
    query = (
        select(Document)
        .join(Organisation, Document.sender_organisation_id == Organisation.id)
        .where(
            Document.organisation_id == organisation.id,
            Document.direction == "incoming",
            Organisation.code == sender_code,
        )
        .limit(1)
    )
    found = session.scalar(
        query.where(Document.exchange_id == exchange_id).order_by(Document.id)
    )
    if found is not None:
        return found
    copies = query.where(
        Document.exchange_id.startswith(f"{exchange_id}#r", autoescape=True)
    )
    return session.scalar(copies.order_by(Document.id.desc()))


def _update_fields(target: Document, package: EdocPackage) -> dict:
    """Copy the metadata an update carries; return {field: [before, after]}."""
    fresh = _incoming_document(target.organisation, target.sender_organisation, package)
    values = {name: getattr(fresh, name) for name in _UPDATED_FIELDS}
    return changes.apply_fields(target, values)


def _link_replaced(session, incoming: Document, package: EdocPackage) -> None:
    """Point the replaced document, when this organisation has it, to its successor."""
    replaced = _incoming_from(
        session,
        incoming.organisation,
        package.sender.organ_id,
        package.business.document_id,
    )
    if replaced is None or replaced.id == incoming.id:
        # A replacement goes to the holders of the replaced document only, so
        # the sender learns (from the failed acknowledgement) of a recipient
        # that does not have it, instead of the package passing unnoticed.
        target_id = package.business.document_id
        raise IntakeError(
            f"document replaces {target_id[:300]!r} from {package.sender.organ_id}, "
            f"which organisation {incoming.organisation_id} never received",
            _missing_target_reason(session, package, target_id, "thay thế"),
        )
    replaced.replaced_by_id = incoming.id
    audit.record(
        session,
        "replaced_by_sender",
        document=replaced,
        number=incoming.number_and_notation,
        note=package.business.doc_reason,
    )
    # Status 15 on the replaced document tells the sender this recipient took it.
    outbox.queue_status(
        session, replaced, "15", _fit(package.business.doc_reason, 2000)
    )


def _link_source(session, incoming: Document, sender: Organisation) -> None:
    """Link a copy to the sender's record when the sender is hosted here too.

    The link lets the sender's page open each recipient's copy. Secrecy does
    not travel in edXML, so a copy takes it from the record it links to.
    """
    source = _source_document(session, incoming, sender)
    if source is None:
        return
    incoming.source_document_id = source.id
    incoming.secrecy = source.secrecy
    recipient = session.scalar(
        select(Recipient).where(
            Recipient.document_id == source.id,
            Recipient.organisation_id == incoming.organisation_id,
        )
    )
    if recipient is not None:
        recipient.incoming_document_id = incoming.id


def _source_document(
    session, incoming: Document, sender: Organisation
) -> Document | None:
    """Return the sender's outgoing document that `incoming` is a copy of, if any.

    A copy sent again after a rejection carries "#r<row id>" after the
    document's DocumentId. It is found through the sender's outbox row that
    stores that exact DocumentId and is addressed to this organisation, so a
    package of another sender never links to it.
    """
    outgoing = select(Document).where(
        Document.organisation_id == sender.id,
        Document.direction == "outgoing",
    )
    source = session.scalar(
        outgoing.where(Document.exchange_id == incoming.exchange_id)
    )
    if source is not None or "#" not in incoming.exchange_id:
        return source
    copied = _copied_document_ids(sender.id, incoming.exchange_id).where(
        OutboxMessage.recipient_organisation_id == incoming.organisation_id
    )
    return session.scalar(outgoing.where(Document.id.in_(copied)))


def _copied_document_ids(sender_id: int, exchange_id: str):
    """Select the documents of the sender's copies sent under this DocumentId."""
    return select(OutboxMessage.document_id).where(
        OutboxMessage.kind == "document",
        OutboxMessage.sender_organisation_id == sender_id,
        OutboxMessage.exchange_id == exchange_id,
    )


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


def _received(
    session, *, organisation_id, sender_code, exchange_id, business_doc_type
) -> ReceivedPackage | None:
    return session.scalar(
        select(ReceivedPackage).where(
            ReceivedPackage.organisation_id == organisation_id,
            ReceivedPackage.sender_code == sender_code,
            ReceivedPackage.exchange_id == exchange_id,
            ReceivedPackage.business_doc_type == business_doc_type,
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
        # With no file, Content is the document itself, as in a reply written
        # in the app. With files, it is their summary.
        description=package.content if package.attachments else "",
        body_text="" if package.attachments else package.content,
        signer_position=_fit(package.signer.position, 255),
        signer_name=_fit(package.signer.full_name, 255),
        urgency=urgency,
        page_amount=_page_amount(package.page_amount),
        due_date=package.due_date,
        exchange_id=package.document_id,
        purpose=purpose_for(package, organisation.code),
        sender_organisation_id=sender.id,
        received_at=now(),
    )


def purpose_for(package: EdocPackage, organ_id: str) -> str:
    """Return "info" when the package sends the document to `organ_id` to inform it."""
    for receiver in package.business.receivers:
        if receiver.organ_id == organ_id:
            if receiver.receiver_type == RECEIVER_TYPES["info"]:
                return "info"
            return "action"
    return "action"


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
    return Organisation(code=code, name=organisation_name(name, code), kind="ward")


def organisation_name(name: str, code: str) -> str:
    """Return a name from a package or the hub's directory, fit for a one-line list.

    Tabs, line breaks and other control characters become spaces and the
    name is cut to its column. An empty name becomes the code.
    """
    return _fit(nfc(one_line(name)), 255) or code


@dataclass(frozen=True)
class AppliedStatus:
    """The recipient row a status package reports on, and whether this call
    recorded it. `recipient` is None when the document or recipient is unknown.
    """

    recipient: Recipient | None
    recorded: bool = False


def apply_status(
    session, organisation: Organisation, package: StatusPackage
) -> AppliedStatus:
    """Record a received status on the outgoing document's recipient row.

    The document is found by ResponseFor/DocumentId among `organisation`'s
    outgoing documents and the recipient by the status sender's code. The
    result has no recipient when either is unknown. A status already
    recorded with the same code and timestamp is not recorded again, and the
    result's `recorded` is then false. Raise IntakeError for an unknown code.
    """
    if package.status_code not in STATUS_CODES:
        raise IntakeError(
            f"StatusCode {package.status_code!r} is not one of {STATUS_CODES}",
            f"Mã trạng thái “{package.status_code}” không hợp lệ.",
        )
    recipient = _status_recipient(session, organisation, package)
    if recipient is None:
        return AppliedStatus(None)

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
        return AppliedStatus(recipient)
    outbox.record_recipient_status(
        session, recipient, package.status_code, package.description, reported_at
    )
    return AppliedStatus(recipient, recorded=True)


def _status_recipient(
    session, organisation: Organisation, package: StatusPackage
) -> Recipient | None:
    """Find the recipient row a status reports on, by DocumentId and sender.

    A copy sent again after a rejection has a DocumentId of its own, kept on
    its outbox row, so a status quoting it finds the document through the row.
    """
    document_id = package.response_for.document_id
    query = (
        select(Recipient)
        .join(Document, Recipient.document_id == Document.id)
        .join(Organisation, Recipient.organisation_id == Organisation.id)
        .where(
            Document.organisation_id == organisation.id,
            Document.direction == "outgoing",
            Organisation.code == package.sender.organ_id,
        )
    )
    recipient = session.scalar(query.where(Document.exchange_id == document_id))
    if recipient is not None or "#" not in document_id:
        return recipient
    copied = _copied_document_ids(organisation.id, document_id)
    return session.scalar(query.where(Document.id.in_(copied)))
