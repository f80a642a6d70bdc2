"""The city hub's HTTP API through the test client, with real edXML packages."""

import io
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from vanban.exchange import hub
from vanban.extensions import db
from vanban.models.hub import HubMessage

from ..conftest import make_app
from ..hub_support import (
    BILLION_LAUGHS,
    CITY,
    MESSAGE_HEADER,
    OTHER_WARD,
    WARD,
    document_id,
    edit,
    edoc_bytes,
    external_entity,
    register_all,
    status_bytes,
)

API = "/api/edoc/v1"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "edxml"
STATUS_FIXTURE = FIXTURES / "truclienthong-example_status.edxml"
INVALID_FIXTURE = FIXTURES / "invalid_truclienthong-example_edoc.edxml"


@pytest.fixture
def app_config():
    return {"HUB_ENABLED": True}


@pytest.fixture
def tokens(app, session):
    return register_all(session)


class Caller:
    """An organisation's connector: the test client plus its credentials."""

    def __init__(self, client, organ_id: str, token: str):
        self.client = client
        self.organ_id = organ_id
        self.headers = {"X-Organ-Id": organ_id, "Authorization": f"Bearer {token}"}

    def send(self, body: bytes, message_type: str = "edoc", **kwargs):
        headers = {
            **self.headers,
            "Content-Type": "application/xml",
            "X-Message-Type": message_type,
            **kwargs.pop("headers", {}),
        }
        return self.client.post(f"{API}/messages", data=body, headers=headers, **kwargs)

    def get(self, path: str, **kwargs):
        return self.client.get(f"{API}{path}", headers=self.headers, **kwargs)

    def ack(self, message_id: str, payload=None, **kwargs):
        if "data" not in kwargs:
            kwargs["json"] = payload if payload is not None else {"result": "done"}
        return self.client.post(
            f"{API}/messages/{message_id}/ack", headers=self.headers, **kwargs
        )


@pytest.fixture
def callers(app, tokens):
    client = app.test_client()
    return {code: Caller(client, code, token) for code, token in tokens.items()}


def message_count() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(HubMessage))


def assert_json_error(response, status: int, code: str):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert response.json["error"] == code
    assert response.json["detail"]


# Authentication


@pytest.mark.parametrize(
    "path, method",
    [("/messages", "GET"), ("/messages", "POST"), ("/organizations", "GET")],
)
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer {token}"},
        {"X-Organ-Id": WARD},
        {"X-Organ-Id": WARD, "Authorization": "Bearer wrong"},
        {"X-Organ-Id": WARD, "Authorization": "Basic {token}"},
        {"X-Organ-Id": WARD, "Authorization": "Bearer {other}"},
        {"X-Organ-Id": "999.99.99.Z99", "Authorization": "Bearer {token}"},
    ],
    ids=[
        "none",
        "no-organ-id",
        "no-token",
        "wrong-token",
        "basic-scheme",
        "other-token",
        "unknown-organ",
    ],
)
def test_request_without_credentials_gets_401(app, tokens, path, method, headers):
    filled = {
        name: value.format(token=tokens[WARD], other=tokens[OTHER_WARD])
        for name, value in headers.items()
    }

    response = app.test_client().open(
        f"{API}{path}", method=method, headers=filled, data=edoc_bytes()
    )

    assert_json_error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert message_count() == 0


def test_deactivated_organisation_gets_401(callers):
    hub.set_active(db.session, hub.find_organisation(db.session, WARD), False)
    db.session.commit()

    response = callers[WARD].get("/organizations")

    assert_json_error(response, 401, "unauthorized")


def test_rotated_token_gets_401(callers):
    hub.rotate_token(db.session, hub.find_organisation(db.session, WARD))
    db.session.commit()

    response = callers[WARD].get("/organizations")

    assert_json_error(response, 401, "unauthorized")


# The whole exchange


