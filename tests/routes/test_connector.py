"""The hub connector against the real hub API served over HTTP on 127.0.0.1.

One installation plays every part, as a trainer's all-in-one installation
does: its hub API is served by a real HTTP server in a thread, and the city
and Ba Đình ward each reach it through their own connector settings. Faults
(a 5xx, a lost response) are injected by a WSGI layer in front of the hub, and
an unreachable or silent hub is a closed port or a socket that never responds.
"""

import json
import logging
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from vanban.exchange import build_status, connector, hub, mapping, parse_package
from vanban.exchange.packages import Organisation as PackageOrganisation
from vanban.exchange.packages import ResponseFor, StatusPackage
from vanban.extensions import db
from vanban.jobs import deliver_outbox
from vanban.models import (
    ConnectorSettings,
    Document,
    Organisation,
    OutboxMessage,
    Recipient,
)
from vanban.models.hub import HubDelivery, HubMessage
from vanban.services import files
from vanban.services.clock import local, now

from ..processes import HUB_PATH, free_port, serve_in_thread
from ..scenario import GUIDE, fresh, handle_until_officer, org, reload

# Short timeouts keep the timeout tests fast; the code caps them at 5 s and 30 s.
TIMEOUT_SECONDS = 1.5


@pytest.fixture
def app_config():
    """Serve the hub API, and give the connectors short timeouts."""
    return {
        "HUB_ENABLED": True,
        "CONNECTOR_CONNECT_TIMEOUT": TIMEOUT_SECONDS,
        "CONNECTOR_READ_TIMEOUT": TIMEOUT_SECONDS,
    }


class FaultInjector:
    """WSGI layer that responds to chosen hub requests in place of the hub.

    A fault `after` the hub lets the hub handle the request and then drops its
    response, as a connection lost on the way back would.
    """

    def __init__(self, app):
        self.app = app
        self.faults: list[tuple] = []
        self.lock = threading.Lock()

    def add(self, method, path_end, status, after=False, body=None):
        """Respond to the next matching request with `status` and `body`.

        Without `body` the response is a JSON error like the hub's.
        """
        with self.lock:
            self.faults.append((method, path_end, status, after, body))

    def _take(self, environ):
        with self.lock:
            for fault in self.faults:
                method, path_end = fault[:2]
                if environ["REQUEST_METHOD"] == method and environ[
                    "PATH_INFO"
                ].endswith(path_end):
                    self.faults.remove(fault)
                    return fault
        return None

    def __call__(self, environ, start_response):
        fault = self._take(environ)
        if fault is None:
            return self.app(environ, start_response)
        _, _, status, after, body = fault
        if after:
            response = self.app(environ, lambda *args, **kwargs: lambda data: None)
            try:
                b"".join(response)
            finally:
                getattr(response, "close", lambda: None)()
        else:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            environ["wsgi.input"].read(length)
        if body is None:
            body = json.dumps({"error": "injected", "detail": "Lỗi thử nghiệm."})
            body = body.encode()
        start_response(f"{status} Injected", [("Content-Type", "application/json")])
        return [body]


@dataclass
class Exchange:
    """The served hub and the connectors of the city and of Ba Đình."""

    url: str
    faults: FaultInjector
    tokens: dict[str, str]
    city_id: int
    ward_id: int
    city_settings_id: int
    ward_settings_id: int


@pytest.fixture
def hub_server(app):
    """Serve the app, hub API included, on a free port; return URL and faults."""
    faults = FaultInjector(app)
    with serve_in_thread(faults) as base_url:
        yield f"{base_url}{HUB_PATH}", faults


def register_at_hub(session, organisation: Organisation, parent=None) -> str:
    _, token = hub.add_organisation(
        session,
        organisation.code,
        organisation.name,
        parent.code if parent is not None else None,
    )
    return token


@pytest.fixture
def exchange(session, hub_server) -> Exchange:
    """Register the city and Ba Đình at the hub and connect both to it.

    Their polls are not due for an hour, so that only the runs a test starts
    poll the hub, and every run pushes at once.
    """
    url, faults = hub_server
    city, ward = org("UBND Thành phố"), org("Ba Đình")
    tokens = {
        city.code: register_at_hub(session, city),
        ward.code: register_at_hub(session, ward, city),
    }
    settings_ids = {}
    for organisation in (city, ward):
        settings = connector.save_settings(
            session, organisation, url, tokens[organisation.code], 3600
        )
        settings.last_poll_at = now()
        settings.directory_refreshed_at = now()
        session.flush()
        settings_ids[organisation.id] = settings.id
    session.commit()
    return Exchange(
        url=url,
        faults=faults,
        tokens=tokens,
        city_id=city.id,
        ward_id=ward.id,
        city_settings_id=settings_ids[city.id],
        ward_settings_id=settings_ids[ward.id],
    )


