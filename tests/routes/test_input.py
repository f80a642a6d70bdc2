"""User input: Unicode normalisation, bad values of every kind, replayed posts."""

import io
import re
import threading
import unicodedata
from datetime import timedelta

import pytest
from lxml import html
from sqlalchemy import func, select

from vanban.extensions import db
from vanban.models import AuditEvent, Department, Document, Instruction
from vanban.services.clock import local_today

from ..conftest import WebUser
from ..scenario import city_issues_guide, fresh, org, reload, user

CITY_CLERK = "thanhpho.vanthu"
WARD_CLERK = "badinh.vanthu"
PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n"

VIETNAMESE_LETTER = re.compile(
    "[àáạảãâầấậẩẫăằắặẳẵèéẹẻẽêềếệểễìíịỉĩòóọỏõôồốộổỗơờớợởỡùúụủũưừứựửữỳýỵỷỹđ]",
    re.IGNORECASE,
)
ENGLISH_WORD = re.compile(
    r"\b(field|valid|invalid|choices?|value|must|not|required|characters?|"
    r"longer|could|coerce|date|error)\b",
    re.IGNORECASE,
)


def assert_vietnamese(message: str) -> None:
    assert VIETNAMESE_LETTER.search(message), message
    assert not ENGLISH_WORD.search(message), message


