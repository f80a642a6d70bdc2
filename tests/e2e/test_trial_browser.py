"""The trainer prepares a trial in Chromium and watches the dashboard update."""

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from vanban.extensions import db
from vanban.models import Document

from ..scenario import fresh, org
from .test_scenario01_browser import log_in

pytestmark = pytest.mark.e2e

TRAINER = "tttt.huongdan"
CENTER = "Trung tâm Truyền thông, Dữ liệu và Công nghệ số"


@pytest.fixture
def app_config():
    # The dashboard polls every second, so a change shows up within the timeout.
    return {"TRIAL_REFRESH_SECONDS": 1}


def test_trainer_prepares_trial_and_watches_progress(new_page, login_as):
    page = new_page()
    log_in(page, TRAINER, CENTER)
    page.get_by_role("link", name="Thử nghiệm").click()
    expect(page.get_by_role("heading", name="Tiến độ thử nghiệm")).to_be_visible()
    expect(page.get_by_text("Chưa có phường, xã nào tham gia.")).to_be_visible()

    page.get_by_role("link", name="Chuẩn bị thử nghiệm").first.click()
    page.get_by_label("UBND Phường Ba Đình").check()
    page.get_by_label("UBND Phường Ngọc Hà").check()
    page.get_by_role("button", name="Chuẩn bị và in danh sách tài khoản").click()
    expect(
        page.get_by_role("heading", name="Danh sách tài khoản thử nghiệm")
    ).to_be_visible()
    sheet = page.locator("#trial-sheet table")
    expect(sheet.get_by_text("badinh.vanthu", exact=True)).to_be_visible()
    expect(sheet.get_by_text("ngocha.chutich", exact=True)).to_be_visible()
    # Demo accounts exist already, so they keep their passwords.
    expect(sheet.get_by_text("Giữ mật khẩu hiện tại").first).to_be_visible()

    page.get_by_role("link", name="Xem tiến độ thử nghiệm").click()
    row = page.locator("tr", has_text="UBND Phường Ba Đình")
    expect(row).to_be_visible()
    expect(page.locator("tr", has_text="UBND Phường Ngọc Hà")).to_be_visible()
    register_cell = row.locator("td").nth(1)
    expect(register_cell).to_have_attribute("data-state", "waiting")

    # The ward clerk registers and forwards the seeded guide meanwhile.
    fresh()
    guide = db.session.scalars(
        select(Document).where(
            Document.organisation_id == org("Ba Đình").id,
            Document.direction == "incoming",
        )
    ).one()
    clerk = login_as("badinh.vanthu")
    assert clerk.post(f"/registers/incoming/{guide.id}").status_code == 303
    assert clerk.post(f"/inbox/{guide.id}/forward", {"note": ""}).status_code == 303

    # The table refreshes by itself, without reloading the page.
    expect(register_cell).to_have_attribute("data-state", "done")
    expect(row.locator("td").nth(2)).to_have_attribute("data-state", "waiting")

    row.locator("td").nth(1).get_by_role("link").click()
    expect(page.locator("#timeline")).to_contain_text("Chuyển tham mưu")


def test_city_admin_saves_settings_in_browser(new_page):
    page = new_page()
    log_in(page, "thanhpho.quantri", "UBND Thành phố")
    page.goto("/trial/settings")
    prefix = page.get_by_label("Phần đầu bắt buộc của trích yếu")
    expect(prefix).to_have_value("THỬ NGHIỆM TRAO ĐỔI GỬI NHẬN VĂN BẢN")
    prefix.fill("THỬ NGHIỆM LIÊN THÔNG")
    page.get_by_label("Ngưỡng cảnh báo chậm (giờ)").fill("0")
    page.get_by_role("button", name="Lưu").click()
    # A wrong value keeps what was typed in every field.
    expect(page.get_by_text("Ngưỡng cảnh báo phải từ 1 đến 720 giờ.")).to_be_visible()
    expect(page.get_by_text("Trường này là bắt buộc.")).to_have_count(0)
    expect(prefix).to_have_value("THỬ NGHIỆM LIÊN THÔNG")
    page.get_by_label("Ngưỡng cảnh báo chậm (giờ)").fill("4")
    page.get_by_role("button", name="Lưu").click()
    expect(page.get_by_text("Đã lưu cấu hình thử nghiệm.")).to_be_visible()
    expect(prefix).to_have_value("THỬ NGHIỆM LIÊN THÔNG")
    expect(page.get_by_label("Ngưỡng cảnh báo chậm (giờ)")).to_have_value("4")


def test_phone_dashboard_cell_labels(new_page, login_as):
    join_ward = login_as(TRAINER).post(
        "/trial/prepare", {"wards": [str(org("Ba Đình").id)]}
    )
    assert join_ward.status_code == 200
    page = new_page(viewport={"width": 390, "height": 844})
    log_in(page, TRAINER, CENTER)
    page.goto("/trial/")
    cell = page.locator("tr", has_text="UBND Phường Ba Đình").locator("td").first
    label = cell.evaluate("cell => getComputedStyle(cell, '::before').content")
    assert label == '"Kịch bản 01 – 1. Thành phố phát hành, phường nhận: "'
