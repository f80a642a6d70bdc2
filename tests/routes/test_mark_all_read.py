"""Marking notifications read touches only those the user's list shows.

The list and the bell hide a notification about a document the user may not
read now: a secret document without clearance, or one handed on to someone
else. Marking read must leave such a notification unread as well.
"""

import re

import pytest

from tests.roster import document_in_state, load_ward, ward_username
from tests.scenario import fresh
from vanban.models import Document, Notification
from vanban.services import notifications


@pytest.fixture
def ward(session):
    return load_ward(session)


def _document(session, ward, **fields) -> Document:
    document = document_in_state(ward, session, "incoming", "with_advisor", **fields)
    session.add(document)
    session.flush()
    return document


def _bell_count(response) -> int:
    assert response.status_code == 200
    match = re.search(r'class="badge bell-count"[^>]*>(\d+)<', response.text)
    return int(match.group(1)) if match else 0


def _secret_notification(session, ward) -> Notification:
    """Add an advisor's notification about a secret document they may not read."""
    advisor = ward.users["advisor"]
    assert not advisor.secret_clearance
    secret = _document(session, ward, secrecy=1, subject="Văn bản mật thử thông báo")
    notification = notifications.notify(
        session, advisor, "awaiting_proposal", "Văn bản mật chờ đề xuất", secret
    )
    session.flush()
    return notification


def test_read_all_skips_secret_hidden(session, ward, login_as):
    advisor = ward.users["advisor"]
    hidden = _secret_notification(session, ward)
    shown = notifications.notify(session, advisor, "incoming", "Thông báo thường")
    session.commit()
    web = login_as(ward_username("advisor"))

    response = web.post("/notifications/read-all")

    assert response.status_code == 303
    fresh()
    assert session.get(Notification, shown.id).read_at is not None
    assert session.get(Notification, hidden.id).read_at is None
    assert notifications.unread_count(session, advisor) == 0


def test_read_all_skips_handed_on(session, ward, login_as):
    officer, head = ward.users["officer"], ward.users["head"]
    other_department = ward.department(session, "VHXH")
    # Handed on to the head of another department: the officer no longer
    # holds, wrote or is assigned it.
    document = _document(
        session,
        ward,
        holder_id=head.id,
        author_id=None,
        department_id=other_department.id,
    )
    hidden = notifications.notify(
        session, officer, "assignment", "Văn bản đã chuyển đi", document
    )
    session.commit()
    web = login_as(ward_username("officer"))

    response = web.post("/notifications/read-all", htmx=True)

    assert response.status_code == 200
    assert _bell_count(response) == 0
    fresh()
    assert session.get(Notification, hidden.id).read_at is None


def test_hidden_counts_after_clearance(session, ward, login_as):
    advisor = ward.users["advisor"]
    hidden = _secret_notification(session, ward)
    session.commit()
    web = login_as(ward_username("advisor"))
    assert web.post("/notifications/read-all").status_code == 303
    fresh()

    advisor.secret_clearance = True
    session.commit()

    assert notifications.unread_count(session, advisor) == 1
    listed = notifications.list_for_user(session, advisor, 1, 100)
    assert hidden.id in [item.id for item in listed.items]
    assert _bell_count(web.get("/notifications/bell", htmx=True)) == 1


def test_mark_one_hidden_not_found(session, ward, login_as):
    hidden = _secret_notification(session, ward)
    session.commit()
    web = login_as(ward_username("advisor"))

    response = web.post(f"/notifications/{hidden.id}/read")

    assert response.status_code == 404
    fresh()
    assert session.get(Notification, hidden.id).read_at is None
