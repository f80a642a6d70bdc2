"""The city hub's rules: tokens, sending checks, idempotency, pending lists, acks."""

import hashlib
from datetime import datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from vanban.exchange import connector, hub, local
from vanban.exchange.hub import HubError
from vanban.extensions import db
from vanban.models import AuditEvent, User
from vanban.models.hub import HubDelivery, HubMessage, HubOrganisation
from vanban.services import ServiceError
from vanban.services.clock import LOCAL_TZ

from ..hub_support import (
    BILLION_LAUGHS,
    CENTER,
    CITY,
    MESSAGE_HEADER,
    OTHER_WARD,
    WARD,
    document_id,
    duplicate_first,
    edit,
    edoc_bytes,
    external_entity,
    register_all,
    status_bytes,
)


@pytest.fixture
def app_config():
    return {"HUB_ENABLED": True}


@pytest.fixture
def tokens(app, session):
    return register_all(session)


def org(organ_id: str) -> HubOrganisation:
    return hub.find_organisation(db.session, organ_id)


def send(sender: str, message_type: str, body: bytes, **kwargs):
    result = hub.send(db.session, org(sender), message_type, body, **kwargs)
    db.session.commit()
    return result


def rejection(sender: str, message_type: str, body: bytes, **kwargs) -> HubError:
    with pytest.raises(HubError) as caught:
        hub.send(db.session, org(sender), message_type, body, **kwargs)
    db.session.rollback()
    return caught.value


def message_count() -> int:
    return db.session.scalar(select(func.count()).select_from(HubMessage))


def delivery(message_id: str, recipient: str) -> HubDelivery:
    db.session.expire_all()
    return db.session.scalar(
        select(HubDelivery)
        .join(HubMessage)
        .where(
            HubMessage.message_id == message_id,
            HubDelivery.recipient_organ_id == recipient,
        )
    )


def user(username: str) -> User:
    return db.session.scalar(select(User).where(User.username == username))


# Tokens and authentication


def test_token_stored_only_as_hash(tokens):
    organisation = org(WARD)
    token = tokens[WARD]

    assert len(token) >= 43
    assert organisation.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in repr(organisation.__dict__)


def test_authenticate_accepts_own_token(tokens):
    assert hub.authenticate(db.session, WARD, tokens[WARD]) == org(WARD)


@pytest.mark.parametrize(
    "organ_id, token",
    [
        (WARD, "wrong-token"),
        (WARD, ""),
        ("", "anything"),
        ("999.99.99.Z99", "anything"),
        (WARD, "x" * 10_000),
    ],
    ids=["wrong", "empty", "no-organ", "unknown-organ", "overlong"],
)
def test_authenticate_rejects(tokens, organ_id, token):
    assert hub.authenticate(db.session, organ_id, token) is None


def test_authenticate_rejects_token_of_other_organisation(tokens):
    assert hub.authenticate(db.session, WARD, tokens[OTHER_WARD]) is None


def test_authenticate_rejects_inactive_organisation(tokens):
    hub.set_active(db.session, org(WARD), False)
    db.session.commit()

    assert hub.authenticate(db.session, WARD, tokens[WARD]) is None


def test_rotate_token_invalidates_old(tokens):
    new = hub.rotate_token(db.session, org(WARD))
    db.session.commit()

    assert new != tokens[WARD]
    assert hub.authenticate(db.session, WARD, tokens[WARD]) is None
    assert hub.authenticate(db.session, WARD, new) == org(WARD)


# Directory


def test_directory_lists_active_organisations(tokens):
    hub.set_active(db.session, org(OTHER_WARD), False)
    db.session.commit()

    entries = hub.directory(db.session)

    assert [e["organ_id"] for e in entries] == sorted([CITY, CENTER, WARD])
    city = next(e for e in entries if e["organ_id"] == CITY)
    assert city == {
        "organ_id": CITY,
        "name": "UBND Thành phố Hà Nội",
        "parent_id": None,
        "email": None,
    }
    ward = next(e for e in entries if e["organ_id"] == WARD)
    assert ward["parent_id"] == CITY


