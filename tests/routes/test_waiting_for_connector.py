"""Messages to an organisation hosted elsewhere wait for the sender's connector.

Without an enabled connector an organisation's messages move inside this
installation. Here the installation serves the hub, so they go through its
own hub store, which reaches the organisations hosted here and those in the
hub's directory. An organisation that is neither has its own installation
and another hub: a message to it waits, with the reason for the clerk, and
leaves through the connector once the connector is enabled. The tests use
the real hub API served on 127.0.0.1 by the fixtures of test_connector.py,
with the city and Ba Đình connected to it.
"""

from sqlalchemy import func, select

from vanban.exchange import hub, local, mapping
from vanban.models import ConnectorSettings, Document, Organisation, OutboxMessage
from vanban.models.hub import HubMessage
from vanban.services import outbox

from ..hub_support import document_id, edoc
from ..scenario import fresh, org
from . import test_connector
from .test_connector import city_issues, outbox_rows, received_copies, run

# The connector tests' hub served over HTTP, with the city and Ba Đình connected.
hub_server = test_connector.hub_server
exchange = test_connector.exchange
app_config = test_connector.app_config

CITY_CLERK = "thanhpho.vanthu"
# An organisation learned from a hub's directory: it has no accounts here.
OUTSIDE_CODE = "000.77.01.H01"
OUTSIDE_NAME = "UBND Phường Ngoài Hệ Thống"


def add_outside_organisation(session) -> Organisation:
    organisation = Organisation(code=OUTSIDE_CODE, name=OUTSIDE_NAME, kind="ward")
    session.add(organisation)
    session.commit()
    return organisation


def set_enabled(session, settings_id: int, enabled: bool) -> None:
    fresh()
    session.get(ConnectorSettings, settings_id).enabled = enabled
    session.commit()


def connect_outside(session, settings_id: int):
    """Add the outside organisation to the hub, enable a connector and push.

    The hub's administrator adds the organisation, and the sender's admin
    turns the connector on, whose push takes the waiting messages.
    """
    fresh()
    hub.add_organisation(session, OUTSIDE_CODE, OUTSIDE_NAME)
    session.commit()
    set_enabled(session, settings_id, True)
    return run(session, settings_id, poll=False)


def row_to(session, document_id: int, organisation_id: int, kind="document"):
    [row] = [
        row
        for row in outbox_rows(session, document_id, kind)
        if row.recipient_organisation_id == organisation_id
    ]
    return row


def table_row(html: str, text: str) -> str:
    """Return the table row of the page that contains `text`."""
    at = html.index(text)
    start = html.rindex("<tr", 0, at)
    return html[start : html.index("</tr>", at)]


def documents_of(session, organisation_id: int) -> int:
    fresh()
    query = select(func.count()).select_from(Document)
    return session.scalar(query.where(Document.organisation_id == organisation_id))


