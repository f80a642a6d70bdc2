"""A recipient's rejection of a sent document, shown to the sender.

The city sends a revocation that Ba Đình's connector cannot apply, because
the ward's copy no longer carries the DocumentId that the revocation names.
The ward acknowledges the package as failed at each poll until the hub marks
the delivery failed, and the city's connector then stores the rejection, shows
it on the exchange and document pages and notifies the city's clerks. The
hub is served over HTTP on 127.0.0.1, or run inside the installation.
"""

# The fixtures imported from test_connector are parameters of the tests here.
# ruff: noqa: F811

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from vanban.exchange import connector, deliveries, hub
from vanban.extensions import db
from vanban.models import (
    ConnectorSettings,
    DeliveryReport,
    Document,
    Notification,
    User,
)
from vanban.models.hub import HubDelivery, HubMessage
from vanban.services import outbox
from vanban.services.clock import now

from ..scenario import fresh, org
from .test_connector import (  # noqa: F401
    app_config,
    city_issues,
    client_of,
    exchange,
    hub_server,
    outbox_rows,
    received_copies,
    register_at_hub,
    run,
)

REASON = "Không có văn bản"
REJECTED_BADGE = '<span class="badge overdue">Nơi nhận từ chối</span>'


def revoke_unknown_to_ward(login_as, session, ward_id: int, run_ward) -> int:
    """Issue a document, let the ward lose its DocumentId, then revoke it.

    `run_ward` moves the packages waiting for the ward. Return the outgoing
    document's id.
    """
    outgoing_id = city_issues(login_as, "Văn bản thu hồi bị nơi nhận từ chối")
    run_ward()
    (copy,) = received_copies(session, ward_id, outgoing_id)
    copy.exchange_id = "000.01.01.H01,2026/01/01,01/KHAC"
    session.commit()
    response = login_as("thanhpho.vanthu").post(
        f"/changes/{outgoing_id}/revoke", {"revoke-reason": "Ban hành nhầm."}
    )
    assert response.status_code == 303
    return outgoing_id


def revoke_over_http(login_as, session, exchange) -> int:
    """Revoke a document that the ward took in over HTTP and then lost."""
    return revoke_unknown_to_ward(
        login_as,
        session,
        exchange.ward_id,
        lambda: run(session, exchange.ward_settings_id),
    )


def ward_delivery(business_doc_type: int) -> HubDelivery:
    """Return the hub's delivery to Ba Đình of the package of this business type."""
    fresh()
    return db.session.scalar(
        select(HubDelivery)
        .join(HubMessage)
        .where(
            HubMessage.business_doc_type == business_doc_type,
            HubDelivery.recipient_organ_id == org("Ba Đình").code,
        )
    )


def revoke_delivery() -> HubDelivery:
    """Return the hub's delivery of the revocation to Ba Đình."""
    return ward_delivery(1)


def revoke_report(session, outgoing_id: int) -> DeliveryReport | None:
    fresh()
    [row] = [r for r in outbox_rows(session, outgoing_id) if r.business_doc_type == 1]
    return row.delivery_report


def rejection_notifications(session) -> list[Notification]:
    fresh()
    return list(
        session.scalars(
            select(Notification)
            .join(User, User.id == Notification.user_id)
            .where(Notification.kind == "delivery_rejected")
            .order_by(Notification.id)
        )
    )


def backdate_checks(session) -> None:
    for report in session.scalars(select(DeliveryReport)):
        report.checked_at = now() - timedelta(seconds=deliveries.RECHECK_SECONDS + 1)
    session.commit()


