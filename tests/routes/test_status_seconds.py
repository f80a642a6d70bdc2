"""Two statuses of one document queued in the same second both reach the hub.

The hub takes a status package with the same sender, ResponseFor/DocumentId,
StatusCode and Timestamp (to the second) for a resend, so the ward's two
statuses 15 (an update and a revocation taken in by one poll) must carry
different Timestamps.
"""

from sqlalchemy import select

from vanban.exchange import connector
from vanban.exchange.edxml import parse_package
from vanban.models import OutboxMessage, RecipientStatus
from vanban.models.hub import HubMessage

from ..scenario import fresh, reload
from . import test_connector
from .test_connector import city_issues, make_due, outbox_rows, received_copies

# The connector tests' hub served over HTTP, with the city and Ba Đình connected.
app_config = test_connector.app_config
hub_server = test_connector.hub_server
exchange = test_connector.exchange

WARD_CLERK = "badinh.vanthu"


def update_and_revoke(login_as, session, exchange, hub_down=False) -> tuple[int, int]:
    """Issue, then update and revoke; the ward takes both changes in one poll.

    With `hub_down` the hub responds to the ward's pushes of the two statuses 15
    with 503. Return the city's outgoing document and the ward's copy.
    """
    outgoing_id = city_issues(login_as, "Văn bản sửa rồi thu hồi")
    connector.run_cycle(session, exchange.city_settings_id)
    connector.run_cycle(session, exchange.ward_settings_id)
    (copy,) = received_copies(session, exchange.ward_id, outgoing_id)

    clerk = login_as("thanhpho.vanthu")
    response = clerk.post(
        f"/changes/{outgoing_id}/update",
        {"update-subject": "Văn bản sửa rồi thu hồi (sửa)", "update-reason": "Sửa."},
    )
    assert response.status_code == 303
    response = clerk.post(
        f"/changes/{outgoing_id}/revoke", {"revoke-reason": "Ban hành nhầm."}
    )
    assert response.status_code == 303
    connector.run_cycle(session, exchange.city_settings_id)
    if hub_down:
        exchange.faults.add("POST", "/messages", 503)
        exchange.faults.add("POST", "/messages", 503)
    connector.run_cycle(session, exchange.ward_settings_id)
    return outgoing_id, copy.id


def statuses_15(session, copy_id: int) -> list[OutboxMessage]:
    return [
        row
        for row in outbox_rows(session, copy_id, "status")
        if row.status_code == "15"
    ]


def city_history_15(session, outgoing_id: int, ward_id: int) -> list[RecipientStatus]:
    outgoing = reload(outgoing_id)
    [recipient] = [r for r in outgoing.recipients if r.organisation_id == ward_id]
    return [row for row in recipient.history if row.status_code == "15"]


def test_two_statuses_same_second_both_sent(login_as, session, exchange):
    outgoing_id, copy_id = update_and_revoke(login_as, session, exchange)
    connector.run_cycle(session, exchange.ward_settings_id)

    rows = statuses_15(session, copy_id)
    assert len(rows) == 2
    assert [row.state for row in rows] == ["sent", "sent"], [
        row.error_detail for row in rows
    ]
    seconds = {row.created_at.replace(microsecond=0) for row in rows}
    assert len(seconds) == 2
    assert rows[0].message_id != rows[1].message_id
    stored = session.scalars(
        select(HubMessage).where(
            HubMessage.message_type == "status", HubMessage.status_code == "15"
        )
    ).all()
    assert len(stored) == 2

    connector.run_cycle(session, exchange.city_settings_id)
    assert len(city_history_15(session, outgoing_id, exchange.ward_id)) == 2


def test_retry_sends_same_bytes(login_as, session, exchange):
    _, copy_id = update_and_revoke(login_as, session, exchange)
    rows = statuses_15(session, copy_id)

    first = [connector.build_package(session, "status", row.id) for row in rows]
    fresh()
    again = [connector.build_package(session, "status", row.id) for row in rows]

    assert first == again
    stamps = {parse_package(body).timestamp for body in first}
    assert len(stamps) == 2


def test_old_conflict_fixed_by_resend(login_as, session, exchange):
    """A status that got 409 before the fix is sent on "Gửi lại" with a new second."""
    outgoing_id, copy_id = update_and_revoke(login_as, session, exchange, True)
    rows = statuses_15(session, copy_id)
    assert [row.state for row in rows] == ["retrying", "retrying"]
    # As queued before statuses got distinct seconds.
    rows[1].created_at = rows[0].created_at
    make_due(session, rows)

    connector.run_cycle(session, exchange.ward_settings_id)
    rows = statuses_15(session, copy_id)
    # The hub stores whichever package arrives first and refuses the other.
    [sent] = [row for row in rows if row.state == "sent"]
    [failed] = [row for row in rows if row.state != "sent"]
    assert failed.state == "failed"
    assert "409" in failed.last_error
    assert "gói trạng thái" in failed.error_detail
    assert "StatusCode = 15" in failed.error_detail
    assert "Timestamp = " in failed.error_detail
    assert "Hai văn bản khác nhau" not in failed.error_detail

    # Sent again as it is, the package gets 409 again.
    failed_id, sent_second = failed.id, sent.created_at.replace(microsecond=0)
    clerk = login_as(WARD_CLERK)
    response = clerk.post(f"/exchange/{failed_id}/resend")
    assert response.status_code == 303
    fresh()
    failed = session.get(OutboxMessage, failed_id)
    assert failed.created_at.replace(microsecond=0) != sent_second

    connector.run_cycle(session, exchange.ward_settings_id)
    fresh()
    failed = session.get(OutboxMessage, failed_id)
    assert failed.state == "sent", failed.error_detail
    connector.run_cycle(session, exchange.city_settings_id)
    assert len(city_history_15(session, outgoing_id, exchange.ward_id)) == 2
