"""The city hub's rules: directory, tokens, sending, pending lists and acknowledgements.

Plain functions over a session, called by the hub API, the hub admin pages and
the `hub` commands. API rejections raise `HubError`, which carries the HTTP
status, the error code and a Vietnamese detail for the clerk at the other end.
Directory changes by a person raise `ServiceError` with the form field at fault.
"""

import hashlib
import hmac
import logging
import os
import re
import secrets
import tempfile
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from vanban.exchange.edxml import parse_package
from vanban.exchange.packages import (
    BUSINESS_DOC_TYPES,
    MAX_SUBJECT_LENGTH,
    STATUS_CODES,
    TIMESTAMP_FORMAT,
    EdocPackage,
    EdxmlError,
    StatusPackage,
)
from vanban.models import ConnectorSettings, Organisation, User
from vanban.models.hub import (
    DELIVERY_STATES,
    MESSAGE_TYPES,
    HubDelivery,
    HubMessage,
    HubOrganisation,
)
from vanban.services import ServiceError, audit, clock
from vanban.services.names import find_same
from vanban.services.text import first_control_character, nfc

logger = logging.getLogger(__name__)

MIB = 1024 * 1024
DEFAULT_MAX_PACKAGE_BYTES = 50 * MIB
# A delivery whose recipient reported this many failed reads leaves its list.
MAX_FAILED_ATTEMPTS = 5
DEFAULT_LIST_LIMIT = 100
MAX_LIST_LIMIT = 500
# Lengths of the columns that hold these values.
MAX_DOCUMENT_ID_LENGTH = 255
MAX_REASON_LENGTH = 2000
MAX_NAME_LENGTH = 255
MAX_EMAIL_LENGTH = 255
# Tokens are 43 characters; anything much longer is rejected before hashing.
MAX_TOKEN_LENGTH = 256
# Electronic identifier of an organisation (mã định danh): NNN.NN.NN.ANN.
ORGAN_ID_PATTERN = re.compile(r"^\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2}$")
_EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class HubError(Exception):
    """A rejected request, returned as `{"error": code, "detail": detail}`.

    `recipients`, when given, lists the organisation codes the error is
    about, and the body carries them as "recipients" so that a connector can
    tell which recipients of a package the hub does not deliver to.
    """

    def __init__(
        self, status: int, code: str, detail: str, recipients: list[str] | None = None
    ):
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.recipients = recipients


# Tokens


def new_token() -> str:
    """Return a new bearer token: 32 random bytes, URL-safe base64."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """Return the SHA-256 hex digest under which a token is stored.

    A fast hash is enough here because tokens carry 256 random bits, so no
    guessing attack on a leaked hash can succeed. Slow password hashes protect
    low-entropy secrets chosen by people, and would slow down every API call.
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# Compared when the organ_id is unknown, so that both paths do the same work.
_NO_TOKEN_HASH = hash_token(secrets.token_urlsafe(32))


def authenticate(session, organ_id: str, token: str) -> HubOrganisation | None:
    """Return the active organisation whose token this is, or None."""
    if not organ_id or not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    organisation = find_organisation(session, organ_id)
    expected = organisation.token_hash if organisation else _NO_TOKEN_HASH
    matches = hmac.compare_digest(expected, hash_token(token))
    if not matches or organisation is None or not organisation.active:
        return None
    return organisation


# Directory


def find_organisation(session, organ_id: str) -> HubOrganisation | None:
    return session.scalar(
        select(HubOrganisation).where(HubOrganisation.organ_id == organ_id)
    )


def directory(session) -> list[dict]:
    """List the active organisations in the shape of GET /organizations."""
    organisations = session.scalars(
        select(HubOrganisation)
        .where(HubOrganisation.active)
        .order_by(HubOrganisation.organ_id)
    )
    return [
        {
            "organ_id": organisation.organ_id,
            "name": organisation.name,
            "parent_id": organisation.parent_organ_id,
            "email": organisation.email,
        }
        for organisation in organisations
    ]