def test_send_list_fetch_ack_deliveries(callers):
    ward, city = callers[WARD], callers[CITY]
    body = edoc_bytes(recipients=(CITY, OTHER_WARD))

    sent = ward.send(body)
    assert sent.status_code == 201, sent.json
    message_id = sent.json["message_id"]
    assert sent.json["document_id"] == document_id()
    assert sent.json["recipients"] == [CITY, OTHER_WARD]

    listed = city.get("/messages?type=edoc")
    assert listed.status_code == 200
    (entry,) = listed.json["messages"]
    assert entry["message_id"] == message_id
    assert entry["type"] == "edoc"
    assert entry["from"] == WARD
    assert entry["document_id"] == document_id()
    assert entry["size"] == len(body)
    assert entry["created_at"].endswith("Z")

    fetched = city.get(f"/messages/{message_id}")
    assert fetched.status_code == 200
    assert fetched.headers["Content-Type"] == "application/xml"
    assert fetched.data == body

    acked = city.ack(message_id)
    assert acked.status_code == 200
    assert acked.json["state"] == "delivered"
    assert city.get("/messages").json["messages"] == []
    assert city.ack(message_id).status_code == 200

    report = ward.get(f"/messages/{message_id}/deliveries")
    assert report.status_code == 200
    states = {row["organ_id"]: row["state"] for row in report.json["deliveries"]}
    assert states == {CITY: "delivered", OTHER_WARD: "pending"}
    assert len(callers[OTHER_WARD].get("/messages").json["messages"]) == 1


def test_resend_answers_200_with_same_id(callers):
    body = edoc_bytes()
    first = callers[WARD].send(body)

    again = callers[WARD].send(body)

    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json["message_id"] == first.json["message_id"]
    assert len(callers[CITY].get("/messages").json["messages"]) == 1


def test_other_document_under_same_id_answers_409(callers):
    """Different bytes under a stored DocumentId are refused, never taken as sent."""
    first = callers[WARD].send(edoc_bytes())

    other = callers[WARD].send(edoc_bytes(subject="Một văn bản khác, cùng số"))

    assert other.status_code == 409
    assert other.json["error"] == "conflict"
    assert "cùng mã văn bản" in other.json["detail"]
    assert first.json["message_id"] in other.json["detail"]
    pending = callers[CITY].get("/messages").json["messages"]
    assert [item["message_id"] for item in pending] == [first.json["message_id"]]


def test_real_status_sample_fetched_byte_identical(app, session, callers):
    """The VPCP SDK's status example, CRLF line endings and all, passes unchanged."""
    client = app.test_client()
    tokens = {}
    for code, name in (
        ("000.00.00.H41", "UBND Tỉnh Nghệ An"),
        ("000.00.00.G22", "VPCP"),
    ):
        _, tokens[code] = hub.add_organisation(session, code, name)
    session.commit()
    sender = Caller(client, "000.00.00.H41", tokens["000.00.00.H41"])
    receiver = Caller(client, "000.00.00.G22", tokens["000.00.00.G22"])
    body = STATUS_FIXTURE.read_bytes()
    assert b"\r\n" in body

    sent = sender.send(body, "status")

    assert sent.status_code == 201, sent.json
    assert sent.json["recipients"] == ["000.00.00.G22"]
    assert sent.json["document_id"] == "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"
    (entry,) = receiver.get("/messages?type=status").json["messages"]
    assert receiver.get(f"/messages/{entry['message_id']}").data == body
    assert sender.send(body, "status").status_code == 200


def test_status_exchange(callers):
    sent = callers[CITY].send(status_bytes(), "status")

    assert sent.status_code == 201
    assert callers[WARD].get("/messages?type=edoc").json["messages"] == []
    (entry,) = callers[WARD].get("/messages?type=status").json["messages"]
    assert entry["type"] == "status"
    assert entry["document_id"] == document_id(WARD)


def test_directory_lists_organisations(callers):
    response = callers[WARD].get("/organizations")

    assert response.status_code == 200
    entries = {e["organ_id"]: e for e in response.json["organizations"]}
    assert set(entries) == set(callers)
    assert entries[WARD]["parent_id"] == CITY
    assert entries[WARD]["name"] == "UBND Phường Ba Đình"
    assert entries[WARD]["email"] is None


def test_answers_not_cached(callers):
    response = callers[WARD].get("/organizations")

    assert response.headers["Cache-Control"] == "no-store"


def test_api_needs_no_csrf_token(callers):
    """CSRF protection is on in tests, and the API is exempt from it."""
    response = callers[WARD].send(edoc_bytes())

    assert response.status_code == 201


# Rejections


def test_sender_mismatch_gets_403(callers):
    response = callers[OTHER_WARD].send(edoc_bytes(sender=WARD))

    assert_json_error(response, 403, "sender_mismatch")


def test_unknown_recipient_gets_422(callers):
    response = callers[WARD].send(edoc_bytes(recipients=("000.77.01.H01",)))

    assert_json_error(response, 422, "unknown_recipient")
    assert "000.77.01.H01" in response.json["detail"]