def test_add_organisation_records_audit(app, session):
    admin = user("thanhpho.quantri")

    organisation, _ = hub.add_organisation(
        session,
        " 000.00.00.H01 ",
        "UBND Thành phố",
        email="vt@example.invalid",
        user=admin,
    )
    session.commit()

    assert organisation.organ_id == CITY
    assert organisation.email == "vt@example.invalid"
    event = session.scalar(
        select(AuditEvent).where(AuditEvent.action == "hub_organisation_added")
    )
    assert event.user_id == admin.id
    assert event.detail == {"organ_id": CITY}


@pytest.mark.parametrize(
    "organ_id, name, parent, email, field",
    [
        ("H01", "Tên", None, None, "organ_id"),
        ("000.00.00.h01", "Tên", None, None, "organ_id"),
        (CITY, "Trùng mã", None, None, "organ_id"),
        ("000.09.01.H01", "  ", None, None, "name"),
        ("000.09.01.H01", "x" * 256, None, None, "name"),
        ("000.09.01.H01", "Tên", "000.99.99.H01", None, "parent_organ_id"),
        ("000.09.01.H01", "Tên", None, "not-an-address", "email"),
    ],
    ids=[
        "short-code",
        "lowercase-code",
        "duplicate",
        "blank-name",
        "long-name",
        "unknown-parent",
        "bad-email",
    ],
)
def test_add_organisation_rejects(tokens, organ_id, name, parent, email, field):
    with pytest.raises(ServiceError) as caught:
        hub.add_organisation(db.session, organ_id, name, parent, email)

    assert caught.value.field == field


def test_set_active_twice_records_once(tokens):
    hub.set_active(db.session, org(WARD), False)
    hub.set_active(db.session, org(WARD), False)
    db.session.commit()

    actions = db.session.scalars(
        select(AuditEvent.action).where(AuditEvent.action.like("hub_organisation_%"))
    ).all()
    assert actions.count("hub_organisation_deactivated") == 1


def test_can_administer_only_city_admin(app, session):
    assert hub.can_administer(user("thanhpho.quantri"))
    assert not hub.can_administer(user("badinh.quantri"))
    assert not hub.can_administer(user("thanhpho.vanthu"))
    assert not hub.can_administer(user("tttt.huongdan"))


# Sending documents


def test_send_edoc_queues_each_recipient(tokens):
    body = edoc_bytes(recipients=(CITY, OTHER_WARD))

    status, answer = send(WARD, "edoc", body)

    assert status == 201
    assert answer["document_id"] == document_id()
    assert answer["recipients"] == [CITY, OTHER_WARD]
    assert answer["warnings"] == []
    message = db.session.scalar(select(HubMessage))
    assert message.message_id == answer["message_id"]
    assert message.sender_organ_id == WARD
    assert message.business_doc_type == 0
    assert message.size == len(body)
    assert {d.state for d in message.deliveries} == {"pending"}


def test_send_stores_package_byte_identical(app, tokens):
    body = edoc_bytes()

    _, answer = send(WARD, "edoc", body)

    message = db.session.scalar(select(HubMessage))
    stored = hub.storage_dir() / message.sha256
    assert stored.read_bytes() == body
    assert message.sha256 == hashlib.sha256(body).hexdigest()
    assert hub.fetch(db.session, org(CITY), answer["message_id"]) == body


def test_send_edoc_again_is_idempotent(tokens):
    body = edoc_bytes()
    _, first = send(WARD, "edoc", body)

    status, again = send(WARD, "edoc", body)

    assert status == 200
    assert again["message_id"] == first["message_id"]
    assert again["recipients"] == [CITY]
    assert message_count() == 1
    assert db.session.scalar(select(func.count()).select_from(HubDelivery)) == 1


def test_resend_after_recipient_left_gets_200(tokens):
    """A retry succeeds although the directory changed since the first send."""
    body = edoc_bytes(recipients=(OTHER_WARD,))
    _, first = send(WARD, "edoc", body)
    hub.set_active(db.session, org(OTHER_WARD), False)
    db.session.commit()

    status, again = send(WARD, "edoc", body)

    assert status == 200
    assert again["message_id"] == first["message_id"]


