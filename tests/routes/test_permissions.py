"""Role × route table, generated from the state machine and the action endpoints.

For every action route and every demo user, POSTing the action returns 303 only
for the user the transition belongs to, 403 for anyone else and 409 for that
user when the document is in another state. Refusals leave the database as it
was. Reading rules and the buttons on the document page are checked the same way.
"""

import pytest
from sqlalchemy import func, select

from vanban.blueprints.actions import ACTION_ENDPOINTS, HIDDEN_ACTIONS
from vanban.extensions import db
from vanban.models import Assignment, Attachment, AuditEvent, Document, Organisation
from vanban.services import workflow
from vanban.services.drafts import FORMAT_CHECKLIST

from ..roster import (
    CITY_USERS,
    OTHER_WARD,
    STATES,
    WARD,
    WARD_ROLES,
    add_user_like,
    document_in_state,
    find_user,
    load_ward,
    ward_username,
)

ACTION_TRANSITIONS = [t for t in workflow.TRANSITIONS if t.name in ACTION_ENDPOINTS]
WARD_USERS = [ward_username(role) for role in WARD_ROLES]
OTHER_WARD_USERS = [ward_username(role, OTHER_WARD) for role in WARD_ROLES]
# Users made for the test: (user they copy, department abbreviation or None).
# The second officer is the holder of no document, and the second head runs
# another department.
EXTRA_USERS = {
    f"{WARD}.chuyenvien.2": (ward_username("officer"), "KT"),
    f"{WARD}.truongphong.vhxh": (ward_username("head"), "VHXH"),
}
ROSTER = WARD_USERS + OTHER_WARD_USERS + list(CITY_USERS) + list(EXTRA_USERS)
LIST_PAGES = ("/", "/inbox/", "/registers/outgoing/")


def valid_form(name, session, ward, other_ward):
    """Return form data that the action accepts from the right user."""
    economy = ward.department(session, "KT")
    forms = {
        "register": {},
        "return": {"reason": "Văn bản gửi nhầm đơn vị."},
        "forward": {"note": ""},
        "propose": {"text": "Đề nghị giao Phòng Kinh tế chủ trì."},
        "instruct": {
            "text": "Giao Phòng Kinh tế chủ trì.",
            "lead": f"d{economy.id}",
            "deadline": "",
        },
        "assign": {
            "officer": str(ward.users["officer"].id),
            "text": "",
            "deadline": "",
        },
        "start": {},
        "finish": {"note": "Đã xử lý xong."},
        "draft_reply": {
            "type_name": "Công văn",
            "subject": "V/v trả lời văn bản",
            "body_text": "Nội dung trả lời.",
        },
        "revise": {
            "subject": "V/v trả lời văn bản (sửa)",
            "body_text": "Nội dung đã sửa.",
            "note": "Sửa trích yếu.",
        },
        "submit": {"comment": ""},
        "head_return": {"comment": "Đề nghị sửa đoạn 2."},
        "initial": {"send_to": "format", "comment": ""},
        "format_pass": {
            "checklist": [key for key, _, _ in FORMAT_CHECKLIST],
            "decision": "pass",
            "comment": "",
        },
        "approve": {"comment": ""},
        "leader_return": {"comment": "Đề nghị sửa trích yếu."},
        "issue": {
            "subject": "V/v phối hợp giữa hai phường",
            "recipients": [str(other_ward.organisation.id)],
        },
    }
    assert name in forms, f"add valid form data for the new action {name}"
    return forms[name]


def action_url(app, name, document_id):
    urls = app.url_map.bind("localhost")
    return urls.build(ACTION_ENDPOINTS[name], {"document_id": document_id})


def snapshot(session, document_id):
    """Return the document's columns and the row count of every table."""
    session.rollback()
    document = session.get(Document, document_id)
    columns = {
        column.key: getattr(document, column.key)
        for column in Document.__mapper__.column_attrs
    }
    # One query for all tables keeps the table of refusals fast on PostgreSQL.
    tables = db.metadata.sorted_tables
    row = session.execute(
        select(
            *(
                select(func.count()).select_from(table).scalar_subquery()
                for table in tables
            )
        )
    ).one()
    counts = {table.name: count for table, count in zip(tables, row, strict=True)}
    return columns, counts