def add_organisation(
    session,
    organ_id: str,
    name: str,
    parent_organ_id: str | None = None,
    email: str | None = None,
    *,
    user: User | None = None,
) -> tuple[HubOrganisation, str]:
    """Register an organisation and return it with its token, which is not stored."""
    organ_id = (organ_id or "").strip()
    name = nfc(name)
    parent_organ_id = (parent_organ_id or "").strip() or None
    email = (email or "").strip() or None
    _check_new_organisation(session, organ_id, name, parent_organ_id, email)

    token = new_token()
    organisation = HubOrganisation(
        organ_id=organ_id,
        name=name,
        parent_organ_id=parent_organ_id,
        email=email,
        token_hash=hash_token(token),
        token_issued_at=clock.now(),
    )
    session.add(organisation)
    session.flush()
    audit.record(session, "hub_organisation_added", user=user, organ_id=organ_id)
    logger.info("hub organisation %s added by user %s", organ_id, _user_id(user))
    return organisation, token


def _check_new_organisation(session, organ_id, name, parent_organ_id, email) -> None:
    if not ORGAN_ID_PATTERN.match(organ_id):
        raise ServiceError(
            "Mã định danh phải có dạng NNN.NN.NN.ANN, ví dụ 000.00.00.H53.",
            field="organ_id",
        )
    if find_organisation(session, organ_id) is not None:
        raise ServiceError(
            f"Mã định danh {organ_id} đã có trong danh bạ.", field="organ_id"
        )
    if not name:
        raise ServiceError("Hãy nhập tên đơn vị.", field="name")
    if len(name) > MAX_NAME_LENGTH:
        raise ServiceError(
            f"Tên đơn vị dài quá {MAX_NAME_LENGTH} ký tự, hãy rút gọn.", field="name"
        )
    _check_name_characters(name)
    other = _same_name(session, name, None)
    if other is not None:
        raise ServiceError(
            f"Tên {name} trùng với {other.organ_id} – {other.name} trong danh bạ. "
            "Mỗi đơn vị chỉ có một mục trong danh bạ, hãy kiểm tra lại.",
            field="name",
        )
    if (
        parent_organ_id is not None
        and find_organisation(session, parent_organ_id) is None
    ):
        raise ServiceError(
            f"Không có đơn vị cấp trên mã {parent_organ_id} trong danh bạ. Hãy thêm "
            "đơn vị cấp trên trước.",
            field="parent_organ_id",
        )
    if email is not None and (
        len(email) > MAX_EMAIL_LENGTH or not _EMAIL_PATTERN.match(email)
    ):
        raise ServiceError(
            "Địa chỉ thư điện tử không hợp lệ, ví dụ vanthu@hanoi.gov.vn.",
            field="email",
        )


def _check_name_characters(name: str) -> None:
    """Reject a name with a tab, line break or invisible character.

    Every connected installation lists the directory's names, one per line,
    among the recipients it offers its clerks.
    """
    index = first_control_character(name)
    if index is not None:
        raise ServiceError(
            f"Tên đơn vị chứa ký tự điều khiển U+{ord(name[index]):04X} ở vị trí "
            f"{index + 1} (dấu tab, xuống dòng hoặc ký tự không hiện ra). Hãy nhập "
            "tên trên một dòng, chỉ gồm chữ, số, dấu câu và dấu cách.",
            field="name",
        )


def rotate_token(
    session, organisation: HubOrganisation, *, user: User | None = None
) -> str:
    """Issue a new token for the organisation; the old one stops working at once."""
    token = new_token()
    organisation.token_hash = hash_token(token)
    organisation.token_issued_at = clock.now()
    audit.record(session, "hub_token_issued", user=user, organ_id=organisation.organ_id)
    logger.info(
        "hub token of %s issued by user %s", organisation.organ_id, _user_id(user)
    )
    return token


