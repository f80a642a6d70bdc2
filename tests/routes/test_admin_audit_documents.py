"""The audit page's document column: number, subject and link, or a placeholder."""

import html
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import WebUser
from tests.roster import (
    OTHER_WARD,
    add_user_like,
    document_in_state,
    find_user,
    load_ward,
    ward_username,
)
from tests.scenario import fresh
from tests.statements import captured_statements
from vanban.models import Document, UserRole
from vanban.services import (
    audit,
    audit_documents,
    audit_labels,
    permissions,
    trial,
)

CITY_ADMIN = "thanhpho.quantri"
TRAINER = "tttt.huongdan"
SECRET_SUBJECT = "Phương án bảo vệ kho lưu trữ Zebrafish bí mật"
SECRET_WORD = "Zebrafish"
SECRET_NOTATION = "ZQX-MAT"


@pytest.fixture
def ward(session):
    return load_ward(session)


def _document(session, ward, direction="incoming", state="registered", **fields):
    document = document_in_state(ward, session, direction, state, **fields)
    session.add(document)
    session.flush()
    return document


def _log(session, action, document, user, minute=0, **detail):
    """Add an audit row about the document at a fixed time, newest last."""
    row = audit.record(session, action, user=user, document=document, **detail)
    row.created_at = datetime(2026, 4, 1, 3, 0, tzinfo=UTC) + timedelta(minutes=minute)
    return row


def _admin_with_roles(session, ward, username, *roles, cleared=False):
    """Add an admin of the ward who also has other roles."""
    user = add_user_like(
        session, ward.users["admin"], username, secret_clearance=cleared
    )
    user.role_grants.extend(UserRole(role=role) for role in roles)
    session.flush()
    return user


def _secret_document(session, ward):
    document = _document(
        session,
        ward,
        secrecy=1,
        subject=SECRET_SUBJECT,
        number="77",
        notation=SECRET_NOTATION,
        register_number=41,
        holder_id=ward.users["clerk"].id,
        author_id=None,
        department_id=None,
    )
    _log(session, "register", document, ward.users["clerk"])
    return document


def _document_cell(page: str, row: int = 0) -> str:
    """Return the document cell of the row-th audit row, newest first."""
    cells = page.split('<td data-label="Văn bản" class="audit-document">')[1:]
    return cells[row].split("</td>")[0]