def add_documents(session, ward, states_by_key):
    """Add a document in the (direction, state) of each key and return the ids by
    key."""
    # Start a new transaction: on SQLite a read snapshot older than the requests'
    # commits cannot be upgraded to a write.
    session.rollback()
    documents = {
        key: document_in_state(ward, session, direction, state)
        for key, (direction, state) in states_by_key.items()
    }
    session.add_all(documents.values())
    session.commit()
    return {key: document.id for key, document in documents.items()}


def add_extra_user(session, username):
    model_name, department = EXTRA_USERS[username]
    model = find_user(session, model_name)
    ward = load_ward(session)
    add_user_like(
        session,
        model,
        username,
        department_id=ward.department(session, department).id,
    )
    session.commit()


def may_act(username, transition):
    """Tell whether the user is the one demo user the transition is open to."""
    if username in EXTRA_USERS:
        model_name, _ = EXTRA_USERS[username]
        # Extras are the holder of no document and head no document's department.
        return model_name == ward_username(transition.role) and (
            transition.actor == "role"
        )
    return username == ward_username(transition.role)


def test_every_transition_has_an_action_route(app):
    names = {t.name for t in workflow.TRANSITIONS}
    assert set(ACTION_ENDPOINTS) == names - HIDDEN_ACTIONS
    for endpoint in ACTION_ENDPOINTS.values():
        rules = [r for r in app.url_map.iter_rules() if r.endpoint == endpoint]
        assert rules, endpoint
        assert all(r.methods >= {"POST"} for r in rules), endpoint
        assert all("GET" not in r.methods for r in rules), endpoint


def expected_cases(username):
    """List (transition, state, status) for every action POST the user makes.

    Every user tries every action from each of its source states. The user an
    action belongs to also tries it from every other state of its direction.
    """
    cases = []
    for transition in ACTION_TRANSITIONS:
        allowed = may_act(username, transition)
        for state in transition.sources:
            cases.append((transition, state, 303 if allowed else 403))
        if allowed:
            for state in STATES[transition.direction]:
                if state not in transition.sources:
                    cases.append((transition, state, 409))
    return cases


@pytest.mark.parametrize("username", ROSTER)
def test_action_routes_answer_by_role(app, session, login_as, username):
    ward = load_ward(session)
    other_ward = load_ward(session, OTHER_WARD)
    if username in EXTRA_USERS:
        add_extra_user(session, username)
    user = login_as(username)
    cases = expected_cases(username)
    # One document per case, because a successful action changes it.
    ids = add_documents(
        session,
        ward,
        {(t.name, state): (t.direction, state) for t, state, _ in cases},
    )

    for transition, state, status in cases:
        document_id = ids[transition.name, state]
        url = action_url(app, transition.name, document_id)
        data = valid_form(transition.name, session, ward, other_ward)
        before = snapshot(session, document_id)

        response = user.post(url, data)

        case = f"{username} {transition.name} from {state}"
        assert response.status_code == status, case
        if status != 303:
            after = snapshot(session, document_id)
            assert after[0] == before[0], f"{case}: document changed"
            assert after[1] == before[1], f"{case}: rows added or removed"
            continue
        session.rollback()
        document = session.get(Document, document_id)
        assert document.state in transition.targets, case
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.document_id == document_id)
        ).all()
        assert transition.name in actions, f"{case}: no audit row"


def test_every_action_is_allowed_to_one_demo_user():
    for transition in ACTION_TRANSITIONS:
        allowed = [u for u in ROSTER if may_act(u, transition)]
        assert allowed == [ward_username(transition.role)], transition.name


def trial_guide_copies(session):
    """Return the city's issued trial guide and its copy received by the ward."""
    ward = load_ward(session).organisation
    original = session.scalar(
        select(Document)
        .join(Organisation, Organisation.id == Document.organisation_id)
        .where(Organisation.kind == "city", Document.direction == "outgoing")
    )
    received = session.scalar(
        select(Document).where(
            Document.source_document_id == original.id,
            Document.organisation_id == ward.id,
        )
    )
    return original, received


def reading_urls(session, document):
    attachment = session.scalar(
        select(Attachment).where(Attachment.document_id == document.id)
    )
    assert attachment is not None, "the seeded trial guide has no attachment"
    return (
        f"/documents/{document.id}",
        f"/documents/{document.id}/recipients",
        f"/documents/attachments/{attachment.id}",
    )


OUTSIDERS = OTHER_WARD_USERS + list(CITY_USERS) + [ward_username("clerk")]