def test_unknown_recipients_listed_in_body(app, callers):
    hub.set_active(db.session, hub.find_organisation(db.session, OTHER_WARD), False)
    db.session.commit()
    body = edoc_bytes(recipients=(CITY, "000.77.01.H01", OTHER_WARD))

    response = callers[WARD].send(body)

    assert_json_error(response, 422, "unknown_recipient")
    assert response.json["recipients"] == ["000.77.01.H01", OTHER_WARD]


def test_other_errors_list_no_recipients(callers):
    response = callers[OTHER_WARD].send(edoc_bytes(sender=WARD))

    assert_json_error(response, 403, "sender_mismatch")
    assert "recipients" not in response.json


def test_sender_as_recipient_gets_422(callers):
    before = message_count()

    response = callers[WARD].send(edoc_bytes(recipients=(CITY, WARD)))

    assert_json_error(response, 422, "sender_is_recipient")
    assert WARD in response.json["detail"]
    assert "chính mình" in response.json["detail"]
    assert message_count() == before


def test_missing_message_type_gets_400(callers):
    response = callers[WARD].send(edoc_bytes(), message_type="")

    assert_json_error(response, 400, "invalid_request")
    assert "X-Message-Type" in response.json["detail"]


def test_invalid_sample_gets_400_naming_line(callers):
    response = callers[WARD].send(INVALID_FIXTURE.read_bytes())

    assert_json_error(response, 400, "invalid_package")
    assert "dòng" in response.json["detail"]
    assert "not well-formed" in response.json["detail"]


def test_entity_bomb_gets_400_quickly(callers):
    started = time.perf_counter()

    response = callers[WARD].send(BILLION_LAUGHS)

    assert_json_error(response, 400, "invalid_package")
    assert "DOCTYPE" in response.json["detail"]
    assert time.perf_counter() - started < 5


