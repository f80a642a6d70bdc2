"""Trainer pages: who may open them, settings, preparing wards and read-only access."""

import re
import unicodedata
from datetime import date, timedelta

import lxml.html
import pytest
from sqlalchemy import func, select
from werkzeug.security import check_password_hash

from vanban.extensions import db
from vanban.models import AuditEvent, Document, Organisation, TrialWard, User
from vanban.services import permissions, trial
from vanban.services.clock import local_today
from vanban.services.text import fold

from ..conftest import WebUser
from ..scenario import city_issues_guide, fresh, org, user

TRAINER = "tttt.huongdan"
CITY_ADMIN = "thanhpho.quantri"
# Users who may not open any trainer page, with the reason in the test id.
OUTSIDERS = {
    "ward-clerk": "badinh.vanthu",
    "ward-leader": "badinh.chutich",
    "officer": "badinh.chuyenvien",
    "ward-admin": "badinh.quantri",
    "city-clerk": "thanhpho.vanthu",
}
GET_PAGES = (
    "/trial/",
    "/trial/progress",
    "/trial/progress.xlsx",
    "/trial/report",
    "/trial/settings",
    "/trial/prepare",
    "/trial/wards/{ward}/reset",
)


def join(*names: str) -> list[int]:
    """Add wards to the trial directly, as a prepared trial would have them."""
    fresh()
    trainer = user(TRAINER)
    ids = []
    for name in names:
        ward = org(name)
        trial.add_participant(db.session, trainer, ward)
        ids.append(ward.id)
    db.session.commit()
    return ids


def settings_form(**changes) -> dict:
    values = {
        "start": local_today().isoformat(),
        "end": (local_today() + timedelta(days=30)).isoformat(),
        "subject_prefix": trial.SUBJECT_PREFIX,
        "stuck_hours": "3",
    }
    values.update(changes)
    return values


# Who may open what


@pytest.mark.parametrize("page", GET_PAGES)
@pytest.mark.parametrize("username", [TRAINER, CITY_ADMIN], ids=["trainer", "admin"])
def test_trial_pages_open_for_runners(login_as, page, username):
    [ward_id] = join("Ba Đình")
    response = login_as(username).get(page.format(ward=ward_id))
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]


@pytest.mark.parametrize("page", GET_PAGES)
@pytest.mark.parametrize("username", OUTSIDERS.values(), ids=OUTSIDERS.keys())
def test_trial_pages_forbidden_to_others(login_as, page, username):
    [ward_id] = join("Ba Đình")
    response = login_as(username).get(page.format(ward=ward_id))
    assert response.status_code == 403
    assert "Bạn không có quyền" in response.get_data(as_text=True)


@pytest.mark.parametrize("page", GET_PAGES)
def test_trial_pages_send_anonymous_to_login(client, page):
    [ward_id] = join("Ba Đình")
    response = client.get(page.format(ward=ward_id))
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


@pytest.mark.parametrize(
    "url",
    ["/trial/settings", "/trial/prepare", "/trial/wards/{ward}/reset"],
)
@pytest.mark.parametrize("username", OUTSIDERS.values(), ids=OUTSIDERS.keys())
def test_trial_posts_forbidden_to_others(login_as, url, username):
    [ward_id] = join("Ba Đình")
    outsider = login_as(username)
    fresh()
    before = db.session.scalar(select(func.count()).select_from(AuditEvent))
    response = outsider.post(
        url.format(ward=ward_id),
        {
            **settings_form(),
            "wards": [str(ward_id)],
            "confirm_name": "UBND Phường Ba Đình",
        },
    )
    assert response.status_code == 403
    fresh()
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == before


def test_reset_of_ward_outside_trial_is_not_found(login_as):
    ward = org("Ba Đình")
    response = login_as(TRAINER).get(f"/trial/wards/{ward.id}/reset")
    assert response.status_code == 404


def test_menu_link_only_for_runners(login_as):
    for username in (TRAINER, CITY_ADMIN):
        page = login_as(username).get("/").get_data(as_text=True)
        assert 'href="/trial/">Thử nghiệm</a>' in page
    page = login_as("badinh.vanthu").get("/").get_data(as_text=True)
    assert "Thử nghiệm</a>" not in page


def test_progress_json_errors_are_json(client, login_as):
    response = client.get("/trial/progress.json")
    assert response.status_code == 401
    assert response.get_json() == {
        "error": "Vui lòng đăng nhập để xem tiến độ thử nghiệm."
    }
    response = login_as("badinh.vanthu").get("/trial/progress.json")
    assert response.status_code == 403
    assert response.get_json() == {
        "error": "Bạn không có quyền xem tiến độ thử nghiệm."
    }


