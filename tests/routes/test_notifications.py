"""Notifications: the events that create them, the bell, the list and ownership."""

import re

import pytest
from sqlalchemy import func, select

from tests.roster import (
    HANDLING_DEPARTMENT,
    add_user_like,
    document_in_state,
    load_ward,
)
from tests.scenario import city_issues_guide, fresh, org
from vanban.models import Document, Notification, User, UserRole
from vanban.services import drafts, incoming, notifications
from vanban.services.drafts import FORMAT_CHECKLIST


@pytest.fixture
def ward(session):
    return load_ward(session)


def _last_id(session) -> int:
    return session.scalar(select(func.max(Notification.id))) or 0


def _added_since(session, last_id: int) -> list[tuple[int, str, int | None]]:
    rows = session.scalars(
        select(Notification).where(Notification.id > last_id).order_by(Notification.id)
    )
    return [(n.user_id, n.kind, n.document_id) for n in rows]


def _document(session, ward, direction, state, **fields) -> Document:
    document = document_in_state(ward, session, direction, state, **fields)
    session.add(document)
    session.flush()
    return document


# Events


def test_delivered_document_notifies_ward_clerks(session, login_as):
    fresh()
    last_id = _last_id(session)

    _, incoming_id = city_issues_guide(login_as)

    fresh()
    ward = load_ward(session)
    clerks = notifications.users_with_role(session, ward.organisation.id, "clerk")
    assert clerks
    expected = [(clerk.id, "incoming", incoming_id) for clerk in clerks]
    assert _added_since(session, last_id) == expected


def test_instruct_to_department_notifies_its_head(session, ward):
    document = _document(session, ward, "incoming", "with_leader", holder_id=None)
    department = ward.department(session, HANDLING_DEPARTMENT)
    last_id = _last_id(session)

    incoming.instruct(
        session,
        ward.users["leader"],
        document,
        text="Giao phòng chủ trì.",
        lead_department_id=department.id,
    )
    session.flush()

    assert _added_since(session, last_id) == [
        (ward.users["head"].id, "assignment", document.id)
    ]


def test_instruct_to_officer_notifies_officer(session, ward):
    document = _document(session, ward, "incoming", "with_leader", holder_id=None)
    officer = ward.users["officer"]
    last_id = _last_id(session)

    incoming.instruct(
        session,
        ward.users["leader"],
        document,
        text="Giao chuyên viên xử lý.",
        lead_user_id=officer.id,
    )
    session.flush()

    assert _added_since(session, last_id) == [(officer.id, "assignment", document.id)]


def test_head_assign_notifies_officer(session, ward):
    document = _document(session, ward, "incoming", "with_head", holder_id=None)
    officer = ward.users["officer"]
    last_id = _last_id(session)

    incoming.assign_officer(
        session, ward.users["head"], document, officer_id=officer.id, text=""
    )
    session.flush()

    assert _added_since(session, last_id) == [(officer.id, "assignment", document.id)]


def test_submit_notifies_department_head(session, ward):
    draft = _document(session, ward, "outgoing", "drafting")
    last_id = _last_id(session)

    drafts.submit(session, ward.users["officer"], draft)
    session.flush()

    assert _added_since(session, last_id) == [
        (ward.users["head"].id, "review", draft.id)
    ]


def test_initial_notifies_format_reviewer(session, ward):
    draft = _document(session, ward, "outgoing", "head_review", holder_id=None)
    last_id = _last_id(session)

    drafts.initial(session, ward.users["head"], draft, send_to="format")
    session.flush()

    reviewer = ward.users["format_reviewer"]
    assert _added_since(session, last_id) == [(reviewer.id, "review", draft.id)]


def test_format_pass_notifies_leader(session, ward):
    draft = _document(session, ward, "outgoing", "format_review", holder_id=None)
    last_id = _last_id(session)

    drafts.check_format(
        session,
        ward.users["format_reviewer"],
        draft,
        ticked={key for key, _, _ in FORMAT_CHECKLIST},
        passed=True,
    )
    session.flush()

    leader = ward.users["leader"]
    assert _added_since(session, last_id) == [(leader.id, "review", draft.id)]


