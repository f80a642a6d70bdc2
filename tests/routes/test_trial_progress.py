"""The trial dashboard: scenarios played for two wards, its exports and resets."""

import io
from datetime import timedelta

import lxml.html
import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select, text, update

from vanban.extensions import db
from vanban.models import (
    AuditEvent,
    Document,
    Recipient,
    SeriesCounter,
    TrialWard,
)
from vanban.services import trial, trial_progress, trial_reset
from vanban.services.clock import now

from ..scenario import (
    city_issues_guide,
    fresh,
    handle_until_officer,
    org,
    reply_and_issue,
    user,
)

TRAINER = "tttt.huongdan"
# Minutes after the directive arrived at which each scenario 01 step ended.
S01_MINUTES = {
    "s01_register": 10,
    "s01_propose": 25,
    "s01_instruct": 70,
    "s01_assign": 80,
    "s01_handle": 140,
    "s01_submit": 150,
    "s01_approve": 175,
    "s01_send": 180,
}
# The audit action (and target state) that ends each step, on which document.
S01_EVENTS = {
    "s01_register": ("directive", "forward", None),
    "s01_propose": ("directive", "propose", None),
    "s01_instruct": ("directive", "instruct", None),
    "s01_assign": ("directive", "assign", None),
    "s01_handle": ("reply", "submit", None),
    "s01_submit": ("reply", None, "leader_review"),
    "s01_approve": ("reply", "approve", None),
    "s01_send": ("reply", "issue", None),
}


def join(*names: str) -> dict[str, TrialWard]:
    fresh()
    trainer = user(TRAINER)
    rows = {
        name: trial.add_participant(db.session, trainer, org(name)) for name in names
    }
    db.session.commit()
    return rows


def restart(name: str) -> None:
    """Reset a ward so that the seeded guide no longer counts for it."""
    fresh()
    trial_reset.reset(
        db.session, user(TRAINER), db.session.get(TrialWard, org(name).id)
    )
    db.session.commit()


def move_event(document_id: int, at, action=None, after=None) -> None:
    """Set the time of the document's matching audit rows, to control durations."""
    query = update(AuditEvent).where(AuditEvent.document_id == document_id)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.document_id == document_id)
    )
    ids = [
        e.id
        for e in events
        if (action is None or e.action == action)
        and (after is None or (e.detail or {}).get("after") == after)
    ]
    assert ids, f"no {action or after} event on document {document_id}"
    db.session.execute(
        update(AuditEvent).where(AuditEvent.id.in_(ids)).values(created_at=at)
    )


def play_ngocha_until_advisor(login_as) -> int:
    """Steps 2 and 3 at Ngọc Hà on the seeded guide; return its incoming id."""
    ward = org("Ngọc Hà")
    # The guide came first, before Ba Đình's own document reached Ngọc Hà.
    incoming_id = db.session.scalar(
        select(Document.id)
        .where(Document.organisation_id == ward.id, Document.direction == "incoming")
        .order_by(Document.id)
    )
    clerk = login_as("ngocha.vanthu")
    assert clerk.post(f"/registers/incoming/{incoming_id}").status_code == 303
    assert clerk.post(f"/inbox/{incoming_id}/forward", {"note": ""}).status_code == 303
    advisor = login_as("ngocha.thammuu")
    response = advisor.post(
        f"/annotation/{incoming_id}/propose", {"text": "Đề nghị giao Phòng Kinh tế."}
    )
    assert response.status_code == 303
    return incoming_id


def play_scenario02(login_as) -> int:
    """Ba Đình drafts a document of its own and sends it to Ngọc Hà and the city."""
    draft_id = approve_own_draft(login_as)
    response = issue_own(login_as, draft_id, " - V/v phối hợp")
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    return draft_id


def issue_own(login_as, draft_id: int, subject: str, prefix: str | None = None):
    """Issue Ba Đình's approved draft to Ngọc Hà, the city and the centre."""
    if prefix is None:
        prefix = trial.required_subject(org("Ba Đình"))
    return login_as("badinh.vanthu").post(
        f"/registers/outgoing/{draft_id}/issue",
        {
            "subject": prefix + subject,
            "recipients": [str(org("Ngọc Hà").id)],
            "info": [str(org("UBND Thành phố").id), str(org("Trung tâm").id)],
        },
    )


