"""The notification service: creation, de-duplication, counts and ownership."""

import pytest
from sqlalchemy import func, select

from tests.roster import document_in_state, load_ward
from vanban.models import Notification
from vanban.models.notifications import NOTIFICATION_KINDS
from vanban.services import notifications


@pytest.fixture
def ward(session):
    return load_ward(session)


def _count(session, user, kind=None):
    query = select(func.count()).where(Notification.user_id == user.id)
    if kind:
        query = query.where(Notification.kind == kind)
    return session.scalar(query)


def test_notify_adds_unread(session, ward):
    officer = ward.users["officer"]
    document = document_in_state(ward, session, "incoming", "assigned")
    session.add(document)

    notifications.notify(session, officer, "assignment", "Được giao", document)
    session.commit()

    assert notifications.unread_count(session, officer) == 1
    assert notifications.unread_count(session, ward.users["head"]) == 0


@pytest.mark.parametrize("kind", NOTIFICATION_KINDS)
def test_every_kind_stored_and_labelled(session, ward, kind):
    officer = ward.users["officer"]

    notifications.notify(session, officer, kind, "Thông báo thử")
    session.commit()

    assert _count(session, officer, kind) == 1
    assert notifications.KIND_LABELS[kind]


def test_notify_rejects_unknown_kind(session, ward):
    with pytest.raises(ValueError):
        notifications.notify(session, ward.users["officer"], "spam", "x")


def test_reminder_once_per_day(session, ward):
    officer = ward.users["officer"]
    document = document_in_state(ward, session, "incoming", "assigned")
    session.add(document)

    first = notifications.notify(session, officer, "deadline", "Sắp đến hạn", document)
    session.commit()
    notifications.mark_read(first)
    session.commit()
    second = notifications.notify(session, officer, "deadline", "Sắp đến hạn", document)
    session.commit()

    assert second.id == first.id
    assert _count(session, officer, "deadline") == 1
    assert notifications.unread_count(session, officer) == 0


def test_unread_event_refreshed_not_repeated(session, ward):
    officer = ward.users["officer"]
    document = document_in_state(ward, session, "outgoing", "draft")
    session.add(document)

    notifications.notify(session, officer, "draft_returned", "Lần 1", document)
    session.commit()
    notifications.notify(session, officer, "draft_returned", "Lần 2", document)
    session.commit()

    rows = session.scalars(
        select(Notification).where(Notification.user_id == officer.id)
    ).all()
    assert len(rows) == 1
    assert rows[0].text == "Lần 2"


def test_read_event_notified_again(session, ward):
    officer = ward.users["officer"]
    document = document_in_state(ward, session, "outgoing", "draft")
    session.add(document)

    first = notifications.notify(session, officer, "draft_returned", "Lần 1", document)
    notifications.mark_read(first)
    session.commit()
    notifications.notify(session, officer, "draft_returned", "Lần 2", document)
    session.commit()

    assert _count(session, officer, "draft_returned") == 2
    assert notifications.unread_count(session, officer) == 1


def test_notify_all_skips_actor_and_repeats(session, ward):
    head, officer = ward.users["head"], ward.users["officer"]

    sent = notifications.notify_all(
        session, [head, officer, officer], "review", "Chờ xem xét", actor=head
    )
    session.commit()

    assert [n.user_id for n in sent] == [officer.id]


def test_mark_all_read_only_own(session, ward):
    head, officer = ward.users["head"], ward.users["officer"]
    for user in (head, officer, officer):
        notifications.notify(session, user, "incoming", "Văn bản mới")
    session.commit()

    changed = notifications.mark_all_read(session, officer)
    session.commit()

    assert changed == 2
    assert notifications.unread_count(session, officer) == 0
    assert notifications.unread_count(session, head) == 1


def test_get_own_hides_others(session, ward):
    head, officer = ward.users["head"], ward.users["officer"]
    mine = notifications.notify(session, officer, "incoming", "Văn bản mới")
    session.commit()

    assert notifications.get_own(session, officer, mine.id) is mine
    assert notifications.get_own(session, head, mine.id) is None