def set_active(
    session, organisation: HubOrganisation, active: bool, *, user: User | None = None
) -> None:
    """Activate or deactivate an organisation.

    A deactivated organisation cannot call the API, is left out of the
    directory and cannot be sent new messages. What it was already sent stays
    queued for it. Raise ServiceError to deactivate an entry that a connector
    of this installation uses, or to activate one whose name an active entry has.
    """
    if organisation.active == active:
        return
    if active:
        _check_activation(session, organisation)
    else:
        _check_deactivation(session, organisation)
    organisation.active = active
    action = "hub_organisation_activated" if active else "hub_organisation_deactivated"
    audit.record(session, action, user=user, organ_id=organisation.organ_id)
    logger.info(
        "hub organisation %s %s by user %s",
        organisation.organ_id,
        "activated" if active else "deactivated",
        _user_id(user),
    )


def _same_name(
    session, name: str, organisation: HubOrganisation | None
) -> HubOrganisation | None:
    """Return another active directory entry with this name, whatever the case."""
    entries = session.scalars(select(HubOrganisation).where(HubOrganisation.active))
    return find_same(entries, name, excluding=organisation)


def _check_activation(session, organisation: HubOrganisation) -> None:
    other = _same_name(session, organisation.name, organisation)
    if other is not None:
        logger.warning(
            "activation of hub organisation %s rejected: %s has the same name",
            organisation.organ_id,
            other.organ_id,
        )
        raise ServiceError(
            f"Không thể kích hoạt lại {organisation.organ_id}: tên {organisation.name} "
            f"trùng với {other.organ_id} – {other.name} đang kết nối. Mỗi đơn vị chỉ "
            "có một mục trong danh bạ."
        )


def _check_deactivation(session, organisation: HubOrganisation) -> None:
    """Reject deactivating an entry that a connector of this installation uses.

    Such a connector uses a token this hub issued to the entry, so the
    organisation it serves would stop sending and receiving at once.
    """
    connectors = session.scalars(
        select(ConnectorSettings)
        .join(Organisation, Organisation.id == ConnectorSettings.organisation_id)
        .where(
            Organisation.code == organisation.organ_id,
            ConnectorSettings.enabled,
        )
    )
    for settings in connectors:
        if not hmac.compare_digest(hash_token(settings.token), organisation.token_hash):
            continue
        logger.warning(
            "deactivation of hub organisation %s rejected: the connector of "
            "organisation %s uses it",
            organisation.organ_id,
            settings.organisation_id,
        )
        raise ServiceError(
            f"Không thể ngừng kết nối {organisation.organ_id}: "
            f"{settings.organisation.name} trong chính hệ thống này đang dùng mã "
            "định danh và mã truy cập này để gửi, nhận văn bản qua trục. Ngừng kết "
            "nối thì đơn vị đó không gửi, nhận được văn bản nữa. Nếu vẫn cần ngừng, "
            "hãy tắt kết nối trục liên thông của đơn vị đó trước (trang Cấu hình kết "
            "nối trục liên thông)."
        )


@dataclass
class OrganisationSummary:
    """A directory row for the admin page, with its delivery counts."""

    organisation: HubOrganisation
    sent: int
    # Deliveries addressed to the organisation, by state.
    received: dict[str, int]


def organisation_summaries(
    session, organisations: list[HubOrganisation] | None = None
) -> list[OrganisationSummary]:
    """Count the messages of the given organisations, by default of all of them."""
    if organisations is None:
        organisations = list(
            session.scalars(select(HubOrganisation).order_by(HubOrganisation.organ_id))
        )
    organ_ids = [organisation.organ_id for organisation in organisations]
    received = {organ_id: dict.fromkeys(DELIVERY_STATES, 0) for organ_id in organ_ids}
    rows = session.execute(
        select(HubDelivery.recipient_organ_id, HubDelivery.state, func.count())
        .where(HubDelivery.recipient_organ_id.in_(organ_ids))
        .group_by(HubDelivery.recipient_organ_id, HubDelivery.state)
    )
    for organ_id, state, count in rows:
        received[organ_id][state] = count
    sent = dict(
        session.execute(
            select(HubMessage.sender_organ_id, func.count())
            .where(HubMessage.sender_organ_id.in_(organ_ids))
            .group_by(HubMessage.sender_organ_id)
        ).all()
    )
    return [
        OrganisationSummary(
            organisation=organisation,
            sent=sent.get(organisation.organ_id, 0),
            received=received[organisation.organ_id],
        )
        for organisation in organisations
    ]