def approve_own_draft(login_as) -> int:
    """Ba Đình drafts a document of its own up to the leader's approval."""
    officer = login_as("badinh.chuyenvien")
    response = officer.post(
        "/documents/new-draft",
        {"type_name": "Công văn", "subject": "V/v phối hợp", "body_text": "Kính gửi."},
    )
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    draft_id = int(response.headers["Location"].rsplit("/", 1)[-1])
    assert officer.post(f"/approval/{draft_id}/submit", {}).status_code == 303
    head = login_as("badinh.truongphong")
    response = head.post(f"/approval/{draft_id}/initial", {"send_to": "leader"})
    assert response.status_code == 303
    leader = login_as("badinh.chutich")
    assert leader.post(f"/approval/{draft_id}/approve", {}).status_code == 303
    return draft_id


@pytest.fixture
def played(login_as):
    """Ba Đình plays scenarios 01 and 02 to the end; Ngọc Hà stops after step 3.

    The audit times are then moved to a known timeline, so that the dashboard's
    times and durations can be checked to the second.
    """
    join("Ba Đình", "Ngọc Hà")
    restart("Ba Đình")
    outgoing_id, directive_id = city_issues_guide(login_as)
    handle_until_officer(login_as, directive_id)
    reply_id = reply_and_issue(login_as, directive_id, via_format=False)
    own_id = play_scenario02(login_as)
    ngocha_id = play_ngocha_until_advisor(login_as)

    fresh()
    base = now().replace(microsecond=0) - timedelta(hours=6)
    # The trial and Ba Đình's reset move back before the timeline starts.
    start, end = trial.window(db.session)
    trial.set_window(db.session, start - timedelta(days=1), end)
    db.session.get(TrialWard, org("Ba Đình").id).reset_at = base - timedelta(hours=1)
    db.session.execute(
        update(Document)
        .where(Document.id == outgoing_id)
        .values(issued_at=base - timedelta(minutes=2))
    )
    db.session.execute(
        update(Document).where(Document.id == directive_id).values(created_at=base)
    )
    documents = {"directive": directive_id, "reply": reply_id}
    for key, (on, action, after) in S01_EVENTS.items():
        at = base + timedelta(minutes=S01_MINUTES[key])
        move_event(documents[on], at, action, after)
    db.session.execute(
        update(Document)
        .where(Document.id == own_id)
        .values(created_at=base + timedelta(hours=4))
    )
    for minutes, action, after in (
        (250, "submit", None),
        (260, None, "leader_review"),
        (290, "approve", None),
        (300, "issue", None),
    ):
        move_event(own_id, base + timedelta(minutes=minutes), action, after)
    ngocha_guide = db.session.get(Document, ngocha_id)
    move_event(ngocha_id, ngocha_guide.created_at + timedelta(minutes=5), "forward")
    move_event(ngocha_id, base + timedelta(minutes=30), "propose")
    db.session.commit()
    return {
        "base": base,
        "directive": directive_id,
        "reply": reply_id,
        "own": own_id,
        "ngocha": ngocha_id,
    }


def rows_by_name(data):
    return {row.ward.name: row for row in data.wards}