@pytest.mark.parametrize(
    ("state", "role", "action"),
    [
        ("head_review", "head", "head_return"),
        ("format_review", "format_reviewer", "format_return"),
        ("leader_review", "leader", "leader_return"),
    ],
)
def test_returned_draft_notifies_author(session, ward, state, role, action):
    draft = _document(session, ward, "outgoing", state, holder_id=None)
    reviewer = ward.users[role]
    last_id = _last_id(session)

    if action == "format_return":
        drafts.check_format(
            session, reviewer, draft, ticked=set(), passed=False, comment="Sửa lề."
        )
    else:
        getattr(drafts, action)(session, reviewer, draft, "Cần sửa.")
    session.flush()

    author = ward.users["officer"]
    assert _added_since(session, last_id) == [(author.id, "draft_returned", draft.id)]


def _active_with_role(session, ward, role: str) -> list[int]:
    """Ids of the ward's active users holding the role, read straight from the
    tables."""
    return list(
        session.scalars(
            select(User.id)
            .join(UserRole, UserRole.user_id == User.id)
            .where(
                User.organisation_id == ward.organisation.id,
                User.active.is_(True),
                UserRole.role == role,
            )
            .order_by(User.id)
        )
    )


def _forward(session, user, document):
    incoming.forward_to_advisor(session, user, document, note="")


def _propose(session, user, document):
    incoming.propose(session, user, document, text="Đề xuất giao Phòng Kinh tế.")


def _approve(session, user, document):
    drafts.approve(session, user, document)


# Each hand-over with the role that acts, the role that gets the work next and
# the kind of its notification.
hand_overs = pytest.mark.parametrize(
    ("direction", "state", "actor_role", "act", "recipient_role", "kind"),
    [
        ("incoming", "registered", "clerk", _forward, "advisor", "awaiting_proposal"),
        (
            "incoming",
            "with_advisor",
            "advisor",
            _propose,
            "leader",
            "awaiting_direction",
        ),
        ("outgoing", "leader_review", "leader", _approve, "clerk", "awaiting_issue"),
    ],
    ids=["forward", "propose", "approve"],
)


@hand_overs
def test_hand_over_notifies_next_role_only(
    session, ward, direction, state, actor_role, act, recipient_role, kind
):
    document = _document(session, ward, direction, state, holder_id=None)
    model = ward.users[recipient_role]
    second = add_user_like(session, model, f"thu.{recipient_role}.hai")
    add_user_like(session, model, f"thu.{recipient_role}.nghi", active=False)
    last_id = _last_id(session)

    act(session, ward.users[actor_role], document)
    session.flush()

    expected = _active_with_role(session, ward, recipient_role)
    assert {model.id, second.id} <= set(expected)
    assert _added_since(session, last_id) == [
        (user_id, kind, document.id) for user_id in expected
    ]


@hand_overs
def test_hand_over_skips_actor_refreshes_unread(
    session, ward, direction, state, actor_role, act, recipient_role, kind
):
    document = _document(session, ward, direction, state, holder_id=None)
    # An actor who also has the next role gets no notification of their own step.
    actor = add_user_like(session, ward.users[actor_role], f"thu.{actor_role}.kiem")
    actor.role_grants.append(type(actor.role_grants[0])(role=recipient_role))
    session.flush()
    earlier = notifications.notify(
        session, ward.users[recipient_role], kind, "Cũ", document
    )
    session.flush()
    last_id = _last_id(session)

    act(session, actor, document)
    session.flush()

    expected = [
        user_id
        for user_id in _active_with_role(session, ward, recipient_role)
        if user_id not in (actor.id, ward.users[recipient_role].id)
    ]
    assert _added_since(session, last_id) == [
        (user_id, kind, document.id) for user_id in expected
    ]
    # The unread notice about the same document was refreshed, not repeated.
    assert earlier.text != "Cũ"


