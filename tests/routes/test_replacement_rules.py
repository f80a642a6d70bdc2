"""Which document may replace another (thay thế), and where it may go.

The city issues an ordinary document to Ba Đình, then secret documents to
Ngọc Hà until one has the same number and symbol from the secret series,
then a document to Hoàn Kiếm that is to be replaced.
"""

import re

from sqlalchemy import select

from vanban.extensions import db
from vanban.models import Document, OutboxMessage, User
from vanban.services.changes import REPLACE

from ..scenario import fresh, org, reload
from .test_connector import city_issues

REASON = "Ban hành lại."
SECRET = 2  # Tối mật


def issue_twins(login_as) -> tuple[int, int]:
    """Return the ids of an ordinary and a Tối mật document issued with one number."""
    ordinary_id = city_issues(login_as, "Văn bản thường cùng số")
    ordinary = reload(ordinary_id)
    # The secret series numbers from 01, apart from the ordinary one.
    for _ in range(int(ordinary.number)):
        secret_id = city_issues(
            login_as, "Văn bản tối mật cùng số", ("Ngọc Hà",), secrecy=SECRET
        )
    assert reload(secret_id).number_and_notation == ordinary.number_and_notation
    return ordinary_id, secret_id


def replace(login_as, document_id: int, number: str, picked: int | None = None):
    values = {"replace-replacement": number, "replace-reason": REASON}
    if picked is not None:
        values["replace-replacement_id"] = str(picked)
    return login_as("thanhpho.vanthu").post(f"/changes/{document_id}/replace", values)


def replacement_rows(document_id: int) -> list[OutboxMessage]:
    fresh()
    return list(
        db.session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.document_id == document_id,
                OutboxMessage.business_doc_type == REPLACE,
            )
        )
    )


def picked_ids(text: str) -> set[int]:
    pattern = r'name="replace-replacement_id"[^>]*value="(\d+)"'
    return {int(value) for value in re.findall(pattern, text)}


def test_same_number_asks_which(login_as):
    ordinary_id, secret_id = issue_twins(login_as)
    target_id = city_issues(login_as, "Văn bản cần thay", ("Hoàn Kiếm",))
    number = reload(ordinary_id).number_and_notation

    response = replace(login_as, target_id, number)

    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert f"Có 2 văn bản đi đã phát hành cùng số “{number}”" in text
    assert picked_ids(text) == {ordinary_id, secret_id}
    assert "Tối mật" in text
    assert f'value="{number}"' in text
    assert REASON in text
    assert reload(target_id).replaced_by_id is None
    assert replacement_rows(ordinary_id) == []
    assert replacement_rows(secret_id) == []


def test_secret_not_widened(login_as):
    ordinary_id, secret_id = issue_twins(login_as)
    target_id = city_issues(login_as, "Văn bản cần thay", ("Hoàn Kiếm",))
    number = reload(ordinary_id).number_and_notation

    response = replace(login_as, target_id, number, picked=secret_id)

    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert "là văn bản Tối mật" in text
    assert "Phường Hoàn Kiếm" in text
    # The pick list and the typed number stay for a second try.
    assert picked_ids(text) == {ordinary_id, secret_id}
    assert f'value="{number}"' in text
    assert reload(target_id).replaced_by_id is None
    assert replacement_rows(secret_id) == []


def test_picked_ordinary_replaces(login_as):
    ordinary_id, _ = issue_twins(login_as)
    target_id = city_issues(login_as, "Văn bản cần thay", ("Hoàn Kiếm",))
    number = reload(ordinary_id).number_and_notation

    response = replace(login_as, target_id, number, picked=ordinary_id)

    assert response.status_code == 303
    assert reload(target_id).replaced_by_id == ordinary_id
    [row] = replacement_rows(ordinary_id)
    assert row.recipient_organisation_id == org("Hoàn Kiếm").id


def test_secret_to_own_recipients(login_as):
    ordinary_id, secret_id = issue_twins(login_as)
    target_id = city_issues(login_as, "Văn bản mật cần thay", ("Ngọc Hà",))
    number = reload(ordinary_id).number_and_notation

    response = replace(login_as, target_id, number, picked=secret_id)

    assert response.status_code == 303
    assert reload(target_id).replaced_by_id == secret_id
    [row] = replacement_rows(secret_id)
    assert row.recipient_organisation_id == org("Ngọc Hà").id


