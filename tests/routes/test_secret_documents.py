"""Secret documents (Mật, Tối mật, Tuyệt mật): who reads them, and where.

A user of the organisation reads a secret document when an admin cleared
them, or when they hold it, wrote it or were assigned it by name. Reaching it
through the department or an organisation-wide role is not enough. A hidden
secret document's pages return 404. It stays out of lists, counts, search, the
secret register and notifications, and other pages do not show its subject.
"""

import pytest
from sqlalchemy import func, select

from vanban.models import (
    Assignment,
    Attachment,
    AuditEvent,
    Document,
    NumberSeries,
    Organisation,
)
from vanban.services import lists, notifications, permissions, trial
from vanban.services.clock import local_today, now

from ..roster import (
    HANDLING_DEPARTMENT,
    OTHER_WARD,
    document_in_state,
    find_user,
    load_ward,
    ward_username,
)

SECRECY_TOP = 3  # Tuyệt mật
# How the reader reaches the document, and the reader's role.
RELATIONS = {
    "holder": "officer",
    "author": "officer",
    "assigned": "officer",
    "department": "head",
    "organisation-advisor": "advisor",
    "organisation-clerk": "clerk",
}
# Relations that reveal a secret document without clearance.
PERSONAL = ("holder", "author", "assigned")


def add_attachment(session, document):
    """Attach a copy of the seeded trial guide's file to the document."""
    model = session.scalar(select(Attachment).order_by(Attachment.id).limit(1))
    assert model is not None, "the seed has no attachment to copy"
    attachment = Attachment(
        document_id=document.id,
        sha256=model.sha256,
        size=model.size,
        content_type=model.content_type,
        original_name=model.original_name,
    )
    session.add(attachment)
    session.flush()
    return attachment


def secret_document(session, ward, relation, **fields):
    """Add a secret incoming document that the relation's reader reaches."""
    officer = ward.users["officer"]
    department = ward.department(session, HANDLING_DEPARTMENT)
    values = {
        "state": "with_head",
        "secrecy": SECRECY_TOP,
        "subject": f"Tuyệt mật thử quyền {relation}",
        "holder_id": None,
        "author_id": None,
        "department_id": None,
    }
    if relation == "holder":
        values["holder_id"] = officer.id
    elif relation == "author":
        values["author_id"] = officer.id
    elif relation == "department":
        values["department_id"] = department.id
    values.update(fields)
    document = document_in_state(ward, session, "incoming", **values)
    session.add(document)
    session.flush()

    assignees = {
        "assigned": {"role": "support", "user_id": officer.id},
        "department": {"role": "lead", "department_id": department.id},
    }
    if relation in assignees:
        session.add(
            Assignment(
                document_id=document.id,
                assigned_by_id=ward.users["leader"].id,
                **assignees[relation],
            )
        )
    return document


def set_clearance(session, username, cleared):
    user = find_user(session, username)
    user.secret_clearance = cleared
    return user


def incoming_total(session, user):
    page = lists.list_documents(
        session, user, "incoming", lists.Filters(), page_size=20, warning_days=3
    )
    return page.total, sum(page.counts.values()), [d.id for d in page.items]


@pytest.mark.parametrize("cleared", [False, True], ids=["uncleared", "cleared"])
@pytest.mark.parametrize("relation", list(RELATIONS))
def test_secret_document_by_relation(session, login_as, relation, cleared):
    ward = load_ward(session)
    username = ward_username(RELATIONS[relation])
    reader = set_clearance(session, username, cleared)
    session.commit()
    totals_before = incoming_total(session, reader)
    document = secret_document(session, ward, relation)
    attachment = add_attachment(session, document)
    session.commit()
    visible = cleared or relation in PERSONAL
    status = 200 if visible else 404
    user = login_as(username)

    assert permissions.can_view(session, reader, document) is visible
    assert user.get(f"/documents/{document.id}").status_code == status
    assert user.get(f"/documents/{document.id}", htmx=True).status_code == status
    download = user.get(f"/documents/attachments/{attachment.id}")
    assert download.status_code == status

    link = f'href="/documents/{document.id}"'
    inbox = user.get("/inbox/").get_data(as_text=True)
    assert (link in inbox) is visible
    search = user.get("/search/", query_string={"q": "Tuyệt mật thử quyền"})
    assert search.status_code == 200
    assert (link in search.get_data(as_text=True)) is visible

    total, counted, ids = incoming_total(session, reader)
    assert total == totals_before[0] + visible
    assert counted == totals_before[1] + visible
    assert (document.id in ids) is visible