def test_event_via_route_reaches_bell(session, ward, login_as):
    draft = _document(session, ward, "outgoing", "drafting")
    session.commit()
    head = login_as("badinh.truongphong")
    before = _bell_count(head.get("/notifications/bell", htmx=True))

    officer = login_as("badinh.chuyenvien")
    assert officer.post(f"/approval/{draft.id}/submit", {}).status_code == 303

    assert _bell_count(head.get("/notifications/bell", htmx=True)) == before + 1


# The bell


def _bell_count(response) -> int:
    assert response.status_code == 200
    match = re.search(r'class="badge bell-count"[^>]*>(\d+)<', response.text)
    return int(match.group(1)) if match else 0


def test_bell_in_page_shows_unread(session, ward, login_as):
    officer = ward.users["officer"]
    notifications.mark_all_read(session, officer)
    for number in range(3):
        notifications.notify(session, officer, "incoming", f"Văn bản {number}")
    session.commit()
    web = login_as("badinh.chuyenvien")

    page = web.get("/")

    assert 'id="notification-bell"' in page.text
    assert 'hx-trigger="every 30s"' in page.text
    assert _bell_count(page) == 3


def test_bell_fragment_counts_own_only(session, ward, login_as):
    officer, head = ward.users["officer"], ward.users["head"]
    notifications.mark_all_read(session, officer)
    notifications.notify(session, officer, "incoming", "Của chuyên viên")
    notifications.notify(session, head, "incoming", "Của trưởng phòng")
    session.commit()
    web = login_as("badinh.chuyenvien")

    response = web.get("/notifications/bell", htmx=True)

    assert "<html" not in response.text
    assert _bell_count(response) == 1


def test_bell_without_unread_has_no_badge(session, ward, login_as):
    notifications.mark_all_read(session, ward.users["officer"])
    session.commit()
    web = login_as("badinh.chuyenvien")

    response = web.get("/notifications/bell", htmx=True)

    assert "bell-count" not in response.text


def test_bell_after_session_expired_stops_polling(client):
    response = client.get("/notifications/bell", headers={"HX-Request": "true"})

    assert response.status_code == 286
    assert 'id="notification-bell"' in response.text
    assert "hx-get" not in response.text
    assert "HX-Redirect" not in response.headers
    assert "alert" not in response.text


def test_bell_after_logout_stops_polling(login_as):
    web = login_as("badinh.chuyenvien")
    web.post("/logout")

    response = web.get("/notifications/bell", htmx=True)

    assert response.status_code == 286
    assert "hx-trigger" not in response.text


# The list


def test_list_newest_first_and_paged(app, session, ward, login_as):
    officer = ward.users["officer"]
    page_size = app.config["PAGE_SIZE"]
    total_before = session.scalar(
        select(func.count()).where(Notification.user_id == officer.id)
    )
    for number in range(page_size + 3):
        notifications.notify(session, officer, "incoming", f"Thông báo số {number:03}")
        session.commit()
    web = login_as("badinh.chuyenvien")

    first = web.get("/notifications/")
    second = web.get("/notifications/?page=2")

    texts = re.findall(r"Thông báo số (\d{3})", first.text)
    assert texts[0] == f"{page_size + 2:03}"
    assert texts == sorted(texts, reverse=True)
    assert len(texts) == page_size
    assert f"{total_before + page_size + 3} thông báo" in first.text
    assert "Trang 1/" in first.text
    assert "Thông báo số 002" in second.text


def test_list_links_to_document(session, ward, login_as):
    document = _document(session, ward, "incoming", "with_officer")
    notifications.notify(
        session, ward.users["officer"], "assignment", "Có việc mới", document
    )
    session.commit()
    web = login_as("badinh.chuyenvien")

    response = web.get("/notifications/")

    assert f'href="/documents/{document.id}"' in response.text


def test_list_fragment_for_htmx(login_as):
    web = login_as("badinh.chuyenvien")

    response = web.get("/notifications/", htmx=True)

    assert response.status_code == 200
    assert 'id="notification-list"' in response.text
    assert "<html" not in response.text


def test_list_hides_other_users(session, ward, login_as):
    notifications.notify(session, ward.users["head"], "incoming", "Chỉ trưởng phòng")
    session.commit()
    web = login_as("badinh.chuyenvien")

    response = web.get("/notifications/")

    assert "Chỉ trưởng phòng" not in response.text


