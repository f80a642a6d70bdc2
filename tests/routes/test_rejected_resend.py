"""A new copy for the one recipient that rejected a sent document.

The hub takes a package with the same sender, DocumentId and business type
for a resend and queues nothing, so "Gửi lại" on a rejected row sends a new
outbox row whose DocumentId ends in "#r<row id>" to that recipient only. The
hub is served over HTTP on 127.0.0.1, or run inside the installation.
"""

# The fixtures imported from test_connector are parameters of the tests here.
# ruff: noqa: F811

from datetime import timedelta

import pytest
from sqlalchemy import select

from vanban.exchange import deliveries, hub, mapping
from vanban.extensions import db
from vanban.models import AuditEvent, Document, OutboxMessage
from vanban.models.hub import HubMessage
from vanban.services import Conflict, outbox
from vanban.services.clock import now

from ..processes import free_port
from ..scenario import fresh, org
from .test_connector import (  # noqa: F401
    app_config,
    city_issues,
    client_of,
    exchange,
    hub_server,
    outbox_rows,
    received_copies,
    recipient_row,
    register_at_hub,
    run,
    set_hub_url,
)
from .test_delivery_reports import (  # noqa: F401
    REJECTED_BADGE,
    backdate_checks,
    deliver_until_failed,
    local_exchange,
    revoke_delivery,
    revoke_over_http,
    revoke_unknown_to_ward,
    ward_delivery,
)

# The DocumentId that revoke_unknown_to_ward gives the ward's copy.
LOST_ID = "000.01.01.H01,2026/01/01,01/KHAC"
FAIL_REASON = "Không lưu được tệp đính kèm"


def rejected_revocation(login_as, session, exchange) -> OutboxMessage:
    """Let Ba Đình reject a revocation over HTTP and return the city's outbox row."""
    outgoing_id = revoke_over_http(login_as, session, exchange)
    run(session, exchange.city_settings_id)
    for _ in range(hub.MAX_FAILED_ATTEMPTS):
        run(session, exchange.ward_settings_id)
    backdate_checks(session)
    run(session, exchange.city_settings_id)
    [row] = [r for r in outbox_rows(session, outgoing_id) if r.business_doc_type == 1]
    assert row.delivery_report.state == "failed"
    return row


def restore_ward_copy(session, ward_id: int, outgoing_id: int) -> Document:
    """Give the ward's copy its DocumentId back: the cause of the rejection."""
    fresh()
    copy = session.scalar(
        select(Document).where(
            Document.organisation_id == ward_id,
            Document.exchange_id == LOST_ID,
        )
    )
    copy.exchange_id = session.get(Document, outgoing_id).exchange_id
    session.commit()
    return copy


def copies_of(session, row: OutboxMessage) -> list[OutboxMessage]:
    fresh()
    return list(
        session.scalars(
            select(OutboxMessage)
            .where(
                OutboxMessage.document_id == row.document_id,
                OutboxMessage.business_doc_type == row.business_doc_type,
                OutboxMessage.id > row.id,
            )
            .order_by(OutboxMessage.id)
        )
    )


def hub_message(message_id: str) -> HubMessage:
    fresh()
    return db.session.scalar(
        select(HubMessage).where(HubMessage.message_id == message_id)
    )


def resend_url(row: OutboxMessage) -> str:
    return f"/exchange/{row.id}/resend-copy"


# Service.


def reject_at_ward(session, exchange) -> None:
    """Let Ba Đình's connector acknowledge its one pending document as failed
    until the hub gives up, and let the city's connector record the rejection."""
    client = client_of(exchange, exchange.ward_id)
    try:
        for _ in range(hub.MAX_FAILED_ATTEMPTS):
            [pending] = client.pending("edoc", 10)
            client.ack(pending["message_id"], "fail", FAIL_REASON)
    finally:
        client.close()
    fresh()
    backdate_checks(session)
    run(session, exchange.city_settings_id)