# Settings


def test_city_admin_saves_settings_with_audit(login_as):
    admin = login_as(CITY_ADMIN)
    response = admin.post(
        "/trial/settings",
        settings_form(subject_prefix="THỬ NGHIỆM  LIÊN THÔNG", stuck_hours="5"),
    )
    assert response.status_code == 303
    fresh()
    saved = trial.settings(db.session)
    assert saved.subject_prefix == "THỬ NGHIỆM LIÊN THÔNG"
    assert saved.stuck_hours == 5
    assert saved.end == local_today() + timedelta(days=30)
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "settings.trial.update")
    )
    assert event.user_id == user(CITY_ADMIN).id
    assert event.organisation_id == org("UBND Thành phố").id
    assert event.detail["before"]["subject_prefix"] == trial.SUBJECT_PREFIX
    assert event.detail["before"]["stuck_hours"] == trial.DEFAULT_STUCK_HOURS
    assert event.detail["after"]["subject_prefix"] == "THỬ NGHIỆM LIÊN THÔNG"
    assert event.detail["after"]["stuck_hours"] == 5
    assert trial.required_subject(org("Ba Đình")) == (
        "THỬ NGHIỆM LIÊN THÔNG - UBND PHƯỜNG BA ĐÌNH"
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"end": (local_today() - timedelta(days=1)).isoformat()},
            "Ngày kết thúc phải bằng hoặc sau ngày bắt đầu",
        ),
        ({"start": "2026-02-30"}, "Ngày không hợp lệ"),
        ({"subject_prefix": "   "}, "Trường này là bắt buộc."),
        ({"subject_prefix": "X" * 201}, "dài quá 200 ký tự"),
        ({"stuck_hours": "0"}, "Ngưỡng cảnh báo phải từ 1 đến 720 giờ."),
        ({"stuck_hours": "hai"}, "Hãy nhập một số nguyên."),
    ],
    ids=["end-before-start", "bad-date", "blank-prefix", "long-prefix", "zero", "text"],
)
def test_invalid_settings_are_rejected(login_as, changes, message):
    before = trial.settings(db.session)
    response = login_as(CITY_ADMIN).post("/trial/settings", settings_form(**changes))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert message in page
    # The form keeps what was typed.
    for value in changes.values():
        if value.strip() and len(value) < 50:
            assert f'value="{value}"' in page
    fresh()
    assert trial.settings(db.session) == before


def settings_fields(page: str) -> dict[str, str]:
    """Return the settings form's fields as the browser would send them."""
    [form] = lxml.html.fromstring(page).xpath('//form[@action="/trial/settings"]')
    return {
        element.get("name"): element.get("value") or ""
        for element in form.xpath(".//input[@name] | .//textarea[@name]")
    }


def test_settings_form_round_trip(login_as):
    admin = login_as(CITY_ADMIN)
    fields = settings_fields(admin.get("/trial/settings").get_data(as_text=True))
    assert set(fields) == {
        "csrf_token",
        "start",
        "end",
        "subject_prefix",
        "stuck_hours",
    }
    assert fields["subject_prefix"] == trial.SUBJECT_PREFIX
    assert fields["stuck_hours"] == str(trial.DEFAULT_STUCK_HOURS)

    # An error keeps every typed value in the fields the page renders.
    typed = {
        "start": local_today().isoformat(),
        "end": (local_today() - timedelta(days=1)).isoformat(),
        "subject_prefix": "THỬ NGHIỆM LIÊN THÔNG",
        "stuck_hours": "4",
    }
    response = admin.post("/trial/settings", {**fields, **typed})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Ngày kết thúc phải bằng hoặc sau ngày bắt đầu" in page
    assert "Trường này là bắt buộc." not in page
    assert settings_fields(page) == {**typed, "csrf_token": fields["csrf_token"]}

    typed["end"] = (local_today() + timedelta(days=10)).isoformat()
    response = admin.post("/trial/settings", {**settings_fields(page), **typed})
    assert response.status_code == 303
    fresh()
    saved = trial.settings(db.session)
    assert saved.subject_prefix == "THỬ NGHIỆM LIÊN THÔNG"
    assert saved.stuck_hours == 4
    page = admin.get("/trial/settings").get_data(as_text=True)
    assert settings_fields(page)["subject_prefix"] == "THỬ NGHIỆM LIÊN THÔNG"
    # The example is in the page's own font, which places Vietnamese accents well.
    assert "<code>THỬ NGHIỆM" not in page
    assert "<strong>THỬ NGHIỆM LIÊN THÔNG - UBND PHƯỜNG BA ĐÌNH</strong>" in page