def test_external_entity_gets_400(callers, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE")

    response = callers[WARD].send(external_entity(secret))

    assert_json_error(response, 400, "invalid_package")
    assert "DOCTYPE" in response.json["detail"]
    assert "TOP-SECRET-VALUE" not in response.get_data(as_text=True)


def test_missing_subject_gets_400_naming_element(callers):
    body = edit(edoc_bytes(), f"{MESSAGE_HEADER}/e:Subject", None)

    response = callers[WARD].send(body)

    assert_json_error(response, 400, "invalid_package")
    assert "Subject" in response.json["detail"]


@pytest.mark.parametrize(
    "body",
    [b"", b"\x00\x01\x02", "<edXML>Đ</edXML>".encode("utf-16"), b"<a>" * 100_000],
    ids=["empty", "binary", "utf16-wrong-root", "deep-nesting"],
)
def test_garbage_gets_400_never_500(callers, body):
    response = callers[WARD].send(body)

    assert_json_error(response, 400, "invalid_package")


# Size limit


@pytest.fixture
def small_limit(app):
    app.config["HUB_MAX_PACKAGE_BYTES"] = 4096
    return 4096


def test_too_large_gets_413(callers, small_limit):
    body = edoc_bytes() + b" " * small_limit

    response = callers[WARD].send(body)

    assert_json_error(response, 413, "too_large")
    assert str(small_limit) in response.json["detail"]
    assert message_count() == 0


def test_chunked_too_large_gets_413(callers, small_limit):
    """A body without Content-Length is counted while it is read."""
    body = edoc_bytes() + b" " * small_limit

    response = callers[WARD].send(
        None,
        input_stream=io.BytesIO(body),
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )

    assert_json_error(response, 413, "too_large")
    assert message_count() == 0


def test_chunked_body_accepted(callers):
    body = edoc_bytes()

    response = callers[WARD].send(
        None,
        input_stream=io.BytesIO(body),
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )

    assert response.status_code == 201, response.json
    (entry,) = callers[CITY].get("/messages").json["messages"]
    assert callers[CITY].get(f"/messages/{entry['message_id']}").data == body


def test_package_at_limit_accepted(app, callers):
    body = edoc_bytes()
    app.config["HUB_MAX_PACKAGE_BYTES"] = len(body)

    response = callers[WARD].send(body)

    assert response.status_code == 201


def test_chunked_package_at_limit_accepted(app, callers):
    body = edoc_bytes()
    app.config["HUB_MAX_PACKAGE_BYTES"] = len(body)

    response = callers[WARD].send(
        None,
        input_stream=io.BytesIO(body),
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )

    assert response.status_code == 201, response.json


def test_short_content_length_reads_only_declared(callers):
    body = edoc_bytes()

    response = callers[WARD].send(
        body, environ_overrides={"CONTENT_LENGTH": str(len(body) // 2)}
    )

    assert_json_error(response, 400, "invalid_package")


def test_body_shorter_than_declared_gets_400(callers):
    body = edoc_bytes()

    response = callers[WARD].send(
        body, environ_overrides={"CONTENT_LENGTH": str(len(body) + 100)}
    )

    assert_json_error(response, 400, "invalid_request")
    assert "Content-Length" in response.json["detail"]


# Listing, fetching and acknowledging


@pytest.mark.parametrize(
    "query", ["?limit=abc", "?limit=0", "?limit=-1", "?limit=1e3", "?type=pdf"]
)
def test_bad_list_arguments_get_400(callers, query):
    response = callers[CITY].get(f"/messages{query}")

    assert_json_error(response, 400, "invalid_request")


def test_list_limit(callers):
    for number in range(1, 4):
        callers[WARD].send(edoc_bytes(number=str(number)))

    response = callers[CITY].get("/messages?limit=2")

    assert [m["document_id"] for m in response.json["messages"]] == [
        document_id(WARD, "1"),
        document_id(WARD, "2"),
    ]


@pytest.mark.parametrize("caller", [WARD, OTHER_WARD], ids=["sender", "stranger"])
def test_fetch_by_non_recipient_gets_404(callers, caller):
    message_id = callers[WARD].send(edoc_bytes()).json["message_id"]

    response = callers[caller].get(f"/messages/{message_id}")

    assert_json_error(response, 404, "not_found")


def test_fetch_unknown_message_gets_404(callers):
    response = callers[CITY].get("/messages/does-not-exist")

    assert_json_error(response, 404, "not_found")


def test_ack_fail_five_times_fails_delivery(callers):
    message_id = callers[WARD].send(edoc_bytes()).json["message_id"]
    city = callers[CITY]

    answers = [
        city.ack(message_id, {"result": "fail", "reason": "Không đọc được tệp"})
        for _ in range(hub.MAX_FAILED_ATTEMPTS)
    ]

    assert [a.json["state"] for a in answers] == ["pending"] * 4 + ["failed"]
    assert [a.json["attempts"] for a in answers] == [1, 2, 3, 4, 5]
    assert city.get("/messages").json["messages"] == []
    (row,) = callers[WARD].get(f"/messages/{message_id}/deliveries").json["deliveries"]
    assert row["state"] == "failed"
    assert row["attempts"] == 5
    assert row["last_error"] == "Không đọc được tệp"


@pytest.mark.parametrize(
    "data",
    [b"not json", b"[1, 2]", b'{"result": "maybe"}', b"{}"],
    ids=["not-json", "list", "unknown-result", "empty-object"],
)
def test_ack_with_bad_body_gets_400(callers, data):
    message_id = callers[WARD].send(edoc_bytes()).json["message_id"]

    response = callers[CITY].ack(message_id, data=data, content_type="application/json")

    assert_json_error(response, 400, "invalid_request")


def test_ack_with_huge_body_gets_413(callers):
    message_id = callers[WARD].send(edoc_bytes()).json["message_id"]
    payload = {"result": "fail", "reason": "x" * 100_000}

    response = callers[CITY].ack(message_id, payload)

    assert_json_error(response, 413, "too_large")


def test_ack_by_non_recipient_gets_404(callers):
    message_id = callers[WARD].send(edoc_bytes()).json["message_id"]

    response = callers[OTHER_WARD].ack(message_id)

    assert_json_error(response, 404, "not_found")


@pytest.mark.parametrize("caller", [CITY, OTHER_WARD], ids=["recipient", "stranger"])
def test_deliveries_by_non_sender_get_404(callers, caller):
    message_id = callers[WARD].send(edoc_bytes()).json["message_id"]

    response = callers[caller].get(f"/messages/{message_id}/deliveries")

    assert_json_error(response, 404, "not_found")


# Unknown paths and methods


def test_unknown_path_gets_json_404(callers):
    response = callers[WARD].get("/nothing-here")

    assert_json_error(response, 404, "not_found")


def test_wrong_method_gets_json_405(callers):
    response = callers[WARD].client.delete(
        f"{API}/organizations", headers=callers[WARD].headers
    )

    assert_json_error(response, 405, "method_not_allowed")
    assert response.headers["Allow"] == "GET"


def test_hub_disabled_by_default(database_url, tmp_path):
    disabled = make_app(database_url, tmp_path / "instance")

    response = disabled.test_client().get(f"{API}/organizations")

    assert response.status_code == 404
    assert "hub_api" not in disabled.blueprints
    assert "hub_admin" not in disabled.blueprints
    with disabled.app_context():
        db.session.remove()
        db.engine.dispose()