def fail_first_sending(session, exchange, outgoing_id: int) -> OutboxMessage:
    """Let Ba Đình reject the document and return Ba Đình's outbox row."""
    reject_at_ward(session, exchange)
    [row] = [
        r
        for r in outbox_rows(session, outgoing_id)
        if r.recipient_organisation_id == exchange.ward_id
    ]
    assert row.delivery_report.state == "failed"
    return row


def test_copy_reaches_only_rejecting_recipient(login_as, session, exchange):
    register_at_hub(session, org("Ngọc Hà"), org("UBND Thành phố"))
    session.commit()
    outgoing_id = city_issues(
        login_as, "Văn bản gửi lại một nơi", recipients=("Ba Đình", "Ngọc Hà")
    )
    run(session, exchange.city_settings_id)
    rejected = fail_first_sending(session, exchange, outgoing_id)
    assert received_copies(session, exchange.ward_id, outgoing_id) == []

    copy = outbox.resend_rejected(session, rejected)
    session.commit()
    sent = outbox.send_copy(session, copy.id)

    assert sent is True
    fresh()
    copy = session.get(OutboxMessage, copy.id)
    outgoing = session.get(Document, outgoing_id)
    assert copy.exchange_id == f"{outgoing.exchange_id}#r{copy.id}"
    assert copy.state == "sent"
    assert copy.recipient_organisation_id == exchange.ward_id
    assert copy.message_id != rejected.message_id
    message = hub_message(copy.message_id)
    assert message.document_id == copy.exchange_id
    assert [d.recipient_organ_id for d in message.deliveries] == [org("Ba Đình").code]

    run(session, exchange.ward_settings_id)
    fresh()
    received = session.scalars(
        select(Document).where(
            Document.organisation_id == exchange.ward_id,
            Document.exchange_id == copy.exchange_id,
        )
    ).all()
    assert len(received) == 1
    assert received[0].subject == "Văn bản gửi lại một nơi"
    assert len(received[0].attachments) == 1

    backdate_checks(session)
    run(session, exchange.city_settings_id)
    fresh()
    assert session.get(OutboxMessage, copy.id).delivery_report.state == "delivered"
    assert deliveries.rejections(session, session.get(Document, outgoing_id)) == []


def copy_received_by_ward(login_as, session, exchange, subject: str, secrecy=0):
    """Let Ba Đình reject a document, the city send a copy and Ba Đình take it in.

    Return the outgoing document's id and Ba Đình's document for the copy.
    """
    outgoing_id = city_issues(login_as, subject, secrecy=secrecy)
    run(session, exchange.city_settings_id)
    rejected = fail_first_sending(session, exchange, outgoing_id)
    copy = outbox.resend_rejected(session, rejected)
    session.commit()
    assert outbox.send_copy(session, copy.id) is True
    run(session, exchange.ward_settings_id)
    fresh()
    copy = session.get(OutboxMessage, copy.id)
    received = session.scalar(
        select(Document).where(
            Document.organisation_id == exchange.ward_id,
            Document.exchange_id == copy.exchange_id,
        )
    )
    assert received is not None
    return outgoing_id, received


def test_copy_statuses_reach_the_document(login_as, session, exchange):
    outgoing_id, _ = copy_received_by_ward(
        login_as, session, exchange, "Trạng thái của bản gửi lại"
    )

    report = run(session, exchange.city_settings_id)

    assert report.statuses_applied == 1
    assert report.statuses_unknown == 0
    assert recipient_row(session, outgoing_id, exchange.ward_id).status_code == "01"


def test_revocation_finds_the_copy(login_as, session, exchange):
    outgoing_id, received = copy_received_by_ward(
        login_as, session, exchange, "Bản gửi lại bị thu hồi"
    )

    response = login_as("thanhpho.vanthu").post(
        f"/changes/{outgoing_id}/revoke", {"revoke-reason": "Ban hành nhầm."}
    )
    assert response.status_code == 303
    run(session, exchange.city_settings_id)
    run(session, exchange.ward_settings_id)
    run(session, exchange.city_settings_id)

    fresh()
    assert session.get(Document, received.id).state == "revoked"
    assert recipient_row(session, outgoing_id, exchange.ward_id).status_code == "15"


