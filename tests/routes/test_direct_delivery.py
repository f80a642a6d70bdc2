"""An installation without a hub of its own delivers directly only to itself.

The installation under test does not serve the hub, as a ward installation
does not. An organisation without a connector hands its packages straight to
the recipients' intake, but only to organisations hosted here. A message to
an organisation hosted elsewhere waits, with the reason for the clerk, and
leaves through the hub when the connector is enabled. The hub is another
installation, on its own copy of the database, served on 127.0.0.1.
"""

import pytest
from sqlalchemy import func, select

from vanban.exchange import connector, hub, local
from vanban.extensions import db
from vanban.models import Document, Organisation, OutboxMessage
from vanban.models.hub import HubMessage

from ..conftest import make_app
from ..processes import HUB_PATH, serve_in_thread
from ..scenario import fresh, org, reload
from .test_connector import city_issues, outbox_rows, received_copies, run

CITY_CLERK = "thanhpho.vanthu"
OUTSIDE_CODE = "000.77.01.H01"
OUTSIDE_NAME = "UBND Phường Ngoài Hệ Thống"


@pytest.fixture
def app_config():
    """No hub here; short timeouts for the connector."""
    return {"CONNECTOR_CONNECT_TIMEOUT": 1.5, "CONNECTOR_READ_TIMEOUT": 1.5}


@pytest.fixture
def city_hub(app, databases, tmp_path):
    """Serve another installation's hub; yield that app and its API URL."""
    url = databases.copy_url()
    hub_app = make_app(url, tmp_path / "hub-instance", HUB_ENABLED=True)
    try:
        with serve_in_thread(hub_app) as base_url:
            yield hub_app, f"{base_url}{HUB_PATH}"
    finally:
        with hub_app.app_context():
            db.session.remove()
            db.engine.dispose()
        databases.drop(url)


def register(hub_app, entries: list[tuple[str, str]]) -> dict[str, str]:
    """Add (code, name) entries to the other installation's hub; return tokens."""
    with hub_app.app_context():
        tokens = {
            code: hub.add_organisation(db.session, code, name)[1]
            for code, name in entries
        }
        db.session.commit()
    return tokens


def hub_deliveries(hub_app) -> list[tuple[str, list[str]]]:
    """Return (DocumentId, recipient codes) of each package the hub stores."""
    with hub_app.app_context():
        messages = db.session.scalars(select(HubMessage).order_by(HubMessage.id))
        return [
            (m.document_id, [d.recipient_organ_id for d in m.deliveries])
            for m in messages
        ]


def table_row(html: str, text: str) -> str:
    """Return the table row of the page that contains `text`."""
    at = html.index(text)
    start = html.rindex("<tr", 0, at)
    return html[start : html.index("</tr>", at)]


def test_outside_recipient_waits_then_goes_through_hub(login_as, session, city_hub):
    hub_app, hub_url = city_hub
    outside = Organisation(code=OUTSIDE_CODE, name=OUTSIDE_NAME, kind="ward")
    session.add(outside)
    session.commit()
    city, ward = org("UBND Thành phố"), org("Ba Đình")

    outgoing_id = city_issues(
        login_as, "Gửi trực tiếp và gửi đơn vị ngoài", ("Ba Đình", OUTSIDE_NAME)
    )

    rows = {
        row.recipient_organisation_id: row for row in outbox_rows(session, outgoing_id)
    }
    assert rows[ward.id].state == "sent"
    assert rows[outside.id].state == "pending"
    assert rows[outside.id].error_detail == local.WAITING_REASON
    assert len(received_copies(session, ward.id, outgoing_id)) == 1
    assert received_copies(session, outside.id, outgoing_id) == []
    fresh()
    count = select(func.count()).select_from(Document)
    assert session.scalar(count.where(Document.organisation_id == outside.id)) == 0

    clerk = login_as(CITY_CLERK)
    html = clerk.get(f"/documents/{outgoing_id}/recipients", htmx=True).get_data(
        as_text=True
    )
    shown = table_row(html, OUTSIDE_NAME)
    assert "Chưa gửi" in shown
    assert local.WAITING_REASON in shown
    assert "Chưa có trạng thái" in shown
    assert "Đã đến" not in shown
    assert "Đã chuyển đến nơi nhận" not in shown
    shown = table_row(html, ward.name)
    assert "Đã chuyển đến nơi nhận" in shown
    assert "01 – Đã đến" in shown
    listing = clerk.get("/exchange/?kind=sent").get_data(as_text=True)
    shown = table_row(listing, f'id="exchange-sent-{rows[outside.id].id}"')
    assert "Chưa gửi" in shown

    # The city's admin connects the city to the hub, whose directory lists both.
    tokens = register(hub_app, [(city.code, city.name), (OUTSIDE_CODE, OUTSIDE_NAME)])
    fresh()
    settings = connector.save_settings(session, city, hub_url, tokens[city.code])
    session.commit()
    report = run(session, settings.id, poll=False)

    assert report.sent == 1
    assert report.errors == []
    fresh()
    waiting = session.get(OutboxMessage, rows[outside.id].id)
    assert waiting.state == "sent"
    assert waiting.message_id
    # Only the waiting row went, and Ba Đình's direct delivery used no hub.
    assert waiting.exchange_id is None
    document = reload(outgoing_id)
    assert hub_deliveries(hub_app) == [(document.exchange_id, [OUTSIDE_CODE])]


def test_hosted_recipients_still_direct(login_as, session):
    ward = org("Ba Đình")

    outgoing_id = city_issues(login_as, "Gửi trực tiếp trong hệ thống", ("Ba Đình",))

    [row] = outbox_rows(session, outgoing_id)
    assert row.state == "sent"
    assert row.error_detail == ""
    assert len(received_copies(session, ward.id, outgoing_id)) == 1
