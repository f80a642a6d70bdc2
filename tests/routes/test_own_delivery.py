"""A web request pushes only its own organisation's messages, with short timeouts.

Another organisation's hub that does not respond must not hold up a clerk.
A clerk whose own hub does not respond waits about the request's short read
timeout, not the connector's. The page then shows that the document will be
sent when the hub responds.
"""

import subprocess
import sys
import time
from datetime import timedelta

import pytest

from vanban.exchange import claims
from vanban.models import ConnectorSettings, OutboxMessage
from vanban.services import outbox
from vanban.services.clock import now

from ..scenario import fresh, reload
from . import test_connector
from .test_connector import (
    city_issues,
    outbox_rows,
    received_copies,
    set_hub_url,
    silent_hub,
)

# The connector tests' hub served over HTTP, with the city and Ba Đình connected.
hub_server = test_connector.hub_server
exchange = test_connector.exchange

# The connector's own read timeout, longer than a web request's below.
CONNECTOR_READ_SECONDS = 6.0
REQUEST_READ_SECONDS = 1.0
WAITING_TEXT = "trục liên thông chưa trả lời nên chưa gửi đi"
LATER_TEXT = "sẽ được gửi tới trục liên thông ở lần đồng bộ kế tiếp"


@pytest.fixture
def app_config():
    return {
        "HUB_ENABLED": True,
        "CONNECTOR_CONNECT_TIMEOUT": 1.5,
        "CONNECTOR_READ_TIMEOUT": CONNECTOR_READ_SECONDS,
        "OUTBOX_REQUEST_READ_TIMEOUT": REQUEST_READ_SECONDS,
    }


def recording(login_as, clients: list):
    """Wrap `login_as` so that the test can read the pages of the users it logs in."""

    def login(username):
        user = login_as(username)
        clients.append(user)
        return user

    return login


def test_other_hub_not_called(login_as, session, exchange):
    first_id = city_issues(login_as, "Văn bản thứ nhất")
    test_connector.run(session, exchange.ward_settings_id)
    [copy] = received_copies(session, exchange.ward_id, first_id)
    outbox.queue_status(session, copy, "03")
    session.commit()
    [waiting] = [
        row
        for row in outbox_rows(session, copy.id, "status")
        if row.status_code == "03"
    ]
    waiting_id = waiting.id

    with silent_hub() as url:
        set_hub_url(session, exchange.ward_settings_id, url)
        second_id = city_issues(login_as, "Văn bản thứ hai")

    fresh()
    waiting = session.get(OutboxMessage, waiting_id)
    assert waiting.state == "pending"
    assert waiting.attempts == 0
    [sent] = outbox_rows(session, second_id)
    assert sent.state == "sent"


def test_own_hub_silent_short_wait(login_as, session, exchange):
    clients = []
    with silent_hub() as url:
        set_hub_url(session, exchange.city_settings_id, url)
        started = time.monotonic()
        outgoing_id = city_issues(recording(login_as, clients), "Trục không trả lời")
        elapsed = time.monotonic() - started

    assert elapsed < CONNECTOR_READ_SECONDS
    [row] = outbox_rows(session, outgoing_id)
    assert row.state == "retrying"
    assert "timed out" in row.last_error
    assert reload(outgoing_id).state == "issued"
    page = clients[-1].get(f"/documents/{outgoing_id}").get_data(as_text=True)
    assert "Đã vào sổ và phát hành văn bản." in page
    assert WAITING_TEXT in page


def test_own_hub_answers_sent_at_once(login_as, session, exchange):
    clients = []

    outgoing_id = city_issues(recording(login_as, clients), "Trục trả lời ngay")

    [row] = outbox_rows(session, outgoing_id)
    assert row.state == "sent"
    page = clients[-1].get(f"/documents/{outgoing_id}").get_data(as_text=True)
    assert WAITING_TEXT not in page
    assert LATER_TEXT not in page


def test_busy_connector_sends_later(login_as, session, exchange):
    clients = []
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        fresh()
        settings = session.get(ConnectorSettings, exchange.city_settings_id)
        settings.lease_until = now() + timedelta(minutes=10)
        settings.lease_host = claims.this_host()
        settings.lease_pid = holder.pid
        settings.lease_started_at = now()
        session.commit()

        outgoing_id = city_issues(
            recording(login_as, clients), "Đang có lần đồng bộ khác"
        )
    finally:
        holder.kill()
        holder.wait()

    [row] = outbox_rows(session, outgoing_id)
    assert row.state == "pending"
    assert row.attempts == 0
    page = clients[-1].get(f"/documents/{outgoing_id}").get_data(as_text=True)
    assert "Đã vào sổ và phát hành văn bản." in page
    assert LATER_TEXT in page
    assert WAITING_TEXT not in page