def test_dashboard_cells_follow_recorded_times(played):
    data = trial_progress.progress(db.session)
    rows = rows_by_name(data)
    assert list(rows) == ["UBND Phường Ba Đình", "UBND Phường Ngọc Hà"]

    badinh = rows["UBND Phường Ba Đình"]
    base = played["base"]
    issue = badinh.cells["s01_issue"]
    assert (issue.state, issue.at, issue.seconds) == ("done", base, 120)
    assert issue.document_id == played["directive"]
    previous = 0
    for key, minutes in S01_MINUTES.items():
        cell = badinh.cells[key]
        assert cell.state == "done", key
        assert cell.at == base + timedelta(minutes=minutes), key
        assert cell.seconds == (minutes - previous) * 60, key
        previous = minutes
    assert badinh.cells["s01_register"].document_id == played["directive"]
    assert badinh.cells["s01_send"].document_id == played["reply"]

    assert badinh.s01_checks.subject_ok is True
    assert badinh.s01_checks.city.status_code == "01"
    assert badinh.s01_checks.center.status_code == "01"
    assert badinh.s01_checks.city.ok and badinh.s01_checks.center.ok

    expected02 = {
        "s02_draft": (240, None),
        "s02_submit": (250, 600),
        "s02_review": (260, 600),
        "s02_approve": (290, 1800),
        "s02_send": (300, 600),
    }
    for key, (minutes, seconds) in expected02.items():
        cell = badinh.cells[key]
        assert cell.state == "done", key
        assert cell.at == base + timedelta(minutes=minutes), key
        assert cell.seconds == seconds, key
        assert cell.document_id == played["own"]
    assert badinh.s02_checks.subject_ok is True
    assert badinh.s02_checks.other_wards == 1
    assert badinh.s02_checks.city.ok and badinh.s02_checks.center.ok
    assert badinh.current_step is None
    assert not badinh.stuck

    data = trial_progress.progress(db.session)
    assert data.average_seconds["s01_register"] == (600 + 300) // 2
    assert data.average_seconds["s01_approve"] == 25 * 60
    assert "s01_instruct" in data.average_seconds
    assert data.average_seconds["s02_approve"] == 1800


def test_waiting_ward_stands_out_after_threshold(played):
    ngocha = rows_by_name(trial_progress.progress(db.session))["UBND Phường Ngọc Hà"]
    proposed = played["base"] + timedelta(minutes=30)
    assert ngocha.cells["s01_propose"].at == proposed
    assert ngocha.cells["s01_instruct"].state == "waiting"
    assert ngocha.current_step.key == "s01_instruct"
    assert ngocha.waiting_since == proposed
    # The proposal is 5.5 hours old, past the default two hours.
    assert ngocha.stuck
    assert ngocha.s01_checks.subject_ok is None

    fresh()
    trial.update_settings(
        db.session,
        user("thanhpho.quantri"),
        start=trial.window(db.session)[0] - timedelta(days=1),
        end=trial.window(db.session)[1],
        subject_prefix=trial.SUBJECT_PREFIX,
        stuck_hours=6,
    )
    db.session.commit()
    ngocha = rows_by_name(trial_progress.progress(db.session))["UBND Phường Ngọc Hà"]
    assert not ngocha.stuck
    later = trial_progress.progress(
        db.session, at=proposed + timedelta(hours=6, seconds=1)
    )
    assert rows_by_name(later)["UBND Phường Ngọc Hà"].stuck


def test_dashboard_pages_render(played, login_as):
    trainer = login_as(TRAINER)
    page = trainer.get("/trial/").get_data(as_text=True)
    assert 'hx-get="/trial/progress"' in page
    assert 'hx-trigger="every 15s"' in page
    assert "<html" in page
    assert "Chờ quá 2 giờ" in page
    assert f'href="/documents/{played["directive"]}#timeline"' in page
    assert f'href="/documents/{played["reply"]}#timeline"' in page

    fragment = trainer.get("/trial/progress", htmx=True)
    text = fragment.get_data(as_text=True)
    assert fragment.status_code == 200
    assert "<html" not in text
    assert text.lstrip().startswith('<section class="card" id="trial-progress"')
    assert "HX-Request" in fragment.headers["Vary"]
    assert text.count('data-state="done"') == 9 + 5 + 3

    # A drill-down link opens the document's timeline for the trainer.
    document = trainer.get(f"/documents/{played['reply']}")
    assert document.status_code == 200
    assert 'id="timeline"' in document.get_data(as_text=True)

    admin_page = login_as("thanhpho.quantri").get("/trial/").get_data(as_text=True)
    assert "#timeline" not in admin_page
    assert "UBND Phường Ngọc Hà" in admin_page
    report = trainer.get("/trial/report").get_data(as_text=True)
    assert "<svg" in report
    assert report.count("<rect") == len(trial_progress.STEPS)
    assert "25 phút" in report
    assert "<script" not in report.split("<svg", 1)[1].split("</svg>", 1)[0]


