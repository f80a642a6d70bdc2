"""Revoke, update and replace an issued document (BussinessDocType 1-3)."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from vanban.exchange import connector, parse_edoc
from vanban.exchange.mapping import IntakeError, receive_document
from vanban.extensions import db
from vanban.models import Document, OutboxMessage, ReceivedPackage
from vanban.services import outbox
from vanban.services.clock import local_today

from ..scenario import city_issues_guide, fresh, org, reload

REASON = "Văn bản ban hành nhầm đối tượng."


def _package_of(message: OutboxMessage) -> bytes:
    return connector.build_package(db.session, message.kind, message.id)


def test_revoke_marks_copy(login_as):
    outgoing_id, incoming_id = city_issues_guide(login_as)
    ward_clerk = login_as("badinh.vanthu")
    assert "Hướng dẫn thử nghiệm" in ward_clerk.get("/").get_data(as_text=True)

    city_clerk = login_as("thanhpho.vanthu")
    assert 'id="changes"' in city_clerk.get(f"/documents/{outgoing_id}").get_data(
        as_text=True
    )
    response = city_clerk.post(
        f"/changes/{outgoing_id}/revoke", {"revoke-reason": REASON}
    )
    assert response.status_code == 303

    copy = reload(incoming_id)
    assert copy.state == "revoked"
    assert copy.revoke_reason == REASON
    assert copy.revoked_at is not None
    page = login_as("badinh.vanthu").get(f"/documents/{incoming_id}")
    text = page.get_data(as_text=True)
    assert "Đã thu hồi" in text
    assert REASON in text
    assert "Nơi gửi thu hồi văn bản" in text
    assert "Vào sổ văn bản đến" not in text
    assert "Hướng dẫn thử nghiệm" not in login_as("badinh.vanthu").get("/").get_data(
        as_text=True
    )

    # The sender's record is frozen and its recipient reported 15.
    outgoing = reload(outgoing_id)
    assert outgoing.state == "revoked"
    assert outgoing.recipients[0].status_code == "15"
    page = login_as("thanhpho.vanthu").get(f"/documents/{outgoing_id}")
    text = page.get_data(as_text=True)
    assert "Đã thu hồi" in text
    assert 'id="changes"' not in text


def test_revoke_repeat_ignored(login_as):
    outgoing_id, incoming_id = city_issues_guide(login_as)
    city_clerk = login_as("thanhpho.vanthu")
    city_clerk.post(f"/changes/{outgoing_id}/revoke", {"revoke-reason": REASON})
    fresh()
    message = db.session.scalar(
        select(OutboxMessage).where(
            OutboxMessage.document_id == outgoing_id,
            OutboxMessage.business_doc_type == 1,
        )
    )
    package = parse_edoc(_package_of(message))
    assert package.business.doc_type == 1
    assert package.business.doc_reason == REASON
    assert package.attachments == []

    received = receive_document(db.session, org("Ba Đình"), package, "again")
    db.session.commit()

    assert received.created is False
    assert received.document_id == incoming_id
    ledger = db.session.scalars(
        select(ReceivedPackage).where(ReceivedPackage.document_id == incoming_id)
    ).all()
    assert sorted(row.business_doc_type for row in ledger) == [0, 1]
    statuses = db.session.scalars(
        select(OutboxMessage.status_code).where(
            OutboxMessage.document_id == incoming_id, OutboxMessage.kind == "status"
        )
    ).all()
    assert statuses.count("15") == 1


def test_update_changes_fields(login_as):
    outgoing_id, incoming_id = city_issues_guide(login_as)
    due = local_today() + timedelta(days=10)
    response = login_as("thanhpho.vanthu").post(
        f"/changes/{outgoing_id}/update",
        {
            "update-subject": "Hướng dẫn thử nghiệm (bản sửa)",
            "update-description": "Bổ sung lịch thử nghiệm.",
            "update-due_date": due.isoformat(),
            "update-reason": "Sửa trích yếu và hạn trả lời.",
        },
    )
    assert response.status_code == 303

    copy = reload(incoming_id)
    assert copy.subject == "Hướng dẫn thử nghiệm (bản sửa)"
    assert copy.due_date == due
    assert copy.state == "arrived"
    page = login_as("badinh.vanthu").get(f"/documents/{incoming_id}")
    text = page.get_data(as_text=True)
    assert "Nơi gửi cập nhật văn bản" in text
    assert "Sửa trích yếu và hạn trả lời." in text
    before, after = "Hướng dẫn thử nghiệm trao đổi văn bản", copy.subject
    assert f"Trích yếu: “{before}” → “{after}”" in text


def test_update_refusals_keep_form(login_as):
    outgoing_id, _ = city_issues_guide(login_as)
    clerk = login_as("thanhpho.vanthu")
    response = clerk.post(
        f"/changes/{outgoing_id}/update",
        {"update-subject": "Trích yếu mới", "update-reason": ""},
    )
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert "Trường này là bắt buộc." in text
    assert "Trích yếu mới" in text

    values = {"update-subject": "Trích yếu mới", "update-reason": "Sửa trích yếu."}
    assert clerk.post(f"/changes/{outgoing_id}/update", values).status_code == 303
    again = {**values, "update-subject": "Trích yếu khác"}
    response = clerk.post(f"/changes/{outgoing_id}/update", again)
    assert response.status_code == 422
    assert "đã được gửi cập nhật một lần" in response.get_data(as_text=True)


def test_replace_links_copies(login_as):
    old_id, old_copy_id = city_issues_guide(login_as)
    new_id, new_copy_id = city_issues_guide(login_as, subject="Hướng dẫn mới")
    new_number = reload(new_id).number_and_notation

    response = login_as("thanhpho.vanthu").post(
        f"/changes/{old_id}/replace",
        {"replace-replacement": new_number, "replace-reason": "Ban hành lại."},
    )
    assert response.status_code == 303

    old_copy = reload(old_copy_id)
    assert old_copy.replaced_by_id == new_copy_id
    assert reload(old_id).replaced_by_id == new_id
    # The replacement had come as a new document: no second copy.
    copies = db.session.scalars(
        select(Document).where(
            Document.organisation_id == org("Ba Đình").id,
            Document.subject == "Hướng dẫn mới",
        )
    ).all()
    assert [c.id for c in copies] == [new_copy_id]
    text = (
        login_as("badinh.vanthu")
        .get(f"/documents/{old_copy_id}")
        .get_data(as_text=True)
    )
    assert "Đã được thay thế" in text
    assert new_number in text


def test_replace_unknown_number(login_as):
    old_id, _ = city_issues_guide(login_as)
    response = login_as("thanhpho.vanthu").post(
        f"/changes/{old_id}/replace",
        {"replace-replacement": "99/HD-UBND", "replace-reason": "Ban hành lại."},
    )
    assert response.status_code == 422
    assert "99/HD-UBND" in response.get_data(as_text=True)


def test_change_sender_clerk_only(login_as):
    outgoing_id, incoming_id = city_issues_guide(login_as)
    values = {"revoke-reason": REASON}
    response = login_as("thanhpho.quantri").post(
        f"/changes/{outgoing_id}/revoke", values
    )
    assert response.status_code == 403
    response = login_as("badinh.vanthu").post(f"/changes/{incoming_id}/revoke", values)
    assert response.status_code == 403
    assert reload(outgoing_id).state == "issued"


def test_revoke_unknown_document(login_as):
    outgoing_id, _ = city_issues_guide(login_as)
    outgoing = reload(outgoing_id)
    outbox.queue_document(
        db.session, outgoing, org("Ngọc Hà"), business_doc_type=1, note=REASON
    )
    db.session.commit()
    message = db.session.scalar(
        select(OutboxMessage).where(OutboxMessage.business_doc_type == 1)
    )
    with pytest.raises(IntakeError) as caught:
        receive_document(
            db.session, org("Ngọc Hà"), parse_edoc(_package_of(message)), "m1"
        )
    reason = caught.value.reason
    assert reason.startswith(
        f"Không có văn bản số {outgoing.number_and_notation} "
        f"ngày {outgoing.issued_date:%d/%m/%Y} của {org('UBND Thành phố').name} "
        "tại đơn vị nhận để thu hồi"
    )
    assert reason.endswith(f"(mã văn bản liên thông: {outgoing.exchange_id}).")
    db.session.rollback()

    outbox.deliver_pending(db.session)
    fresh()
    message = db.session.get(OutboxMessage, message.id)
    assert message.state == "failed"
    assert "Không có văn bản" in message.error_detail
    page = login_as("thanhpho.vanthu").get("/exchange/?state=failed")
    assert "Không có văn bản" in page.get_data(as_text=True)


def test_replace_with_itself_refused(login_as):
    old_id, _ = city_issues_guide(login_as)
    number = reload(old_id).number_and_notation
    response = login_as("thanhpho.vanthu").post(
        f"/changes/{old_id}/replace",
        {"replace-replacement": number, "replace-reason": "Ban hành lại."},
    )
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert "Không thể thay thế văn bản bằng chính nó." in text
    assert "Không có văn bản đi đã phát hành" not in text
    assert reload(old_id).replaced_by_id is None


def test_replacement_used_once(login_as):
    first_id, _ = city_issues_guide(login_as)
    second_id, _ = city_issues_guide(login_as, subject="Hướng dẫn thứ hai")
    new_id, _ = city_issues_guide(login_as, subject="Hướng dẫn mới")
    new_number = reload(new_id).number_and_notation
    clerk = login_as("thanhpho.vanthu")
    values = {"replace-replacement": new_number, "replace-reason": "Ban hành lại."}
    assert clerk.post(f"/changes/{first_id}/replace", values).status_code == 303

    response = clerk.post(f"/changes/{second_id}/replace", values)

    assert response.status_code == 422
    assert "đã được dùng để thay thế" in response.get_data(as_text=True)
    assert reload(second_id).replaced_by_id is None


@pytest.mark.parametrize(
    "due, message",
    [
        ("9999-12-31", "Hạn trả lời quá xa"),
        ("2000-01-01", "không được trước ngày hôm nay"),
    ],
)
def test_update_due_date_range(login_as, due, message):
    outgoing_id, incoming_id = city_issues_guide(login_as)
    response = login_as("thanhpho.vanthu").post(
        f"/changes/{outgoing_id}/update",
        {
            "update-subject": "Trích yếu đang sửa",
            "update-due_date": due,
            "update-reason": "Sửa hạn trả lời.",
        },
    )
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert message in text
    assert "Trích yếu đang sửa" in text
    assert "Sửa hạn trả lời." in text
    assert reload(outgoing_id).due_date is None
    assert reload(incoming_id).subject != "Trích yếu đang sửa"


def test_update_due_date_within_range_accepted(login_as):
    outgoing_id, incoming_id = city_issues_guide(login_as)
    due = local_today() + timedelta(days=365 * 2)
    response = login_as("thanhpho.vanthu").post(
        f"/changes/{outgoing_id}/update",
        {
            "update-subject": "Hướng dẫn (sửa hạn)",
            "update-due_date": due.isoformat(),
            "update-reason": "Sửa hạn trả lời.",
        },
    )
    assert response.status_code == 303
    assert reload(incoming_id).due_date == due


def test_revoke_twice_says_already_revoked(login_as):
    outgoing_id, _ = city_issues_guide(login_as)
    clerk = login_as("thanhpho.vanthu")
    values = {"revoke-reason": REASON}
    assert clerk.post(f"/changes/{outgoing_id}/revoke", values).status_code == 303

    response = clerk.post(f"/changes/{outgoing_id}/revoke", values)

    assert response.status_code == 409
    text = response.get_data(as_text=True)
    assert "đã được thu hồi" in text
    assert "Chỉ văn thư của đơn vị gửi" not in text


def test_timeline_colon_follows_label(login_as):
    old_id, old_copy_id = city_issues_guide(login_as)
    new_id, _ = city_issues_guide(login_as, subject="Hướng dẫn mới")
    new_number = reload(new_id).number_and_notation
    login_as("thanhpho.vanthu").post(
        f"/changes/{old_id}/replace",
        {"replace-replacement": new_number, "replace-reason": "Ban hành lại."},
    )

    def words(response) -> str:
        # Page text with a space between elements, as some readers extract it.
        return " ".join(
            re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)).split()
        )

    text = words(login_as("thanhpho.vanthu").get(f"/documents/{old_id}"))
    assert "Nơi nhận cập nhật trạng thái: UBND Phường Ba Đình — 01" in text
    text = words(login_as("badinh.vanthu").get(f"/documents/{old_copy_id}"))
    assert f"Nơi gửi thay thế văn bản: số {new_number}" in text
    assert " : " not in text


def test_replace_reaches_refusing_ward(login_as):
    """A ward that refused (status 02) a document still gets its replacement."""
    old_id, old_copy_id = city_issues_guide(login_as)
    response = login_as("badinh.vanthu").post(
        f"/inbox/{old_copy_id}/return", {"reason": "Sai nội dung, đề nghị sửa."}
    )
    assert response.status_code == 303
    assert reload(old_id).recipients[0].status_code == "02"
    new_id, new_copy_id = city_issues_guide(login_as, subject="Hướng dẫn đã sửa")
    new_number = reload(new_id).number_and_notation

    response = login_as("thanhpho.vanthu").post(
        f"/changes/{old_id}/replace",
        {"replace-replacement": new_number, "replace-reason": "Sửa theo góp ý."},
    )

    assert response.status_code == 303
    assert reload(old_copy_id).replaced_by_id == new_copy_id
    assert reload(old_id).recipients[0].status_code == "15"
