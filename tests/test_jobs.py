"""The scheduler: one per installation, in the web app or in its own process.

The multi-process tests start real servers (gunicorn, `flask scheduler`) in
their own process groups and kill the groups when the test ends, whatever
its outcome. The hub they reach is a real hub app served on 127.0.0.1.
"""

import logging
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from vanban import jobs
from vanban.exchange import connector, hub
from vanban.extensions import db
from vanban.models import ConnectorSettings, Document, Organisation, OutboxMessage
from vanban.services import outbox
from vanban.services.clock import now

from .conftest import make_app
from .processes import (
    HUB_PATH,
    ROOT,
    app_spec,
    clean_environment,
    free_port,
    serve_in_thread,
    start_process,
    stop_process_group,
    wait_for_log,
)
from .routes.test_connector import silent_hub
from .scenario import fresh, org

BIN = Path(sys.executable).parent
RUN_ENDED = "outbox run ended"


@pytest.fixture
def app_config():
    """Connector timeouts short enough for a silent hub to time out quickly."""
    return {"CONNECTOR_CONNECT_TIMEOUT": 0.5, "CONNECTOR_READ_TIMEOUT": 0.5}


class RequestCounter:
    """WSGI layer that counts the requests reaching the hub by method and path."""

    def __init__(self, app):
        self.app = app
        self.counts: Counter = Counter()
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        key = (environ["REQUEST_METHOD"], environ["PATH_INFO"])
        query = environ.get("QUERY_STRING", "")
        if query:
            key += (query,)
        with self.lock:
            self.counts[key] += 1
        return self.app(environ, start_response)

    def document_polls(self) -> int:
        """Return the number of `GET /messages?type=edoc` requests so far."""
        with self.lock:
            return sum(
                count
                for key, count in self.counts.items()
                if key[:2] == ("GET", f"{HUB_PATH}/messages") and "type=edoc" in key[-1]
            )


@dataclass
class ServedHub:
    url: str
    app: Flask
    counter: RequestCounter


@pytest.fixture
def served_hub(databases, tmp_path):
    """A hub app on a database of its own, served on a free loopback port."""
    database_url = databases.copy_url()
    hub_app = make_app(database_url, tmp_path / "hub-instance", HUB_ENABLED=True)
    counter = RequestCounter(hub_app)
    try:
        with serve_in_thread(counter) as base_url:
            yield ServedHub(url=f"{base_url}{HUB_PATH}", app=hub_app, counter=counter)
    finally:
        with hub_app.app_context():
            db.engine.dispose()
        databases.drop(database_url)


def connect_city(session, hub_url: str, token: str) -> None:
    """Connect the city to the hub, polling at every run and never refreshing."""
    settings = connector.save_settings(
        session, org("UBND Thành phố"), hub_url, token, poll_interval_seconds=1
    )
    settings.directory_refreshed_at = now()
    session.commit()


def register_city_at(served: ServedHub, city: Organisation) -> str:
    with served.app.app_context():
        _, token = hub.add_organisation(db.session, city.code, city.name)
        db.session.commit()
        db.session.remove()
    return token


def server_environment(database_url: str, **settings) -> dict:
    """Return this environment without settings of ours, plus `settings`."""
    return clean_environment(
        VANBAN_DATABASE_URL=database_url, VANBAN_LOG_LEVEL="DEBUG", **settings
    )


def count_log(log: Path, text: str) -> int:
    return log.read_text(errors="replace").count(text)


def test_gunicorn_four_workers_one_scheduler(
    app, session, database_url, served_hub, tmp_path
):
    token = register_city_at(served_hub, org("UBND Thành phố"))
    connect_city(session, served_hub.url, token)
    db.session.remove()
    db.engine.dispose()

    interval = 1
    port = free_port()
    log = tmp_path / "gunicorn.log"
    environment = server_environment(
        database_url,
        VANBAN_SCHEDULER_ENABLED="true",
        VANBAN_OUTBOX_INTERVAL_SECONDS=str(interval),
    )
    command = [
        str(BIN / "gunicorn"),
        "--workers",
        "4",
        "--bind",
        f"127.0.0.1:{port}",
        "--graceful-timeout",
        "5",
        # Without this, gunicorn creates a control socket in the home folder.
        "--no-control-socket",
        app_spec(Path(app.instance_path)),
    ]
    server = start_process(command, environment, log)
    try:
        wait_for_log(log, r"Booting worker with pid", count=4)
        started = wait_for_log(log, r"scheduler started in process (\d+)")
        # Every worker creates the app, and the three that find the lock
        # taken name the worker that holds it.
        skipped = wait_for_log(
            log, r"scheduler not started: process (\d+) already runs it", count=3
        )
        assert len(started) == 1
        assert set(skipped) == set(started)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login") as response:
            assert response.status == 200

        wait_for_log(log, RUN_ENDED)
        runs_before = count_log(log, RUN_ENDED)
        polls_before = served_hub.counter.document_polls()
        window_started = time.monotonic()
        time.sleep(5 * interval)
        runs = count_log(log, RUN_ENDED) - runs_before
        polls = served_hub.counter.document_polls() - polls_before
        elapsed = time.monotonic() - window_started
    finally:
        stop_process_group(server)

    expected = elapsed / interval
    # One scheduler runs about once per interval; four would run four times as often.
    assert expected - 2 <= runs <= expected + 1, log.read_text()[-3000:]
    assert count_log(log, "scheduler started in process") == 1
    # A poll is due when a second has passed since the last one started, so a
    # run may find it not yet due and skip it, but no run polls twice.
    assert 2 <= polls <= runs + 1
    assert "outbox run failed" not in log.read_text()


