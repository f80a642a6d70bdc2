"""A package the hub rejects for some recipients still reaches the others.

The hub rejects a whole package with 422 `unknown_recipient` when one of its
recipients is missing from the directory or deactivated, and stores nothing.
The connector fails only those recipients' rows and sends the package again
at once to the others. The tests use the real hub API served on 127.0.0.1 by
the fixtures of test_connector.py, with the city and Ba Đình connected to it
and Ngọc Hà hosted here without a connector.
"""

import json

import pytest
from sqlalchemy import select

from vanban.exchange import connector, hub
from vanban.models import Document, Organisation, OutboxMessage
from vanban.models.hub import HubMessage
from vanban.services import outbox

from ..scenario import fresh, org
from . import test_connector
from .test_connector import (
    city_issues,
    make_due,
    outbox_rows,
    received_copies,
    recipient_row,
    run,
)

# The connector tests' hub served over HTTP, with the city and Ba Đình connected.
hub_server = test_connector.hub_server
exchange = test_connector.exchange
app_config = test_connector.app_config

CITY_CLERK = "thanhpho.vanthu"


def rows_by_recipient(session, document_id: int) -> dict[str, OutboxMessage]:
    """Return the document's outbox rows by the name of their recipient."""
    return {
        session.get(Organisation, row.recipient_organisation_id).name: row
        for row in outbox_rows(session, document_id)
    }


def listed_row(html: str, message_id: int) -> str:
    """Return the row of the exchange page that shows an outbox message."""
    start = html.index(f'<tr id="exchange-sent-{message_id}"')
    return html[start : html.index("</tr>", start)]


def edoc_messages(session) -> list[HubMessage]:
    fresh()
    query = select(HubMessage).where(HubMessage.message_type == "edoc")
    return list(session.scalars(query.order_by(HubMessage.id)))


def test_unknown_recipient_fails_alone(login_as, session, exchange):
    ward, ngoc_ha = org("Ba Đình"), org("Ngọc Hà")

    outgoing_id = city_issues(
        login_as, "Gửi hai phường, một phường chưa có trên trục", ("Ba Đình", "Ngọc Hà")
    )

    rows = rows_by_recipient(session, outgoing_id)
    sent, failed = rows[ward.name], rows[ngoc_ha.name]
    assert sent.state == "sent"
    assert sent.message_id
    assert failed.state == "failed"
    assert failed.message_id is None
    assert failed.error_detail.startswith(
        f"Trục liên thông không chuyển văn bản cho {ngoc_ha.name} (mã {ngoc_ha.code})."
    )
    assert "không có trong danh bạ của trục" in failed.error_detail
    assert "vẫn được gửi cho các nơi nhận khác" in failed.error_detail
    assert "422" in failed.last_error
    [message] = edoc_messages(session)
    assert [d.recipient_organ_id for d in message.deliveries] == [ward.code]

    run(session, exchange.ward_settings_id)
    assert len(received_copies(session, ward.id, outgoing_id)) == 1
    page = login_as(CITY_CLERK).get(f"/documents/{outgoing_id}").get_data(as_text=True)
    assert "Đã gửi lên trục" in page
    assert "Gửi thất bại" in page