@pytest.mark.parametrize("username", OUTSIDERS)
def test_other_organisation_cannot_read(session, login_as, username):
    reader = find_user(session, username)
    original, received = trial_guide_copies(session)
    outside = [
        d for d in (original, received) if d.organisation_id != reader.organisation_id
    ]
    assert outside
    targets = {url: None for d in outside for url in reading_urls(session, d)}
    user = login_as(username)

    for url in targets:
        assert user.get(url).status_code == 403, url
        assert user.get(url, htmx=True).status_code == 403, url


@pytest.mark.parametrize("username", [ward_username("clerk"), "thanhpho.vanthu"])
def test_own_organisation_can_read(session, login_as, username):
    reader = find_user(session, username)
    original, received = trial_guide_copies(session)
    [own] = [
        d for d in (original, received) if d.organisation_id == reader.organisation_id
    ]
    user = login_as(username)

    for url in reading_urls(session, own):
        assert user.get(url).status_code == 200, url


def test_officer_reads_only_assigned_documents(session, login_as):
    ward = load_ward(session)
    officer = ward.users["officer"]
    _, received = trial_guide_copies(session)
    guide_file = session.scalar(
        select(Attachment).where(Attachment.document_id == received.id)
    )
    documents = {}
    for case, fields in {
        "unassigned": {"holder_id": None, "author_id": None},
        "held": {"author_id": None},
        "written": {"holder_id": None},
        "assigned": {"holder_id": None, "author_id": None},
    }.items():
        document = document_in_state(ward, session, "incoming", "with_head", **fields)
        session.add(document)
        session.flush()
        session.add(
            Attachment(
                document_id=document.id,
                sha256=guide_file.sha256,
                size=guide_file.size,
                content_type=guide_file.content_type,
                original_name=guide_file.original_name,
            )
        )
        documents[case] = document
    session.add(
        Assignment(
            document_id=documents["assigned"].id,
            role="support",
            user_id=officer.id,
            assigned_by_id=ward.users["leader"].id,
        )
    )
    session.commit()
    urls = {case: reading_urls(session, d) for case, d in documents.items()}
    user = login_as(officer.username)
    head = login_as(ward.users["head"].username)

    for url in urls["unassigned"]:
        assert user.get(url).status_code == 403, url
        assert head.get(url).status_code == 200, f"head of the department: {url}"
    for case in ("held", "written", "assigned"):
        for url in urls[case]:
            assert user.get(url).status_code == 200, f"{case}: {url}"


def summary_of(label):
    return f"<summary>{label}</summary>"


@pytest.mark.parametrize("role", WARD_ROLES)
def test_document_page_shows_only_allowed_actions(app, session, login_as, role):
    ward = load_ward(session)
    pairs = [(d, s) for d, states in STATES.items() for s in states]
    ids = add_documents(session, ward, {pair: pair for pair in pairs})
    user = login_as(ward_username(role))
    readable = role != "admin"

    for (direction, state), document_id in ids.items():
        response = user.get(f"/documents/{document_id}")
        if not readable:
            assert response.status_code == 403, state
            continue
        assert response.status_code == 200, state
        page = response.get_data(as_text=True)
        for transition in ACTION_TRANSITIONS:
            url = action_url(app, transition.name, document_id)
            case = f"{role} on {direction} {state}: {transition.name}"
            expected_visible = (
                transition.role == role
                and transition.direction == direction
                and state in transition.sources
            )
            assert (summary_of(transition.label) in page) is expected_visible, case
            assert (f'action="{url}"' in page) is expected_visible, case
        for name in HIDDEN_ACTIONS:
            assert summary_of(workflow.BY_NAME[name].label) not in page, name


@pytest.mark.parametrize("url", [*LIST_PAGES, "/documents/new", "/documents/new-draft"])
def test_anonymous_is_sent_to_login(client, url):
    response = client.get(url)

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_anonymous_cannot_read_document(client, session):
    _, received = trial_guide_copies(session)
    for url in reading_urls(session, received):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.headers["Location"].startswith("/login"), url


@pytest.mark.parametrize("username", WARD_USERS + list(CITY_USERS))
def test_new_document_pages_by_role(session, login_as, username):
    roles = find_user(session, username).roles
    user = login_as(username)

    compose = user.get("/documents/new")
    draft = user.get("/documents/new-draft")
    lists = {url: user.get(url).status_code for url in LIST_PAGES}

    assert compose.status_code == (200 if "clerk" in roles else 403)
    assert draft.status_code == (200 if "officer" in roles else 403)
    assert lists == {url: 200 for url in LIST_PAGES}