def test_debug_reloader_parent_starts_no_scheduler(database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("FLASK_DEBUG", "1")
    monkeypatch.delenv("WERKZEUG_RUN_MAIN", raising=False)
    instance = tmp_path / "instance"
    parent = make_app(
        database_url, instance, SCHEDULER_ENABLED=True, OUTBOX_INTERVAL_SECONDS=60
    )
    assert parent.debug
    assert jobs.start_scheduler(parent) is None
    lock = jobs.ProcessLock(instance / jobs.LOCK_FILE_NAME)
    assert lock.acquire(), "the reloader's parent must not hold the lock"
    lock.release()

    monkeypatch.setenv("WERKZEUG_RUN_MAIN", "true")
    child = make_app(
        database_url, instance, SCHEDULER_ENABLED=True, OUTBOX_INTERVAL_SECONDS=60
    )
    try:
        assert not lock.acquire(), "the reloader's child must run the scheduler"
    finally:
        jobs.stop_scheduler(child)
        for application in (parent, child):
            with application.app_context():
                db.engine.dispose()
    assert lock.acquire()
    lock.release()


def queue_status_03(session) -> int:
    """Queue a status 03 from Ngọc Hà for the city's trial guide, and return its id."""
    city_document = session.scalar(
        select(Document).where(Document.direction == "outgoing")
    )
    ward = org("Ngọc Hà")
    message = OutboxMessage(
        kind="status",
        sender_organisation_id=ward.id,
        recipient_organisation_id=city_document.organisation_id,
        document_id=session.scalar(
            select(Document.id).where(
                Document.organisation_id == ward.id,
                Document.source_document_id == city_document.id,
            )
        ),
        status_code="03",
    )
    session.add(message)
    session.commit()
    return message.id


def wait_until(condition, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_failed_run_followed_by_successful_run(app, session, monkeypatch, caplog):
    message_id = queue_status_03(session)
    calls = []
    deliver_pending = outbox.deliver_pending

    def fail_once(session, *args, **kwargs):
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise RuntimeError("simulated failure")
        return deliver_pending(session, *args, **kwargs)

    monkeypatch.setattr(outbox, "deliver_pending", fail_once)
    app.config["OUTBOX_INTERVAL_SECONDS"] = 0.2
    caplog.set_level(logging.INFO, logger="vanban.jobs")

    def sent() -> bool:
        fresh()
        return session.get(OutboxMessage, message_id).state == "sent"

    assert jobs.start_scheduler(app) is not None
    try:
        delivered = wait_until(sent)
    finally:
        jobs.stop_scheduler(app)

    assert "outbox run failed" in caplog.text
    assert "simulated failure" in caplog.text
    assert len(calls) >= 2
    assert delivered


def test_silent_hub_does_not_stop_later_runs(app, session, caplog):
    caplog.set_level(logging.DEBUG, logger="vanban.jobs")
    app.config["OUTBOX_INTERVAL_SECONDS"] = 0.2
    with silent_hub() as url:
        connect_city(session, url, "token-of-the-city")
        settings = session.scalar(select(ConnectorSettings))
        settings_id = settings.id
        assert jobs.start_scheduler(app) is not None
        try:
            # Each run waits for the hub's silence until the read timeout.
            ended = wait_until(lambda: caplog.text.count(RUN_ENDED) >= 3)
        finally:
            jobs.stop_scheduler(app)

    assert ended, caplog.text
    fresh()
    settings = session.get(ConnectorSettings, settings_id)
    assert "timed out" in settings.last_error
    assert settings.lease_until is None


def test_scheduler_command_refuses_second_process(app, database_url, tmp_path):
    instance = Path(app.instance_path)
    environment = server_environment(database_url, VANBAN_OUTBOX_INTERVAL_SECONDS="1")
    command = [str(BIN / "flask"), "--app", app_spec(instance), "scheduler"]
    first_log = tmp_path / "first.log"
    first = start_process(command, environment, first_log)
    try:
        (pid,) = wait_for_log(first_log, r"scheduler started in process (\d+)")
        wait_for_log(first_log, RUN_ENDED)

        second = subprocess.run(
            command,
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=30,
            start_new_session=True,
        )
        assert second.returncode == 1, second.stderr
        assert "Bộ lập lịch đang chạy ở một tiến trình khác" in second.stderr
        assert f"(PID {pid})" in second.stderr
        assert first.poll() is None, "the first scheduler must keep running"
    finally:
        returncode = stop_process_group(first)

    assert returncode == 0, first_log.read_text()
    assert "scheduler received SIGTERM" in first_log.read_text()
    assert f"scheduler stopped in process {pid}" in first_log.read_text()
    lock = jobs.ProcessLock(instance / jobs.LOCK_FILE_NAME)
    assert lock.acquire(), "the stopped scheduler must release the lock"
    lock.release()


def test_scheduler_command_rejects_zero_interval(app):
    app.config["OUTBOX_INTERVAL_SECONDS"] = 0
    result = app.test_cli_runner().invoke(args=["scheduler"])
    assert result.exit_code == 1
    assert "VANBAN_OUTBOX_INTERVAL_SECONDS" in result.output