def test_json_and_xlsx_exports(played, login_as):
    response = login_as(TRAINER).get("/trial/progress.json")
    assert response.status_code == 200
    data = response.get_json()
    assert data["stuck_hours"] == 2
    assert [s["key"] for s in data["steps"]["scenario01"]] == [
        s.key for s in trial_progress.SCENARIO01_STEPS
    ]
    wards = {w["name"]: w for w in data["wards"]}
    badinh = wards["UBND Phường Ba Đình"]
    assert badinh["scenario01"]["directive_id"] == played["directive"]
    assert badinh["scenario01"]["reply_id"] == played["reply"]
    assert badinh["scenario02"]["document_id"] == played["own"]
    cell = badinh["scenario01"]["cells"]["s01_instruct"]
    assert cell["state"] == "done"
    assert cell["seconds"] == 45 * 60
    assert cell["at"] == (played["base"] + timedelta(minutes=70)).isoformat()
    assert badinh["scenario01"]["checks"]["city"] == {"status_code": "01", "ok": True}
    assert badinh["scenario01"]["checks"]["subject_ok"] is True
    assert badinh["stuck"] is False
    ngocha = wards["UBND Phường Ngọc Hà"]
    assert ngocha["stuck"] is True
    assert ngocha["current_step"] == "s01_instruct"
    assert ngocha["scenario01"]["reply_id"] is None
    assert data["average_seconds"]["s01_approve"] == 1500

    fresh()
    # A ward name that a spreadsheet would run as a formula.
    org("Ngọc Hà").name = '=HYPERLINK("http://example.invalid")'
    db.session.commit()
    response = login_as(TRAINER).get("/trial/progress.xlsx")
    assert response.status_code == 200
    assert response.mimetype == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    book = load_workbook(io.BytesIO(response.data))
    sheet = book.active
    rows = list(sheet.iter_rows(values_only=True))
    header = rows[0]
    assert header[0] == "Phường, xã"
    assert "KB01 4. Chủ tịch bút phê, phân công" in header
    by_name = {row[0]: dict(zip(header, row, strict=True)) for row in rows[1:]}
    badinh = by_name["UBND Phường Ba Đình"]
    instruct = (played["base"] + timedelta(minutes=70)).astimezone(trial.LOCAL_TZ)
    assert badinh["KB01 4. Chủ tịch bút phê, phân công"] == (
        f"Đã xong {instruct:%d/%m/%Y %H:%M} (45 phút)"
    )
    assert badinh["KB01 Trích yếu đúng"] == "Đúng"
    assert badinh["KB01 UBND Thành phố"] == "Đã đến"
    assert badinh["Chậm quá ngưỡng"] == "Không"
    injected = '\'=HYPERLINK("http://example.invalid")'
    assert injected in by_name
    assert by_name[injected]["Chậm quá ngưỡng"] == "Có"
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)


def count_documents(organisation_id: int) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(Document)
        .where(Document.organisation_id == organisation_id)
    )


