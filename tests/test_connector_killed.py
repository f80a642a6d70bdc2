"""A connector process killed in the middle of a poll loses and repeats nothing.

The city's installation is the test's app: it serves the hub on 127.0.0.1
and sends two documents to Ba Đình. Ba Đình's installation is a separate
one, prepared with the real CLI (init-db, seed-demo, exchange connect), and
its connector runs as `flask exchange sync` in a process group of its own.
A WSGI layer in front of the hub blocks one request for the second package
(its download, or its acknowledgement) until the test has killed that
process with SIGKILL. The killed run leaves its claim (lease) behind, and
the next `exchange sync` on the same host takes it over because its process
is gone. The test runs it and checks that each document is stored once,
that the hub has both deliveries done and that status 01 reaches the city
once for each.

The ward's installation uses an SQLite file in the test's folder even when
the suite runs on PostgreSQL: it needs a database of its own, and a file
needs no server to create or drop it. The city and the hub use the suite's
database, so they run on PostgreSQL then.
"""

import json
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, func, select, update
from sqlalchemy.orm import Session

from vanban.exchange import connector, hub
from vanban.models import ConnectorSettings, Document, OutboxMessage, User
from vanban.models.hub import HubDelivery, HubMessage
from vanban.services.clock import now

from .processes import (
    HUB_PATH,
    clean_environment,
    flask_command,
    kill_group,
    run_flask,
    serve_in_thread,
    start_process,
)
from .routes.test_connector import city_issues, outbox_rows, recipient_row
from .scenario import fresh, org

WARD_CODE = "000.01.01.H01"
COMMAND_SECONDS = 60
# Seconds the test waits for the blocked request to reach the hub.
ARRIVAL_SECONDS = 30


@pytest.fixture
def app_config():
    return {"HUB_ENABLED": True}


class HoldRequest:
    """WSGI layer that blocks one chosen request until `release` is set.

    The blocked request never reaches the hub. Once released, the layer
    responds 503, which no one reads because the client has been killed.
    """

    def __init__(self, app):
        self.app = app
        self.target: tuple[str, str] | None = None
        self.arrived = threading.Event()
        self.release = threading.Event()
        self.lock = threading.Lock()

    def hold(self, method: str, path: str) -> None:
        with self.lock:
            self.target = (method, path)

    def __call__(self, environ, start_response):
        with self.lock:
            held = self.target == (environ["REQUEST_METHOD"], environ["PATH_INFO"])
            if held:
                self.target = None
        if not held:
            return self.app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        environ["wsgi.input"].read(length)
        self.arrived.set()
        self.release.wait(timeout=ARRIVAL_SECONDS + COMMAND_SECONDS)
        body = json.dumps({"error": "held", "detail": "Giữ lại khi thử nghiệm."})
        start_response("503 Held", [("Content-Type", "application/json")])
        return [body.encode()]


@pytest.fixture
def held_hub(app):
    """Serve the app, hub API included, behind HoldRequest on a free port."""
    layer = HoldRequest(app)
    try:
        with serve_in_thread(layer, "held-hub") as base_url:
            yield f"{base_url}{HUB_PATH}", layer
    finally:
        layer.release.set()


@dataclass
class Ward:
    """Ba Đình's own installation: its folder and SQLite database."""

    folder: Path

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.folder / 'vanban.sqlite'}"

    def environment(self) -> dict[str, str]:
        return clean_environment(
            VANBAN_DATABASE_URL=self.database_url,
            VANBAN_SECRET_KEY="test-secret-ward",
            VANBAN_HUB_ENABLED="false",
            VANBAN_SCHEDULER_ENABLED="false",
        )

    def cli(self, *args: str) -> str:
        return run_flask(self.folder / "instance", self.environment(), *args)

    def start_sync(self, log: Path) -> subprocess.Popen:
        command = flask_command(
            self.folder / "instance", "exchange", "sync", "--org", WARD_CODE
        )
        return start_process(command, self.environment(), log)

    def session(self) -> Session:
        return Session(create_engine(self.database_url))


def wait_for_arrival(layer: HoldRequest, process: subprocess.Popen, log: Path):
    deadline = time.monotonic() + ARRIVAL_SECONDS
    while not layer.arrived.wait(timeout=0.1):
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(
                "the blocked request did not reach the hub:\n"
                + log.read_text(errors="replace")
            )


def wait_until_delivered(session, message_id: str, process, log: Path) -> None:
    deadline = time.monotonic() + ARRIVAL_SECONDS
    while delivery_states(session, message_id) != ["delivered"]:
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(
                f"message {message_id} was not acknowledged:\n"
                + log.read_text(errors="replace")
            )
        time.sleep(0.1)


def incoming_copies(ward: Ward, exchange_id: str) -> int:
    with ward.session() as session:
        return session.scalar(
            select(func.count())
            .select_from(Document)
            .where(
                Document.direction == "incoming",
                Document.exchange_id == exchange_id,
            )
        )


def statuses_queued(ward: Ward, exchange_id: str) -> list[tuple[str, str]]:
    with ward.session() as session:
        query = (
            select(OutboxMessage.status_code, OutboxMessage.state)
            .join(Document, Document.id == OutboxMessage.document_id)
            .where(
                Document.exchange_id == exchange_id,
                Document.direction == "incoming",
                OutboxMessage.kind == "status",
            )
            .order_by(OutboxMessage.id)
        )
        return [tuple(row) for row in session.execute(query)]