def can_administer(user) -> bool:
    """Tell whether a user may manage the hub: an admin of the city's organisation."""
    return bool(
        user.is_authenticated
        and user.has_role("admin")
        and user.organisation.kind == "city"
    )


# Sending


def send(
    session,
    sender: HubOrganisation,
    message_type: str,
    body: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_PACKAGE_BYTES,
) -> tuple[int, dict]:
    """Check and store a package, queueing one delivery per recipient.

    Returns 201 and the response body for a new message, or 200 and the
    original message's body for a package the hub already stores with the
    same bytes (other bytes under its key get 409 `conflict`). The body
    lists what the parser found odd in `warnings`. Raises HubError for a
    rejection.
    """
    if message_type not in MESSAGE_TYPES:
        raise HubError(
            400,
            "invalid_request",
            "Tiêu đề X-Message-Type phải là edoc hoặc status "
            f"(nhận được: {message_type!r}).",
        )
    if len(body) > max_bytes:
        raise too_large_error(max_bytes)
    if not body:
        raise _invalid("Yêu cầu không mang gói tin nào (nội dung rỗng).")
    # Reading the package and writing it to disk touch no table, so that on
    # SQLite the write lock is held only for the checks and the rows below.
    package = _parse(body, message_type)
    stored = _StoredPackage.write(body)
    try:
        return _queue(session, sender, body, package, stored)
    finally:
        stored.discard()


def _queue(session, sender, body: bytes, package, stored: "_StoredPackage"):
    _check_sender(sender, package.sender.organ_id)

    # A resend is recognised before the other checks, so that a retry still
    # gets 200 after, say, a recipient left the directory.
    key = _idempotency_key(package)
    existing = _find_message(session, sender, key)
    if existing is not None:
        return 200, _resent(existing, stored.sha256, package)

    if isinstance(package, EdocPackage):
        recipients = _check_edoc(session, package)
    else:
        recipients = _check_status(session, package)

    message = HubMessage(
        message_id=uuid.uuid4().hex,
        sender_organ_id=sender.organ_id,
        sha256=stored.sha256,
        size=len(body),
        **key,
    )
    message.deliveries = [HubDelivery(recipient_organ_id=code) for code in recipients]
    try:
        with session.begin_nested():
            session.add(message)
    except IntegrityError:
        # Another request stored the same package between the lookup and here.
        existing = _find_message(session, sender, key)
        if existing is None:
            raise
        return 200, _resent(existing, stored.sha256, package)
    stored.keep()
    logger.info(
        "hub message %s (%s, %d bytes) from %s queued for %s",
        message.message_id,
        message.message_type,
        message.size,
        sender.organ_id,
        ", ".join(recipients),
    )
    return 201, _answer(message, package)


def too_large_error(max_bytes: int) -> HubError:
    return HubError(
        413,
        "too_large",
        f"Gói tin vượt quá dung lượng cho phép của trục ({max_bytes} byte, "
        f"khoảng {max_bytes / MIB:g} MiB).",
    )


def _parse(body: bytes, message_type: str):
    try:
        package = parse_package(body)
    except EdxmlError as exc:
        logger.warning("hub rejected a package: %s", exc)
        raise _invalid(f"{exc.user_message} Chi tiết: {exc}") from exc
    if message_type == "edoc" and isinstance(package, StatusPackage):
        raise _invalid(
            "Tiêu đề X-Message-Type là edoc nhưng gói tin là gói trạng thái "
            "(có MessageHeader/StatusCode)."
        )
    if message_type == "status" and isinstance(package, EdocPackage):
        raise _invalid(
            "Tiêu đề X-Message-Type là status nhưng gói tin là gói văn bản "
            "(không có MessageHeader/StatusCode)."
        )
    return package