def test_uncleared_clerk_sees_no_twin(login_as):
    ordinary_id, secret_id = issue_twins(login_as)
    target_id = city_issues(login_as, "Văn bản cần thay", ("Hoàn Kiếm",))
    number = reload(ordinary_id).number_and_notation
    clerk = db.session.scalar(select(User).where(User.username == "thanhpho.vanthu"))
    clerk.secret_clearance = False
    # The clerk entered the secret document; as its author they would still see it.
    secret = db.session.get(Document, secret_id)
    secret.author_id = secret.holder_id = None
    db.session.commit()

    response = replace(login_as, target_id, number)

    assert response.status_code == 303
    assert reload(target_id).replaced_by_id == ordinary_id


def test_stale_pick_rejected(login_as):
    ordinary_id, secret_id = issue_twins(login_as)
    target_id = city_issues(login_as, "Văn bản cần thay", ("Hoàn Kiếm",))
    other_id = city_issues(login_as, "Văn bản số khác", ("Hoàn Kiếm",))
    number = reload(ordinary_id).number_and_notation

    response = replace(login_as, target_id, number, picked=other_id)

    assert response.status_code == 422
    assert "Hãy chọn lại" in response.get_data(as_text=True)
    assert reload(target_id).replaced_by_id is None


def test_replacement_cycle_rejected(login_as):
    first_id = city_issues(login_as, "Văn bản thứ nhất")
    second_id = city_issues(login_as, "Văn bản thứ hai")
    first_number = reload(first_id).number_and_notation
    second_number = reload(second_id).number_and_notation
    assert replace(login_as, first_id, second_number).status_code == 303

    response = replace(login_as, second_id, first_number)

    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert "đã được thay thế bằng chính văn bản này" in text
    assert reload(second_id).replaced_by_id is None
    assert replacement_rows(first_id) == []


def test_replaced_document_cannot_replace(login_as):
    first_id = city_issues(login_as, "Văn bản thứ nhất")
    second_id = city_issues(login_as, "Văn bản thứ hai")
    third_id = city_issues(login_as, "Văn bản thứ ba")
    first_number = reload(first_id).number_and_notation
    second_number = reload(second_id).number_and_notation
    assert replace(login_as, first_id, second_number).status_code == 303

    response = replace(login_as, third_id, first_number)

    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert f"đã được thay thế bằng văn bản số “{second_number}”" in text
    assert reload(third_id).replaced_by_id is None


def test_revoked_document_cannot_replace(login_as):
    revoked_id = city_issues(login_as, "Văn bản đã thu hồi")
    target_id = city_issues(login_as, "Văn bản cần thay")
    response = login_as("thanhpho.vanthu").post(
        f"/changes/{revoked_id}/revoke", {"revoke-reason": "Ban hành nhầm."}
    )
    assert response.status_code == 303

    response = replace(login_as, target_id, reload(revoked_id).number_and_notation)

    assert response.status_code == 422
    assert "đã bị thu hồi" in response.get_data(as_text=True)
    assert reload(target_id).replaced_by_id is None


def test_form_help_explains_rule(login_as):
    target_id = city_issues(login_as, "Văn bản cần thay")
    page = login_as("thanhpho.vanthu").get(f"/documents/{target_id}")
    text = page.get_data(as_text=True)
    assert "văn bản mật chỉ thay thế" in text
    # No pick list before a number matches several documents.
    assert picked_ids(text) == set()


def test_garbage_pick_counts_as_none(login_as):
    ordinary_id, _ = issue_twins(login_as)
    target_id = city_issues(login_as, "Văn bản cần thay", ("Hoàn Kiếm",))
    values = {
        "replace-replacement": reload(ordinary_id).number_and_notation,
        "replace-replacement_id": "abc",
        "replace-reason": REASON,
    }

    response = login_as("thanhpho.vanthu").post(f"/changes/{target_id}/replace", values)

    assert response.status_code == 422
    assert "Hãy chọn văn bản thay thế" in response.get_data(as_text=True)
    assert reload(target_id).replaced_by_id is None