def test_resend_with_other_bytes_is_a_conflict(tokens):
    """Other bytes under a stored key are refused, and the first package stays."""
    body = edoc_bytes()
    _, first = send(WARD, "edoc", body)
    changed = edoc_bytes(subject="Trích yếu đã sửa")

    error = rejection(WARD, "edoc", changed)

    assert (error.status, error.code) == (409, "conflict")
    assert first["message_id"] in error.detail
    assert message_count() == 1
    assert hub.fetch(db.session, org(CITY), first["message_id"]) == body


def test_other_business_type_is_new_message(tokens):
    _, first = send(WARD, "edoc", edoc_bytes(doc_type=0))

    status, update = send(WARD, "edoc", edoc_bytes(doc_type=2))

    assert status == 201
    assert update["message_id"] != first["message_id"]
    assert message_count() == 2


def test_copied_document_id_is_new_message(tokens):
    """The key includes the sender, so a copied DocumentId is not a resend."""
    send(WARD, "edoc", edoc_bytes())
    body = edit(
        edoc_bytes(sender=OTHER_WARD), f"{MESSAGE_HEADER}/e:DocumentId", document_id()
    )

    status, answer = send(OTHER_WARD, "edoc", body)

    assert status == 201
    assert any("does not match" in warning for warning in answer["warnings"])


def test_send_race_stores_one_message(tokens, monkeypatch):
    """A request that loses the race on the unique key returns the winner's id."""
    body = edoc_bytes()
    _, first = send(WARD, "edoc", body)
    real_find = hub._find_message
    calls = []

    def find_nothing_first(session, sender, key):
        calls.append(key)
        return None if len(calls) == 1 else real_find(session, sender, key)

    monkeypatch.setattr(hub, "_find_message", find_nothing_first)

    status, again = send(WARD, "edoc", body)

    assert status == 200
    assert again["message_id"] == first["message_id"]
    assert len(calls) == 2
    assert message_count() == 1


@pytest.mark.parametrize("message_type", ["edoc", "status"])
def test_sender_mismatch_rejected(tokens, message_type):
    body = edoc_bytes() if message_type == "edoc" else status_bytes()
    caller = OTHER_WARD if message_type == "edoc" else WARD

    error = rejection(caller, message_type, body)

    assert error.status == 403
    assert error.code == "sender_mismatch"
    assert caller in error.detail
    assert message_count() == 0


def test_edoc_without_recipient_rejected(tokens):
    body = edit(edoc_bytes(), f"{MESSAGE_HEADER}/e:To", None)

    error = rejection(WARD, "edoc", body)

    assert (error.status, error.code) == (400, "invalid_package")
    assert "(To)" in error.detail


def test_edoc_with_duplicate_recipient_rejected(tokens):
    body = duplicate_first(edoc_bytes(), f"{MESSAGE_HEADER}/e:To")

    error = rejection(WARD, "edoc", body)

    assert (error.status, error.code) == (400, "invalid_package")
    assert CITY in error.detail


def test_edoc_recipient_without_code_rejected(tokens):
    body = edit(edoc_bytes(), f"{MESSAGE_HEADER}/e:To/e:OrganId", "")

    error = rejection(WARD, "edoc", body)

    assert (error.status, error.code) == (400, "invalid_package")
    assert "To/OrganId" in error.detail


def test_unknown_recipients_listed(tokens):
    body = edoc_bytes(recipients=(CITY, "000.77.01.H01", "000.78.01.H01"))

    error = rejection(WARD, "edoc", body)

    assert (error.status, error.code) == (422, "unknown_recipient")
    assert "000.77.01.H01, 000.78.01.H01" in error.detail
    assert CITY not in error.detail.split(":")[-1]
    assert message_count() == 0


def test_inactive_recipient_unknown(tokens):
    hub.set_active(db.session, org(OTHER_WARD), False)
    db.session.commit()

    error = rejection(WARD, "edoc", edoc_bytes(recipients=(OTHER_WARD,)))

    assert (error.status, error.code) == (422, "unknown_recipient")
    assert error.recipients == [OTHER_WARD]
    assert f"đã ngừng kết nối với trục: {OTHER_WARD}." in error.detail
    assert "không có trong danh bạ" not in error.detail


