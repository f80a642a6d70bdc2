"""Handing a secret incoming document on to people who may read it.

In the demo only clerks and chairmen are cleared. A workflow action that
would leave a secret document with no user able to read it is rejected with a
message naming who needs clearance. Naming a person (an advisor at the
forward, an officer as lead) lets the document go on.
"""

import html

from sqlalchemy import select

from vanban.models import Document
from vanban.services import permissions

from ..roster import HANDLING_DEPARTMENT, document_in_state, load_ward, ward_username

SECRECY = 2  # Tối mật


def registered_secret(session, ward) -> Document:
    document = document_in_state(
        ward,
        session,
        "incoming",
        "registered",
        secrecy=SECRECY,
        subject="Tối mật thử chuyển xử lý",
        holder_id=None,
        author_id=None,
        department_id=None,
    )
    session.add(document)
    session.commit()
    return document


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def test_secret_document_goes_on_only_to_named_readers(session, login_as):
    ward = load_ward(session)
    advisor, officer = ward.users["advisor"], ward.users["officer"]
    assert not advisor.secret_clearance
    assert not ward.users["head"].secret_clearance
    document = registered_secret(session, ward)
    clerk = login_as(ward_username("clerk"))

    # No user of the advisory unit may read it: rejected, the note kept.
    response = clerk.post(
        f"/inbox/{document.id}/forward", {"note": "Ghi chú của văn thư", "advisor": ""}
    )
    assert response.status_code == 422
    page = text_of(response)
    assert "Văn bản mật: chưa có tham mưu nào được xem văn bản mật" in page
    assert "chọn một người tham mưu cụ thể" in page
    assert "Ghi chú của văn thư" in page
    session.rollback()
    assert session.get(Document, document.id).state == "registered"

    # Naming the advisor hands it to them.
    response = clerk.post(
        f"/inbox/{document.id}/forward", {"note": "", "advisor": str(advisor.id)}
    )
    assert response.status_code == 303, text_of(response)[:2000]
    user = login_as(ward_username("advisor"))
    assert user.get(f"/documents/{document.id}").status_code == 200
    assert f'href="/documents/{document.id}"' in user.get("/").get_data(as_text=True)
    response = user.post(
        f"/annotation/{document.id}/propose", {"text": "Đề nghị giao Phòng Kinh tế."}
    )
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/inbox/")
    session.rollback()
    assert session.get(Document, document.id).state == "with_leader"

    # The head of the department may not read it: rejected, the text kept.
    leader = login_as(ward_username("leader"))
    department = ward.department(session, HANDLING_DEPARTMENT)
    instruction = {"text": "Giao Phòng Kinh tế chủ trì.", "deadline": ""}
    response = leader.post(
        f"/annotation/{document.id}/instruct",
        {**instruction, "lead": f"d{department.id}"},
    )
    assert response.status_code == 422
    page = text_of(response)
    assert (
        f"chưa có lãnh đạo phòng nào của {department.name} được xem văn bản mật"
    ) in page
    assert "giao chủ trì cho một chuyên viên cụ thể" in page
    assert "Giao Phòng Kinh tế chủ trì." in page

    # An officer named as lead becomes its holder and goes on.
    response = leader.post(
        f"/annotation/{document.id}/instruct",
        {**instruction, "lead": f"u{officer.id}"},
    )
    assert response.status_code == 303, text_of(response)[:2000]
    session.rollback()
    document = session.get(Document, document.id)
    assert document.state == "with_officer"
    assert permissions.can_view(session, officer, document)
    user = login_as(ward_username("officer"))
    assert user.get(f"/documents/{document.id}").status_code == 200


def test_cleared_advisor_takes_secret_document_unnamed(session, login_as):
    ward = load_ward(session)
    ward.users["advisor"].secret_clearance = True
    document = registered_secret(session, ward)
    clerk = login_as(ward_username("clerk"))
    response = clerk.post(f"/inbox/{document.id}/forward", {"note": ""})
    assert response.status_code == 303, text_of(response)[:2000]
    session.rollback()
    forwarded = session.scalar(select(Document).where(Document.id == document.id))
    assert forwarded.state == "with_advisor"
    assert forwarded.holder_id is None
