"""Layout in Chromium: link buttons, single checkboxes, phone tables, the printout."""

import io

import pytest
from playwright.sync_api import expect
from pypdf import PdfReader

from vanban.services import notifications

from ..roster import find_user
from ..scenario import org
from .test_scenario01_browser import log_in

pytestmark = pytest.mark.e2e

CITY_ADMIN = "thanhpho.quantri"
CITY = "UBND Thành phố"
TRAINER = "tttt.huongdan"
CENTER = "Trung tâm Truyền thông, Dữ liệu và Công nghệ số"
PHONE = {"width": 390, "height": 844}
TRANSPARENT = "rgba(0, 0, 0, 0)"
WHITE = "rgb(255, 255, 255)"


def _style(locator, prop: str, pseudo: str | None = None) -> str:
    return locator.evaluate(
        "(element, [prop, pseudo]) =>"
        " getComputedStyle(element, pseudo).getPropertyValue(prop)",
        [prop, pseudo],
    )


def _assert_reads_as_link(page, button) -> None:
    """Check that a link-style button has a link's colour, hover and focus ring."""
    link_colour = _style(page.locator("main a").first, "color")
    assert _style(button, "color") == link_colour
    assert _style(button, "color") != WHITE
    assert _style(button, "background-color") == TRANSPARENT
    assert _style(button, "text-decoration-line") == "underline"

    button.hover()
    assert _style(button, "color") not in (link_colour, WHITE)
    assert _style(button, "background-color") == TRANSPARENT

    page.mouse.move(0, 0)
    button.focus()
    assert _style(button, "outline-style") == "solid"
    assert _style(button, "outline-color") != TRANSPARENT


def test_admin_link_buttons_are_visible(new_page):
    page = new_page()
    log_in(page, CITY_ADMIN, CITY)
    page.goto("/admin/users")
    _assert_reads_as_link(page, page.get_by_role("button", name="Khóa tài khoản").first)
    _assert_reads_as_link(
        page, page.get_by_role("button", name="Ngừng hoạt động").first
    )
    page.goto("/admin/organisations")
    _assert_reads_as_link(
        page, page.get_by_role("button", name="Ngừng hoạt động").first
    )
    # The log-out button in the blue top bar stays white.
    logout = page.get_by_role("button", name="Đăng xuất")
    logout.hover()
    assert _style(logout, "color") == WHITE


def test_mark_read_button_is_visible(new_page, session):
    clerk = find_user(session, "badinh.vanthu")
    notifications.notify(session, clerk, "review", "Dự thảo chờ bạn xem xét: thử")
    session.commit()
    page = new_page()
    log_in(page, "badinh.vanthu", "UBND Phường Ba Đình")
    page.goto("/notifications/")
    _assert_reads_as_link(
        page, page.get_by_role("button", name="Đánh dấu đã đọc", exact=True).first
    )


def test_checkbox_beside_its_label(new_page):
    page = new_page()
    log_in(page, CITY_ADMIN, CITY)
    page.goto(f"/admin/organisations/{org('Ba Đình').id}/users/new")
    box = page.get_by_label("Được xem văn bản mật").bounding_box()
    label = page.locator("label", has_text="Được xem văn bản mật").bounding_box()
    assert box is not None and label is not None
    assert box["x"] + box["width"] <= label["x"]
    middle = box["y"] + box["height"] / 2
    assert label["y"] <= middle <= label["y"] + label["height"]


def test_phone_admin_cells_show_labels(new_page):
    page = new_page(viewport=PHONE)
    log_in(page, CITY_ADMIN, CITY)
    page.goto("/admin/users")
    username = page.locator("tr", has_text="thanhpho.vanthu").locator("td").first
    assert _style(username, "content", "::before") == '"Tên đăng nhập: "'

    page.goto("/admin/organisations")
    center = page.locator("tr", has_text=CENTER)
    assert _style(center.locator("td").nth(1), "content", "::before") == '"Loại: "'
    # The centre has no administrative unit code, so that cell is hidden.
    unit_code = center.locator('td[data-label="Mã đơn vị hành chính"]')
    assert _style(unit_code, "display") == "none"


def test_trial_report_prints_every_column(new_page, login_as):
    join_wards = login_as(TRAINER).post(
        "/trial/prepare", {"wards": [str(org("Ba Đình").id), str(org("Ngọc Hà").id)]}
    )
    assert join_wards.status_code == 200
    page = new_page()
    log_in(page, TRAINER, CENTER)
    page.goto("/trial/report")
    expect(page.locator("table.trial-table tbody tr")).to_have_count(2)

    pdf = PdfReader(io.BytesIO(page.pdf(prefer_css_page_size=True)))
    text = " ".join(" ".join(sheet.extract_text() for sheet in pdf.pages).split())
    for column in ("KB01 Đến Trung tâm", "KB02 Trích yếu", "KB02 Đến Trung tâm"):
        assert column in text
    assert "UBND Phường Ngọc Hà" in text
    # Every ward's row shows the last column's value, so no column was cut off.
    assert text.count("Chưa phát hành") == 2 * 6
    assert "Đăng xuất" not in text
    assert "Về trang tiến độ" not in text
    for number, sheet in enumerate(pdf.pages, start=1):
        assert sheet.mediabox.width > sheet.mediabox.height, f"page {number}"