def test_http_rejection_shown_to_sender(login_as, session, exchange):
    outgoing_id = revoke_over_http(login_as, session, exchange)
    run(session, exchange.city_settings_id)
    report = revoke_report(session, outgoing_id)
    assert report.state == "pending"
    assert report.attempts == 0

    # The ward's connector rejects the revocation at each poll, and the hub
    # marks the delivery failed at the fifth rejection.
    for _ in range(hub.MAX_FAILED_ATTEMPTS):
        run(session, exchange.ward_settings_id)
    assert revoke_delivery().state == "failed"

    # Checked less than the recheck interval ago: the hub is not queried again.
    run(session, exchange.city_settings_id)
    assert revoke_report(session, outgoing_id).state == "pending"

    backdate_checks(session)
    report_run = run(session, exchange.city_settings_id)
    assert report_run.errors == []
    report = revoke_report(session, outgoing_id)
    assert report.state == "failed"
    assert report.attempts == hub.MAX_FAILED_ATTEMPTS
    assert REASON in report.reason
    [original] = [
        r for r in outbox_rows(session, outgoing_id) if r.business_doc_type == 0
    ]
    assert original.delivery_report.state == "delivered"
    assert original.delivery_report.delivered_at is not None

    clerks = {n.user_id for n in rejection_notifications(session)}
    city_clerks = set(
        session.scalars(
            select(User.id).where(
                User.organisation_id == exchange.city_id,
                User.username == "thanhpho.vanthu",
            )
        )
    )
    assert city_clerks <= clerks
    [notice, *_] = rejection_notifications(session)
    assert notice.document_id == outgoing_id
    assert "Ba Đình" in notice.text
    assert REASON in notice.text

    clerk = login_as("thanhpho.vanthu")
    page = clerk.get("/exchange/").get_data(as_text=True)
    assert REJECTED_BADGE in page
    assert f"Lý do: {report.reason}" in page
    assert "Nơi nhận đã nhận" in page
    rejected = clerk.get("/exchange/?state=rejected").get_data(as_text=True)
    assert f'id="exchange-sent-{report.outbox_message_id}"' in rejected
    assert f'id="exchange-sent-{original.id}"' not in rejected
    document_page = clerk.get(f"/documents/{outgoing_id}").get_data(as_text=True)
    assert REJECTED_BADGE in document_page
    assert report.reason in document_page
    bell_page = clerk.get("/notifications/").get_data(as_text=True)
    assert "Nơi nhận từ chối văn bản" in bell_page

    # A rejection is final: later runs neither query the hub nor notify again.
    count = len(rejection_notifications(session))
    backdate_checks(session)
    run(session, exchange.city_settings_id)
    assert len(rejection_notifications(session)) == count
    assert revoke_report(session, outgoing_id).checked_at < now() - timedelta(
        seconds=deliveries.RECHECK_SECONDS
    )


def test_http_pending_reason_shown(login_as, session, exchange):
    """Before the hub gives up, the page shows the recipient's reason so far."""
    outgoing_id = revoke_over_http(login_as, session, exchange)
    run(session, exchange.ward_settings_id)

    run(session, exchange.city_settings_id)

    report = revoke_report(session, outgoing_id)
    assert report.state == "pending"
    assert report.attempts == 1
    assert rejection_notifications(session) == []
    page = login_as("thanhpho.vanthu").get("/exchange/").get_data(as_text=True)
    assert "Nơi nhận chưa nhận được (đã báo lỗi 1 lần)" in page
    assert REJECTED_BADGE not in page


def test_nothing_pending_no_hub_request(login_as, session, exchange):
    outgoing_id = city_issues(login_as, "Văn bản đã đến nơi")
    run(session, exchange.ward_settings_id)
    run(session, exchange.city_settings_id)
    [row] = outbox_rows(session, outgoing_id)
    assert row.delivery_report.state == "delivered"

    # Every further deliveries request would fail; none is made.
    for _ in range(3):
        exchange.faults.add("GET", "/deliveries", 500)
    report = run(session, exchange.city_settings_id)

    assert report.errors == []
    assert deliveries.due_message_ids(session, exchange.city_id, now()) == []


def test_hub_404_keeps_reports(login_as, session, exchange):
    register_at_hub(session, org("Ngọc Hà"), org("UBND Thành phố"))
    session.commit()
    outgoing_id = city_issues(
        login_as, "Văn bản gửi hai nơi", recipients=("Ba Đình", "Ngọc Hà")
    )
    run(session, exchange.ward_settings_id)
    run(session, exchange.city_settings_id)
    states = {
        r.recipient_organisation_id: r.delivery_report.state
        for r in outbox_rows(session, outgoing_id)
    }
    assert states[exchange.ward_id] == "delivered"
    assert states[org("Ngọc Hà").id] == "pending"

    backdate_checks(session)
    exchange.faults.add("GET", "/deliveries", 404)
    report = run(session, exchange.city_settings_id)

    assert len(report.errors) == 1
    assert "404" in report.errors[0]
    rows = outbox_rows(session, outgoing_id)
    states = {r.recipient_organisation_id: r.delivery_report.state for r in rows}
    assert states[exchange.ward_id] == "delivered"
    assert states[org("Ngọc Hà").id] == "pending"
    for row in rows:
        assert row.delivery_report.checked_at > now() - timedelta(minutes=1)


def test_old_messages_not_checked(login_as, session, exchange):
    outgoing_id = city_issues(login_as, "Văn bản gửi đã lâu")
    [row] = outbox_rows(session, outgoing_id)
    row.sent_at = now() - deliveries.MAX_AGE - timedelta(days=1)
    session.commit()

    run(session, exchange.city_settings_id)

    [row] = outbox_rows(session, outgoing_id)
    assert row.delivery_report is None