def test_reset_leaves_other_ward_untouched(played, login_as):
    badinh, ngocha = org("Ba Đình"), org("Ngọc Hà")
    city = org("UBND Thành phố")
    fresh()
    ngocha_before = count_documents(ngocha.id)
    ngocha_events = db.session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.organisation_id == ngocha.id)
    )
    counters = [
        (c.series_id, c.year, c.last_number)
        for c in db.session.scalars(select(SeriesCounter).order_by(SeriesCounter.id))
    ]
    reply_copy = db.session.scalar(
        select(Recipient.incoming_document_id).where(
            Recipient.document_id == played["reply"],
            Recipient.organisation_id == city.id,
        )
    )
    own_copy_at_ngocha = db.session.scalar(
        select(Recipient.incoming_document_id).where(
            Recipient.document_id == played["own"],
            Recipient.organisation_id == ngocha.id,
        )
    )
    assert reply_copy is not None and own_copy_at_ngocha is not None

    trainer = login_as(TRAINER)
    page = trainer.get(f"/trial/wards/{badinh.id}/reset").get_data(as_text=True)
    assert "Đặt lại dữ liệu thử nghiệm: UBND Phường Ba Đình" in page
    assert trial.required_subject(badinh) + " - Báo cáo" in page
    assert "Bản nhận tại UBND Thành phố Hà Nội" in page

    response = trainer.post(
        f"/trial/wards/{badinh.id}/reset", {"confirm_name": "UBND Phường Ngọc Hà"}
    )
    assert response.status_code == 422
    assert "Tên nhập vào không khớp" in response.get_data(as_text=True)
    assert 'value="UBND Phường Ngọc Hà"' in response.get_data(as_text=True)
    fresh()
    assert db.session.get(Document, played["reply"]) is not None

    response = trainer.post(
        f"/trial/wards/{badinh.id}/reset", {"confirm_name": "ubnd phuong ba dinh"}
    )
    assert response.status_code == 303
    fresh()
    for key in ("directive", "reply", "own"):
        assert db.session.get(Document, played[key]) is None, key
    assert db.session.get(Document, reply_copy) is None
    # Ngọc Hà keeps its documents, including its copy of Ba Đình's document.
    assert count_documents(ngocha.id) == ngocha_before
    copy = db.session.get(Document, own_copy_at_ngocha)
    assert copy is not None and copy.source_document_id is None
    assert db.session.get(Document, played["ngocha"]).state == "with_leader"
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.organisation_id == ngocha.id)
        )
        == ngocha_events
    )
    assert [
        (c.series_id, c.year, c.last_number)
        for c in db.session.scalars(select(SeriesCounter).order_by(SeriesCounter.id))
    ] == counters

    event = db.session.scalar(
        select(AuditEvent)
        .where(AuditEvent.action == "trial.reset")
        .order_by(AuditEvent.id.desc())
    )
    assert event.organisation_id == badinh.id
    assert event.user_id == user(TRAINER).id
    assert played["reply"] in event.detail["deleted_document_ids"]

    rows = rows_by_name(trial_progress.progress(db.session))
    assert all(
        cell.state == "pending" for cell in rows["UBND Phường Ba Đình"].cells.values()
    )
    assert rows["UBND Phường Ngọc Hà"].cells["s01_propose"].state == "done"


def test_reset_keeps_real_issued_documents(login_as):
    join("Ba Đình")
    restart("Ba Đình")
    officer = login_as("badinh.chuyenvien")
    response = officer.post(
        "/documents/new-draft",
        {"type_name": "Công văn", "subject": "V/v lịch họp", "body_text": "Nội dung."},
    )
    draft_id = int(response.headers["Location"].rsplit("/", 1)[-1])
    assert officer.post(f"/approval/{draft_id}/submit", {}).status_code == 303
    head = login_as("badinh.truongphong")
    assert (
        head.post(f"/approval/{draft_id}/initial", {"send_to": "leader"}).status_code
        == 303
    )
    assert (
        login_as("badinh.chutich").post(f"/approval/{draft_id}/approve", {}).status_code
        == 303
    )
    response = login_as("badinh.vanthu").post(
        f"/registers/outgoing/{draft_id}/issue",
        {"subject": "V/v lịch họp", "recipients": [str(org("Ngọc Hà").id)]},
    )
    assert response.status_code == 303

    trainer = login_as(TRAINER)
    page = trainer.get(f"/trial/wards/{org('Ba Đình').id}/reset")
    assert "Văn bản được giữ lại" in page.get_data(as_text=True)
    response = trainer.post(
        f"/trial/wards/{org('Ba Đình').id}/reset",
        {"confirm_name": "UBND Phường Ba Đình"},
    )
    assert response.status_code == 303
    fresh()
    kept = db.session.get(Document, draft_id)
    assert kept is not None
    assert kept.state == "issued"
    assert kept.register_number == 1


def test_skipped_and_returned_steps(login_as):
    join("Ba Đình", "Ngọc Hà")
    restart("Ba Đình")
    _, directive_id = city_issues_guide(login_as)
    handle_until_officer(login_as, directive_id, lead="officer")
    officer = login_as("badinh.chuyenvien")
    response = officer.post(f"/inbox/{directive_id}/finish", {"note": "Đã nắm."})
    assert response.status_code == 303
    fresh()
    ngocha_guide = db.session.scalar(
        select(Document.id).where(
            Document.organisation_id == org("Ngọc Hà").id,
            Document.direction == "incoming",
        )
    )
    clerk = login_as("ngocha.vanthu")
    response = clerk.post(f"/inbox/{ngocha_guide}/return", {"reason": "Gửi nhầm"})
    assert response.status_code == 303

    fresh()
    later = now() + timedelta(hours=10)
    rows = rows_by_name(trial_progress.progress(db.session, at=later))
    badinh = rows["UBND Phường Ba Đình"]
    assert badinh.cells["s01_instruct"].state == "done"
    # The chairman chose the officer, so no department head assigned one.
    assert badinh.cells["s01_assign"].state == "skipped"
    assert badinh.cells["s01_handle"].state == "done"
    for key in ("s01_submit", "s01_approve", "s01_send"):
        assert badinh.cells[key].state == "skipped", key
    assert badinh.current_step is None
    assert not badinh.stuck

    ngocha = rows["UBND Phường Ngọc Hà"]
    assert ngocha.cells["s01_register"].state == "returned"
    assert ngocha.cells["s01_propose"].state == "pending"
    assert ngocha.current_step is None
    assert not ngocha.stuck


