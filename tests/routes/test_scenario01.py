"""Scenario 01 through the routes: directive down, reply up, statuses back."""

import hashlib

from sqlalchemy import select

from vanban.extensions import db
from vanban.models import Recipient
from vanban.services import trial
from vanban.services.files import path_for

from ..scenario import (
    GUIDE,
    REPLY_FILE,
    city_issues_guide,
    handle_until_officer,
    org,
    reload,
    reply_and_issue,
    user,
)


def statuses(outgoing_id):
    db.session.rollback()
    rows = db.session.scalars(
        select(Recipient).where(Recipient.document_id == outgoing_id)
    )
    return {r.organisation.name: r.status_code for r in rows}


def test_scenario01_end_to_end(login_as):
    outgoing_id, incoming_id = city_issues_guide(login_as)
    assert statuses(outgoing_id) == {"UBND Phường Ba Đình": "01"}

    handle_until_officer(login_as, incoming_id)
    incoming = reload(incoming_id)
    assert incoming.state == "with_officer"
    assert incoming.register_number == 1
    assert incoming.holder_id == user("badinh.chuyenvien").id
    assert statuses(outgoing_id) == {"UBND Phường Ba Đình": "04"}

    draft_id = reply_and_issue(login_as, incoming_id)
    reply = reload(draft_id)
    assert reply.state == "issued"
    assert reply.number == "01"
    assert reply.notation == "UBND-KT"
    assert reply.number_and_notation == "01/UBND-KT"
    assert reload(incoming_id).state == "done"
    assert statuses(outgoing_id) == {"UBND Phường Ba Đình": "06"}
    assert statuses(draft_id) == {
        "UBND Thành phố Hà Nội": "01",
        "Trung tâm Truyền thông, Dữ liệu và Công nghệ số": "01",
    }

    history = [s.status_code for r in reload(outgoing_id).recipients for s in r.history]
    assert history == ["01", "03", "04", "05", "06"]


def test_reply_attachment_reaches_city_byte_identical(login_as):
    outgoing_id, incoming_id = city_issues_guide(login_as)
    handle_until_officer(login_as, incoming_id)
    draft_id = reply_and_issue(login_as, incoming_id, via_format=False)
    reply = reload(draft_id)
    city_copy = reload(reply.recipients[0].incoming_document_id)
    assert city_copy.state == "arrived"
    [attachment] = city_copy.attachments
    expected = hashlib.sha256(REPLY_FILE.read_bytes()).hexdigest()
    assert attachment.sha256 == expected
    assert attachment.original_name == REPLY_FILE.name
    stored = path_for(attachment.sha256).read_bytes()
    assert hashlib.sha256(stored).hexdigest() == expected

    city_clerk = login_as("thanhpho.vanthu")
    response = city_clerk.get(f"/documents/attachments/{attachment.id}")
    assert response.status_code == 200
    assert response.data == REPLY_FILE.read_bytes()
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.mimetype == "application/pdf"


def test_chairman_can_assign_an_officer_directly(login_as):
    _, incoming_id = city_issues_guide(login_as)
    handle_until_officer(login_as, incoming_id, lead="officer")
    incoming = reload(incoming_id)
    assert incoming.state == "with_officer"
    assert incoming.holder_id == user("badinh.chuyenvien").id


def test_officer_ends_without_reply(login_as):
    outgoing_id, incoming_id = city_issues_guide(login_as)
    handle_until_officer(login_as, incoming_id)
    officer = login_as("badinh.chuyenvien")
    response = officer.post(
        f"/inbox/{incoming_id}/finish", {"note": "Đã nắm nội dung."}
    )
    assert response.status_code == 303
    assert reload(incoming_id).state == "done"
    assert statuses(outgoing_id) == {"UBND Phường Ba Đình": "06"}