def test_copy_linked_to_sender_document(login_as, session, exchange):
    """Both organisations are hosted here, so the copy links to the city's record."""
    outgoing_id, received = copy_received_by_ward(
        login_as, session, exchange, "Bản gửi lại văn bản mật", secrecy=1
    )

    assert received.source_document_id == outgoing_id
    # Secrecy does not travel in edXML, so the copy takes it from the link.
    assert received.secrecy == 1
    recipient = recipient_row(session, outgoing_id, exchange.ward_id)
    assert recipient.incoming_document_id == received.id


def test_copy_same_bytes_when_pushed_again(login_as, session, exchange):
    outgoing_id = city_issues(login_as, "Văn bản gửi lại hai lần")
    run(session, exchange.city_settings_id)
    rejected = fail_first_sending(session, exchange, outgoing_id)
    copy = outbox.resend_rejected(session, rejected)
    session.commit()
    assert outbox.send_copy(session, copy.id) is True
    first = session.get(OutboxMessage, copy.id).message_id

    # A request that ended before recording the hub's response pushes again.
    assert outbox.send_copy(session, copy.id) is True

    fresh()
    assert session.get(OutboxMessage, copy.id).message_id == first
    assert len(hub_message(first).deliveries) == 1


def test_second_copy_rejected_until_copy_rejected(login_as, session, exchange):
    outgoing_id = city_issues(login_as, "Văn bản chỉ gửi lại một lần")
    run(session, exchange.city_settings_id)
    rejected = fail_first_sending(session, exchange, outgoing_id)
    outbox.resend_rejected(session, rejected)
    session.commit()

    with pytest.raises(Conflict):
        outbox.resend_rejected(session, session.get(OutboxMessage, rejected.id))


def test_rejected_copy_gets_a_new_copy(login_as, session, exchange):
    outgoing_id = city_issues(login_as, "Bản gửi lại cũng bị từ chối")
    run(session, exchange.city_settings_id)
    rejected = fail_first_sending(session, exchange, outgoing_id)
    first = outbox.resend_rejected(session, rejected)
    session.commit()
    assert outbox.send_copy(session, first.id) is True
    reject_at_ward(session, exchange)
    fresh()
    first = session.get(OutboxMessage, first.id)
    assert first.delivery_report.state == "failed"

    second = outbox.resend_rejected(session, first)
    session.commit()
    assert outbox.send_copy(session, second.id) is True
    run(session, exchange.ward_settings_id)

    fresh()
    second = session.get(OutboxMessage, second.id)
    assert second.exchange_id.endswith(f"#r{second.id}")
    outgoing = session.get(Document, outgoing_id)
    received = session.scalars(
        select(Document).where(
            Document.organisation_id == exchange.ward_id,
            Document.exchange_id.startswith(outgoing.exchange_id),
        )
    ).all()
    assert [document.exchange_id for document in received] == [second.exchange_id]


def test_revoked_document_not_copied(login_as, session, exchange):
    outgoing_id = city_issues(login_as, "Văn bản bị từ chối rồi thu hồi")
    run(session, exchange.city_settings_id)
    rejected = fail_first_sending(session, exchange, outgoing_id)
    response = login_as("thanhpho.vanthu").post(
        f"/changes/{outgoing_id}/revoke", {"revoke-reason": "Ban hành nhầm."}
    )
    assert response.status_code == 303
    fresh()
    rejected = session.get(OutboxMessage, rejected.id)

    assert deliveries.can_send_copy(session, rejected) is False
    with pytest.raises(Conflict, match="thu hồi"):
        outbox.resend_rejected(session, rejected)
    page = login_as("thanhpho.vanthu").post(resend_url(rejected), htmx=True)
    assert page.status_code == 409
    assert copies_of(session, rejected) == []