def test_unknown_and_inactive_told_apart(tokens):
    hub.set_active(db.session, org(OTHER_WARD), False)
    db.session.commit()
    body = edoc_bytes(recipients=(CITY, OTHER_WARD, "000.77.01.H01"))

    error = rejection(WARD, "edoc", body)

    assert (error.status, error.code) == (422, "unknown_recipient")
    assert error.recipients == ["000.77.01.H01", OTHER_WARD]
    assert "không có trong danh bạ của trục: 000.77.01.H01." in error.detail
    assert f"đã ngừng kết nối với trục: {OTHER_WARD}." in error.detail
    assert CITY not in error.detail
    assert message_count() == 0


def test_status_to_inactive_organisation(tokens):
    hub.set_active(db.session, org(WARD), False)
    db.session.commit()

    error = rejection(CITY, "status", status_bytes(responds_to=WARD))

    assert (error.status, error.code) == (422, "unknown_recipient")
    assert error.recipients == [WARD]
    assert "ResponseFor/OrganId" in error.detail
    assert "đã ngừng kết nối với trục" in error.detail


def test_long_subject_rejected(tokens):
    body = edit(edoc_bytes(), f"{MESSAGE_HEADER}/e:Subject", "Đ" * 501)

    error = rejection(WARD, "edoc", body)

    assert (error.status, error.code) == (400, "invalid_package")
    assert "Subject" in error.detail


def test_subject_of_500_characters_accepted(tokens):
    body = edit(edoc_bytes(), f"{MESSAGE_HEADER}/e:Subject", "Đ" * 500)

    status, _ = send(WARD, "edoc", body)

    assert status == 201


def test_missing_subject_rejected(tokens):
    body = edit(edoc_bytes(), f"{MESSAGE_HEADER}/e:Subject", None)

    error = rejection(WARD, "edoc", body)

    assert (error.status, error.code) == (400, "invalid_package")
    assert "Subject" in error.detail


def test_missing_document_id_rejected(tokens):
    body = edit(edoc_bytes(), f"{MESSAGE_HEADER}/e:DocumentId", None)

    error = rejection(WARD, "edoc", body)

    assert (error.status, error.code) == (400, "invalid_package")
    assert "DocumentId" in error.detail


def test_overlong_document_id_rejected(tokens):
    body = edit(edoc_bytes(), f"{MESSAGE_HEADER}/e:DocumentId", "x" * 256)

    error = rejection(WARD, "edoc", body)

    assert (error.status, error.code) == (400, "invalid_package")
    assert "DocumentId" in error.detail


def test_nonstandard_document_id_accepted_with_warning(tokens):
    body = edit(edoc_bytes(), f"{MESSAGE_HEADER}/e:DocumentId", "5e515fca-3627")

    status, answer = send(WARD, "edoc", body)

    assert status == 201
    assert answer["document_id"] == "5e515fca-3627"
    assert any("5e515fca-3627" in warning for warning in answer["warnings"])


@pytest.mark.parametrize("value", ["4", "-1", "x", "9" * 30])
def test_business_doc_type_out_of_range_rejected(tokens, value):
    body = edit(
        edoc_bytes(), "//e:TraceHeaderList/e:Bussiness/e:BussinessDocType", value
    )

    error = rejection(WARD, "edoc", body)

    assert (error.status, error.code) == (400, "invalid_package")
    assert "BussinessDocType" in error.detail


@pytest.mark.parametrize("doc_type", [0, 1, 2, 3])
def test_business_doc_types_accepted(tokens, doc_type):
    status, _ = send(WARD, "edoc", edoc_bytes(doc_type=doc_type))

    assert status == 201


# Sending statuses