@pytest.fixture
def local_exchange(app, session, exchange):
    """Turn the connectors off, so both go through the installation's own hub."""
    fresh()
    for settings_id in (exchange.city_settings_id, exchange.ward_settings_id):
        session.get(ConnectorSettings, settings_id).enabled = False
    session.commit()
    app.config["CONNECTOR_DELIVERY_RECHECK_SECONDS"] = 0
    return exchange


def deliver_until_failed(session, delivery) -> None:
    """Run the installation's exchange until the hub marks `delivery()` failed.

    A last run stores the rejection at the sender.
    """
    for _ in range(hub.MAX_FAILED_ATTEMPTS):
        if delivery().state == "failed":
            break
        outbox.deliver_pending(session)
        fresh()
    assert delivery().state == "failed"
    outbox.deliver_pending(session)


def test_local_hub_rejection_shown_to_sender(login_as, session, local_exchange):
    outgoing_id = revoke_unknown_to_ward(
        login_as, session, local_exchange.ward_id, lambda: None
    )
    deliver_until_failed(session, revoke_delivery)

    report = revoke_report(session, outgoing_id)
    assert report.state == "failed"
    assert REASON in report.reason
    [notice] = [
        n
        for n in rejection_notifications(session)
        if n.user.username == "thanhpho.vanthu"
    ]
    assert notice.document_id == outgoing_id
    page = login_as("thanhpho.vanthu").get(f"/documents/{outgoing_id}")
    assert REJECTED_BADGE in page.get_data(as_text=True)
    assert (
        session.scalar(
            select(func.count())
            .select_from(DeliveryReport)
            .where(DeliveryReport.state == "failed")
        )
        == 1
    )


def test_step_runs_in_poll_runs_only(session, exchange):
    fresh()
    settings = session.get(ConnectorSettings, exchange.city_settings_id)
    started = now()

    assert deliveries.check_deliveries not in connector._steps(
        settings, False, started, connector.ConnectorConfig()
    )
    assert deliveries.check_deliveries in connector._steps(
        settings, True, started, connector.ConnectorConfig()
    )


def replace_unknown_to_ward(login_as, session, ward_id: int) -> tuple[int, int]:
    """Issue a document, let the ward lose its DocumentId, then replace it.

    Return the ids of the replaced and the replacement document.
    """
    old_id = city_issues(login_as, "Văn bản bị thay thế")
    new_id = city_issues(login_as, "Văn bản thay thế")
    (copy,) = received_copies(session, ward_id, old_id)
    copy.exchange_id = "000.01.01.H01,2026/01/01,01/KHAC"
    session.commit()
    response = login_as("thanhpho.vanthu").post(
        f"/changes/{old_id}/replace",
        {
            "replace-replacement": session.get(Document, new_id).number_and_notation,
            "replace-reason": "Ban hành lại.",
        },
    )
    assert response.status_code == 303
    return old_id, new_id


def replacement_delivery() -> HubDelivery:
    fresh()
    return db.session.scalar(
        select(HubDelivery).join(HubMessage).where(HubMessage.business_doc_type == 3)
    )


def test_local_replacement_rejection_on_replaced(login_as, session, local_exchange):
    old_id, new_id = replace_unknown_to_ward(login_as, session, local_exchange.ward_id)
    deliver_until_failed(session, replacement_delivery)
    fresh()
    old = session.get(Document, old_id)
    old_number = old.number_and_notation
    new_number = session.get(Document, new_id).number_and_notation
    [row] = [r for r in outbox_rows(session, new_id) if r.business_doc_type == 3]
    report = row.delivery_report
    assert report.state == "failed"

    # The receiver names the replaced document and the sender, not raw codes.
    city_name = org("UBND Thành phố").name
    assert f"Không có văn bản số {old_number} ngày " in report.reason
    assert f"của {city_name} tại đơn vị nhận để thay thế" in report.reason
    assert f"(mã văn bản liên thông: {old.exchange_id})" in report.reason

    [notice] = [
        n
        for n in rejection_notifications(session)
        if n.user.username == "thanhpho.vanthu"
    ]
    assert notice.document_id == old_id
    assert f"Nơi nhận từ chối văn bản số {old_number}" in notice.text
    assert f"gói thay thế bằng văn bản số {new_number}" in notice.text

    clerk = login_as("thanhpho.vanthu")
    old_page = clerk.get(f"/documents/{old_id}").get_data(as_text=True)
    assert REJECTED_BADGE in old_page
    assert f"Gói thay thế bằng văn bản số {new_number}:" in old_page
    # The first sending's delivery stays on its own line.
    assert "Nơi nhận đã nhận" in old_page
    new_page = clerk.get(f"/documents/{new_id}").get_data(as_text=True)
    assert f"Gói thay thế văn bản số {old_number}:" in new_page

    rejected = clerk.get("/exchange/?state=rejected").get_data(as_text=True)
    assert f'id="exchange-sent-{row.id}"' in rejected
    assert f'href="/documents/{old_id}"' in rejected
    assert "Gói thay thế văn bản <a" in rejected