def _idempotency_key(package: EdocPackage | StatusPackage) -> dict:
    """Return the HubMessage columns that identify a resend of the package."""
    if isinstance(package, EdocPackage):
        return {
            "message_type": "edoc",
            "document_id": package.document_id,
            "business_doc_type": package.business_doc_type,
        }
    return {
        "message_type": "status",
        "document_id": package.response_for.document_id,
        "status_code": package.status_code,
        "status_timestamp": package.timestamp,
    }


def package_problems(package: EdocPackage | StatusPackage) -> list[HubError]:
    """Return the rejections of a package that the hub decides without its directory.

    They come in the order the hub applies them, and a send gets the first.
    The directory checks (sender, known recipients) and the size limit come
    on top of these.
    """
    if isinstance(package, EdocPackage):
        return _edoc_problems(package)
    return _status_problems(package)


def _check_edoc(session, package: EdocPackage) -> list[str]:
    """Apply the edoc rules and return the recipients."""
    problems = _edoc_problems(package)
    if problems:
        raise problems[0]
    codes = [recipient.organ_id for recipient in package.recipients]
    _check_known(session, codes, "To/OrganId")
    return codes


def _edoc_problems(package: EdocPackage) -> list[HubError]:
    problems = []
    if not package.recipients:
        problems.append(_invalid("Gói tin không có nơi nhận (To)."))
    codes = []
    for index, recipient in enumerate(package.recipients, start=1):
        if not recipient.organ_id:
            problems.append(
                _invalid(f"Nơi nhận thứ {index} thiếu mã định danh (To/OrganId).")
            )
        else:
            codes.append(recipient.organ_id)
    duplicates = sorted({code for code in codes if codes.count(code) > 1})
    if duplicates:
        problems.append(
            _invalid(f"Nơi nhận bị trùng (To/OrganId): {', '.join(duplicates)}.")
        )
    if package.sender.organ_id in codes:
        problems.append(
            HubError(
                422,
                "sender_is_recipient",
                f"Đơn vị gửi {package.sender.organ_id} (From/OrganId) có tên trong "
                "nơi nhận (To/OrganId). Một đơn vị không gửi gói tin cho chính mình, "
                "hãy bỏ đơn vị gửi khỏi danh sách nơi nhận.",
            )
        )

    if len(package.subject) > MAX_SUBJECT_LENGTH:
        problems.append(
            _invalid(
                f"Trích yếu (Subject) dài {len(package.subject)} ký tự, vượt quá "
                f"{MAX_SUBJECT_LENGTH} ký tự."
            )
        )
    problems.extend(_document_id_problems(package.document_id, "DocumentId"))
    if package.business_doc_type not in BUSINESS_DOC_TYPES:
        problems.append(
            _invalid(
                "Loại nghiệp vụ (BussinessDocType) phải là 0, 1, 2 hoặc 3; gói tin "
                "ghi giá trị khác hoặc không phải số."
            )
        )
    return problems


def _check_status(session, package: StatusPackage) -> list[str]:
    """Apply the status rules and return the recipient."""
    problems = _status_problems(package)
    if problems:
        raise problems[0]
    target = package.response_for.organ_id
    _check_known(session, [target], "ResponseFor/OrganId")
    return [target]