def test_subject_rule_needs_capitals(session):
    ward = org("Ngọc Hà")
    required = trial.required_subject(ward)
    assert required == f"{trial.SUBJECT_PREFIX} - UBND PHƯỜNG NGỌC HÀ"
    assert trial.subject_matches(required + " - V/v báo cáo", ward)
    # Decomposed accents and doubled spaces are the same text.
    decomposed = unicodedata.normalize("NFD", required)
    assert trial.subject_matches(decomposed.replace(" - ", "  -  ") + " - X", ward)
    assert not trial.subject_matches(required.lower() + " - V/v báo cáo", ward)
    assert not trial.subject_matches(required.title(), ward)
    assert not trial.subject_matches(fold(required).upper(), ward)


def test_trainer_reads_settings_but_cannot_save(login_as):
    trainer = login_as(TRAINER)
    page = trainer.get("/trial/settings").get_data(as_text=True)
    assert trial.SUBJECT_PREFIX in page
    assert "Chỉ quản trị của UBND Thành phố" in page
    assert 'name="subject_prefix"' not in page
    response = trainer.post("/trial/settings", settings_form(subject_prefix="KHÁC"))
    assert response.status_code == 403
    fresh()
    assert trial.settings(db.session).subject_prefix == trial.SUBJECT_PREFIX


# Preparing wards


def new_ward(name: str = "Phường Thử Nghiệm") -> Organisation:
    city = org("UBND Thành phố")
    ward = Organisation(
        code="000.99.01.H01",
        name=f"UBND {name}",
        kind="ward",
        parent_id=city.id,
    )
    db.session.add(ward)
    db.session.commit()
    return ward


SHEET_ROW = re.compile(
    r"<code>([a-z0-9.]+)</code></td>\s*<td data-label=\"Mật khẩu dùng một lần\">"
    r"(?:<code>([A-Za-z0-9]+)</code>)?"
)


def sheet(response) -> dict[str, str | None]:
    return dict(SHEET_ROW.findall(response.get_data(as_text=True)))


def test_prepare_creates_accounts_with_one_time_passwords(app, login_as):
    ward = new_ward()
    trainer = login_as(TRAINER)
    assert f'value="{ward.id}"' in trainer.get("/trial/prepare").get_data(as_text=True)

    response = trainer.post("/trial/prepare", {"wards": [str(ward.id)]})
    assert response.status_code == 200
    # Browsers must not keep the page with the passwords.
    assert response.headers["Cache-Control"] == "no-store"
    issued = sheet(response)
    assert set(issued) == {
        f"thunghiem.{suffix}"
        for suffix in (
            "vanthu",
            "thammuu",
            "chutich",
            "truongphong",
            "chuyenvien",
            "kiemsoat",
            "quantri",
        )
    }
    fresh()
    assert trial.is_participant(db.session, ward.id)
    for username, password in issued.items():
        account = user(username)
        assert account.organisation_id == ward.id
        assert account.must_change_password
        assert password not in account.password_hash
        assert check_password_hash(account.password_hash, password)
    assert user("thunghiem.chuyenvien").roles == {"officer"}
    assert user("thunghiem.chuyenvien").department.abbreviation == "KT"
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "trial.prepare")
    )
    assert event.detail["ward_ids"] == [ward.id]
    assert len(event.detail["created"]) == 7
    assert issued["thunghiem.vanthu"] not in str(event.detail)

    # The one-time password works once, then the user must choose a new one.
    clerk = WebUser(app)
    clerk.get("/login")
    response = clerk.post(
        "/login",
        {"username": "thunghiem.vanthu", "password": issued["thunghiem.vanthu"]},
    )
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/change-password")


def test_prepare_again_keeps_existing_accounts(login_as):
    ward = new_ward()
    trainer = login_as(TRAINER)
    trainer.post("/trial/prepare", {"wards": [str(ward.id)]})
    fresh()
    hashes = {
        u.username: u.password_hash
        for u in db.session.scalars(select(User).where(User.organisation_id == ward.id))
    }

    response = trainer.post("/trial/prepare", {"wards": [str(ward.id)]})
    assert response.status_code == 200
    assert set(sheet(response).values()) == {""}
    assert "Giữ mật khẩu hiện tại" in response.get_data(as_text=True)
    fresh()
    accounts = db.session.scalars(select(User).where(User.organisation_id == ward.id))
    assert {u.username: u.password_hash for u in accounts} == hashes

    response = trainer.post(
        "/trial/prepare", {"wards": [str(ward.id)], "new_passwords": "y"}
    )
    issued = sheet(response)
    assert len(issued) == 7
    assert all(issued.values())
    fresh()
    for username, password in issued.items():
        assert user(username).password_hash != hashes[username]
        assert check_password_hash(user(username).password_hash, password)