def test_local_change_keeps_first_delivery(login_as, session, local_exchange):
    outgoing_id = city_issues(login_as, "Văn bản được cập nhật")
    outbox.deliver_pending(session)
    fresh()
    [first] = outbox_rows(session, outgoing_id)
    assert first.delivery_report.state == "delivered"
    response = login_as("thanhpho.vanthu").post(
        f"/changes/{outgoing_id}/update",
        {"update-subject": "Văn bản đã cập nhật", "update-reason": "Sửa trích yếu."},
    )
    assert response.status_code == 303
    outbox.deliver_pending(session)
    fresh()

    rows = outbox_rows(session, outgoing_id)
    assert [r.business_doc_type for r in rows] == [0, 2]
    assert all(r.delivery_report.state == "delivered" for r in rows)
    page = login_as("thanhpho.vanthu").get(f"/documents/{outgoing_id}")
    text = page.get_data(as_text=True)
    assert text.count("Nơi nhận đã nhận") == 2
    assert "Gói cập nhật:" in text


# Which sent messages a run checks when more are due than it may request.


def fail_at_ward(exchange, message_id: str, times: int) -> None:
    """Let Ba Đình's connector acknowledge one package as failed `times` times."""
    client = client_of(exchange, exchange.ward_id)
    try:
        for _ in range(times):
            client.ack(message_id, "fail", REASON)
    finally:
        client.close()


def set_checked_at(session, outgoing_id: int, seconds_ago: int) -> None:
    for row in outbox_rows(session, outgoing_id):
        row.delivery_report.checked_at = now() - timedelta(seconds=seconds_ago)
    session.commit()


def sending_report(session, outgoing_id: int) -> DeliveryReport | None:
    """Return the report of a document's one outbox row (a first sending)."""
    [row] = outbox_rows(session, outgoing_id)
    return row.delivery_report


def test_rejection_checked_before_answered(login_as, session, exchange, monkeypatch):
    """Messages whose recipients reported a status wait behind the others."""
    monkeypatch.setattr(deliveries, "BATCH_SIZE", 2)
    answered_ids = [city_issues(login_as, f"Văn bản đã đến {n}") for n in range(2)]
    rejected_id = city_issues(login_as, "Văn bản bị nơi nhận từ chối")
    [rejected] = outbox_rows(session, rejected_id)
    fail_at_ward(exchange, rejected.message_id, hub.MAX_FAILED_ATTEMPTS)
    # Ba Đình takes in the other two and sends status 01 for each.
    assert run(session, exchange.ward_settings_id).documents_received == 2

    report = run(session, exchange.city_settings_id)

    assert report.statuses_applied == 2
    assert report.errors == []
    assert sending_report(session, rejected_id).state == "failed"
    checked = [outbox_rows(session, i)[0].delivery_report for i in answered_ids]
    assert sum(report is not None for report in checked) == 1
    assert len(rejection_notifications(session)) >= 1


def test_failing_recipient_checked_first(login_as, session, exchange, monkeypatch):
    """A message the recipient failed to take in goes before less recent checks."""
    register_at_hub(session, org("Ngọc Hà"), org("UBND Thành phố"))
    # Ngọc Hà has no connector and no active account here, so this
    # installation leaves its copies pending at the hub.
    session.execute(
        update(User)
        .where(User.organisation_id == org("Ngọc Hà").id)
        .values(active=False)
    )
    session.commit()
    silent_ids = [
        city_issues(login_as, f"Văn bản chờ nơi nhận {n}", recipients=("Ngọc Hà",))
        for n in range(2)
    ]
    rejected_id = city_issues(login_as, "Văn bản nơi nhận báo lỗi")
    [rejected] = outbox_rows(session, rejected_id)
    fail_at_ward(exchange, rejected.message_id, 1)
    run(session, exchange.city_settings_id)
    assert sending_report(session, rejected_id).attempts == 1
    fail_at_ward(exchange, rejected.message_id, hub.MAX_FAILED_ATTEMPTS - 1)
    # The silent messages were checked longer ago than the failing one.
    for outgoing_id in silent_ids:
        set_checked_at(session, outgoing_id, 1000)
    set_checked_at(session, rejected_id, deliveries.RECHECK_SECONDS + 100)
    monkeypatch.setattr(deliveries, "BATCH_SIZE", 2)
    due = deliveries.due_message_ids(session, exchange.city_id, now())
    assert due[0] == rejected.message_id
    assert len(due) == 2

    run(session, exchange.city_settings_id)

    assert sending_report(session, rejected_id).state == "failed"