def _status_problems(package: StatusPackage) -> list[HubError]:
    problems = []
    if package.status_code not in STATUS_CODES:
        problems.append(
            _invalid(
                f"Mã trạng thái (StatusCode) {package.status_code!r} không hợp lệ; "
                f"chỉ nhận {', '.join(STATUS_CODES)}."
            )
        )
    if package.timestamp is None:
        # The timestamp is part of the idempotency key, so it cannot be absent.
        problems.append(
            _invalid(
                "Gói trạng thái thiếu thời điểm (Timestamp) hoặc thời điểm không "
                "đúng dạng yyyy/MM/dd HH:mm:ss."
            )
        )
    if not package.response_for.organ_id:
        problems.append(
            _invalid(
                "Gói trạng thái thiếu mã đơn vị được phản hồi (ResponseFor/OrganId)."
            )
        )
    problems.extend(
        _document_id_problems(
            package.response_for.document_id, "ResponseFor/DocumentId"
        )
    )
    return problems


def _check_sender(sender: HubOrganisation, organ_id: str) -> None:
    if organ_id != sender.organ_id:
        logger.warning(
            "hub rejected package from %s: From/OrganId is %r",
            sender.organ_id,
            organ_id,
        )
        raise HubError(
            403,
            "sender_mismatch",
            f"Mã đơn vị gửi trong gói tin (From/OrganId = {organ_id}) khác mã đơn vị "
            f"đã xác thực (X-Organ-Id = {sender.organ_id}).",
        )


def _document_id_problems(document_id: str, element: str) -> list[HubError]:
    if len(document_id) > MAX_DOCUMENT_ID_LENGTH:
        return [
            _invalid(
                f"Mã văn bản ({element}) dài {len(document_id)} ký tự, vượt quá "
                f"{MAX_DOCUMENT_ID_LENGTH} ký tự."
            )
        ]
    return []


def _check_known(session, codes: list[str], element: str) -> None:
    """Reject codes that are not active organisations in the directory.

    The detail names the codes missing from the directory apart from those
    of deactivated organisations, and the error lists them all as recipients.
    """
    active = dict(
        session.execute(
            select(HubOrganisation.organ_id, HubOrganisation.active).where(
                HubOrganisation.organ_id.in_(codes)
            )
        ).all()
    )
    missing = [code for code in codes if code not in active]
    stopped = [code for code in codes if active.get(code) is False]
    if not missing and not stopped:
        return
    sentences = []
    if missing:
        sentences.append(
            f"Mã đơn vị nhận ({element}) không có trong danh bạ của trục: "
            f"{', '.join(missing)}."
        )
    if stopped:
        sentences.append(
            f"Đơn vị nhận ({element}) đã ngừng kết nối với trục: {', '.join(stopped)}."
        )
    raise HubError(
        422, "unknown_recipient", " ".join(sentences), recipients=missing + stopped
    )


def _invalid(detail: str) -> HubError:
    return HubError(400, "invalid_package", detail)


def _find_message(session, sender: HubOrganisation, key: dict) -> HubMessage | None:
    if key.get("business_doc_type", 0) not in BUSINESS_DOC_TYPES:
        # No stored message has such a type, and a number past 64 bits would
        # make the SQLite driver raise OverflowError.
        return None
    query = select(HubMessage).where(HubMessage.sender_organ_id == sender.organ_id)
    for column, value in key.items():
        query = query.where(getattr(HubMessage, column) == value)
    return session.scalar(query)


def _resent(message: HubMessage, sha256: str, package) -> dict:
    """Return the answer to a resend; other bytes under a stored key are a conflict.

    The first package stays authoritative, since recipients may already hold
    it, so different bytes under the same key are refused with 409: a
    different document must not be taken for a repeat of the stored one.
    """
    if sha256 != message.sha256:
        logger.warning(
            "hub message %s resent by %s with different bytes; refused as a conflict",
            message.message_id,
            message.sender_organ_id,
        )
        raise HubError(409, "conflict", _conflict_detail(message))
    logger.info(
        "hub message %s resent by %s; nothing queued",
        message.message_id,
        message.sender_organ_id,
    )
    return _answer(message, package)