def city_issues(
    login_as, subject: str, recipients=("Ba Đình",), info=(), secrecy=0
) -> int:
    """Let the city clerk enter a document with the guide PDF and issue it."""
    clerk = login_as("thanhpho.vanthu")
    with open(GUIDE, "rb") as handle:
        response = clerk.post(
            "/documents/new",
            {
                "type_name": "Hướng dẫn",
                "subject": subject,
                "description": "",
                "signer_position": "Giám đốc",
                "signer_name": "Người ký (demo)",
                "urgency": "1",
                "secrecy": str(secrecy),
                "files": (handle, GUIDE.name),
            },
            content_type="multipart/form-data",
        )
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    outgoing_id = int(response.headers["Location"].rsplit("/", 1)[-1])
    response = clerk.post(
        f"/registers/outgoing/{outgoing_id}/issue",
        {
            "subject": subject,
            "recipients": [str(org(n).id) for n in recipients],
            "info": [str(org(n).id) for n in info],
        },
    )
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    fresh()
    return outgoing_id


def outbox_rows(session, document_id: int, kind="document") -> list[OutboxMessage]:
    fresh()
    query = select(OutboxMessage).where(
        OutboxMessage.document_id == document_id, OutboxMessage.kind == kind
    )
    return list(session.scalars(query.order_by(OutboxMessage.id)))


def received_copies(session, organisation_id: int, outgoing_id: int) -> list[Document]:
    fresh()
    outgoing = session.get(Document, outgoing_id)
    query = select(Document).where(
        Document.organisation_id == organisation_id,
        Document.direction == "incoming",
        Document.exchange_id == outgoing.exchange_id,
    )
    return list(session.scalars(query))


def recipient_row(session, outgoing_id: int, organisation_id: int) -> Recipient:
    fresh()
    return session.scalar(
        select(Recipient).where(
            Recipient.document_id == outgoing_id,
            Recipient.organisation_id == organisation_id,
        )
    )


def run(session, settings_id: int, poll=True) -> connector.SyncReport:
    report = connector.run_cycle(session, settings_id, poll=poll)
    assert report is not None
    return report


def set_hub_url(session, settings_id: int, url: str) -> None:
    fresh()
    session.get(ConnectorSettings, settings_id).hub_url = url
    session.commit()


def make_due(session, rows: list[OutboxMessage]) -> None:
    for row in rows:
        row.next_attempt_at = now() - timedelta(seconds=1)
    session.commit()


def client_of(exchange: Exchange, organisation_id: int) -> connector.HubClient:
    code = db.session.get(Organisation, organisation_id).code
    return connector.HubClient(
        exchange.url, code, exchange.tokens[code], connector.ConnectorConfig()
    )