def test_delivered_row_not_copied(login_as, session, exchange):
    outgoing_id = city_issues(login_as, "Văn bản đã đến")
    run(session, exchange.ward_settings_id)
    run(session, exchange.city_settings_id)
    [row] = outbox_rows(session, outgoing_id)
    assert row.delivery_report.state == "delivered"

    with pytest.raises(Conflict):
        outbox.resend_rejected(session, row)
    assert copies_of(session, row) == []


# Routes.


def test_route_resends_revocation_over_http(login_as, session, exchange):
    row = rejected_revocation(login_as, session, exchange)
    ward_copy = restore_ward_copy(session, exchange.ward_id, row.document_id)
    clerk = login_as("thanhpho.vanthu")
    page = clerk.get("/exchange/?state=rejected").get_data(as_text=True)
    assert f'hx-post="{resend_url(row)}"' in page
    assert "hx-confirm=" in page

    response = clerk.post(resend_url(row), htmx=True)

    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert text.lstrip().startswith(f'<tr id="exchange-sent-{row.id}"')
    [copy] = copies_of(session, row)
    assert copy.state == "sent"
    assert "Đã gửi bản mới của văn bản lên trục liên thông" in text
    assert copy.exchange_id in text
    assert f'hx-post="{resend_url(row)}"' not in text
    # The counts above the list follow: nothing is left rejected.
    counts = text[text.index('id="exchange-counts"') :]
    assert 'hx-swap-oob="true"' in counts
    assert "Nơi nhận từ chối" not in counts
    assert "Đã gửi" in counts
    audit = session.scalar(
        select(AuditEvent).where(AuditEvent.action == "outbox_copy_sent")
    )
    assert audit.detail["copy_message_id"] == copy.id
    assert audit.detail["after"] == {
        "recipient": org("Ba Đình").name,
        "exchange_id": copy.exchange_id,
    }

    # The ward's connector takes the revocation in under the new DocumentId.
    run(session, exchange.ward_settings_id)
    fresh()
    assert session.get(Document, ward_copy.id).state == "revoked"
    backdate_checks(session)
    run(session, exchange.city_settings_id)
    fresh()
    assert session.get(OutboxMessage, copy.id).delivery_report.state == "delivered"
    rejected = clerk.get("/exchange/?state=rejected").get_data(as_text=True)
    assert f'id="exchange-sent-{row.id}"' not in rejected
    document_page = clerk.get(f"/documents/{row.document_id}").get_data(as_text=True)
    assert "Gói thu hồi (bản gửi lại):" in document_page
    assert REJECTED_BADGE not in document_page


def test_route_full_page_redirects(login_as, session, exchange):
    row = rejected_revocation(login_as, session, exchange)
    clerk = login_as("thanhpho.vanthu")

    response = clerk.post(resend_url(row))

    assert response.status_code == 303
    assert response.headers["Location"].endswith("/exchange/")
    page = clerk.get("/exchange/").get_data(as_text=True)
    assert "Đã gửi bản mới của văn bản lên trục liên thông" in page


@pytest.mark.parametrize(
    ("username", "status"),
    [
        ("badinh.vanthu", 404),
        ("badinh.quantri", 404),
        # An admin may not read the city's documents, so sends none of them.
        ("thanhpho.quantri", 403),
        ("tttt.huongdan", 403),
    ],
)
def test_route_permissions(login_as, session, exchange, username, status):
    row = rejected_revocation(login_as, session, exchange)

    response = login_as(username).post(resend_url(row), htmx=True)

    assert response.status_code == status
    if status != 200:
        assert copies_of(session, row) == []
    if status == 403:
        assert "Bạn không có quyền" in response.get_data(as_text=True)
    if status == 404:
        assert "Không tìm thấy" in response.get_data(as_text=True)


def test_route_needs_csrf(login_as, session, exchange):
    row = rejected_revocation(login_as, session, exchange)

    response = login_as("thanhpho.vanthu").post(resend_url(row), csrf=False)

    assert response.status_code == 400
    assert copies_of(session, row) == []