def delivery_states(session, message_id: str) -> list[str]:
    fresh()
    query = (
        select(HubDelivery.state)
        .join(HubMessage, HubMessage.id == HubDelivery.hub_message_id)
        .where(HubMessage.message_id == message_id)
    )
    return list(session.scalars(query))


def statuses_at_hub(session, message_id: str) -> list[str]:
    """Return the status codes Ba Đình sent to the hub for a document package."""
    fresh()
    document_id = session.scalar(
        select(HubMessage.document_id).where(HubMessage.message_id == message_id)
    )
    query = select(HubMessage.status_code).where(
        HubMessage.message_type == "status",
        HubMessage.sender_organ_id == WARD_CODE,
        HubMessage.document_id == document_id,
    )
    return list(session.scalars(query))


@pytest.mark.parametrize(
    "held_call",
    [
        pytest.param(("GET", ""), id="killed-during-download"),
        pytest.param(("POST", "/ack"), id="killed-before-acknowledgement"),
    ],
)
def test_killed_poll_stores_each_document_once(
    login_as, session, held_hub, tmp_path, held_call
):
    url, layer = held_hub
    city, ward_org = org("UBND Thành phố"), org("Ba Đình")
    assert ward_org.code == WARD_CODE
    _, city_token = hub.add_organisation(session, city.code, city.name)
    _, ward_token = hub.add_organisation(session, WARD_CODE, ward_org.name, city.code)
    city_settings = connector.save_settings(session, city, url, city_token, 3600)
    city_settings.directory_refreshed_at = now()
    # Ba Đình runs its own installation, so its accounts here are switched off
    # and this installation leaves its packages at the hub for it.
    session.execute(
        update(User).where(User.organisation_id == ward_org.id).values(active=False)
    )
    session.commit()
    city_settings_id = city_settings.id

    ward = Ward(tmp_path / "ward")
    ward.folder.mkdir()
    ward.cli("init-db")
    ward.cli("seed-demo", "--only", "wards", "--ward", "badinh")
    ward.cli(
        "exchange", "connect", "--org", WARD_CODE, "--hub", url, "--token", ward_token
    )

    # Issuing pushes each document to the hub at once.
    outgoing_ids = [
        city_issues(login_as, "Văn bản nhận trước khi dừng"),
        city_issues(login_as, "Văn bản nhận khi tiến trình bị dừng"),
    ]
    fresh()
    exchange_ids, message_ids = [], []
    for outgoing_id in outgoing_ids:
        exchange_ids.append(session.get(Document, outgoing_id).exchange_id)
        [row] = outbox_rows(session, outgoing_id)
        assert row.state == "sent"
        message_ids.append(row.message_id)

    method, path_end = held_call
    layer.hold(
        method, f"{HUB_PATH}/messages/{quote(message_ids[1], safe='')}{path_end}"
    )
    log = tmp_path / "killed-sync.log"
    process = ward.start_sync(log)
    try:
        wait_for_arrival(layer, process, log)
        # Downloads run ahead of intake, so the first document may still be
        # on its way in when the request for the second one arrives.
        wait_until_delivered(session, message_ids[0], process, log)
    finally:
        kill_group(process)
        layer.release.set()
    assert process.returncode == -signal.SIGKILL

    # The first document was stored and acknowledged before the kill.
    assert incoming_copies(ward, exchange_ids[0]) == 1
    assert delivery_states(session, message_ids[0]) == ["delivered"]
    # The second is stored only when the kill came after its download.
    stored_before = 1 if method == "POST" else 0
    assert incoming_copies(ward, exchange_ids[1]) == stored_before
    assert delivery_states(session, message_ids[1]) == ["pending"]

    # The killed run's claim is still in force (about 10 min by default).
    with ward.session() as ward_session:
        claim = ward_session.scalars(select(ConnectorSettings)).one()
        assert claim.lease_until > now()
        assert claim.lease_pid is not None

    # The next run on this host takes over the claim of the dead process.
    output = ward.cli("exchange", "sync", "--org", WARD_CODE)
    assert "đang đồng bộ ở tiến trình khác" not in output, output
    # The statuses 01 queued by the killed run go out first, then the second
    # package is taken in, or found already stored, and acknowledged.
    received = (
        "nhận 0 văn bản (trùng 1)" if stored_before else "nhận 1 văn bản (trùng 0)"
    )
    assert received in output, output
    assert "gửi đi 2," in output, output
    assert "Lỗi" not in output, output

    for exchange_id, message_id in zip(exchange_ids, message_ids, strict=True):
        assert incoming_copies(ward, exchange_id) == 1
        assert statuses_queued(ward, exchange_id) == [("01", "sent")]
        assert delivery_states(session, message_id) == ["delivered"]
        assert statuses_at_hub(session, message_id) == ["01"]

    report = connector.run_cycle(session, city_settings_id, poll=True)
    assert report is not None
    assert report.statuses_applied == 2
    assert report.errors == []
    for outgoing_id in outgoing_ids:
        recipient = recipient_row(session, outgoing_id, ward_org.id)
        assert recipient.status_code == "01"
        assert [h.status_code for h in recipient.history] == ["01"]