# Column labels, the subject rule and resets of linked documents


def test_dashboard_cells_carry_labels(played, login_as):
    """On a phone the header is hidden, so each cell carries its column's name."""
    for url in ("/trial/progress", "/trial/report"):
        page = lxml.html.fromstring(login_as(TRAINER).get(url).get_data(as_text=True))
        [table] = page.xpath('//table[contains(@class, "trial-table")]')
        rows = table.xpath("./tbody/tr")
        assert len(rows) == 2
        for row in rows:
            labels = [td.get("data-label") for td in row.xpath("./td")]
            assert all(labels), (url, labels)
            steps = [label for label in labels if "Kịch bản" in label]
            assert steps[: len(trial_progress.SCENARIO01_STEPS)] == [
                f"Kịch bản 01 – {step.label}"
                for step in trial_progress.SCENARIO01_STEPS
            ]
            assert "Kịch bản 01 – Trích yếu" in steps
            assert "Kịch bản 02 – Đến Trung tâm" in steps
            assert len(steps) == len(trial_progress.STEPS) + 6


def test_subject_check_requires_capitals(played, login_as):
    badinh = org("Ba Đình")
    lower = trial.required_subject(badinh).lower() + " - V/v phối hợp"
    # The clerk cannot issue a lowercase subject to the city during the trial.
    fresh()
    draft_id = approve_own_draft(login_as)
    response = issue_own(login_as, draft_id, lower, prefix="")
    assert response.status_code == 422
    assert "phải bắt đầu bằng" in response.get_data(as_text=True)
    fresh()
    assert db.session.get(Document, draft_id).state != "issued"

    # A subject changed afterwards shows as wrong on the dashboard.
    db.session.execute(
        update(Document).where(Document.id == played["own"]).values(subject=lower)
    )
    db.session.commit()
    row = rows_by_name(trial_progress.progress(db.session))["UBND Phường Ba Đình"]
    assert row.s02_checks.subject_ok is False
    assert row.s01_checks.subject_ok is True


def test_reset_after_city_replacement(login_as):
    """The city replaced an older document by the ward's trial directive."""
    badinh = org("Ba Đình")
    join("Ba Đình")
    old_id, old_copy_id = city_issues_guide(login_as, subject="Quyết định cũ")
    restart("Ba Đình")
    new_id, new_copy_id = city_issues_guide(login_as, subject="Hướng dẫn mới")
    new_number = db.session.get(Document, new_id).number_and_notation
    response = login_as("thanhpho.vanthu").post(
        f"/changes/{old_id}/replace",
        {"replace-replacement": new_number, "replace-reason": "Ban hành lại."},
    )
    assert response.status_code == 303
    fresh()
    assert db.session.get(Document, old_copy_id).replaced_by_id == new_copy_id
    # The ward replies to the directive, so the reset deletes that reply too.
    handle_until_officer(login_as, new_copy_id)
    reply_id = reply_and_issue(login_as, new_copy_id, via_format=False)

    response = login_as(TRAINER).post(
        f"/trial/wards/{badinh.id}/reset", {"confirm_name": "UBND Phường Ba Đình"}
    )
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    fresh()
    assert db.session.get(Document, new_copy_id) is None
    assert db.session.get(Document, reply_id) is None
    # The older copy stays, no longer linked to the deleted one.
    old_copy = db.session.get(Document, old_copy_id)
    assert old_copy is not None
    assert old_copy.replaced_by_id is None
    # The city's own documents stay as they were.
    assert db.session.get(Document, old_id).replaced_by_id == new_id


