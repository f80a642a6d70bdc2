"""Forwarding an incoming document: the audit row names the chosen advisor."""

import html

import pytest
from sqlalchemy import select

from tests.roster import document_in_state, load_ward, ward_username
from tests.scenario import fresh
from vanban.models import AuditEvent, Document, Notification
from vanban.services import ServiceError, incoming


@pytest.fixture
def ward(session):
    return load_ward(session)


def _registered(session, ward, **fields) -> Document:
    values = {"holder_id": None, "author_id": None, "department_id": None}
    values.update(fields)
    document = document_in_state(ward, session, "incoming", "registered", **values)
    session.add(document)
    session.commit()
    return document


def _forward_event(session, document: Document) -> AuditEvent:
    return session.scalar(
        select(AuditEvent)
        .where(AuditEvent.document_id == document.id, AuditEvent.action == "forward")
        .order_by(AuditEvent.id.desc())
    )


def test_named_advisor_in_audit_row(session, ward, login_as):
    advisor = ward.users["advisor"]
    document = _registered(session, ward)
    clerk = login_as(ward_username("clerk"))

    response = clerk.post(
        f"/inbox/{document.id}/forward", {"note": "", "advisor": str(advisor.id)}
    )

    assert response.status_code == 303
    fresh()
    event = _forward_event(session, document)
    assert event.detail["before"] == "registered"
    assert event.detail["after"]["state"] == "with_advisor"
    assert event.detail["after"]["advisor_id"] == advisor.id
    assert session.get(Document, document.id).holder_id == advisor.id


def test_whole_unit_audit_row_unchanged(session, ward, login_as):
    document = _registered(session, ward)
    clerk = login_as(ward_username("clerk"))

    response = clerk.post(f"/inbox/{document.id}/forward", {"note": "", "advisor": ""})

    assert response.status_code == 303
    fresh()
    event = _forward_event(session, document)
    assert event.detail["after"] == "with_advisor"
    assert session.get(Document, document.id).holder_id is None


def test_audit_page_labels_advisor(session, ward, login_as):
    advisor = ward.users["advisor"]
    document = _registered(session, ward)
    clerk = login_as(ward_username("clerk"))
    clerk.post(
        f"/inbox/{document.id}/forward", {"note": "", "advisor": str(advisor.id)}
    )
    admin = login_as(ward_username("admin"))

    response = admin.get("/admin/audit?action=forward")

    assert response.status_code == 200
    page = html.unescape(response.get_data(as_text=True))
    assert f"<dt>Người tham mưu (mã số)</dt><dd>{advisor.id}</dd>" in page
    named = f"<dt>Người tham mưu</dt><dd>{advisor.full_name} ({advisor.username})</dd>"
    assert named in page
    assert "<dt>Trạng thái</dt><dd>Chờ đề xuất xử lý</dd>" in page
    assert "advisor_id" not in page


def test_named_uncleared_advisor_notified_of_secret(session, ward, login_as):
    advisor = ward.users["advisor"]
    assert not advisor.secret_clearance
    document = _registered(session, ward, secrecy=1, subject="Văn bản mật chờ tham mưu")
    clerk = login_as(ward_username("clerk"))

    response = clerk.post(
        f"/inbox/{document.id}/forward", {"note": "", "advisor": str(advisor.id)}
    )

    assert response.status_code == 303
    fresh()
    notified = session.scalars(
        select(Notification.kind).where(
            Notification.user_id == advisor.id,
            Notification.document_id == document.id,
        )
    )
    assert list(notified) == ["awaiting_proposal"]


@pytest.mark.parametrize("case", ["other_ward", "not_advisor", "inactive"])
def test_service_rejects_invalid_advisor(session, ward, case):
    document = _registered(session, ward)
    if case == "other_ward":
        chosen = load_ward(session, "ngocha").users["advisor"]
    elif case == "not_advisor":
        chosen = ward.users["officer"]
    else:
        chosen = ward.users["advisor"]
        chosen.active = False
        session.flush()

    with pytest.raises(ServiceError) as raised:
        incoming.forward_to_advisor(
            session, ward.users["clerk"], document, "", advisor_id=chosen.id
        )

    assert raised.value.field == "advisor"