def _page(web: WebUser, query: str = "?action=register") -> str:
    """Return the audit page, by default its rows of the "register" action only,
    which leaves out the login rows of the test's own users."""
    response = web.get(f"/admin/audit{query}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_normal_document_named(session, ward, login_as):
    document = _document(
        session,
        ward,
        subject="Kế hoạch tổ chức Tết Trung thu cho thiếu nhi trên địa bàn phường",
        number="15",
        notation="KH-UBND",
        register_number=8,
    )
    _log(session, "register", document, ward.users["clerk"])
    session.commit()

    page = _page(login_as(ward_username("admin")))

    cell = _document_cell(page)
    assert "Số 15/KH-UBND, số đến 8" in cell
    assert "Kế hoạch tổ chức Tết Trung thu cho thiếu nhi" in cell
    assert "Văn bản mật" not in cell
    # A plain admin may not open documents, so the cell carries no link.
    assert "<a " not in cell


def test_link_for_admin_who_reads_documents(session, ward, login_as):
    document = _document(session, ward, subject="Báo cáo tình hình kinh tế quý I")
    _log(session, "register", document, ward.users["clerk"])
    _admin_with_roles(session, ward, "badinh.quantri.vanthu", "clerk")
    session.commit()

    web = login_as("badinh.quantri.vanthu")
    cell = _document_cell(_page(web))

    assert f'href="/documents/{document.id}"' in cell
    assert "Báo cáo tình hình kinh tế quý I" in cell
    assert web.get(f"/documents/{document.id}").status_code == 200


def test_secret_document_hidden_without_clearance(session, ward, login_as):
    document = _secret_document(session, ward)
    session.commit()
    admin = ward.users["admin"]
    assert not admin.secret_clearance

    for username in (admin.username, CITY_ADMIN):
        page = _page(login_as(username))
        cell = _document_cell(page)
        assert cell == f'<span class="muted">{audit_labels.SECRET_DOCUMENT}</span>'
        text = html.unescape(page)
        assert SECRET_WORD not in text
        assert SECRET_SUBJECT not in text
        assert SECRET_NOTATION not in text
        assert f"/documents/{document.id}" not in page


def test_secret_document_shown_to_cleared_reader(session, ward, login_as):
    document = _secret_document(session, ward)
    _admin_with_roles(session, ward, "badinh.quantri.chutich", "leader", cleared=True)
    session.commit()

    web = login_as("badinh.quantri.chutich")
    cell = _document_cell(_page(web))

    assert f"Số 77/{SECRET_NOTATION}, số đến 41" in cell
    assert SECRET_SUBJECT in html.unescape(cell)
    assert '<span class="badge secret">Mật</span>' in cell
    assert f'href="/documents/{document.id}"' in cell


@pytest.mark.parametrize(
    ("username", "roles", "cleared"),
    [
        ("badinh.quantri.mat", (), True),
        ("badinh.quantri.vanthu", ("clerk",), False),
        ("badinh.quantri.vanthumat", ("clerk",), True),
    ],
)
def test_subject_only_where_page_opens(
    session, ward, login_as, username, roles, cleared
):
    """A secret document's subject shows exactly when its page opens."""
    document = _secret_document(session, ward)
    _admin_with_roles(session, ward, username, *roles, cleared=cleared)
    session.commit()

    web = login_as(username)
    page = html.unescape(_page(web))
    opens = web.get(f"/documents/{document.id}").status_code == 200

    assert (SECRET_WORD in page) == opens
    assert (SECRET_NOTATION in page) == opens


def test_clearance_alone_does_not_open(session, ward, login_as):
    """Clearance without a role that reads documents keeps the placeholder."""
    document = _secret_document(session, ward)
    _admin_with_roles(session, ward, "badinh.quantri.mat", cleared=True)
    session.commit()

    web = login_as("badinh.quantri.mat")

    assert _document_cell(_page(web)) == (
        f'<span class="muted">{audit_labels.SECRET_DOCUMENT}</span>'
    )
    assert web.get(f"/documents/{document.id}").status_code == 404


def test_row_without_document_empty(session, ward, login_as):
    audit.record(
        session,
        "settings.series.update",
        user=ward.users["admin"],
        before={"name": "Sổ cũ"},
        after={"name": "Sổ mới"},
    )
    session.commit()

    page = _page(login_as(ward_username("admin")), "?action=settings.series.update")

    assert _document_cell(page) == ""


def test_document_id_in_detail(session, ward, login_as):
    document = _document(
        session,
        ward,
        direction="outgoing",
        state="issued",
        subject="Công văn gửi lại qua trục liên thông",
        number="3",
        notation="UBND-VP",
    )
    audit.record(
        session,
        "outbox_requeued",
        user=ward.users["clerk"],
        organisation_id=ward.organisation.id,
        document_id=document.id,
        previous_states=["failed"],
    )
    audit.record(
        session,
        "outbox_requeued",
        user=ward.users["clerk"],
        organisation_id=ward.organisation.id,
        document_id=document.id + 1000,
        previous_states=["failed"],
    )
    session.commit()

    page = _page(login_as(ward_username("admin")), "?action=outbox_requeued")

    assert "Văn bản mã số" in _document_cell(page, 0)
    assert "không còn trong hệ thống" in _document_cell(page, 0)
    assert "Số 3/UBND-VP" in _document_cell(page, 1)
    assert "Công văn gửi lại qua trục liên thông" in _document_cell(page, 1)


def test_query_count_independent_of_rows(session, ward, login_as):
    web = login_as(ward_username("admin"))
    roles = ("clerk", "advisor", "leader", "head")

    def add_rows(count, start):
        # Start a new transaction, so the test reads what the requests committed.
        fresh()
        actors = [ward.users[role] for role in roles]
        for index in range(count):
            document = _document(
                session,
                ward,
                subject=f"Văn bản đếm truy vấn số {start + index}",
                secrecy=index % 2,
            )
            actor = actors[index % len(actors)]
            _log(session, "register", document, actor, minute=start + index)
        session.commit()

    add_rows(2, 0)
    _page(web)
    with captured_statements() as few:
        page = _page(web)
    assert page.count('class="audit-document"') == 2

    add_rows(30, 10)
    with captured_statements() as many:
        page = _page(web)
    assert page.count('class="audit-document"') == 32

    assert len(many) == len(few)


def test_references_match_can_view(session, ward):
    """The page links a document exactly when permissions.can_view allows it."""
    other = load_ward(session, OTHER_WARD)
    clerk = ward.users["clerk"]
    documents = [
        _document(session, ward, subject="Thường"),
        _document(
            session, ward, subject="Mật, văn thư giữ", secrecy=2, holder_id=clerk.id
        ),
        _document(session, ward, subject="Mật, chuyên viên giữ", secrecy=1),
        _document(session, other, subject="Của phường khác"),
        _document(session, other, subject="Mật của phường khác", secrecy=3),
    ]
    events = [
        _log(session, "register", document, clerk, minute=index)
        for index, document in enumerate(documents)
    ]
    session.flush()
    trial.add_participant(session, find_user(session, CITY_ADMIN), other.organisation)
    viewers = [
        *ward.users.values(),
        _admin_with_roles(session, ward, "badinh.quantri.vt", "clerk"),
        find_user(session, CITY_ADMIN),
        find_user(session, TRAINER),
    ]

    for viewer in viewers:
        references = audit_documents.document_references(session, viewer, events)
        for row, document in zip(events, documents, strict=True):
            linked = references[row.id].page_id is not None
            allowed = permissions.can_view(session, viewer, document)
            assert linked == allowed, (viewer.username, document.subject)
            hidden = references[row.id].label == audit_labels.SECRET_DOCUMENT
            expected_hidden = document.secrecy > 0 and not allowed
            assert hidden == expected_hidden


def test_document_labels(session, ward):
    def label(**fields):
        direction = fields.pop("direction", "incoming")
        document = Document(id=12, direction=direction, **fields)
        return audit_labels.document_label(document)

    assert label(direction="outgoing", number="01", notation="UBND-KT") == (
        "Số 01/UBND-KT"
    )
    assert label(direction="outgoing") == "Dự thảo, mã số 12"
    assert label(number="5", notation="QĐ-UBND", register_number=9) == (
        "Số 5/QĐ-UBND, số đến 9"
    )
    assert label(register_number=9) == "Số đến 9"
    assert label(number="5", notation="QĐ-UBND") == "Số 5/QĐ-UBND, chưa vào sổ"
    assert label() == "Văn bản đến chưa vào sổ, mã số 12"


def test_subject_excerpt():
    short = "Về việc tổ chức hội nghị"
    assert audit_labels.subject_excerpt(short) == short
    assert audit_labels.subject_excerpt("  Về  việc\n hội nghị ") == "Về việc hội nghị"
    long = "Về việc triển khai " + "công tác chuyển đổi số " * 10
    excerpt = audit_labels.subject_excerpt(long)
    assert excerpt.endswith("…")
    assert len(excerpt) <= audit_labels.SUBJECT_EXCERPT_LENGTH + 1
    assert long.startswith(excerpt[:-1])
    assert not excerpt[:-1].endswith(" ")