def _conflict_detail(message: HubMessage) -> str:
    document_id = message.document_id[:MAX_DOCUMENT_ID_LENGTH]
    if message.message_type == "status":
        stamp = clock.local(message.status_timestamp).strftime(TIMESTAMP_FORMAT)
        return (
            f"Trục đã nhận gói trạng thái {message.message_id} có cùng mã văn bản "
            f"được phản hồi (ResponseFor/DocumentId = {document_id}), cùng mã "
            f"trạng thái (StatusCode = {message.status_code}) và cùng thời điểm "
            f"(Timestamp = {stamp}); gói tin mới không được nhận. Hai trạng thái "
            "khác nhau của cùng một văn bản phải có thời điểm khác nhau."
        )
    return (
        f"Trục đã nhận một gói tin khác có cùng mã văn bản (DocumentId = "
        f"{document_id}) và cùng loại nghiệp vụ (thông điệp {message.message_id}); "
        "gói tin mới không được nhận. Hai văn bản khác nhau phải có mã văn bản "
        "khác nhau."
    )


def _answer(message: HubMessage, package) -> dict:
    return {
        "message_id": message.message_id,
        "document_id": message.document_id,
        "recipients": [d.recipient_organ_id for d in message.deliveries],
        "warnings": list(package.warnings),
    }


# Receiving


def list_pending(
    session,
    recipient: HubOrganisation,
    message_type: str | None = None,
    limit: int = DEFAULT_LIST_LIMIT,
) -> list[dict]:
    """List the messages waiting for the recipient, oldest first.

    `limit` above MAX_LIST_LIMIT is lowered to it.
    """
    if message_type is not None and message_type not in MESSAGE_TYPES:
        raise HubError(
            400,
            "invalid_request",
            f"Tham số type phải là edoc hoặc status (nhận được: {message_type!r}).",
        )
    if limit < 1:
        raise HubError(
            400, "invalid_request", f"Tham số limit phải từ 1 trở lên (nhận: {limit})."
        )
    query = (
        select(HubMessage)
        .join(HubDelivery)
        .where(
            HubDelivery.recipient_organ_id == recipient.organ_id,
            HubDelivery.state == "pending",
        )
        .order_by(HubMessage.created_at, HubMessage.id)
        .limit(min(limit, MAX_LIST_LIMIT))
    )
    if message_type is not None:
        query = query.where(HubMessage.message_type == message_type)
    return [
        {
            "message_id": message.message_id,
            "type": message.message_type,
            "from": message.sender_organ_id,
            "document_id": message.document_id,
            "created_at": _iso_utc(message.created_at),
            "size": message.size,
        }
        for message in session.scalars(query)
    ]


def fetch(session, recipient: HubOrganisation, message_id: str) -> bytes:
    """Return the package bytes exactly as the sender sent them."""
    delivery = _delivery(session, recipient, message_id)
    return _read_package(delivery.message)


def ack(
    session,
    recipient: HubOrganisation,
    message_id: str,
    result: str,
    reason: str | None = None,
) -> dict:
    """Record the recipient's transport acknowledgement and return the new state.

    `done` marks the delivery delivered, also after it failed, and repeating
    it changes nothing. `fail` counts an attempt while the delivery is pending,
    and the MAX_FAILED_ATTEMPTS-th failure marks it failed. A `fail` for a
    delivery that is no longer pending changes nothing.
    """
    if result not in ("done", "fail"):
        raise HubError(
            400,
            "invalid_request",
            f'Trường result phải là "done" hoặc "fail" (nhận được: {result!r}).',
        )
    if reason is not None and not isinstance(reason, str):
        raise HubError(400, "invalid_request", "Trường reason phải là chuỗi ký tự.")
    delivery = _delivery(session, recipient, message_id, for_update=True)

    if result == "done":
        if delivery.state != "delivered":
            delivery.state = "delivered"
            delivery.delivered_at = clock.now()
            logger.info(
                "hub message %s delivered to %s", message_id, recipient.organ_id
            )
    elif delivery.state == "pending":
        delivery.attempts += 1
        delivery.last_error = nfc(reason)[:MAX_REASON_LENGTH] or None
        if delivery.attempts >= MAX_FAILED_ATTEMPTS:
            delivery.state = "failed"
        logger.warning(
            "hub message %s failed at %s (attempt %d, now %s): %s",
            message_id,
            recipient.organ_id,
            delivery.attempts,
            delivery.state,
            delivery.last_error,
        )
    return {
        "message_id": message_id,
        "state": delivery.state,
        "attempts": delivery.attempts,
    }