def nfd(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    assert decomposed != text
    return decomposed


def compose_fields(**overrides) -> dict:
    fields = {
        "type_name": "Công văn",
        "subject": "V/v kiểm tra dữ liệu nhập",
        "description": "Tóm tắt nội dung thử",
        "signer_position": "Chủ tịch",
        "signer_name": "Người ký (demo)",
        "urgency": "1",
        "secrecy": "0",
        "due_date": "",
    }
    fields.update(overrides)
    return fields


def compose(clerk, with_file=True, **overrides):
    data = compose_fields(**overrides)
    if with_file:
        data["files"] = (io.BytesIO(PDF), "cong-van.pdf", "application/pdf")
    return clerk.post("/documents/new", data, content_type="multipart/form-data")


def created_document(response) -> Document:
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    return reload(int(response.headers["Location"].rsplit("/", 1)[-1]))


def document_count() -> int:
    fresh()
    return db.session.scalar(select(func.count()).select_from(Document))


def field_errors(root, field_id: str) -> list[str]:
    """Return the error texts shown inside a form field's wrapper."""
    return [
        " ".join(p.text_content().split())
        for p in root.xpath(f'.//*[@id="field-{field_id}"]//p[@class="error"]')
    ]


def form_errors(root) -> list[str]:
    return [
        " ".join(p.text_content().split())
        for p in root.xpath('.//p[@class="error"][@role="alert"]')
    ]


def input_value(root, name: str):
    """Return what a form input shows: text, the selected option or ticked boxes."""
    elements = root.xpath(f'.//*[@name="{name}"]')
    assert elements, name
    first = elements[0]
    if first.tag == "select":
        selected = first.xpath("./option[@selected]")
        return selected[0].get("value") if selected else None
    if first.tag == "textarea":
        return (first.text or "").removeprefix("\n")
    if first.get("type") == "checkbox":
        return [e.get("value") for e in elements if e.get("checked") is not None]
    return first.get("value")


def action_form(page: str, action: str):
    """Return the form of one action on the document page."""
    [form] = html.fromstring(page).xpath(f'//*[@id="action-{action}"]//form')
    return form


# Unicode normalisation.


def test_compose_nfd_text_stored_nfc(app, login_as):
    clerk = login_as(CITY_CLERK)
    subject = "Hướng dẫn triển khai thử nghiệm văn bản điện tử"
    signer = "Nguyễn Thị Ánh Tuyết"

    document = created_document(
        compose(
            clerk,
            subject=nfd(subject),
            description=nfd("Tóm tắt: đề nghị phối hợp"),
            signer_name=nfd(signer),
            signer_position=nfd("Phó Chủ tịch"),
        )
    )

    assert document.subject == subject
    assert unicodedata.is_normalized("NFC", document.subject)
    assert document.description == "Tóm tắt: đề nghị phối hợp"
    assert document.signer_name == signer
    assert document.signer_position == "Phó Chủ tịch"


def test_nfd_and_nfc_subjects_equal(app, login_as):
    clerk = login_as(CITY_CLERK)
    subject = "Báo cáo tình hình kinh tế xã hội quý I"

    typed_nfc = created_document(compose(clerk, subject=subject))
    typed_nfd = created_document(compose(clerk, subject=nfd(subject)))

    assert typed_nfd.subject == typed_nfc.subject
    fresh()
    matches = db.session.scalars(select(Document).where(Document.subject == subject))
    assert {d.id for d in matches} == {typed_nfc.id, typed_nfd.id}


def test_lookalike_eth_becomes_d_stroke(app, login_as):
    clerk = login_as(CITY_CLERK)

    document = created_document(
        compose(clerk, subject="\u00d0ề nghị gửi báo cáo", signer_name="Vũ \u00f0ức")
    )

    assert document.subject == "\u0110ề nghị gửi báo cáo"
    assert "\u00d0" not in document.subject
    assert document.signer_name == "Vũ \u0111ức"


def test_search_nfd_query_finds_nfc_subject(app, login_as):
    clerk = login_as(CITY_CLERK)
    subject = "Kế hoạch chuyển đổi số phường"
    created_document(compose(clerk, subject=subject))

    for query in (nfd("chuyển đổi số"), "chuyển \u00f0ổi số"):
        response = clerk.get("/registers/outgoing/", query_string={"q": query})
        assert response.status_code == 200, query
        assert subject in response.get_data(as_text=True), query


def test_return_reason_stored_nfc(app, login_as):
    _, incoming_id = city_issues_guide(login_as)
    clerk = login_as(WARD_CLERK)
    reason = "Văn bản gửi nhầm đơn vị, đề nghị kiểm tra"

    response = clerk.post(f"/inbox/{incoming_id}/return", {"reason": nfd(reason)})

    assert response.status_code == 303
    fresh()
    event = db.session.scalar(
        select(AuditEvent).where(
            AuditEvent.document_id == incoming_id, AuditEvent.action == "return"
        )
    )
    assert event.detail["note"] == reason


def reach_leader(login_as, incoming_id) -> WebUser:
    """Register, forward and propose, then return the chairman logged in."""
    clerk = login_as(WARD_CLERK)
    assert clerk.post(f"/registers/incoming/{incoming_id}").status_code == 303
    assert clerk.post(f"/inbox/{incoming_id}/forward", {"note": ""}).status_code == 303
    advisor = login_as("badinh.thammuu")
    proposal = nfd("Đề nghị giao Phòng Kinh tế chủ trì.")
    response = advisor.post(f"/annotation/{incoming_id}/propose", {"text": proposal})
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    return login_as("badinh.chutich")


def test_proposal_text_stored_nfc(app, login_as):
    _, incoming_id = city_issues_guide(login_as)

    reach_leader(login_as, incoming_id)

    fresh()
    proposal = db.session.scalar(
        select(Instruction).where(Instruction.document_id == incoming_id)
    )
    assert proposal.text == "Đề nghị giao Phòng Kinh tế chủ trì."


def test_draft_nfd_text_stored_nfc(app, login_as):
    officer = login_as("badinh.chuyenvien")
    subject = "Dự thảo kế hoạch tuyên truyền"
    body = "Nội dung dự thảo: triển khai ở tổ dân phố"

    response = officer.post(
        "/documents/new-draft",
        {"type_name": "Kế hoạch", "subject": nfd(subject), "body_text": nfd(body)},
    )

    document = created_document(response)
    assert document.subject == subject
    assert document.body_text == body


# Bad identifiers and query strings.

HUGE_ID = "99999999999999999999"


@pytest.mark.parametrize(
    "url",
    [
        "/documents/abc",
        "/documents/0",
        "/documents/-1",
        "/documents/999999",
        f"/documents/{HUGE_ID}",
        f"/documents/{HUGE_ID}/recipients",
        "/documents/attachments/999999",
        f"/documents/attachments/{HUGE_ID}",
        "/documents/1.5",
    ],
)
def test_bad_document_id_not_found(app, login_as, url):
    clerk = login_as(CITY_CLERK)

    response = clerk.get(url)

    assert response.status_code == 404
    assert "Không tìm thấy" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "url",
    [
        "/registers/incoming/abc",
        "/registers/incoming/999999",
        f"/registers/incoming/{HUGE_ID}",
        f"/approval/{HUGE_ID}/reply",
        f"/annotation/{HUGE_ID}/instruct",
    ],
)
def test_bad_id_in_action_not_found(app, login_as, url):
    clerk = login_as(WARD_CLERK)

    response = clerk.post(url)

    assert response.status_code == 404
    assert "Không tìm thấy" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "query",
    [
        {"page": "abc"},
        {"page": "²"},
        {"page": "-3"},
        {"page": HUGE_ID},
        {"urgency": "²"},
        {"urgency": HUGE_ID},
        {"urgency": "x"},
        {"state": "<script>"},
        {"sort": "drop table"},
        {"due": "yesterday"},
        {"q": "%_\\'\""},
        {"q": "x" * 100_000},
    ],
    ids=lambda q: "-".join(f"{k}={v[:12]}" for k, v in q.items()),
)
def test_bad_list_query_shows_list(app, login_as, query):
    clerk = login_as(WARD_CLERK)

    response = clerk.get("/inbox/", query_string=query)

    assert response.status_code == 200