def test_reset_blocked_returns_conflict(login_as):
    """A foreign key outside the models stops the reset with a 409 and no change."""
    badinh = org("Ba Đình")
    join("Ba Đình")
    restart("Ba Đình")
    _, directive_id = city_issues_guide(login_as)
    fresh()
    reset_at = db.session.get(TrialWard, badinh.id).reset_at

    def resets():
        return db.session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "trial.reset")
        )

    resets_before = resets()
    db.session.execute(
        text(
            "CREATE TABLE trial_test_links (id INTEGER PRIMARY KEY, "
            "document_id INTEGER NOT NULL REFERENCES documents (id))"
        )
    )
    db.session.execute(
        text("INSERT INTO trial_test_links (id, document_id) VALUES (1, :id)"),
        {"id": directive_id},
    )
    db.session.commit()

    response = login_as(TRAINER).post(
        f"/trial/wards/{badinh.id}/reset", {"confirm_name": "UBND Phường Ba Đình"}
    )
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert "Không đặt lại được dữ liệu thử nghiệm của UBND Phường Ba Đình" in page
    assert "Chưa có văn bản nào bị xóa" in page
    fresh()
    assert db.session.get(Document, directive_id) is not None
    assert db.session.get(TrialWard, badinh.id).reset_at == reset_at
    assert resets() == resets_before


def test_secret_documents_follow_the_viewer(played, login_as):
    """An uncleared trainer gets a secret document's step times, never its
    link, id or subject. A cleared trainer gets them all."""
    fresh()
    ids = [played["directive"], played["reply"], played["own"]]
    subject = db.session.get(Document, played["reply"]).subject
    db.session.execute(update(Document).where(Document.id.in_(ids)).values(secrecy=2))
    db.session.commit()

    trainer = login_as(TRAINER)
    pages = {
        "page": trainer.get("/trial/"),
        "fragment": trainer.get("/trial/progress", htmx=True),
        "report": trainer.get("/trial/report"),
    }
    for name, response in pages.items():
        text = response.get_data(as_text=True)
        assert response.status_code == 200, name
        for document_id in ids:
            assert f"/documents/{document_id}#" not in text, name
        assert trial_progress.HIDDEN_SUBJECT in text, name
        assert "Tối mật" not in text, name
        assert subject not in text, name
        # The trial still needs the step times.
        assert "45 phút" in text, name

    data = trainer.get("/trial/progress.json").get_json()
    badinh = {w["name"]: w for w in data["wards"]}["UBND Phường Ba Đình"]
    assert badinh["scenario01"]["directive_id"] is None
    assert badinh["scenario01"]["reply_id"] is None
    assert badinh["scenario02"]["document_id"] is None
    for scenario in ("scenario01", "scenario02"):
        cells = badinh[scenario]["cells"].values()
        assert all(cell["document_id"] is None for cell in cells)
        assert badinh[scenario]["checks"]["subject"] == trial_progress.HIDDEN_SUBJECT
    assert badinh["scenario01"]["cells"]["s01_instruct"]["seconds"] == 45 * 60

    book = load_workbook(io.BytesIO(trainer.get("/trial/progress.xlsx").data))
    rows = list(book.active.iter_rows(values_only=True))
    by_name = {row[0]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}
    assert by_name["UBND Phường Ba Đình"]["KB01 Trích yếu"] == (
        trial_progress.HIDDEN_SUBJECT
    )

    fresh()
    user(TRAINER).secret_clearance = True
    db.session.commit()
    trainer = login_as(TRAINER)
    page = trainer.get("/trial/").get_data(as_text=True)
    assert f'href="/documents/{played["reply"]}#timeline"' in page
    assert subject in page
    data = trainer.get("/trial/progress.json").get_json()
    badinh = {w["name"]: w for w in data["wards"]}["UBND Phường Ba Đình"]
    assert badinh["scenario01"]["reply_id"] == played["reply"]
    assert badinh["scenario01"]["checks"]["subject"] == subject
    book = load_workbook(io.BytesIO(trainer.get("/trial/progress.xlsx").data))
    rows = list(book.active.iter_rows(values_only=True))
    assert subject in rows[1] + rows[2]