def test_list_bad_page_number(login_as):
    web = login_as("badinh.chuyenvien")

    for value in ("abc", "-3", "²", "9" * 5000):
        response = web.get(f"/notifications/?page={value}")
        assert response.status_code == 200, value


def test_list_needs_login(client):
    response = client.get("/notifications/")

    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


# Marking read


def test_mark_one_read(session, ward, login_as):
    officer = ward.users["officer"]
    mine = notifications.notify(session, officer, "incoming", "Đọc tôi")
    session.commit()
    unread = notifications.unread_count(session, officer)
    web = login_as("badinh.chuyenvien")

    response = web.post(f"/notifications/{mine.id}/read")

    assert response.status_code == 303
    fresh()
    assert session.get(Notification, mine.id).read_at is not None
    assert notifications.unread_count(session, officer) == unread - 1


def test_mark_read_htmx_updates_bell(session, ward, login_as):
    officer = ward.users["officer"]
    notifications.mark_all_read(session, officer)
    mine = notifications.notify(session, officer, "incoming", "Đọc tôi")
    notifications.notify(session, officer, "incoming", "Còn lại")
    session.commit()
    web = login_as("badinh.chuyenvien")

    response = web.post(f"/notifications/{mine.id}/read", htmx=True)

    assert response.status_code == 200
    assert 'id="notification-list"' in response.text
    assert 'hx-swap-oob="true"' in response.text
    assert _bell_count(response) == 1


def test_mark_all_read_only_own(session, ward, login_as):
    officer, head = ward.users["officer"], ward.users["head"]
    notifications.notify(session, officer, "incoming", "Của chuyên viên")
    notifications.notify(session, head, "incoming", "Của trưởng phòng")
    session.commit()
    head_unread = notifications.unread_count(session, head)
    web = login_as("badinh.chuyenvien")

    response = web.post("/notifications/read-all")

    assert response.status_code == 303
    fresh()
    assert notifications.unread_count(session, officer) == 0
    assert notifications.unread_count(session, head) == head_unread


def test_cannot_mark_other_users(session, ward, login_as):
    theirs = notifications.notify(
        session, ward.users["head"], "incoming", "Của trưởng phòng"
    )
    session.commit()
    web = login_as("badinh.chuyenvien")

    response = web.post(f"/notifications/{theirs.id}/read")

    assert response.status_code == 404
    fresh()
    assert session.get(Notification, theirs.id).read_at is None


def test_other_ward_cannot_mark(session, ward, login_as):
    theirs = notifications.notify(
        session, ward.users["officer"], "incoming", "Của Ba Đình"
    )
    session.commit()
    web = login_as("ngocha.chuyenvien")

    assert web.post(f"/notifications/{theirs.id}/read").status_code == 404
    assert "Của Ba Đình" not in web.get("/notifications/").text


def test_mark_read_unknown_id(login_as):
    web = login_as("badinh.chuyenvien")

    assert web.post("/notifications/999999/read").status_code == 404


def test_mark_read_needs_csrf(session, ward, login_as):
    mine = notifications.notify(session, ward.users["officer"], "incoming", "Đọc tôi")
    session.commit()
    web = login_as("badinh.chuyenvien")

    response = web.post(f"/notifications/{mine.id}/read", csrf=False)

    assert response.status_code == 400
    fresh()
    assert session.get(Notification, mine.id).read_at is None


def test_mark_read_rejects_get(session, ward, login_as):
    mine = notifications.notify(session, ward.users["officer"], "incoming", "Đọc tôi")
    session.commit()
    web = login_as("badinh.chuyenvien")

    assert web.get(f"/notifications/{mine.id}/read").status_code == 405


def test_inactive_user_not_notified(session, ward):
    clerk = ward.users["clerk"]
    spare = add_user_like(session, clerk, "badinh.vanthu2", active=False)
    organisation = org("Ba Đình")

    clerks = notifications.users_with_role(session, organisation.id, "clerk")

    assert spare.id not in [user.id for user in clerks]
    assert clerk.id in [user.id for user in clerks]
