"""The bell polls under the app's CSP, and the report chart renders without scripts."""

import pytest
from playwright.sync_api import expect

from vanban.services import notifications

from ..roster import load_ward
from ..scenario import fresh
from .test_scenario01_browser import log_in

pytestmark = pytest.mark.e2e

WARD_NAME = "UBND Phường Ba Đình"


@pytest.fixture
def app_config():
    # The bell polls every second, so a new notification shows within seconds.
    return {"NOTIFICATION_POLL_SECONDS": 1}


def _watch_console(page) -> list[str]:
    errors = []
    page.on(
        "console",
        lambda message: (
            errors.append(message.text) if message.type == "error" else None
        ),
    )
    return errors


def test_bell_updates_and_mark_all_read(new_page, session):
    page = new_page()
    errors = _watch_console(page)
    log_in(page, "badinh.chutich", WARD_NAME)
    fresh()
    leader = load_ward(session).users["leader"]
    notifications.mark_all_read(session, leader)
    session.commit()

    notifications.notify(session, leader, "review", "Dự thảo chờ bạn xem xét: thử")
    session.commit()

    badge = page.locator("#notification-bell .bell-count")
    expect(badge).to_have_text("1")
    page.locator("#notification-bell").click()
    expect(page.get_by_role("heading", name="Thông báo", level=1)).to_be_visible()
    page.get_by_role("button", name="Đánh dấu tất cả đã đọc").click()
    expect(page.get_by_text("0 chưa đọc")).to_be_visible()
    expect(badge).to_have_count(0)
    assert not [e for e in errors if "Content Security Policy" in e]


def test_bell_stops_polling_after_session_ends(new_page):
    page = new_page()
    log_in(page, "badinh.chutich", WARD_NAME)
    polls = []
    page.on(
        "response",
        lambda response: (
            polls.append(response.status)
            if "/notifications/bell" in response.url
            else None
        ),
    )

    page.context.clear_cookies()

    expect(page.locator("#notification-bell:not([hx-get])")).to_have_count(1)
    assert 286 in polls
    count = len(polls)
    page.wait_for_timeout(2500)
    assert len(polls) == count
    expect(page.locator("#flash .alert-error")).to_have_count(0)
    expect(page.get_by_role("heading", name="Việc cần làm", level=1)).to_be_visible()


def test_report_chart_renders(new_page):
    page = new_page()
    errors = _watch_console(page)
    log_in(page, "badinh.chutich", WARD_NAME)

    page.get_by_role("link", name="Báo cáo").click()
    expect(
        page.get_by_role(
            "heading", name="Báo cáo tình hình giải quyết văn bản đến", level=1
        )
    ).to_be_visible()
    page.get_by_label("Từ ngày").fill("2025-01-01")
    page.get_by_role("button", name="Xem báo cáo").click()
    expect(page.locator("#report")).to_contain_text("từ 01/01/2025")

    expect(page.locator("#report svg rect")).to_have_count(5)
    box = page.locator("#report svg").bounding_box()
    assert box is not None
    assert box["width"] > 200
    assert not [e for e in errors if "Content Security Policy" in e]
    page.get_by_role("link", name="Báo cáo tình hình giải quyết văn bản đi").click()
    expect(page.locator("#report svg rect")).to_have_count(4)
