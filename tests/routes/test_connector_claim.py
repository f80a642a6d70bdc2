"""A connector run's claim records its holder; a dead holder's claim is taken over.

A process that dies during its run leaves `lease_until` behind. A run on the
same host takes the claim over once the holder's process is gone. A holder
on another host keeps it until it expires. The exchange page and the
connection settings page show the claim.
"""

import logging
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from vanban.exchange import claims, connector
from vanban.extensions import db
from vanban.models import ConnectorSettings
from vanban.services.clock import local, now

from .. import test_migrations
from ..scenario import fresh
from . import test_connector

# The connector tests' hub served over HTTP, with the city and Ba Đình connected.
app_config = test_connector.app_config
hub_server = test_connector.hub_server
exchange = test_connector.exchange
empty_app = test_migrations.empty_app

CITY_CLERK = "thanhpho.vanthu"
CITY_ADMIN = "thanhpho.quantri"


@pytest.fixture
def dead_pid() -> int:
    """Return the id of a process of this host that has ended."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.fixture
def live_pid():
    """Return the id of a process of this host that runs until the test ends."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield process.pid
    process.kill()
    process.wait()


def hold_claim(session, settings_id: int, host: str, pid: int) -> ConnectorSettings:
    """Leave a claim as a run started a minute ago would, lasting ten more minutes."""
    fresh()
    settings = session.get(ConnectorSettings, settings_id)
    settings.lease_until = now() + timedelta(minutes=10)
    settings.lease_host = host
    settings.lease_pid = pid
    settings.lease_started_at = now() - timedelta(minutes=1)
    session.commit()
    return settings


def test_claim_records_holder_release_clears(session, exchange):
    started = now()
    settings_id = exchange.city_settings_id
    config = connector.ConnectorConfig()

    assert connector._claim(session, settings_id, started, config)
    fresh()
    settings = session.get(ConnectorSettings, settings_id)
    assert settings.lease_host == claims.this_host()
    assert settings.lease_pid == os.getpid()
    assert settings.lease_started_at == started
    assert settings.lease_until == started + config.lease

    connector._release(session, settings_id, None, started, polled=False)
    fresh()
    settings = session.get(ConnectorSettings, settings_id)
    assert settings.lease_until is None
    assert settings.lease_host is None
    assert settings.lease_pid is None
    assert settings.lease_started_at is None


def test_dead_holder_taken_over(session, exchange, dead_pid, caplog):
    hold_claim(session, exchange.city_settings_id, claims.this_host(), dead_pid)

    report = connector.run_cycle(session, exchange.city_settings_id)

    assert report is not None
    assert f"took over the claim of process {dead_pid}" in caplog.text
    fresh()
    assert session.get(ConnectorSettings, exchange.city_settings_id).lease_until is None


def test_live_holder_keeps_claim(session, exchange, live_pid):
    hold_claim(session, exchange.city_settings_id, claims.this_host(), live_pid)

    assert connector.run_cycle(session, exchange.city_settings_id) is None
    fresh()
    settings = session.get(ConnectorSettings, exchange.city_settings_id)
    assert settings.lease_pid == live_pid


def test_other_host_keeps_claim(session, exchange, dead_pid):
    hold_claim(session, exchange.city_settings_id, "may-khac.invalid", dead_pid)

    assert connector.run_cycle(session, exchange.city_settings_id) is None


def test_expired_claim_of_other_host_taken(session, exchange, dead_pid):
    settings = hold_claim(
        session, exchange.city_settings_id, "may-khac.invalid", dead_pid
    )
    settings.lease_until = now() - timedelta(seconds=1)
    session.commit()

    assert connector.run_cycle(session, exchange.city_settings_id) is not None


def test_pages_show_running_claim(login_as, session, exchange, live_pid):
    settings = hold_claim(
        session, exchange.city_settings_id, claims.this_host(), live_pid
    )
    since = f"{local(settings.lease_started_at):%H:%M}"
    until = f"{local(settings.lease_until):%H:%M}"

    for user, url in ((CITY_CLERK, "/exchange/"), (CITY_ADMIN, "/exchange/settings")):
        page = login_as(user).get(url).get_data(as_text=True)
        assert "Đang đồng bộ từ" in page, url
        assert since in page, url
        assert until in page, url
        assert "Đã dừng giữa chừng" not in page, url
    # The host and process id are for admins, who run the servers.
    admin_page = login_as(CITY_ADMIN).get("/exchange/").get_data(as_text=True)
    clerk_page = login_as(CITY_CLERK).get("/exchange/").get_data(as_text=True)
    assert f"tiến trình {live_pid}" in admin_page
    assert f"tiến trình {live_pid}" not in clerk_page
    assert f"máy {claims.this_host()}" not in clerk_page


def test_sync_busy_message_plain(login_as, session, exchange, live_pid, caplog):
    hold_claim(session, exchange.city_settings_id, claims.this_host(), live_pid)
    clerk = login_as(CITY_CLERK)

    with caplog.at_level(logging.INFO, logger="vanban.blueprints.exchange"):
        response = clerk.post("/exchange/sync")

    assert response.status_code == 303
    page = clerk.get("/exchange/").get_data(as_text=True)
    assert "Một lần đồng bộ khác đang chạy, hãy thử lại sau ít phút." in page
    assert f"tiến trình {live_pid}" not in page
    assert f"máy {claims.this_host()}" not in page
    # The server operator finds the holder in the log.
    assert f"process {live_pid} on {claims.this_host()}" in caplog.text


def test_pages_show_stale_claim(login_as, session, exchange, dead_pid):
    settings = hold_claim(
        session, exchange.city_settings_id, claims.this_host(), dead_pid
    )
    until = f"{local(settings.lease_until):%H:%M}"

    for user, url in ((CITY_CLERK, "/exchange/"), (CITY_ADMIN, "/exchange/settings")):
        page = login_as(user).get(url).get_data(as_text=True)
        assert "Đã dừng giữa chừng" in page, url
        assert until in page, url
    admin_page = login_as(CITY_ADMIN).get("/exchange/settings").get_data(as_text=True)
    clerk_page = login_as(CITY_CLERK).get("/exchange/").get_data(as_text=True)
    assert f"tiến trình {dead_pid}" in admin_page
    assert "không còn chạy" in admin_page
    assert f"tiến trình {dead_pid}" not in clerk_page


def test_pages_without_claim(login_as, exchange):
    page = login_as(CITY_CLERK).get("/exchange/").get_data(as_text=True)

    assert 'id="connector-claim"' not in page


def _settings_columns() -> set[str]:
    with db.engine.connect() as connection:
        columns = inspect(connection).get_columns("connector_settings")
    return {column["name"] for column in columns}


def test_0016_adds_and_drops_claim_columns(empty_app):
    upgrade(revision="0016_connector_claim")
    assert {"lease_host", "lease_pid", "lease_started_at"} <= _settings_columns()

    downgrade(revision="0015_secret_clearance")
    assert not {"lease_host", "lease_pid", "lease_started_at"} & _settings_columns()
    assert "lease_until" in _settings_columns()