def test_send_status_queues_response_for_organisation(tokens):
    status, answer = send(CITY, "status", status_bytes())

    assert status == 201
    assert answer["recipients"] == [WARD]
    assert answer["document_id"] == document_id(WARD)
    message = db.session.scalar(select(HubMessage))
    assert message.status_code == "01"
    assert message.status_timestamp == datetime(2026, 3, 5, 9, 30, tzinfo=LOCAL_TZ)
    assert message.business_doc_type is None


def test_send_status_again_is_idempotent(tokens):
    _, first = send(CITY, "status", status_bytes())

    status, again = send(CITY, "status", status_bytes())

    assert status == 200
    assert again["message_id"] == first["message_id"]
    assert message_count() == 1


@pytest.mark.parametrize(
    "changes", [{"code": "03"}, {"minute": 31}], ids=["other-code", "other-time"]
)
def test_status_with_other_key_is_new_message(tokens, changes):
    send(CITY, "status", status_bytes())

    status, _ = send(CITY, "status", status_bytes(**changes))

    assert status == 201
    assert message_count() == 2


def test_status_for_unknown_organisation_rejected(tokens):
    error = rejection(CITY, "status", status_bytes(responds_to="000.77.01.H01"))

    assert (error.status, error.code) == (422, "unknown_recipient")
    assert "000.77.01.H01" in error.detail


@pytest.mark.parametrize("code", ["07", "99", "1"])
def test_unknown_status_code_rejected(tokens, code):
    body = edit(status_bytes(), f"{MESSAGE_HEADER}/e:StatusCode", code)

    error = rejection(CITY, "status", body)

    assert (error.status, error.code) == (400, "invalid_package")
    assert "StatusCode" in error.detail


@pytest.mark.parametrize("code", ["01", "02", "03", "04", "05", "06", "13", "15", "16"])
def test_known_status_codes_accepted(tokens, code):
    status, _ = send(CITY, "status", status_bytes(code=code))

    assert status == 201


@pytest.mark.parametrize("value", [None, "tomorrow"], ids=["missing", "unreadable"])
def test_status_without_timestamp_rejected(tokens, value):
    body = edit(status_bytes(), f"{MESSAGE_HEADER}/e:Timestamp", value)

    error = rejection(CITY, "status", body)

    assert (error.status, error.code) == (400, "invalid_package")
    assert "Timestamp" in error.detail


def test_status_without_response_organisation_rejected(tokens):
    body = edit(status_bytes(), f"{MESSAGE_HEADER}/e:ResponseFor/e:OrganId", None)

    error = rejection(CITY, "status", body)

    assert (error.status, error.code) == (400, "invalid_package")
    assert "ResponseFor/OrganId" in error.detail


# Malformed and hostile input


@pytest.mark.parametrize(
    "message_type, builder",
    [("edoc", status_bytes), ("status", edoc_bytes)],
    ids=["status-as-edoc", "edoc-as-status"],
)
def test_type_header_mismatch_rejected(tokens, message_type, builder):
    error = rejection(WARD, message_type, builder())

    assert (error.status, error.code) == (400, "invalid_package")
    assert "X-Message-Type" in error.detail


@pytest.mark.parametrize("message_type", ["", "EDOC", "document"])
def test_unknown_message_type_rejected(tokens, message_type):
    error = rejection(WARD, message_type, edoc_bytes())

    assert (error.status, error.code) == (400, "invalid_request")


def test_too_large_package_rejected(tokens):
    body = edoc_bytes()

    error = rejection(WARD, "edoc", body, max_bytes=len(body) - 1)

    assert (error.status, error.code) == (413, "too_large")
    assert message_count() == 0


def test_package_at_limit_accepted(tokens):
    body = edoc_bytes()

    status, _ = send(WARD, "edoc", body, max_bytes=len(body))

    assert status == 201


@pytest.mark.parametrize(
    "body, named",
    [
        (b"", "rỗng"),
        (b"<edXML", "dòng 1"),
        (b"<html/>", "edXML"),
        (BILLION_LAUGHS, "DOCTYPE"),
    ],
    ids=["empty", "truncated", "not-edxml", "entity-bomb"],
)
def test_malformed_package_rejected(tokens, body, named):
    error = rejection(WARD, "edoc", body)

    assert (error.status, error.code) == (400, "invalid_package")
    assert named in error.detail