@contextmanager
def silent_hub():
    """Listen on a loopback port, accept connections and never respond."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    connections, stop = [], threading.Event()

    def accept():
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            connections.append(connection)

    thread = threading.Thread(target=accept, name="silent-hub", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}{HUB_PATH}"
    finally:
        stop.set()
        thread.join(timeout=5)
        for connection in connections:
            connection.close()
        listener.close()


# Push, poll and the statuses back.


def test_push_poll_and_status_01(login_as, session, exchange):
    outgoing_id = city_issues(login_as, "Kế hoạch trao đổi qua trục")

    rows = outbox_rows(session, outgoing_id)
    assert [row.state for row in rows] == ["sent"]
    assert rows[0].message_id
    assert rows[0].sent_at is not None
    assert received_copies(session, exchange.ward_id, outgoing_id) == []

    report = run(session, exchange.ward_settings_id)
    assert report.documents_received == 1
    assert report.sent == 1
    assert report.errors == []
    [incoming] = received_copies(session, exchange.ward_id, outgoing_id)
    assert incoming.state == "arrived"
    assert incoming.sender_organisation_id == exchange.city_id
    assert incoming.subject == "Kế hoạch trao đổi qua trục"
    [attachment] = incoming.attachments
    assert files.path_for(attachment.sha256).read_bytes() == GUIDE.read_bytes()
    [status] = outbox_rows(session, incoming.id, kind="status")
    assert (status.status_code, status.state) == ("01", "sent")

    report = run(session, exchange.city_settings_id)
    assert report.statuses_applied == 1
    recipient = recipient_row(session, outgoing_id, exchange.ward_id)
    assert recipient.status_code == "01"
    assert [h.status_code for h in recipient.history] == ["01"]
    assert client_of(exchange, exchange.ward_id).pending("edoc", 10) == []
    assert client_of(exchange, exchange.city_id).pending("status", 10) == []
    page = login_as("thanhpho.vanthu").get("/exchange/?kind=sent&state=sent")
    assert "Tại nơi nhận: 01 – Đã đến" in page.get_data(as_text=True)


def test_poll_commits_in_batches(login_as, session, exchange, monkeypatch):
    monkeypatch.setattr(connector, "INTAKE_BATCH_SIZE", 2)
    subjects = [f"Văn bản theo lô số {index}" for index in range(5)]
    outgoing_ids = [city_issues(login_as, subject) for subject in subjects]

    report = run(session, exchange.ward_settings_id)

    assert report.documents_received == 5
    assert report.errors == []
    for outgoing_id in outgoing_ids:
        assert len(received_copies(session, exchange.ward_id, outgoing_id)) == 1
    assert client_of(exchange, exchange.ward_id).pending("edoc", 10) == []


def test_failed_intake_undoes_its_batch(login_as, session, exchange, monkeypatch):
    """An unexpected error rolls back the packages stored since the last commit.

    None of them is acknowledged, so the next poll takes each one in once.
    """
    outgoing_ids = [city_issues(login_as, f"Văn bản lô lỗi {n}") for n in range(3)]
    receive = mapping.receive_document

    def fail_on_third(session, organisation, package, *args, **kwargs):
        if package.subject == "Văn bản lô lỗi 2":
            raise RuntimeError("disk full")
        return receive(session, organisation, package, *args, **kwargs)

    monkeypatch.setattr(mapping, "receive_document", fail_on_third)
    failed = run(session, exchange.ward_settings_id)

    assert failed.documents_received == 0
    assert any("not taken in" in error for error in failed.errors)
    for outgoing_id in outgoing_ids:
        assert received_copies(session, exchange.ward_id, outgoing_id) == []
    assert len(client_of(exchange, exchange.ward_id).pending("edoc", 10)) == 3

    monkeypatch.setattr(mapping, "receive_document", receive)
    retried = run(session, exchange.ward_settings_id)

    assert retried.documents_received == 3
    assert retried.errors == []
    for outgoing_id in outgoing_ids:
        assert len(received_copies(session, exchange.ward_id, outgoing_id)) == 1
    assert client_of(exchange, exchange.ward_id).pending("edoc", 10) == []


def test_statuses_03_to_06_applied(login_as, session, exchange):
    outgoing_id = city_issues(login_as, "Văn bản xử lý đến cùng")
    run(session, exchange.ward_settings_id)
    [incoming] = received_copies(session, exchange.ward_id, outgoing_id)

    handle_until_officer(login_as, incoming.id)
    officer = login_as("badinh.chuyenvien")
    assert officer.post(f"/inbox/{incoming.id}/start").status_code == 303
    response = officer.post(f"/inbox/{incoming.id}/finish", {"note": "Đã xong."})
    assert response.status_code == 303
    statuses = outbox_rows(session, incoming.id, kind="status")
    assert [s.status_code for s in statuses] == ["01", "03", "04", "05", "06"]
    assert {s.state for s in statuses} == {"sent"}

    report = run(session, exchange.city_settings_id)
    assert report.statuses_applied == 5
    recipient = recipient_row(session, outgoing_id, exchange.ward_id)
    assert [h.status_code for h in recipient.history] == ["01", "03", "04", "05", "06"]
    assert recipient.status_code == "06"
    assert recipient.status_note == "Đã xong."


def run_twice_losing_ack(session, exchange, settings_id: int):
    """Run a connector twice, losing its first acknowledgement on the way.

    The first run stores what it polled, but the hub never gets the
    acknowledgement, so it delivers the package again at the second run.
    Return both runs' reports.
    """
    exchange.faults.add("POST", "/ack", 503)
    return run(session, settings_id), run(session, settings_id)


def test_same_package_twice_stored_once(login_as, session, exchange):
    outgoing_id = city_issues(login_as, "Gói tin nhận hai lần")

    first, second = run_twice_losing_ack(session, exchange, exchange.ward_settings_id)

    assert first.documents_received == 1
    assert first.errors
    assert second.documents_received == 0
    assert second.duplicates == 1
    [incoming] = received_copies(session, exchange.ward_id, outgoing_id)
    statuses = outbox_rows(session, incoming.id, kind="status")
    assert [(s.status_code, s.state) for s in statuses] == [("01", "sent")]
    assert client_of(exchange, exchange.ward_id).pending("edoc", 10) == []


def test_stored_unacknowledged_package_is_duplicate(login_as, session, exchange):
    """A package stored by a run that died before its acknowledgement.

    The next run finds the document stored and counts the package as a
    duplicate, not as received.
    """
    outgoing_id = city_issues(login_as, "Gói tin đã lưu, chưa xác nhận")
    client = client_of(exchange, exchange.ward_id)
    try:
        [pending] = client.pending("edoc", 10)
        package = parse_package(client.fetch(pending["message_id"]))
    finally:
        client.close()
    ward = session.get(Organisation, exchange.ward_id)
    mapping.receive_document(session, ward, package, pending["message_id"])
    session.commit()

    report = run(session, exchange.ward_settings_id)

    assert report.documents_received == 0
    assert report.duplicates == 1
    assert report.errors == []
    assert len(received_copies(session, exchange.ward_id, outgoing_id)) == 1
    assert client_of(exchange, exchange.ward_id).pending("edoc", 10) == []


def test_same_status_twice_counted_once(login_as, session, exchange):
    """A status package recorded once and delivered again counts as repeated."""
    outgoing_id = city_issues(login_as, "Trạng thái nhận hai lần")
    run(session, exchange.ward_settings_id)

    first, second = run_twice_losing_ack(session, exchange, exchange.city_settings_id)

    assert first.statuses_applied == 1
    assert first.errors
    assert second.statuses_applied == 0
    assert second.statuses_repeated == 1
    assert second.errors == []
    recipient = recipient_row(session, outgoing_id, exchange.ward_id)
    assert [h.status_code for h in recipient.history] == ["01"]
    assert client_of(exchange, exchange.city_id).pending("status", 10) == []


def test_status_before_push_response(login_as, session, exchange):
    # The hub stores the city's package, but its response is lost.
    exchange.faults.add("POST", "/messages", 502, after=True)
    outgoing_id = city_issues(login_as, "Trạng thái về trước câu trả lời")
    [row] = outbox_rows(session, outgoing_id)
    assert row.state == "retrying"
    assert row.message_id is None

    run(session, exchange.ward_settings_id)
    report = run(session, exchange.city_settings_id, poll=True)

    assert report.statuses_applied == 1
    assert recipient_row(session, outgoing_id, exchange.ward_id).status_code == "01"
    make_due(session, outbox_rows(session, outgoing_id))
    report = run(session, exchange.city_settings_id, poll=False)
    assert report.sent == 1
    [row] = outbox_rows(session, outgoing_id)
    assert row.state == "sent"
    assert row.message_id
    assert (
        session.scalar(
            select(func.count())
            .select_from(HubMessage)
            .where(HubMessage.message_type == "edoc")
        )
        == 1
    )


def test_unknown_document_status_acknowledged(session, exchange, caplog):
    ward = session.get(Organisation, exchange.ward_id)
    city = session.get(Organisation, exchange.city_id)
    package = StatusPackage(
        sender=PackageOrganisation(ward.code, ward.name),
        response_for=ResponseFor(
            organ_id=city.code, document_id=f"{city.code},2026/01/02,77/UBND-VP"
        ),
        status_code="03",
        timestamp=now(),
    )
    client_of(exchange, exchange.ward_id).send("status", build_status(package))

    with caplog.at_level(logging.WARNING, logger="vanban.exchange.connector"):
        report = run(session, exchange.city_settings_id)

    assert report.statuses_unknown == 1
    assert report.statuses_applied == 0
    assert "unknown document" in caplog.text
    assert client_of(exchange, exchange.city_id).pending("status", 10) == []


def test_unreadable_package_acknowledged_as_failed(session, exchange, caplog):
    ward = session.get(Organisation, exchange.ward_id)
    city = session.get(Organisation, exchange.city_id)
    package = StatusPackage(
        sender=PackageOrganisation(city.code, city.name),
        response_for=ResponseFor(organ_id=ward.code, document_id="x,2026/01/02,1/A"),
        status_code="03",
        timestamp=now(),
    )
    city_client = client_of(exchange, exchange.city_id)
    message_id = city_client.send("status", build_status(package))["message_id"]
    # The hub checks what it accepts, so the package is broken on the way back.
    exchange.faults.add("GET", f"/messages/{message_id}", 200, body=b"<edXML><a>")

    with caplog.at_level(logging.WARNING, logger="vanban.exchange.connector"):
        report = run(session, exchange.ward_settings_id)

    assert report.rejected == 1
    assert "cannot be read" in caplog.text
    [delivery] = city_client.deliveries(message_id)
    assert delivery["state"] == "pending"
    assert delivery["attempts"] == 1
    assert "XML" in delivery["last_error"]


# The hub down, failing or silent.


def test_hub_down_message_retried(login_as, session, exchange):
    set_hub_url(session, exchange.city_settings_id, f"http://127.0.0.1:{free_port()}")

    outgoing_id = city_issues(login_as, "Gửi khi trục không chạy")

    [row] = outbox_rows(session, outgoing_id)
    assert session.get(Document, outgoing_id).state == "issued"
    assert row.state == "retrying"
    assert row.attempts == 1
    assert row.sent_at is None
    assert now() + timedelta(seconds=20) < row.next_attempt_at
    assert row.next_attempt_at <= now() + timedelta(seconds=30)
    assert "gửi lại" in row.error_detail
    # The same day-first format as the vn_datetime filter of the pages.
    assert f"{local(row.next_attempt_at):%d/%m/%Y %H:%M}" in row.error_detail
    assert row.last_error

    set_hub_url(session, exchange.city_settings_id, exchange.url)
    report = run(session, exchange.city_settings_id, poll=False)
    assert report.sent == 0
    make_due(session, outbox_rows(session, outgoing_id))
    report = run(session, exchange.city_settings_id, poll=False)
    assert report.sent == 1
    run(session, exchange.ward_settings_id)
    assert len(received_copies(session, exchange.ward_id, outgoing_id)) == 1


def test_wrong_hub_path_shows_no_markup(login_as, session, exchange):
    # The app serves its HTML 404 page for a path outside the hub's API.
    base = exchange.url.removesuffix(HUB_PATH)
    set_hub_url(session, exchange.city_settings_id, f"{base}/api/edoc/sai")

    outgoing_id = city_issues(login_as, "Văn bản gửi nhầm địa chỉ trục")

    [row] = outbox_rows(session, outgoing_id)
    assert row.state == "failed"
    assert "<" not in row.error_detail
    assert "<" not in row.last_error
    assert "HTTP 404" in row.last_error
    assert "kiểm tra địa chỉ trục" in row.last_error


def test_hub_500_then_sent_once(login_as, session, exchange):
    exchange.faults.add("POST", "/messages", 500)

    outgoing_id = city_issues(login_as, "Trục lỗi rồi chạy lại")
    [row] = outbox_rows(session, outgoing_id)
    assert row.state == "retrying"
    assert "500" in row.last_error

    make_due(session, [row])
    report = run(session, exchange.city_settings_id, poll=False)

    assert report.sent == 1
    [row] = outbox_rows(session, outgoing_id)
    assert (row.state, row.attempts) == ("sent", 2)
    assert session.scalar(select(func.count()).select_from(HubMessage)) == 1
    run(session, exchange.ward_settings_id)
    assert len(received_copies(session, exchange.ward_id, outgoing_id)) == 1


def test_silent_hub_times_out(login_as, session, exchange):
    with silent_hub() as url:
        set_hub_url(session, exchange.city_settings_id, url)
        started = time.monotonic()
        outgoing_id = city_issues(login_as, "Trục nhận kết nối mà không trả lời")
        elapsed = time.monotonic() - started

    [row] = outbox_rows(session, outgoing_id)
    assert row.state == "retrying"
    assert "timed out" in row.last_error
    assert row.next_attempt_at is not None
    # Issuing takes two requests; only the push waits for the read timeout.
    assert elapsed < 4 * TIMEOUT_SECONDS + 5


def test_hub_4xx_marks_failed(login_as, session, exchange):
    unregistered = org("Ngọc Hà")

    outgoing_id = city_issues(login_as, "Gửi đơn vị chưa có trên trục", ("Ngọc Hà",))

    [row] = outbox_rows(session, outgoing_id)
    assert row.state == "failed"
    assert row.attempts == 1
    assert row.next_attempt_at is None
    assert unregistered.code in row.error_detail
    assert row.error_detail.startswith("Trục liên thông từ chối gói tin")
    assert "422" in row.last_error
    report = run(session, exchange.city_settings_id, poll=False)
    assert report.sent + report.failed == 0


def test_wrong_token_retried(login_as, session, exchange):
    fresh()
    session.get(ConnectorSettings, exchange.city_settings_id).token = "sai-ma-truy-cap"
    session.commit()

    outgoing_id = city_issues(login_as, "Gửi với mã truy cập sai")

    [row] = outbox_rows(session, outgoing_id)
    assert row.state == "retrying"
    assert "401" in row.last_error


def test_retry_limit_marks_failed(login_as, session, exchange, app):
    app.config["CONNECTOR_MAX_ATTEMPTS"] = 2
    set_hub_url(session, exchange.city_settings_id, f"http://127.0.0.1:{free_port()}")
    outgoing_id = city_issues(login_as, "Gửi mãi không được")

    make_due(session, outbox_rows(session, outgoing_id))
    report = run(session, exchange.city_settings_id, poll=False)

    assert report.failed == 1
    [row] = outbox_rows(session, outgoing_id)
    assert (row.state, row.attempts) == ("failed", 2)
    assert "Đã thử gửi 2 lần" in row.error_detail


@pytest.mark.parametrize(
    ("attempts", "seconds"),
    [(1, 30), (2, 120), (3, 600), (4, 1800), (5, 3600), (12, 3600)],
)
def test_retry_delays_grow(attempts, seconds):
    assert connector.retry_delay(attempts) == timedelta(seconds=seconds)


def test_retry_after_lengthens_delay():
    assert connector.retry_delay(1, retry_after=90) == timedelta(seconds=90)
    assert connector.retry_delay(1, retry_after=99999) == timedelta(seconds=3600)


@pytest.mark.parametrize(
    ("raw", "expected", "warning"),
    [
        ("abc", 4, "not a valid number"),
        (True, 4, "not a valid number"),
        (2.5, 4, "not a valid number"),
        (0, 1, "outside 1..8"),
        (-1, 1, "outside 1..8"),
        (9, 8, "outside 1..8"),
        ("6", 6, None),
        (3, 3, None),
    ],
)
def test_parallel_calls_setting_read(app, caplog, raw, expected, warning):
    app.config["CONNECTOR_PARALLEL_CALLS"] = raw

    with caplog.at_level(logging.WARNING, logger="vanban.exchange.connector"):
        config = connector.ConnectorConfig.from_app()

    assert config.parallel_calls == expected
    assert isinstance(config.parallel_calls, int)
    messages = [r.getMessage() for r in caplog.records]
    if warning is None:
        assert messages == []
    else:
        [message] = messages
        assert "CONNECTOR_PARALLEL_CALLS" in message
        assert warning in message


def test_every_setting_read_robustly(app, caplog):
    names = [
        "CONNECTOR_CONNECT_TIMEOUT",
        "CONNECTOR_READ_TIMEOUT",
        "CONNECTOR_MAX_ATTEMPTS",
        "CONNECTOR_MAX_PACKAGE_BYTES",
        "CONNECTOR_RUN_SECONDS",
        "CONNECTOR_TRANSFER_SECONDS",
        "CONNECTOR_BATCH_SIZE",
        "CONNECTOR_PARALLEL_CALLS",
    ]
    for name in names:
        app.config[name] = "không phải số"

    with caplog.at_level(logging.WARNING, logger="vanban.exchange.connector"):
        config = connector.ConnectorConfig.from_app()

    assert config == connector.ConnectorConfig()
    logged = " ".join(r.getMessage() for r in caplog.records)
    for name in names:
        assert name in logged


def test_timeouts_capped(app):
    app.config["CONNECTOR_CONNECT_TIMEOUT"] = 60
    app.config["CONNECTOR_READ_TIMEOUT"] = 600

    config = connector.ConnectorConfig.from_app()

    assert config.connect_timeout == 5
    assert config.read_timeout == 30


# How the outbox chooses the transport.


def test_job_polls_when_due(app, login_as, session, exchange):
    outgoing_id = city_issues(login_as, "Nhận qua tác vụ định kỳ")
    fresh()
    session.get(ConnectorSettings, exchange.ward_settings_id).last_poll_at = None
    session.commit()

    moved = deliver_outbox(app)

    assert moved >= 2
    assert len(received_copies(session, exchange.ward_id, outgoing_id)) == 1
    settings = session.get(ConnectorSettings, exchange.ward_settings_id)
    assert settings.last_poll_at is not None
    assert settings.lease_until is None
    assert settings.last_sync_at is not None


def test_disabled_connector_goes_through_the_own_hub_store(login_as, session, exchange):
    fresh()
    for settings_id in (exchange.city_settings_id, exchange.ward_settings_id):
        session.get(ConnectorSettings, settings_id).enabled = False
    session.commit()

    outgoing_id = city_issues(login_as, "Chuyển trong cùng hệ thống")

    [row] = outbox_rows(session, outgoing_id)
    assert row.state == "sent"
    message = session.scalar(
        select(HubMessage).where(HubMessage.message_id == row.message_id)
    )
    assert message.message_type == "edoc"
    assert [d.state for d in message.deliveries] == ["delivered"]
    [incoming] = received_copies(session, exchange.ward_id, outgoing_id)
    assert incoming.source_document_id == outgoing_id
    [status] = outbox_rows(session, incoming.id, kind="status")
    assert status.state == "sent"
    assert status.message_id
    assert reload(outgoing_id).recipients[0].status_code == "01"


def test_busy_connector_skipped(session, exchange):
    fresh()
    settings = session.get(ConnectorSettings, exchange.city_settings_id)
    settings.lease_until = now() + timedelta(minutes=5)
    session.commit()

    assert connector.run_cycle(session, exchange.city_settings_id) is None


# Commands.


def test_connect_command(app, session, hub_server):
    url, _ = hub_server
    city = org("UBND Thành phố")
    token = register_at_hub(session, city)
    hub.add_organisation(session, "000.00.00.G22", "Bộ Nội vụ", city.code)
    session.commit()

    result = app.test_cli_runner().invoke(
        args=[
            "exchange",
            "connect",
            "--org",
            city.code,
            "--hub",
            url,
            "--token",
            token,
            "--interval",
            "120",
        ]
    )

    assert result.exit_code == 0, result.output
    assert "Kết nối thành công" in result.output
    assert "thêm 1" in result.output
    assert token not in result.output
    assert token[-4:] in result.output
    fresh()
    settings = session.scalar(
        select(ConnectorSettings).where(ConnectorSettings.organisation_id == city.id)
    )
    assert settings.token == token
    assert settings.hub_url == url
    assert settings.poll_interval_seconds == 120
    assert settings.enabled
    assert settings.directory_refreshed_at is not None
    added = session.scalar(
        select(Organisation).where(Organisation.code == "000.00.00.G22")
    )
    assert added.name == "Bộ Nội vụ"
    assert added.parent_id == city.id


def test_connect_command_wrong_token(app, session, hub_server):
    url, _ = hub_server
    city = org("UBND Thành phố")
    register_at_hub(session, city)
    session.commit()

    result = app.test_cli_runner().invoke(
        args=["exchange", "connect", "--org", city.code, "--hub", url, "--token", "x"]
    )

    assert result.exit_code == 1
    assert "401" in result.output
    fresh()
    settings = session.scalar(
        select(ConnectorSettings).where(ConnectorSettings.organisation_id == city.id)
    )
    assert "401" in settings.last_error


@pytest.mark.parametrize(
    "url", ["http://hub.example.invalid/api/edoc/v1", "ftp://127.0.0.1/x", "hub"]
)
def test_connect_command_rejects_url(app, session, url):
    city = org("UBND Thành phố")

    result = app.test_cli_runner().invoke(
        args=["exchange", "connect", "--org", city.code, "--hub", url, "--token", "t"]
    )

    assert result.exit_code == 2
    assert "https://" in result.output
    fresh()
    assert session.scalar(select(func.count()).select_from(ConnectorSettings)) == 0


def test_sync_command_prints_counts(app, login_as, session, exchange):
    city_issues(login_as, "Đồng bộ bằng lệnh")
    ward = session.get(Organisation, exchange.ward_id)

    result = app.test_cli_runner().invoke(args=["exchange", "sync", "--org", ward.code])

    assert result.exit_code == 0, result.output
    assert f"{ward.name} ({ward.code})" in result.output
    assert "nhận 1 văn bản" in result.output
    assert "gửi đi 1" in result.output
    assert "0 trạng thái (trùng 0, không rõ văn bản 0)" in result.output


def test_sync_command_without_connectors(app):
    result = app.test_cli_runner().invoke(args=["exchange", "sync"])

    assert result.exit_code == 1
    assert "exchange connect" in result.output


def test_sync_command_org_without_connector(app):
    ward = org("Ba Đình")

    result = app.test_cli_runner().invoke(args=["exchange", "sync", "--org", ward.code])

    assert result.exit_code == 1
    assert f"{ward.name} ({ward.code}) chưa được bật kết nối" in result.output
    assert f"exchange connect --org {ward.code} --hub" in result.output
    assert "Chưa có đơn vị nào" not in result.output


def test_sync_command_org_connector_disabled(app, session, exchange):
    settings = session.get(ConnectorSettings, exchange.ward_settings_id)
    settings.enabled = False
    code = settings.organisation.code
    session.commit()

    result = app.test_cli_runner().invoke(args=["exchange", "sync", "--org", code])

    assert result.exit_code == 1
    assert "đang tắt" in result.output
    assert f"exchange connect --org {code}" in result.output


def test_sync_command_org_not_hosted(app, session):
    session.add(
        Organisation(code="000.77.01.H01", name="UBND phường Ngoài", kind="ward")
    )
    session.commit()

    result = app.test_cli_runner().invoke(
        args=["exchange", "sync", "--org", "000.77.01.H01"]
    )

    assert result.exit_code == 1
    assert "không có tài khoản nào đang hoạt động" in result.output


def test_sync_command_unknown_org(app):
    result = app.test_cli_runner().invoke(
        args=["exchange", "sync", "--org", "000.99.99.H99"]
    )

    assert result.exit_code == 1
    assert "Mã đơn vị “000.99.99.H99” không có" in result.output


def test_sync_command_survives_bad_setting(app, login_as, session, exchange):
    app.config["CONNECTOR_PARALLEL_CALLS"] = "nhiều"
    city_issues(login_as, "Đồng bộ với cấu hình sai")
    ward = session.get(Organisation, exchange.ward_id)

    result = app.test_cli_runner().invoke(args=["exchange", "sync", "--org", ward.code])

    assert result.exit_code == 0, result.output
    assert "nhận 1 văn bản" in result.output


# Revocation and update (BussinessDocType 1 and 2) through the hub over HTTP.

CHANGE_REASON = "Văn bản ban hành nhầm đối tượng."


def test_http_revoke_and_update(login_as, session, exchange):
    outgoing_id = city_issues(login_as, "Văn bản qua trục")
    connector.run_cycle(session, exchange.city_settings_id)
    connector.run_cycle(session, exchange.ward_settings_id)
    (copy,) = received_copies(session, exchange.ward_id, outgoing_id)

    clerk = login_as("thanhpho.vanthu")
    response = clerk.post(
        f"/changes/{outgoing_id}/update",
        {"update-subject": "Văn bản qua trục (sửa)", "update-reason": "Sửa."},
    )
    assert response.status_code == 303
    response = clerk.post(
        f"/changes/{outgoing_id}/revoke", {"revoke-reason": CHANGE_REASON}
    )
    assert response.status_code == 303
    connector.run_cycle(session, exchange.city_settings_id)
    connector.run_cycle(session, exchange.ward_settings_id)
    # Again: the packages are already taken in, nothing changes.
    connector.run_cycle(session, exchange.ward_settings_id)

    copy = reload(copy.id)
    assert copy.subject == "Văn bản qua trục (sửa)"
    assert copy.state == "revoked"
    assert copy.revoke_reason == CHANGE_REASON
    assert received_copies(session, exchange.ward_id, outgoing_id) == [copy]
    connector.run_cycle(session, exchange.city_settings_id)
    assert reload(outgoing_id).recipients[0].status_code == "15"


def test_http_revoke_unknown_document(login_as, session, exchange):
    outgoing_id = city_issues(login_as, "Văn bản thu hồi khi nơi nhận không còn")
    connector.run_cycle(session, exchange.city_settings_id)
    connector.run_cycle(session, exchange.ward_settings_id)
    (copy,) = received_copies(session, exchange.ward_id, outgoing_id)
    # The ward's record no longer carries the DocumentId the revocation names.
    copy.exchange_id = "000.01.01.H01,2026/01/01,01/KHAC"
    session.commit()

    response = login_as("thanhpho.vanthu").post(
        f"/changes/{outgoing_id}/revoke", {"revoke-reason": CHANGE_REASON}
    )
    assert response.status_code == 303
    connector.run_cycle(session, exchange.city_settings_id)
    connector.run_cycle(session, exchange.ward_settings_id)
    fresh()

    assert reload(copy.id).state == "arrived"
    delivery = session.scalar(
        select(HubDelivery)
        .join(HubMessage)
        .where(
            HubMessage.business_doc_type == 1,
            HubDelivery.recipient_organ_id == org("Ba Đình").code,
        )
    )
    assert delivery.state == "pending"
    assert delivery.attempts == 1
    assert "Không có văn bản" in delivery.last_error


# Two documents with the same number and symbol (the secret series).


def issue_secret_twin(login_as) -> tuple[int, int]:
    """Issue an ordinary document, then secret ones until one has its number."""
    ordinary_id = city_issues(login_as, "Văn bản thường qua trục")
    ordinary = reload(ordinary_id)
    # The secret series has its own numbers, from 01.
    for _ in range(int(ordinary.number)):
        secret_id = city_issues(login_as, "Văn bản tối mật qua trục", secrecy=2)
    secret = reload(secret_id)
    assert secret.number_and_notation == ordinary.number_and_notation
    assert secret.issued_date == ordinary.issued_date
    return ordinary_id, secret_id


def test_http_secret_document_with_repeated_number_delivered(
    login_as, session, exchange
):
    """A secret document numbered like an ordinary one still reaches the ward."""
    ordinary_id, secret_id = issue_secret_twin(login_as)
    ordinary, secret = reload(ordinary_id), reload(secret_id)
    assert secret.exchange_id == f"{ordinary.exchange_id}#{secret_id}"

    run(session, exchange.ward_settings_id)

    assert [row.state for row in outbox_rows(session, secret_id)] == ["sent"]
    (copy,) = received_copies(session, exchange.ward_id, secret_id)
    assert copy.subject == "Văn bản tối mật qua trục"
    assert copy.secrecy == 2
    (other,) = received_copies(session, exchange.ward_id, ordinary_id)
    assert other.subject == "Văn bản thường qua trục"
    run(session, exchange.city_settings_id)
    assert recipient_row(session, secret_id, exchange.ward_id).status_code == "01"


def test_http_used_document_id_conflict(login_as, session, exchange):
    """The hub refuses other bytes under a stored DocumentId; the clerk sees why."""
    ordinary_id, secret_id = issue_secret_twin(login_as)
    rows = outbox_rows(session, secret_id)
    for row in rows:
        row.state, row.sent_at, row.message_id = "pending", None, None
    # As before the fix: the secret document under the ordinary one's DocumentId.
    ordinary = session.get(Document, ordinary_id)
    session.get(Document, secret_id).exchange_id = ordinary.exchange_id
    session.commit()

    run(session, exchange.city_settings_id, poll=False)

    [row] = outbox_rows(session, secret_id)
    assert row.state == "failed"
    assert row.error_detail.startswith("Trục liên thông từ chối gói tin: ")
    assert "cùng mã văn bản" in row.error_detail
    assert row.last_error.startswith("Trục trả lời HTTP 409: conflict — ")
    page = login_as("thanhpho.vanthu").get("/exchange/?state=failed")
    text = page.get_data(as_text=True)
    assert "Trục trả lời HTTP 409: conflict" in text
    assert "returned HTTP" not in text


def test_http_replace_goes_to_holders_of_the_replaced(login_as, session, exchange):
    """A replacement notice reaches only those who hold the replaced document."""
    register_at_hub(session, org("Ngọc Hà"), org("UBND Thành phố"))
    session.commit()
    old_id = city_issues(login_as, "Văn bản cũ")
    new_id = city_issues(login_as, "Văn bản mới", recipients=("Ba Đình", "Ngọc Hà"))
    run(session, exchange.ward_settings_id)
    new_number = reload(new_id).number_and_notation

    response = login_as("thanhpho.vanthu").post(
        f"/changes/{old_id}/replace",
        {"replace-replacement": new_number, "replace-reason": "Ban hành lại."},
    )
    assert response.status_code == 303
    run(session, exchange.city_settings_id, poll=False)
    run(session, exchange.ward_settings_id)
    run(session, exchange.city_settings_id)

    fresh()
    replace_rows = session.scalars(
        select(OutboxMessage).where(OutboxMessage.business_doc_type == 3)
    ).all()
    assert [(r.recipient_organisation_id, r.state) for r in replace_rows] == [
        (exchange.ward_id, "sent")
    ]
    message = session.scalar(
        select(HubMessage).where(HubMessage.business_doc_type == 3)
    )
    assert [d.recipient_organ_id for d in message.deliveries] == [org("Ba Đình").code]
    assert [d.state for d in message.deliveries] == ["delivered"]
    (old_copy,) = received_copies(session, exchange.ward_id, old_id)
    (new_copy,) = received_copies(session, exchange.ward_id, new_id)
    assert old_copy.replaced_by_id == new_copy.id
    # Per recipient of the replaced document, the sender's record shows status 15.
    assert recipient_row(session, old_id, exchange.ward_id).status_code == "15"
    page = login_as("thanhpho.vanthu").get(f"/documents/{old_id}")
    assert "Đồng ý" in page.get_data(as_text=True)