# Bad form values on the compose page.


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("due_date", "2026-13-45"),
        ("due_date", "45/13/2026"),
        ("urgency", "9"),
        ("urgency", "abc"),
        ("secrecy", "-1"),
        ("type_name", "Thư tình"),
        ("subject", "Trích yếu rất dài" * 6000),
        ("description", "Tóm tắt rất dài" * 6000),
        ("signer_name", "Người ký" * 100),
    ],
    ids=lambda v: v[:20],
)
def test_compose_bad_value_kept_in_form(app, login_as, field, value):
    clerk = login_as(CITY_CLERK)
    before = document_count()
    typed = compose_fields(
        subject="Trích yếu đã gõ", signer_name="Người ký đã gõ", urgency="2"
    )
    typed[field] = value

    response = compose(clerk, **typed)

    root = html.fromstring(response.get_data(as_text=True))
    errors = field_errors(root, field)
    assert response.status_code == 422
    assert len(errors) == 1
    assert_vietnamese(errors[0])
    for name in ("subject", "signer_name", "description"):
        assert input_value(root, name) == typed[name], name
    assert input_value(root, "due_date") == typed["due_date"]
    if field not in ("urgency", "secrecy"):
        assert input_value(root, "urgency") == "2"
    assert document_count() == before


def test_compose_missing_fields(app, login_as):
    clerk = login_as(CITY_CLERK)
    before = document_count()

    response = clerk.post("/documents/new", {})

    root = html.fromstring(response.get_data(as_text=True))
    assert response.status_code == 422
    for field in ("subject", "signer_position", "signer_name"):
        errors = field_errors(root, field)
        assert len(errors) == 1, field
        assert_vietnamese(errors[0])
    assert document_count() == before


def test_compose_without_file(app, login_as):
    clerk = login_as(CITY_CLERK)

    response = compose(clerk, with_file=False, subject="Trích yếu không có tệp")

    root = html.fromstring(response.get_data(as_text=True))
    errors = field_errors(root, "files")
    assert response.status_code == 422
    assert len(errors) == 1
    assert_vietnamese(errors[0])
    assert input_value(root, "subject") == "Trích yếu không có tệp"