def test_resend_after_hub_adds_recipient(login_as, session, exchange):
    """ "Gửi lại" reaches the recipient once it is in the hub's directory.

    The hub already stores the document's package for Ba Đình, and would
    take a package with the same DocumentId for a resend and deliver nothing.
    The row therefore goes under a DocumentId of its own.
    """
    ngoc_ha = org("Ngọc Hà")
    outgoing_id = city_issues(
        login_as, "Gửi lại khi trục đã thêm phường", ("Ba Đình", "Ngọc Hà")
    )
    failed = rows_by_recipient(session, outgoing_id)[ngoc_ha.name]
    hub.add_organisation(session, ngoc_ha.code, ngoc_ha.name)
    session.commit()
    clerk = login_as(CITY_CLERK)

    assert clerk.post(f"/exchange/{failed.id}/resend").status_code == 303
    report = run(session, exchange.city_settings_id, poll=False)

    assert report.sent == 1
    fresh()
    resent = session.get(OutboxMessage, failed.id)
    document = session.get(Document, outgoing_id)
    assert resent.state == "sent"
    assert resent.exchange_id == f"{document.exchange_id}#r{resent.id}"
    first, second = edoc_messages(session)
    assert first.document_id == document.exchange_id
    assert second.document_id == resent.exchange_id
    assert [d.recipient_organ_id for d in second.deliveries] == [ngoc_ha.code]

    # Ngọc Hà has no connector, so this installation takes the package in
    # from its own hub and sends status 01 back through it.
    outbox.deliver_pending(session)
    fresh()
    [copy] = session.scalars(
        select(Document).where(
            Document.organisation_id == ngoc_ha.id,
            Document.exchange_id == resent.exchange_id,
        )
    ).all()
    assert copy.source_document_id == outgoing_id
    run(session, exchange.city_settings_id)
    assert recipient_row(session, outgoing_id, ngoc_ha.id).status_code == "01"


def test_inactive_recipient_reason(login_as, session, exchange):
    ngoc_ha = org("Ngọc Hà")
    hub.add_organisation(session, ngoc_ha.code, ngoc_ha.name)
    hub.set_active(session, hub.find_organisation(session, ngoc_ha.code), False)
    session.commit()

    outgoing_id = city_issues(
        login_as, "Gửi phường đã ngừng kết nối", ("Ba Đình", "Ngọc Hà")
    )

    rows = rows_by_recipient(session, outgoing_id)
    assert rows[org("Ba Đình").name].state == "sent"
    failed = rows[ngoc_ha.name]
    assert failed.state == "failed"
    assert "đã ngừng kết nối với trục" in failed.error_detail
    assert "không có trong danh bạ" not in failed.error_detail


def test_other_hub_names_codes_in_detail(login_as, session, exchange):
    """A hub without the "recipients" list names the codes in its detail only."""
    ward, ngoc_ha = org("Ba Đình"), org("Ngọc Hà")
    hub.add_organisation(session, ngoc_ha.code, ngoc_ha.name)
    session.commit()
    body = {
        "error": "unknown_recipient",
        "detail": f"Unknown recipient organisation: {ngoc_ha.code}.",
    }
    exchange.faults.add("POST", "/messages", 422, body=json.dumps(body).encode())

    outgoing_id = city_issues(
        login_as, "Trục khác chỉ ghi mã trong chi tiết", ("Ba Đình", "Ngọc Hà")
    )

    rows = rows_by_recipient(session, outgoing_id)
    assert rows[ward.name].state == "sent"
    assert rows[ngoc_ha.name].state == "failed"
    assert f"Unknown recipient organisation: {ngoc_ha.code}." in (
        rows[ngoc_ha.name].error_detail
    )
    [message] = edoc_messages(session)
    assert [d.recipient_organ_id for d in message.deliveries] == [ward.code]


def test_every_recipient_unknown_fails_all(login_as, session, exchange):
    """With no recipient left, every row fails as one, and "Gửi lại" sends again."""
    ngoc_ha, giang_vo = org("Ngọc Hà"), org("Giảng Võ")

    outgoing_id = city_issues(
        login_as, "Gửi hai phường chưa có trên trục", ("Ngọc Hà", "Giảng Võ")
    )

    rows = outbox_rows(session, outgoing_id)
    assert [row.state for row in rows] == ["failed", "failed"]
    for row in rows:
        assert row.error_detail.startswith("Trục liên thông từ chối gói tin: ")
        assert ngoc_ha.code in row.error_detail
        assert giang_vo.code in row.error_detail
    assert edoc_messages(session) == []


