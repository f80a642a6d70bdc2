"""Secret documents kept out of reports, duplicate warnings, timelines,
notifications and the replacement pick list.

Each page below lists or counts documents for a reason other than the user
reading them, so each must apply the same secrecy rule as the lists.
"""

import io
from datetime import UTC, date, datetime

import openpyxl
import pytest
from sqlalchemy import select

from vanban.extensions import db
from vanban.models import Document, User
from vanban.services import audit, changes, incoming, notifications, reports

from ..roster import document_in_state, load_ward, ward_username
from ..scenario import reload
from ..unit.test_register_books import arrived, registered
from .test_connector import city_issues
from .test_replacement_rules import issue_twins, replace
from .test_secret_documents import SECRECY_TOP, secret_document, set_clearance

CLEARANCE = pytest.mark.parametrize(
    "cleared", [False, True], ids=["uncleared", "cleared"]
)

# Reports


# A period before any demo document, so every count is ours.
START, END = date(2025, 3, 1), date(2025, 3, 31)
PERIOD = {"start": "2025-03-01", "end": "2025-03-31"}


def export_total(response) -> int:
    """Return the incoming total of the "Tổng cộng" row of an exported report."""
    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).active
    for row in sheet.iter_rows(values_only=True):
        if row[0] == "Tổng cộng":
            return row[1]
    raise AssertionError("the exported report has no Tổng cộng row")


@CLEARANCE
@pytest.mark.parametrize("role", ["leader", "advisor"])
def test_report_counts_secret_if_cleared(session, login_as, role, cleared):
    ward = load_ward(session)
    reader = set_clearance(session, ward_username(role), cleared)
    received = datetime(2025, 3, 5, 3, 0, tzinfo=UTC)
    session.add(
        document_in_state(
            ward, session, "incoming", "with_officer", received_at=received
        )
    )
    secret_document(session, ward, "organisation-clerk", received_at=received)
    session.commit()
    expected = 2 if cleared else 1

    report = reports.build_report(session, reader, "incoming", START, END, None)
    user = login_as(ward_username(role))
    exported = user.get("/reports/incoming/export", query_string=PERIOD)

    assert report.totals.total == expected
    assert sum(row.counts.total for row in report.rows) == expected
    assert export_total(exported) == expected


# Duplicate warning


def test_secret_twin_number_not_duplicate(session):
    ward = load_ward(session)
    registered(session, ward, number="05", notation="UBND-VP", secrecy=SECRECY_TOP)
    later = arrived(session, ward, number="05", notation="UBND-VP")

    assert incoming.duplicates_of(session, later) == []


def test_secret_same_exchange_id_duplicate(session):
    ward = load_ward(session)
    exchange_id = "000.00.00.H01,2026/11/02,05/UBND-VP"
    earlier = registered(
        session, ward, exchange_id=exchange_id, secrecy=SECRECY_TOP, number="777"
    )
    later = arrived(session, ward, exchange_id=exchange_id)

    assert incoming.duplicates_of(session, later) == [earlier]


@CLEARANCE
def test_duplicate_warning_hides_secret(session, login_as, cleared):
    ward = load_ward(session)
    set_clearance(session, ward_username("clerk"), cleared)
    exchange_id = "000.00.00.H01,2026/11/02,05/UBND-VP"
    earlier = arrived(
        session,
        ward,
        exchange_id=exchange_id,
        secrecy=SECRECY_TOP,
        number="777",
        notation="UBND-MAT",
        subject="Tuyệt mật trùng mã liên thông",
    )
    later = arrived(session, ward, exchange_id=exchange_id)
    earlier_id, later_id = earlier.id, later.id
    session.commit()
    clerk = login_as(ward_username("clerk"))

    page = clerk.get(f"/documents/{later_id}").get_data(as_text=True)
    rejected = clerk.post(f"/registers/incoming/{later_id}", {})
    message = rejected.get_data(as_text=True)

    assert 'id="duplicate-warning"' in page
    assert 'name="confirm_duplicate"' in page
    assert (f'href="/documents/{earlier_id}"' in page) is cleared
    assert ("777/UBND-MAT" in page) is cleared
    assert "Tuyệt mật trùng mã liên thông" not in page
    assert rejected.status_code == 422
    assert "có thể đã được nhận trước đây" in message
    assert ("777/UBND-MAT" in message) is cleared
    confirmed = clerk.post(
        f"/registers/incoming/{later_id}", {"confirm_duplicate": "1"}
    )
    assert confirmed.status_code == 303


# Timeline


@CLEARANCE
def test_timeline_hides_secret_replacement(session, login_as, cleared):
    ward = load_ward(session)
    set_clearance(session, ward_username("advisor"), cleared)
    replaced = document_in_state(
        ward, session, "incoming", "with_officer", subject="Văn bản thường bị thay"
    )
    session.add(replaced)
    replacement = secret_document(
        session, ward, "organisation-clerk", number="01", notation="UBND-MAT"
    )
    replaced.replaced_by_id = replacement.id
    audit.record(
        session,
        "replaced_by_sender",
        document=replaced,
        number=replacement.number_and_notation,
        note="Lý do thay thế tuyệt mật",
    )
    session.commit()
    advisor = login_as(ward_username("advisor"))

    page = advisor.get(f"/documents/{replaced.id}")

    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Nơi gửi thay thế văn bản" in text
    assert ("01/UBND-MAT" in text) is cleared
    assert ("Lý do thay thế tuyệt mật" in text) is cleared


# Notifications


def test_notifications_hidden_without_clearance(session, login_as):
    ward = load_ward(session)
    leader = set_clearance(session, ward_username("leader"), True)
    document = secret_document(session, ward, "organisation-clerk")
    notifications.notify(
        session,
        leader,
        "awaiting_direction",
        f"Chờ bút phê: {document.subject}",
        document,
    )
    notifications.notify(session, leader, "incoming", "Thông báo không kèm văn bản")
    session.commit()
    cleared_count = notifications.unread_count(session, leader)
    set_clearance(session, ward_username("leader"), False)
    session.commit()
    user = login_as(ward_username("leader"))

    page = notifications.list_for_user(session, leader, 1, 1000)
    listed = user.get("/notifications/").get_data(as_text=True)
    bell = user.get("/notifications/bell").get_data(as_text=True)

    assert page.unread == cleared_count - 1
    assert page.total == len(page.items)
    assert document.id not in [n.document_id for n in page.items]
    assert document.subject not in listed
    assert "Thông báo không kèm văn bản" in listed
    assert f"{page.unread} chưa đọc" in listed
    assert f"{page.unread} thông báo chưa đọc" in bell


# Replacement pick list


def test_used_replacement_not_offered(login_as):
    ordinary_id, secret_id = issue_twins(login_as)
    number = reload(ordinary_id).number_and_notation
    secret_target_id = city_issues(login_as, "Văn bản mật cần thay", ("Ngọc Hà",))
    assert (
        replace(login_as, secret_target_id, number, picked=secret_id).status_code == 303
    )
    target_id = city_issues(login_as, "Văn bản cần thay", ("Hoàn Kiếm",))
    clerk = db.session.scalar(select(User).where(User.username == "thanhpho.vanthu"))
    target = db.session.get(Document, target_id)

    choices = changes.replacement_choices(db.session, clerk, target, number)
    response = replace(login_as, target_id, number)

    assert choices == []
    assert response.status_code == 303
    assert reload(target_id).replaced_by_id == ordinary_id