@pytest.mark.parametrize("cleared", [False, True], ids=["uncleared", "cleared"])
def test_department_head_todo_and_action(session, login_as, cleared):
    ward = load_ward(session)
    set_clearance(session, ward_username("head"), cleared)
    document = secret_document(session, ward, "department")
    session.commit()
    officer = ward.users["officer"]
    user = login_as(ward_username("head"))

    todo = user.get("/").get_data(as_text=True)
    response = user.post(
        f"/annotation/{document.id}/assign",
        {"officer": str(officer.id), "text": "", "deadline": ""},
    )

    assert (f'href="/documents/{document.id}"' in todo) is cleared
    if cleared:
        assert response.status_code == 303
    else:
        assert response.status_code == 404
        session.rollback()
        assert session.get(Document, document.id).state == "with_head"


def test_other_organisation_gets_403_for_secret(session, login_as):
    ward = load_ward(session)
    document = secret_document(session, ward, "organisation-clerk")
    session.commit()
    user = login_as(ward_username("clerk", OTHER_WARD))

    assert user.get(f"/documents/{document.id}").status_code == 403


@pytest.mark.parametrize("cleared", [False, True], ids=["uncleared", "cleared"])
def test_trainer_reads_secret_only_cleared(session, login_as, cleared):
    ward = load_ward(session)
    trainer = set_clearance(session, "tttt.huongdan", cleared)
    trial.add_participant(session, trainer, ward.organisation)
    document = secret_document(session, ward, "organisation-clerk")
    attachment = add_attachment(session, document)
    session.commit()
    user = login_as("tttt.huongdan")

    status = 200 if cleared else 404
    assert user.get(f"/documents/{document.id}").status_code == status
    download = user.get(f"/documents/attachments/{attachment.id}")
    assert download.status_code == status


def register_secretly(session, ward, document):
    """Give the document the next number of the ward's secret incoming series."""
    series = session.scalar(
        select(NumberSeries).where(
            NumberSeries.organisation_id == ward.organisation.id,
            NumberSeries.direction == "incoming",
            NumberSeries.secret.is_(True),
        )
    )
    assert series is not None, "the demo ward has no secret incoming series"
    year = local_today().year
    last = session.scalar(
        select(func.max(Document.register_number)).where(
            Document.series_id == series.id, Document.register_year == year
        )
    )
    document.series_id = series.id
    document.register_year = year
    document.register_number = (last or 0) + 1
    document.registered_at = now()
    return year


@pytest.mark.parametrize("cleared", [False, True], ids=["uncleared", "cleared"])
@pytest.mark.parametrize("role", ["clerk", "leader"])
def test_secret_register_needs_clearance(session, login_as, role, cleared):
    ward = load_ward(session)
    set_clearance(session, ward_username(role), cleared)
    document = secret_document(session, ward, "organisation-clerk")
    year = register_secretly(session, ward, document)
    session.commit()
    user = login_as(ward_username(role))

    secret_book = user.get(f"/registers/books/incoming/{year}?secret=1")
    index = user.get("/registers/").get_data(as_text=True)
    ordinary = user.get(f"/registers/books/incoming/{year}").get_data(as_text=True)

    assert secret_book.status_code == (200 if cleared else 403)
    if cleared:
        assert document.subject in secret_book.get_data(as_text=True)
    assert ("secret=1" in index) is cleared
    assert document.subject not in ordinary


