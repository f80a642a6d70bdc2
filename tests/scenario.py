"""Scenario 01 played through the web routes, step by step, for route tests."""

from sqlalchemy import select

from vanban.extensions import db
from vanban.models import Department, Document, Organisation, User
from vanban.services import trial

from .conftest import FIXTURES

WARD = "badinh"
GUIDE = FIXTURES / "documents" / "thanhpho_kich-ban-thu-nghiem.pdf"
REPLY_FILE = (
    FIXTURES / "documents" / "quangngai_UBND-KGVX_cong-van-gop-y_born-digital.pdf"
)


def fresh():
    """End the test's read transaction so that it reads what requests committed."""
    db.session.rollback()


def org(name_part: str) -> Organisation:
    return db.session.scalar(
        select(Organisation).where(Organisation.name.contains(name_part))
    )


def user(username: str) -> User:
    return db.session.scalar(select(User).where(User.username == username))


def reload(document_id: int) -> Document:
    fresh()
    return db.session.get(Document, document_id)


def city_issues_guide(login_as, subject="Hướng dẫn thử nghiệm trao đổi văn bản"):
    """Step 1: the city clerk enters the guide and issues it to Ba Đình."""
    clerk = login_as("thanhpho.vanthu")
    with open(GUIDE, "rb") as handle:
        response = clerk.post(
            "/documents/new",
            {
                "type_name": "Hướng dẫn",
                "subject": subject,
                "description": "",
                "signer_position": "Giám đốc",
                "signer_name": "Người ký (demo)",
                "urgency": "1",
                "secrecy": "0",
                "files": (handle, GUIDE.name),
            },
            content_type="multipart/form-data",
        )
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    outgoing_id = int(response.headers["Location"].rsplit("/", 1)[-1])
    ward = org("Ba Đình")
    response = clerk.post(
        f"/registers/outgoing/{outgoing_id}/issue",
        {"subject": subject, "recipients": [str(ward.id)]},
    )
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    fresh()
    incoming = db.session.scalar(
        select(Document).where(
            Document.source_document_id == outgoing_id,
            Document.organisation_id == ward.id,
        )
    )
    return outgoing_id, incoming.id


def handle_until_officer(login_as, incoming_id, lead="department"):
    """Steps 2 to 5: register, propose, instruct, assign the officer."""
    clerk = login_as(f"{WARD}.vanthu")
    assert clerk.post(f"/registers/incoming/{incoming_id}").status_code == 303
    assert clerk.post(f"/inbox/{incoming_id}/forward", {"note": ""}).status_code == 303
    advisor = login_as(f"{WARD}.thammuu")
    response = advisor.post(
        f"/annotation/{incoming_id}/propose",
        {"text": "Đề nghị giao Phòng Kinh tế chủ trì."},
    )
    assert response.status_code == 303
    leader = login_as(f"{WARD}.chutich")
    ward = org("Ba Đình")
    economy = db.session.scalar(
        select(Department).where(
            Department.organisation_id == ward.id, Department.abbreviation == "KT"
        )
    )
    culture = db.session.scalar(
        select(Department).where(
            Department.organisation_id == ward.id, Department.abbreviation == "VHXH"
        )
    )
    lead_value = (
        f"d{economy.id}"
        if lead == "department"
        else f"u{user(WARD + '.chuyenvien').id}"
    )
    response = leader.post(
        f"/annotation/{incoming_id}/instruct",
        {
            "text": "Giao Phòng Kinh tế chủ trì, báo cáo kết quả.",
            "lead": lead_value,
            "support": [str(culture.id)],
            "deadline": "",
        },
    )
    assert response.status_code == 303, response.get_data(as_text=True)[:3000]
    if lead == "department":
        head = login_as(f"{WARD}.truongphong")
        officer = user(f"{WARD}.chuyenvien")
        response = head.post(
            f"/annotation/{incoming_id}/assign",
            {"officer": str(officer.id), "text": "Đề nghị xử lý ngay.", "deadline": ""},
        )
        assert response.status_code == 303, response.get_data(as_text=True)[:3000]


def reply_and_issue(login_as, incoming_id, via_format=True):
    """Steps 6 to 9: draft, initial, format check, approve, number and issue."""
    officer = login_as(f"{WARD}.chuyenvien")
    with open(REPLY_FILE, "rb") as handle:
        response = officer.post(
            f"/approval/{incoming_id}/reply",
            {
                "type_name": "Công văn",
                "subject": "V/v báo cáo kết quả thử nghiệm",
                "body_text": "",
                "files": (handle, REPLY_FILE.name),
            },
            content_type="multipart/form-data",
        )
    assert response.status_code == 303, response.get_data(as_text=True)[:3000]
    draft_id = int(response.headers["Location"].rsplit("/", 1)[-1])
    assert officer.post(f"/approval/{draft_id}/submit", {}).status_code == 303
    head = login_as(f"{WARD}.truongphong")
    send_to = "format" if via_format else "leader"
    response = head.post(f"/approval/{draft_id}/initial", {"send_to": send_to})
    assert response.status_code == 303
    if via_format:
        from vanban.services.drafts import FORMAT_CHECKLIST

        reviewer = login_as(f"{WARD}.kiemsoat")
        response = reviewer.post(
            f"/approval/{draft_id}/format-check",
            {
                "checklist": [key for key, _, _ in FORMAT_CHECKLIST],
                "decision": "pass",
                "comment": "",
            },
        )
        assert response.status_code == 303, response.get_data(as_text=True)[:3000]
    leader = login_as(f"{WARD}.chutich")
    assert leader.post(f"/approval/{draft_id}/approve", {}).status_code == 303
    clerk = login_as(f"{WARD}.vanthu")
    ward = org("Ba Đình")
    city, center = org("UBND Thành phố"), org("Trung tâm Truyền thông")
    response = clerk.post(
        f"/registers/outgoing/{draft_id}/issue",
        {
            "subject": trial.required_subject(ward) + " - Báo cáo",
            "recipients": [str(city.id), str(center.id)],
        },
    )
    assert response.status_code == 303, response.get_data(as_text=True)[:3000]
    return draft_id