def test_retry_after_split_sends_same_package(login_as, session, exchange, monkeypatch):
    """The package sent again to the others is retried with the same bytes."""
    ward, ngoc_ha = org("Ba Đình"), org("Ngọc Hà")
    send = connector.HubClient.send
    stored = []

    def lose_first_answer(client, kind, body):
        # The hub rejects the first package (422) before this records it.
        answer = send(client, kind, body)
        stored.append(body)
        if len(stored) == 1:
            raise connector.HubUnavailable("POST /messages failed: connection reset")
        return answer

    monkeypatch.setattr(connector.HubClient, "send", lose_first_answer)

    outgoing_id = city_issues(
        login_as, "Gửi lại phần còn lại sau lỗi mạng", ("Ba Đình", "Ngọc Hà")
    )

    rows = rows_by_recipient(session, outgoing_id)
    assert rows[ngoc_ha.name].state == "failed"
    assert rows[ward.name].state == "retrying"
    make_due(session, [rows[ward.name]])
    report = run(session, exchange.city_settings_id, poll=False)

    assert report.sent == 1
    rows = rows_by_recipient(session, outgoing_id)
    assert rows[ngoc_ha.name].state == "failed"
    assert rows[ward.name].state == "sent"
    assert len(stored) == 2
    assert stored[0] == stored[1]
    [message] = edoc_messages(session)
    assert rows[ward.name].message_id == message.message_id
    assert [d.recipient_organ_id for d in message.deliveries] == [ward.code]


@pytest.mark.parametrize(
    ("detail", "expected"),
    [
        ("Unknown: 000.02.01.H01.", [2]),
        ("Unknown: 000.02.01.H01, 000.01.01.H01", [1, 2]),
        ("Unknown: 000.02.01.H011.", []),
        ("Unknown: 1000.02.01.H01", []),
        ("Unknown recipient", []),
    ],
)
def test_codes_read_from_detail(detail, expected):
    recipients = {1: ("000.01.01.H01", "Ba Đình"), 2: ("000.02.01.H01", "Ngọc Hà")}
    error = connector.HubError("x", 422, "unknown_recipient", detail)

    assert connector.unknown_recipients(error, recipients) == expected


def test_listed_codes_preferred_to_detail():
    recipients = {1: ("000.01.01.H01", "Ba Đình"), 2: ("000.02.01.H01", "Ngọc Hà")}
    error = connector.HubError(
        "x", 422, "unknown_recipient", "000.01.01.H01", recipients=("000.02.01.H01",)
    )

    assert connector.unknown_recipients(error, recipients) == [2]


def test_other_errors_name_no_recipients():
    recipients = {1: ("000.01.01.H01", "Ba Đình")}
    error = connector.HubError("x", 409, "conflict", "000.01.01.H01")

    assert connector.unknown_recipients(error, recipients) == []


# A recipient's status shows that a retried package arrived.


def test_lost_answer_shown_as_arrived(login_as, session, exchange):
    # The hub stores the city's package, but its response is lost.
    exchange.faults.add("POST", "/messages", 502, after=True)
    outgoing_id = city_issues(login_as, "Câu trả lời của trục bị mất")
    [row] = outbox_rows(session, outgoing_id)
    assert row.state == "retrying"
    run(session, exchange.ward_settings_id)
    run(session, exchange.city_settings_id)
    assert recipient_row(session, outgoing_id, exchange.ward_id).status_code == "01"
    clerk = login_as(CITY_CLERK)

    page = clerk.get(f"/documents/{outgoing_id}").get_data(as_text=True)
    listing = clerk.get("/exchange/?kind=sent").get_data(as_text=True)

    for html in (page, listed_row(listing, row.id)):
        assert "Đã đến nơi nhận; đang xác nhận với trục" in html
        assert "Đang thử lại" not in html
        assert "Chưa gửi được tới trục liên thông" not in html


def test_retry_without_status_still_shown(login_as, session, exchange):
    exchange.faults.add("POST", "/messages", 502, after=True)
    outgoing_id = city_issues(login_as, "Trục chưa trả lời, nơi nhận chưa báo")

    page = login_as(CITY_CLERK).get(f"/documents/{outgoing_id}").get_data(as_text=True)

    assert "Đang thử lại" in page
    assert "Chưa gửi được tới trục liên thông" in page
    assert "đang xác nhận với trục" not in page