def test_notifications_skip_uncleared_users(session):
    ward = load_ward(session)
    advisor = set_clearance(session, ward_username("advisor"), False)
    leader = set_clearance(session, ward_username("leader"), True)
    document = secret_document(session, ward, "organisation-clerk")
    session.flush()

    sent = notifications.notify_all(
        session, [advisor, leader], "awaiting_proposal", "Chờ đề xuất", document
    )

    assert [n.user_id for n in sent] == [leader.id]


def test_deadline_dashboard_hides_uncleared(session, login_as):
    ward = load_ward(session)
    set_clearance(session, ward_username("head"), False)
    document = secret_document(session, ward, "department", due_date=local_today())
    session.commit()
    head = login_as(ward_username("head"))
    leader = login_as(ward_username("leader"))

    assert document.subject not in head.get("/deadlines/").get_data(as_text=True)
    assert document.subject in leader.get("/deadlines/").get_data(as_text=True)


@pytest.mark.parametrize("cleared", [False, True], ids=["uncleared", "cleared"])
def test_exchange_page_conceals_subject(session, login_as, cleared):
    ward = load_ward(session)
    set_clearance(session, ward_username("clerk"), cleared)
    city = session.scalar(select(Organisation).where(Organisation.kind == "city"))
    document = secret_document(
        session,
        ward,
        "organisation-clerk",
        sender_organisation_id=city.id,
        received_at=now(),
    )
    session.commit()
    user = login_as(ward_username("clerk"))

    page = user.get("/exchange/").get_data(as_text=True)

    assert f'id="exchange-received-{document.id}"' in page
    assert (document.subject in page) is cleared
    assert ("trích yếu không hiển thị" in page) is not cleared


def test_demo_clears_clerk_and_chairman(session):
    ward = load_ward(session)

    cleared = {role for role, user in ward.users.items() if user.secret_clearance}

    assert cleared == {"clerk", "leader"}
    assert find_user(session, "thanhpho.vanthu").secret_clearance
    assert not find_user(session, "tttt.huongdan").secret_clearance


def test_admin_sets_clearance_with_audit(session, login_as):
    officer = set_clearance(session, ward_username("officer"), False)
    session.commit()
    admin = login_as(ward_username("admin"))
    form = admin.get(f"/admin/users/{officer.id}/edit").get_data(as_text=True)
    assert "Được xem văn bản mật" in form

    response = admin.post(
        f"/admin/users/{officer.id}/edit",
        {
            "full_name": officer.full_name,
            "position": officer.position,
            "email": officer.email or "",
            "department_id": str(officer.department_id or 0),
            "roles": sorted(officer.roles),
            "active": "y",
            "secret_clearance": "y",
        },
    )

    assert response.status_code == 303
    session.rollback()
    assert find_user(session, officer.username).secret_clearance
    event = session.scalar(
        select(AuditEvent)
        .where(AuditEvent.action == "settings.user.update")
        .order_by(AuditEvent.id.desc())
        .limit(1)
    )
    assert event.detail["before"]["secret_clearance"] is False
    assert event.detail["after"]["secret_clearance"] is True
    audit_page = admin.get("/admin/audit").get_data(as_text=True)
    assert "Được xem văn bản mật" in audit_page


@pytest.mark.parametrize("cleared", [False, True], ids=["uncleared", "cleared"])
def test_document_page_conceals_secret_reply(session, login_as, cleared):
    ward = load_ward(session)
    set_clearance(session, ward_username("advisor"), cleared)
    incoming = document_in_state(
        ward, session, "incoming", "replying", subject="Văn bản thường thử quyền"
    )
    session.add(incoming)
    session.flush()
    reply = document_in_state(
        ward,
        session,
        "outgoing",
        "drafting",
        secrecy=SECRECY_TOP,
        subject="Dự thảo tuyệt mật thử quyền",
        reply_to_id=incoming.id,
    )
    session.add(reply)
    session.commit()
    user = login_as(ward_username("advisor"))

    page = user.get(f"/documents/{incoming.id}")

    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert (reply.subject in text) is cleared
    assert (f'href="/documents/{reply.id}"' in text) is cleared