def test_prepare_demo_ward_keeps_demo_passwords(login_as):
    ward = org("Ba Đình")
    hash_before = user("badinh.vanthu").password_hash
    response = login_as(CITY_ADMIN).post("/trial/prepare", {"wards": [str(ward.id)]})
    assert response.status_code == 200
    assert set(sheet(response)) >= {"badinh.vanthu", "badinh.quantri"}
    fresh()
    assert user("badinh.vanthu").password_hash == hash_before
    assert not user("badinh.vanthu").must_change_password
    assert trial.is_participant(db.session, ward.id)


@pytest.mark.parametrize(
    ("wards", "message"),
    [
        ([], "Hãy chọn ít nhất một phường, xã."),
        (["999999"], "Lựa chọn không hợp lệ"),
        (["abc"], "Lựa chọn không hợp lệ"),
    ],
    ids=["none", "unknown", "text"],
)
def test_prepare_rejects_bad_choice(login_as, wards, message):
    response = login_as(TRAINER).post("/trial/prepare", {"wards": wards})
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    fresh()
    assert trial.participants(db.session) == []


def test_prepare_rejects_city_unit(login_as):
    city = org("UBND Thành phố")
    response = login_as(TRAINER).post("/trial/prepare", {"wards": [str(city.id)]})
    assert response.status_code == 422
    fresh()
    assert db.session.get(TrialWard, city.id) is None


def test_prepare_rejects_user_name_of_other_organisation(login_as):
    ward = new_ward("Phường Ba Đình Mới")
    # "badinhmoi" differs from "badinh", so take one of its names first.
    other = user("ngocha.vanthu")
    other.username = "badinhmoi.vanthu"
    db.session.commit()
    response = login_as(TRAINER).post("/trial/prepare", {"wards": [str(ward.id)]})
    assert response.status_code == 422
    assert "badinhmoi.vanthu đã thuộc đơn vị khác" in response.get_data(as_text=True)
    fresh()
    assert not trial.is_participant(db.session, ward.id)
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(User)
            .where(User.organisation_id == ward.id)
        )
        == 0
    )


# Read-only access of trainers


def test_trainer_reads_only_participating_wards(session):
    trainer = user(TRAINER)
    badinh = session.scalar(
        select(Document).where(Document.organisation_id == org("Ba Đình").id)
    )
    assert not permissions.can_view(session, trainer, badinh)
    join("Ba Đình")
    assert permissions.trainer_reads(session, trainer, badinh)
    assert permissions.can_view(session, trainer, badinh)
    ngocha = session.scalar(
        select(Document).where(Document.organisation_id == org("Ngọc Hà").id)
    )
    assert not permissions.can_view(session, trainer, ngocha)
    # Other roles gain nothing from the trial.
    assert not permissions.can_view(session, user(CITY_ADMIN), badinh)
    assert not permissions.can_view(session, user("ngocha.vanthu"), badinh)


def document_post_rules(app):
    return sorted(
        rule.rule
        for rule in app.url_map.iter_rules()
        if "POST" in rule.methods and "document_id" in rule.arguments
    )


def test_trainer_cannot_change_participating_documents(app, login_as):
    join("Ba Đình")
    _, incoming_id = city_issues_guide(login_as)
    trainer = login_as(TRAINER)
    page = trainer.get(f"/documents/{incoming_id}")
    assert page.status_code == 200
    assert "Vào sổ văn bản đến" not in page.get_data(as_text=True)

    rules = document_post_rules(app)
    assert len(rules) >= 15
    fresh()
    before = db.session.scalar(select(func.count()).select_from(AuditEvent))
    for rule in rules:
        url = rule.replace("<int:document_id>", str(incoming_id))
        response = trainer.post(url, {"reason": "x", "note": "x", "text": "x"})
        assert response.status_code == 403, url
    fresh()
    assert db.session.get(Document, incoming_id).state == "arrived"
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == before


def test_trainer_access_follows_participation(login_as):
    badinh_document = db.session.scalar(
        select(Document.id).where(Document.organisation_id == org("Ba Đình").id)
    )
    trainer = login_as(TRAINER)
    assert trainer.get(f"/documents/{badinh_document}").status_code == 403
    join("Ba Đình")
    assert trainer.get(f"/documents/{badinh_document}").status_code == 200


def test_window_start_is_local_midnight(session):
    trial.set_window(session, date(2026, 6, 20), date(2026, 6, 29))
    start = trial.window_start_instant(session)
    assert start.isoformat() == "2026-06-19T17:00:00+00:00"