def test_form_over_memory_limit_413(app, login_as):
    clerk = login_as(CITY_CLERK)
    size = app.config["MAX_FORM_MEMORY_SIZE"] + 1

    response = clerk.post(
        "/documents/new",
        compose_fields(description="x" * size),
        content_type="multipart/form-data",
    )

    assert response.status_code == 413
    assert "Dữ liệu gửi lên quá lớn" in response.get_data(as_text=True)


# Bad form values on document actions.


@pytest.fixture
def with_leader(app, login_as):
    _, incoming_id = city_issues_guide(login_as)
    return reach_leader(login_as, incoming_id), incoming_id


def economy_department_value() -> str:
    """Return the instruct form's lead value for the ward's economy department."""
    economy = db.session.scalar(
        select(Department).where(
            Department.organisation_id == org("Ba Đình").id,
            Department.abbreviation == "KT",
        )
    )
    return f"d{economy.id}"


def yesterday() -> str:
    return (local_today() - timedelta(days=1)).isoformat()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("deadline", "2026-13-45"),
        ("deadline", "ngày mai"),
        ("deadline", "past"),
        ("lead", "d999999"),
        ("lead", f"u{HUGE_ID}"),
        ("lead", "<script>"),
        ("support", "abc"),
        ("support", "999999"),
        ("text", "Ý kiến rất dài " * 7000),
    ],
    ids=lambda v: v[:20],
)
@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_instruct_bad_value_kept(app, with_leader, field, value, htmx):
    leader, incoming_id = with_leader
    typed = {
        "text": "Giao Phòng Kinh tế chủ trì, báo cáo trước ngày 15.",
        "lead": economy_department_value(),
        "support": [],
        "deadline": (local_today() + timedelta(days=7)).isoformat(),
    }
    typed[field] = yesterday() if value == "past" else value

    response = leader.post(f"/annotation/{incoming_id}/instruct", typed, htmx=htmx)

    form = action_form(response.get_data(as_text=True), "instruct")
    errors = field_errors(form, field)
    assert response.status_code == 422
    assert len(errors) == 1
    assert_vietnamese(errors[0])
    if field != "text":
        assert input_value(form, "text") == typed["text"]
    if field != "deadline":
        assert input_value(form, "deadline") == typed["deadline"]
    assert reload(incoming_id).state == "with_leader"


def instruct_department(leader, incoming_id):
    response = leader.post(
        f"/annotation/{incoming_id}/instruct",
        {"text": "Giao Phòng Kinh tế.", "lead": economy_department_value()},
    )
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("officer", "999999"),
        ("officer", "abc"),
        ("officer", HUGE_ID),
        ("officer", ""),
        ("deadline", "2026-02-30"),
        ("deadline", "past"),
    ],
    ids=lambda v: v[:20],
)
def test_assign_bad_value_kept(app, with_leader, login_as, field, value):
    leader, incoming_id = with_leader
    instruct_department(leader, incoming_id)
    head = login_as("badinh.truongphong")
    typed = {
        "officer": str(user("badinh.chuyenvien").id),
        "text": "Đề nghị xử lý ngay.",
        "deadline": "",
    }
    typed[field] = yesterday() if value == "past" else value

    response = head.post(f"/annotation/{incoming_id}/assign", typed)

    form = action_form(response.get_data(as_text=True), "assign")
    errors = field_errors(form, field)
    assert response.status_code == 422
    assert len(errors) == 1
    assert_vietnamese(errors[0])
    assert input_value(form, "text") == typed["text"]
    assert reload(incoming_id).state == "with_head"