def test_document_waits_for_connector(login_as, session, exchange):
    outside = add_outside_organisation(session)
    ward = org("Ba Đình")
    set_enabled(session, exchange.city_settings_id, False)

    outgoing_id = city_issues(
        login_as, "Gửi đơn vị ngoài hệ thống", ("Ba Đình", OUTSIDE_NAME)
    )

    sent = row_to(session, outgoing_id, ward.id)
    waiting = row_to(session, outgoing_id, outside.id)
    assert sent.state == "sent"
    assert sent.message_id
    assert waiting.state == "pending"
    assert waiting.next_attempt_at is None
    assert waiting.message_id is None
    assert waiting.error_detail == local.WAITING_REASON
    assert hub.find_organisation(session, OUTSIDE_CODE) is None
    assert documents_of(session, outside.id) == 0

    # The next delivery leaves the message waiting, as it was.
    outbox.deliver_pending(session)
    fresh()
    waiting = session.get(OutboxMessage, waiting.id)
    assert (waiting.state, waiting.error_detail) == ("pending", local.WAITING_REASON)
    assert documents_of(session, outside.id) == 0

    clerk = login_as(CITY_CLERK)
    recipients = clerk.get(f"/documents/{outgoing_id}/recipients", htmx=True)
    shown = table_row(recipients.get_data(as_text=True), OUTSIDE_NAME)
    assert "Chưa gửi" in shown
    assert local.WAITING_REASON in shown
    assert "Chưa có trạng thái" in shown
    assert "Đã gửi" not in shown
    listing = clerk.get("/exchange/?kind=sent").get_data(as_text=True)
    shown = table_row(listing, f'id="exchange-sent-{waiting.id}"')
    assert "Chưa gửi" in shown
    assert local.WAITING_REASON in shown

    report = connect_outside(session, exchange.city_settings_id)

    assert report.sent == 1
    fresh()
    waiting = session.get(OutboxMessage, waiting.id)
    document = session.get(Document, outgoing_id)
    assert waiting.state == "sent"
    assert waiting.error_detail == ""
    # The hub stores the document's package for Ba Đình already, so the
    # message goes under a DocumentId of its own.
    assert waiting.exchange_id == f"{document.exchange_id}#r{waiting.id}"
    message = session.scalar(
        select(HubMessage).where(HubMessage.message_id == waiting.message_id)
    )
    assert [d.recipient_organ_id for d in message.deliveries] == [OUTSIDE_CODE]
    run(session, exchange.ward_settings_id)
    assert len(received_copies(session, ward.id, outgoing_id)) == 1


def test_status_waits_for_connector(session, exchange):
    outside = add_outside_organisation(session)
    ward = org("Ba Đình")
    set_enabled(session, exchange.ward_settings_id, False)
    package = edoc(
        sender=OUTSIDE_CODE,
        recipients=(ward.code,),
        number="7",
        document_id=document_id(OUTSIDE_CODE, "7"),
    )
    received = mapping.receive_document(session, ward, package, "outside-message-1")
    session.commit()

    outbox.deliver_pending(session)

    status = row_to(session, received.document_id, outside.id, kind="status")
    assert status.status_code == "01"
    assert status.state == "pending"
    assert status.error_detail == local.WAITING_REASON
    assert hub.find_organisation(session, OUTSIDE_CODE) is None
    fresh()
    assert session.scalar(select(func.count()).select_from(HubMessage)) == 0

    report = connect_outside(session, exchange.ward_settings_id)

    assert report.sent == 1
    fresh()
    status = session.get(OutboxMessage, status.id)
    assert status.state == "sent"
    message = session.scalar(
        select(HubMessage).where(HubMessage.message_id == status.message_id)
    )
    assert message.message_type == "status"
    assert [d.recipient_organ_id for d in message.deliveries] == [OUTSIDE_CODE]


def test_directory_entry_reached_through_own_hub(login_as, session, exchange):
    """An organisation in this hub's directory collects its messages here."""
    outside = add_outside_organisation(session)
    hub.add_organisation(session, OUTSIDE_CODE, OUTSIDE_NAME)
    session.commit()
    set_enabled(session, exchange.city_settings_id, False)

    outgoing_id = city_issues(
        login_as, "Gửi đơn vị có trong danh bạ trục", (OUTSIDE_NAME,)
    )

    row = row_to(session, outgoing_id, outside.id)
    assert row.state == "sent"
    assert row.message_id
    message = session.scalar(
        select(HubMessage).where(HubMessage.message_id == row.message_id)
    )
    assert [d.recipient_organ_id for d in message.deliveries] == [OUTSIDE_CODE]
    assert [d.state for d in message.deliveries] == ["pending"]


def test_settings_page_states_the_limit(login_as):
    page = login_as("thanhpho.quantri").get("/exchange/settings")

    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert (
        "chỉ được chuyển trực tiếp tới các đơn vị có tài khoản trong hệ thống" in html
    )
    assert "hoặc có trong danh bạ trục của hệ thống này" in html
    assert "nằm chờ với trạng thái “Chưa gửi”" in html
    assert "được chuyển trực tiếp trong hệ thống, không qua trục" not in html