def deliveries(session, sender: HubOrganisation, message_id: str) -> list[dict]:
    """List each recipient's delivery of a message, for its sender only."""
    message = session.scalar(
        select(HubMessage).where(
            HubMessage.message_id == message_id,
            HubMessage.sender_organ_id == sender.organ_id,
        )
    )
    if message is None:
        raise _not_found(message_id)
    return [
        {
            "organ_id": delivery.recipient_organ_id,
            "state": delivery.state,
            "delivered_at": _iso_utc(delivery.delivered_at),
            "attempts": delivery.attempts,
            "last_error": delivery.last_error,
        }
        for delivery in message.deliveries
    ]


def _delivery(
    session, recipient: HubOrganisation, message_id: str, *, for_update: bool = False
) -> HubDelivery:
    query = (
        select(HubDelivery)
        .join(HubMessage)
        .where(
            HubMessage.message_id == message_id,
            HubDelivery.recipient_organ_id == recipient.organ_id,
        )
    )
    if for_update:
        query = query.with_for_update(of=HubDelivery)
    delivery = session.scalar(query)
    if delivery is None:
        raise _not_found(message_id)
    return delivery


def _not_found(message_id: str) -> HubError:
    # The same response whether the message is missing or not addressed to the
    # caller, so that ids of other organisations' messages cannot be probed.
    return HubError(
        404,
        "not_found",
        f"Không tìm thấy thông điệp {message_id[:64]} dành cho đơn vị này.",
    )


def _iso_utc(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _user_id(user: User | None) -> str:
    return str(user.id) if user is not None else "(command line)"


# Package storage. Packages are files named by their SHA-256 under
# instance/hub/, like attachments under instance/files/. Packages of up to
# 50 MiB would bloat database rows, backups and replication. A file named by
# its content is written once, is shared by identical resends and can be
# checked against its name.


def storage_dir() -> Path:
    path = Path(current_app.instance_path) / "hub"
    path.mkdir(parents=True, exist_ok=True)
    return path


class _StoredPackage:
    """A package written durably to a temporary file, named by its SHA-256 once kept.

    NOTE: when the process dies between `keep` and the commit, the file stays
    on disk unreferenced until the same package is sent again.
    """

    def __init__(self, sha256: str, temp_path: Path | None):
        self.sha256 = sha256
        self.temp_path = temp_path

    @classmethod
    def write(cls, body: bytes) -> "_StoredPackage":
        sha256 = hashlib.sha256(body).hexdigest()
        directory = storage_dir()
        if (directory / sha256).exists():
            return cls(sha256, None)
        handle, temp_name = tempfile.mkstemp(dir=directory, prefix=".package-")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(body)
                out.flush()
                os.fsync(out.fileno())
        except BaseException:
            os.unlink(temp_name)
            raise
        return cls(sha256, Path(temp_name))

    def keep(self) -> None:
        """Give the file its final name; the package's row refers to it."""
        if self.temp_path is not None:
            os.replace(self.temp_path, storage_dir() / self.sha256)
            self.temp_path = None

    def discard(self) -> None:
        """Remove the temporary file of a package that was not kept."""
        if self.temp_path is not None:
            self.temp_path.unlink(missing_ok=True)
            self.temp_path = None


def _read_package(message: HubMessage) -> bytes:
    data = (storage_dir() / message.sha256).read_bytes()
    if hashlib.sha256(data).hexdigest() != message.sha256:
        raise RuntimeError(
            f"stored package of hub message {message.message_id} does not match "
            f"its SHA-256 {message.sha256}"
        )
    return data