@pytest.mark.parametrize("recipients", [["999999"], ["abc"], [HUGE_ID], []], ids=str)
def test_issue_unknown_recipient_rejected(app, login_as, recipients):
    clerk = login_as(CITY_CLERK)
    document = created_document(compose(clerk, subject="Trích yếu phát hành"))
    typed_subject = "Trích yếu đã sửa khi phát hành"

    response = clerk.post(
        f"/registers/outgoing/{document.id}/issue",
        {"subject": typed_subject, "recipients": recipients},
    )

    form = action_form(response.get_data(as_text=True), "issue")
    errors = field_errors(form, "recipients") + form_errors(form)
    assert response.status_code == 422
    assert len(errors) == 1
    assert_vietnamese(errors[0])
    assert input_value(form, "subject") == typed_subject
    issued = reload(document.id)
    assert issued.state == "approved"
    assert issued.number is None


def test_issue_keeps_ticked_recipients(app, login_as):
    clerk = login_as(CITY_CLERK)
    document = created_document(compose(clerk, subject="Trích yếu phát hành"))
    ward = org("Ba Đình")

    response = clerk.post(
        f"/registers/outgoing/{document.id}/issue",
        {"subject": "", "recipients": [str(ward.id)]},
    )

    form = action_form(response.get_data(as_text=True), "issue")
    assert response.status_code == 422
    assert len(field_errors(form, "subject")) == 1
    assert input_value(form, "recipients") == [str(ward.id)]


# Replayed and doubled posts.


def audit_count(document_id: int, action: str) -> int:
    fresh()
    return db.session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.document_id == document_id, AuditEvent.action == action)
    )


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_replayed_register_rejected(app, login_as, htmx):
    _, incoming_id = city_issues_guide(login_as)
    clerk = login_as(WARD_CLERK)
    first = clerk.post(f"/registers/incoming/{incoming_id}", htmx=htmx)
    number = reload(incoming_id).register_number

    replay = clerk.post(f"/registers/incoming/{incoming_id}", htmx=htmx)

    alerts = html.fromstring(replay.get_data(as_text=True)).xpath(
        '//p[contains(@class, "alert-error")]'
    )
    assert first.status_code == (200 if htmx else 303)
    assert number == 1
    assert replay.status_code == 409
    assert len(alerts) == 1
    assert "Vào sổ văn bản đến" in alerts[0].text_content()
    assert_vietnamese(alerts[0].text_content())
    if htmx:
        assert replay.headers["HX-Retarget"] == "#flash"
    assert reload(incoming_id).register_number == number
    assert audit_count(incoming_id, "register") == 1


def test_double_click_register_once(app, login_as):
    _, incoming_id = city_issues_guide(login_as)
    clerk = login_as(WARD_CLERK)
    # A second tab of the same browser: same session cookie, same token.
    second = WebUser(app)
    cookie_name = app.config["SESSION_COOKIE_NAME"]
    second.client.set_cookie(cookie_name, clerk.client.get_cookie(cookie_name).value)
    second.token = clerk.token
    barrier = threading.Barrier(2)
    statuses = []

    def click(web_user):
        barrier.wait()
        response = web_user.post(f"/registers/incoming/{incoming_id}")
        statuses.append(response.status_code)

    threads = [threading.Thread(target=click, args=(u,)) for u in (clerk, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(statuses) == [303, 409]
    assert reload(incoming_id).register_number == 1
    assert audit_count(incoming_id, "register") == 1


def test_register_after_replay_keeps_next_number(app, login_as):
    _, first_id = city_issues_guide(login_as)
    _, second_id = city_issues_guide(login_as, subject="Hướng dẫn thứ hai")
    clerk = login_as(WARD_CLERK)
    clerk.post(f"/registers/incoming/{first_id}")
    clerk.post(f"/registers/incoming/{first_id}")

    response = clerk.post(f"/registers/incoming/{second_id}")

    assert response.status_code == 303
    assert reload(first_id).register_number == 1
    assert reload(second_id).register_number == 2