def test_clerk_returns_document_with_reason(login_as):
    outgoing_id, incoming_id = city_issues_guide(login_as)
    clerk = login_as("badinh.vanthu")
    response = clerk.post(f"/inbox/{incoming_id}/return", {"reason": ""}, htmx=True)
    assert response.status_code == 422
    assert "Trường này là bắt buộc." in response.get_data(as_text=True)
    assert reload(incoming_id).state == "arrived"

    response = clerk.post(f"/inbox/{incoming_id}/return", {"reason": "Gửi nhầm đơn vị"})
    assert response.status_code == 303
    assert reload(incoming_id).state == "returned"
    assert statuses(outgoing_id) == {"UBND Phường Ba Đình": "02"}
    sender_view = login_as("thanhpho.vanthu").get(f"/documents/{outgoing_id}")
    assert "Gửi nhầm đơn vị" in sender_view.get_data(as_text=True)


def test_revise_needs_a_change(login_as):
    _, incoming_id = city_issues_guide(login_as)
    handle_until_officer(login_as, incoming_id)
    officer = login_as("badinh.chuyenvien")
    response = officer.post(
        f"/approval/{incoming_id}/reply",
        {"type_name": "Công văn", "subject": "V/v trả lời", "body_text": "Nội dung."},
    )
    assert response.status_code == 303
    draft_id = int(response.headers["Location"].rsplit("/", 1)[-1])

    same = {"subject": "V/v trả lời", "body_text": "Nội dung.", "note": ""}
    response = officer.post(f"/approval/{draft_id}/revise", same, htmx=True)
    assert response.status_code == 422
    assert "Dự thảo chưa có thay đổi" in response.get_data(as_text=True)

    changed = {**same, "body_text": "Nội dung đã sửa."}
    response = officer.post(f"/approval/{draft_id}/revise", changed)
    assert response.status_code == 303
    assert reload(draft_id).body_text == "Nội dung đã sửa."


def test_text_only_reply_reaches_city_with_its_text(login_as):
    _, incoming_id = city_issues_guide(login_as)
    handle_until_officer(login_as, incoming_id)
    officer = login_as("badinh.chuyenvien")
    response = officer.post(
        f"/approval/{incoming_id}/reply",
        {"type_name": "Công văn", "subject": "V/v trả lời", "body_text": "Kính gửi."},
    )
    draft_id = int(response.headers["Location"].rsplit("/", 1)[-1])
    assert officer.post(f"/approval/{draft_id}/submit", {}).status_code == 303
    head = login_as("badinh.truongphong")
    response = head.post(f"/approval/{draft_id}/initial", {"send_to": "leader"})
    assert response.status_code == 303
    leader = login_as("badinh.chutich")
    assert leader.post(f"/approval/{draft_id}/approve", {}).status_code == 303
    clerk = login_as("badinh.vanthu")
    ward, city = org("Ba Đình"), org("UBND Thành phố")
    response = clerk.post(
        f"/registers/outgoing/{draft_id}/issue",
        {
            "subject": trial.required_subject(ward) + " - V/v trả lời",
            "recipients": [str(city.id)],
        },
    )
    assert response.status_code == 303

    city_copy = reload(reload(draft_id).recipients[0].incoming_document_id)
    assert city_copy.body_text == "Kính gửi."
    page = login_as("thanhpho.vanthu").get(f"/documents/{city_copy.id}")
    assert "Kính gửi." in page.get_data(as_text=True)


def test_recipient_in_both_lists_is_rejected(login_as):
    clerk = login_as("thanhpho.vanthu")
    with open(GUIDE, "rb") as handle:
        response = clerk.post(
            "/documents/new",
            {
                "type_name": "Công văn",
                "subject": "Thông báo",
                "description": "",
                "signer_position": "Giám đốc",
                "signer_name": "Người ký",
                "urgency": "0",
                "secrecy": "0",
                "files": (handle, GUIDE.name),
            },
            content_type="multipart/form-data",
        )
    document_id = int(response.headers["Location"].rsplit("/", 1)[-1])
    ward = org("Ba Đình")
    response = clerk.post(
        f"/registers/outgoing/{document_id}/issue",
        {"subject": "Thông báo", "recipients": [str(ward.id)], "info": [str(ward.id)]},
    )
    assert response.status_code == 422
    assert "chỉ được chọn ở một danh sách" in response.get_data(as_text=True)
    assert reload(document_id).state == "approved"