def test_external_entity_not_read(tokens, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE")

    error = rejection(WARD, "edoc", external_entity(secret))

    assert (error.status, error.code) == (400, "invalid_package")
    assert "DOCTYPE" in error.detail
    assert "TOP-SECRET-VALUE" not in error.detail


# Database constraints


def test_database_rejects_duplicate_edoc_key(tokens):
    send(WARD, "edoc", edoc_bytes())
    copy = HubMessage(
        message_id="f" * 32,
        message_type="edoc",
        sender_organ_id=WARD,
        document_id=document_id(),
        business_doc_type=0,
        sha256="0" * 64,
        size=1,
    )
    db.session.add(copy)

    with pytest.raises(IntegrityError):
        db.session.flush()


def test_database_rejects_duplicate_status_key(tokens):
    send(CITY, "status", status_bytes())
    copy = HubMessage(
        message_id="f" * 32,
        message_type="status",
        sender_organ_id=CITY,
        document_id=document_id(WARD),
        status_code="01",
        status_timestamp=datetime(2026, 3, 5, 9, 30, tzinfo=LOCAL_TZ),
        sha256="0" * 64,
        size=1,
    )
    db.session.add(copy)

    with pytest.raises(IntegrityError):
        db.session.flush()


def test_database_rejects_status_without_timestamp(tokens):
    db.session.add(
        HubMessage(
            message_id="f" * 32,
            message_type="status",
            sender_organ_id=CITY,
            document_id=document_id(WARD),
            status_code="01",
            sha256="0" * 64,
            size=1,
        )
    )

    with pytest.raises(IntegrityError):
        db.session.flush()


# Receiving


def test_list_pending_oldest_first(tokens):
    _, first = send(WARD, "edoc", edoc_bytes(number="1"))
    _, second = send(OTHER_WARD, "edoc", edoc_bytes(sender=OTHER_WARD, number="2"))

    messages = hub.list_pending(db.session, org(CITY))

    assert [m["message_id"] for m in messages] == [
        first["message_id"],
        second["message_id"],
    ]
    assert messages[0]["type"] == "edoc"
    assert messages[0]["from"] == WARD
    assert messages[0]["document_id"] == document_id(WARD, "1")
    assert messages[0]["size"] > 0
    assert messages[0]["created_at"].endswith("Z")


def test_list_pending_only_for_recipient(tokens):
    send(WARD, "edoc", edoc_bytes(recipients=(CITY,)))

    assert hub.list_pending(db.session, org(OTHER_WARD)) == []
    assert hub.list_pending(db.session, org(WARD)) == []


def test_list_pending_filters_type(tokens):
    send(WARD, "edoc", edoc_bytes(recipients=(CITY,)))
    send(WARD, "status", status_bytes(sender=WARD, responds_to=CITY))

    edocs = hub.list_pending(db.session, org(CITY), "edoc")
    statuses = hub.list_pending(db.session, org(CITY), "status")

    assert [m["type"] for m in edocs] == ["edoc"]
    assert [m["type"] for m in statuses] == ["status"]
    assert len(hub.list_pending(db.session, org(CITY))) == 2


def test_list_pending_limit(tokens):
    for number in range(1, 5):
        send(WARD, "edoc", edoc_bytes(number=str(number)))

    messages = hub.list_pending(db.session, org(CITY), limit=3)

    assert [m["document_id"] for m in messages] == [
        document_id(WARD, str(n)) for n in (1, 2, 3)
    ]


def test_list_pending_limit_capped(tokens, monkeypatch):
    monkeypatch.setattr(hub, "MAX_LIST_LIMIT", 2)
    for number in range(1, 4):
        send(WARD, "edoc", edoc_bytes(number=str(number)))

    assert len(hub.list_pending(db.session, org(CITY), limit=500)) == 2


@pytest.mark.parametrize(
    "message_type, limit", [("bad", 10), (None, 0), (None, -5)], ids=str
)
def test_list_pending_rejects_arguments(tokens, message_type, limit):
    with pytest.raises(HubError) as caught:
        hub.list_pending(db.session, org(CITY), message_type, limit)

    assert (caught.value.status, caught.value.code) == (400, "invalid_request")


@pytest.mark.parametrize("caller", [WARD, OTHER_WARD], ids=["sender", "stranger"])
def test_fetch_only_by_recipient(tokens, caller):
    _, answer = send(WARD, "edoc", edoc_bytes())

    with pytest.raises(HubError) as caught:
        hub.fetch(db.session, org(caller), answer["message_id"])

    assert (caught.value.status, caught.value.code) == (404, "not_found")


def test_fetch_unknown_message(tokens):
    with pytest.raises(HubError) as caught:
        hub.fetch(db.session, org(CITY), "0" * 32)

    assert caught.value.status == 404


def test_fetch_detects_corrupted_file(app, tokens):
    _, answer = send(WARD, "edoc", edoc_bytes())
    message = db.session.scalar(select(HubMessage))
    (hub.storage_dir() / message.sha256).write_bytes(b"tampered")

    with pytest.raises(RuntimeError, match="does not match"):
        hub.fetch(db.session, org(CITY), answer["message_id"])


# Acknowledgements


def test_ack_done_removes_from_pending(tokens):
    _, answer = send(WARD, "edoc", edoc_bytes())
    message_id = answer["message_id"]

    result = hub.ack(db.session, org(CITY), message_id, "done")
    db.session.commit()

    assert result == {"message_id": message_id, "state": "delivered", "attempts": 0}
    assert hub.list_pending(db.session, org(CITY)) == []
    assert delivery(message_id, CITY).delivered_at is not None


def test_ack_done_twice_is_harmless(tokens):
    _, answer = send(WARD, "edoc", edoc_bytes())
    message_id = answer["message_id"]
    hub.ack(db.session, org(CITY), message_id, "done")
    db.session.commit()
    delivered_at = delivery(message_id, CITY).delivered_at

    result = hub.ack(db.session, org(CITY), message_id, "done")
    db.session.commit()

    assert result["state"] == "delivered"
    assert delivery(message_id, CITY).delivered_at == delivered_at


def test_ack_fail_counts_to_failed(tokens):
    _, answer = send(WARD, "edoc", edoc_bytes())
    message_id = answer["message_id"]

    for attempt in range(1, hub.MAX_FAILED_ATTEMPTS):
        result = hub.ack(db.session, org(CITY), message_id, "fail", f"lỗi {attempt}")
        db.session.commit()
        assert result == {
            "message_id": message_id,
            "state": "pending",
            "attempts": attempt,
        }
        assert len(hub.list_pending(db.session, org(CITY))) == 1

    result = hub.ack(db.session, org(CITY), message_id, "fail", "lỗi cuối")
    db.session.commit()

    assert result["state"] == "failed"
    assert result["attempts"] == hub.MAX_FAILED_ATTEMPTS
    assert hub.list_pending(db.session, org(CITY)) == []
    assert delivery(message_id, CITY).last_error == "lỗi cuối"


def test_ack_fail_after_done_changes_nothing(tokens):
    _, answer = send(WARD, "edoc", edoc_bytes())
    message_id = answer["message_id"]
    hub.ack(db.session, org(CITY), message_id, "done")

    result = hub.ack(db.session, org(CITY), message_id, "fail", "muộn")
    db.session.commit()

    assert result["state"] == "delivered"
    assert result["attempts"] == 0
    assert delivery(message_id, CITY).last_error is None


def test_ack_done_after_failed_delivers(tokens):
    _, answer = send(WARD, "edoc", edoc_bytes())
    message_id = answer["message_id"]
    for _ in range(hub.MAX_FAILED_ATTEMPTS):
        hub.ack(db.session, org(CITY), message_id, "fail", "hỏng")

    result = hub.ack(db.session, org(CITY), message_id, "done")

    assert result["state"] == "delivered"


def test_ack_fail_reason_truncated(tokens):
    _, answer = send(WARD, "edoc", edoc_bytes())

    hub.ack(db.session, org(CITY), answer["message_id"], "fail", "x" * 5000)
    db.session.commit()

    stored = delivery(answer["message_id"], CITY).last_error
    assert len(stored) == hub.MAX_REASON_LENGTH


def test_ack_per_recipient(tokens):
    _, answer = send(WARD, "edoc", edoc_bytes(recipients=(CITY, OTHER_WARD)))

    hub.ack(db.session, org(CITY), answer["message_id"], "done")
    db.session.commit()

    assert hub.list_pending(db.session, org(CITY)) == []
    assert len(hub.list_pending(db.session, org(OTHER_WARD))) == 1


@pytest.mark.parametrize(
    "result, reason", [("ok", None), (None, None), ("fail", 12)], ids=str
)
def test_ack_rejects_bad_body(tokens, result, reason):
    _, answer = send(WARD, "edoc", edoc_bytes())

    with pytest.raises(HubError) as caught:
        hub.ack(db.session, org(CITY), answer["message_id"], result, reason)

    assert (caught.value.status, caught.value.code) == (400, "invalid_request")


@pytest.mark.parametrize("caller", [WARD, OTHER_WARD], ids=["sender", "stranger"])
def test_ack_only_by_recipient(tokens, caller):
    _, answer = send(WARD, "edoc", edoc_bytes())

    with pytest.raises(HubError) as caught:
        hub.ack(db.session, org(caller), answer["message_id"], "done")

    assert caught.value.status == 404


# Delivery reports


def test_deliveries_for_sender(tokens):
    _, answer = send(WARD, "edoc", edoc_bytes(recipients=(CITY, OTHER_WARD)))
    hub.ack(db.session, org(CITY), answer["message_id"], "done")
    hub.ack(db.session, org(OTHER_WARD), answer["message_id"], "fail", "hỏng tệp")
    db.session.commit()

    rows = hub.deliveries(db.session, org(WARD), answer["message_id"])

    assert [row["organ_id"] for row in rows] == [CITY, OTHER_WARD]
    assert rows[0]["state"] == "delivered"
    assert rows[0]["delivered_at"].endswith("Z")
    assert rows[0]["attempts"] == 0
    assert rows[0]["last_error"] is None
    assert rows[1] == {
        "organ_id": OTHER_WARD,
        "state": "pending",
        "delivered_at": None,
        "attempts": 1,
        "last_error": "hỏng tệp",
    }


@pytest.mark.parametrize("caller", [CITY, OTHER_WARD], ids=["recipient", "stranger"])
def test_deliveries_hidden_from_others(tokens, caller):
    _, answer = send(WARD, "edoc", edoc_bytes())

    with pytest.raises(HubError) as caught:
        hub.deliveries(db.session, org(caller), answer["message_id"])

    assert (caught.value.status, caught.value.code) == (404, "not_found")


def test_summaries_count_messages(tokens):
    _, answer = send(WARD, "edoc", edoc_bytes(recipients=(CITY, OTHER_WARD)))
    send(CITY, "status", status_bytes())
    hub.ack(db.session, org(CITY), answer["message_id"], "done")
    db.session.commit()

    summaries = {
        s.organisation.organ_id: s for s in hub.organisation_summaries(db.session)
    }

    assert summaries[WARD].sent == 1
    assert summaries[WARD].received == {"pending": 1, "delivered": 0, "failed": 0}
    assert summaries[CITY].sent == 1
    assert summaries[CITY].received == {"pending": 0, "delivered": 1, "failed": 0}
    assert summaries[CENTER].received == {"pending": 0, "delivered": 0, "failed": 0}


def test_local_hub_names_deactivated_sender(tokens):
    org(WARD).active = False
    db.session.commit()

    with pytest.raises(connector.HubError) as caught:
        local.LocalHub(db.session, WARD).pending("edoc", 10)

    assert caught.value.status == 403
    assert "đã ngừng kết nối" in caught.value.detail
    with pytest.raises(connector.HubError) as unknown:
        local.LocalHub(db.session, "000.99.99.H99").pending("edoc", 10)
    assert "chưa có trong danh bạ" in unknown.value.detail