def test_route_conflicts(login_as, session, exchange):
    row = rejected_revocation(login_as, session, exchange)
    clerk = login_as("thanhpho.vanthu")
    assert clerk.post(resend_url(row), htmx=True).status_code == 200

    again = clerk.post(resend_url(row), htmx=True)

    assert again.status_code == 409
    assert "đã được gửi lại bằng một bản mới" in again.get_data(as_text=True)
    [copy] = copies_of(session, row)
    sent_copy = clerk.post(resend_url(copy), htmx=True)
    assert sent_copy.status_code == 409
    assert "nơi nhận đã từ chối" in sent_copy.get_data(as_text=True)
    assert len(copies_of(session, row)) == 1


def test_unreachable_hub_copy_sent_later(login_as, session, exchange):
    row = rejected_revocation(login_as, session, exchange)
    set_hub_url(
        session, exchange.city_settings_id, f"http://127.0.0.1:{free_port()}/api"
    )
    clerk = login_as("thanhpho.vanthu")

    response = clerk.post(resend_url(row), htmx=True)

    assert response.status_code == 200
    assert "Chưa gửi được bản mới" in response.get_data(as_text=True)
    [copy] = copies_of(session, row)
    assert copy.state == "failed"
    assert copy.message_id is None
    # The connector's push leaves the copy alone, so it never goes out under
    # the document's own DocumentId.
    set_hub_url(session, exchange.city_settings_id, exchange.url)
    run(session, exchange.city_settings_id)
    assert copies_of(session, row)[0].state == "failed"
    page = clerk.get("/exchange/").get_data(as_text=True)
    assert f'hx-post="{resend_url(copy)}"' in page

    # The older "Gửi lại" of failed rows sends the copy too, and never requeues it.
    retried = clerk.post(f"/exchange/{copy.id}/resend", htmx=True)

    assert retried.status_code == 200
    [copy] = copies_of(session, row)
    assert copy.state == "sent"
    assert hub_message(copy.message_id).document_id == copy.exchange_id


def test_local_hub_copy_taken_in_at_once(login_as, session, local_exchange):
    outgoing_id = revoke_unknown_to_ward(
        login_as, session, local_exchange.ward_id, lambda: None
    )
    deliver_until_failed(session, revoke_delivery)
    [row] = [r for r in outbox_rows(session, outgoing_id) if r.business_doc_type == 1]
    assert row.delivery_report.state == "failed"
    ward_copy = restore_ward_copy(session, local_exchange.ward_id, outgoing_id)

    response = login_as("thanhpho.vanthu").post(resend_url(row), htmx=True)

    assert response.status_code == 200
    fresh()
    assert session.get(Document, ward_copy.id).state == "revoked"
    [copy] = copies_of(session, row)
    assert copy.state == "sent"
    assert copy.sent_at > now() - timedelta(minutes=1)


def test_local_hub_copy_linked(login_as, session, local_exchange, monkeypatch):
    """A copy taken in through the installation's own hub links to the city's record."""

    def reject_files(package):
        raise mapping.IntakeError("attachments not stored", FAIL_REASON)

    monkeypatch.setattr(mapping, "store_files", reject_files)
    outgoing_id = city_issues(login_as, "Bản gửi lại trong một cài đặt", secrecy=1)
    deliver_until_failed(session, lambda: ward_delivery(0))
    [row] = outbox_rows(session, outgoing_id)
    assert row.delivery_report.state == "failed"
    monkeypatch.undo()

    response = login_as("thanhpho.vanthu").post(resend_url(row), htmx=True)

    assert response.status_code == 200
    [copy] = copies_of(session, row)
    assert copy.state == "sent"
    received = session.scalar(
        select(Document).where(
            Document.organisation_id == local_exchange.ward_id,
            Document.exchange_id == copy.exchange_id,
        )
    )
    assert received is not None
    assert received.source_document_id == outgoing_id
    assert received.secrecy == 1
    recipient = recipient_row(session, outgoing_id, local_exchange.ward_id)
    assert recipient.incoming_document_id == received.id
