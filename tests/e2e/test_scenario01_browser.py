"""Scenario 01 played in Chromium by clicking and typing, as each demo user."""

import re
from datetime import date, timedelta

import pytest
from playwright.sync_api import Page, expect

from vanban.services import demo
from vanban.services.clock import local_today

from ..scenario import GUIDE, REPLY_FILE, org

pytestmark = pytest.mark.e2e

WARD = "UBND Phường Ba Đình"
CITY = "UBND Thành phố Hà Nội"
CENTER = "Trung tâm Truyền thông, Dữ liệu và Công nghệ số"
GUIDE_SUBJECT = "Hướng dẫn thử nghiệm trao đổi văn bản điện tử giữa hai cấp"
TRIAL_SUBJECT = "THỬ NGHIỆM TRAO ĐỔI GỬI NHẬN VĂN BẢN - UBND PHƯỜNG BA ĐÌNH"
# The demo data already contains the trial guide numbered 01/HD-UBND, so the
# guide this test issues gets number 02.
GUIDE_NUMBER = "02/HD-UBND"
REPLY_NUMBER = "01/UBND-KT"
REPLY_SUBJECT = f"V/v trả lời văn bản số {GUIDE_NUMBER}"
PHONE = {"width": 375, "height": 740}


class Screenshots:
    """Numbered full-page screenshots, such as 01-city-issues-guide.png."""

    def __init__(self, folder, prefix=""):
        self.folder = folder
        self.prefix = prefix
        self.count = 0

    def take(self, page: Page, name: str) -> None:
        self.count += 1
        path = self.folder / f"{self.prefix}{self.count:02d}-{name}.png"
        page.screenshot(path=path, full_page=True)


def log_in(page: Page, username: str, organisation: str) -> None:
    """Sign in through the login form and land on the to-do list."""
    page.goto("/login")
    expect(page.get_by_role("heading", name="Đăng nhập")).to_be_visible()
    page.get_by_label("Tên đăng nhập").fill(username)
    page.get_by_label("Mật khẩu").fill(demo.DEMO_PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    expect(page.get_by_role("heading", name="Việc cần làm", level=1)).to_be_visible()
    expect(page.locator(".nav .who")).to_contain_text(organisation)


def log_out(page: Page) -> None:
    """Sign out from the menu, opening it first on narrow screens."""
    if page.locator("nav.nav").is_hidden():
        page.locator("label.nav-toggle-label").click()
    page.get_by_role("button", name="Đăng xuất").click()
    expect(page.get_by_text("Bạn đã đăng xuất.")).to_be_visible()
    expect(page.get_by_role("heading", name="Đăng nhập")).to_be_visible()


def open_document(page: Page, menu: str, subject: str) -> None:
    """Open a list from the menu and the document with the given subject."""
    page.locator("nav.nav").get_by_role("link", name=menu, exact=True).click()
    expect(page.get_by_role("heading", name=menu, level=1)).to_be_visible()
    page.get_by_role("link", name=subject, exact=True).click()
    expect(page.locator("#document h1")).to_contain_text(subject)


def action_form(page: Page, action: str):
    """Open the action's disclosure and return its form."""
    details = page.locator(f"#action-{action}")
    if details.get_attribute("open") is None:
        details.locator("summary").click()
    return details.locator("form")


def submit_action(page: Page, action: str, button: str, status: int = 200) -> None:
    """Press the action's button and check that htmx swapped the response in.

    The old #document is marked stale before the click. A new #document
    without the mark shows that the swap happened, and the marker on `window`
    survives only if the page was not reloaded.
    """
    page.evaluate(
        """() => {
            window.__marker = 1;
            document.getElementById("document").dataset.stale = "1";
        }"""
    )
    with page.expect_response(
        lambda response: response.request.method == "POST"
    ) as response_info:
        action_form(page, action).get_by_role("button", name=button).click()
    response = response_info.value
    assert response.request.headers.get("hx-request") == "true"
    assert response.status == status
    expect(page.locator("#document:not([data-stale])")).to_be_attached()
    assert page.evaluate("window.__marker") == 1


def expect_flash(page: Page, message: str) -> None:
    expect(page.locator("#flash")).to_contain_text(message)


def expect_meta(page: Page, term: str, value: str) -> None:
    """Check one row of the document's metadata list."""
    row = page.locator("dl.meta dt", has_text=re.compile(f"^{re.escape(term)}$"))
    expect(row.locator("xpath=following-sibling::dd[1]")).to_have_text(value)


def expect_deadline(page: Page, deadline: date) -> None:
    """Check the deadline's date; a badge or a day-off hint may follow it."""
    expect(page.locator("#due-date")).to_contain_text(deadline.strftime("%d/%m/%Y"))


def expect_state(page: Page, label: str) -> None:
    expect(page.locator("#document .state")).to_have_text(label)


def assert_fits_width(page: Page) -> None:
    """Check that the page needs no sideways scrolling."""
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"page is {overflow}px wider than the screen"


def recipient_row(page: Page, organisation: str):
    return page.locator("#recipients tbody tr", has_text=organisation)


def test_scenario01_in_browser(new_page, artifacts):
    page = new_page()
    shots = Screenshots(artifacts)
    deadline = local_today() + timedelta(days=7)

    # Step 1: the city clerk enters the signed guide and issues it to Ba Đình.
    log_in(page, "thanhpho.vanthu", CITY)
    page.locator("nav.nav").get_by_role("link", name="Nhập văn bản đi").click()
    expect(
        page.get_by_role("heading", name="Nhập văn bản đi để phát hành")
    ).to_be_visible()
    page.get_by_label("Loại văn bản").select_option("Hướng dẫn")
    page.get_by_label("Trích yếu").fill(GUIDE_SUBJECT)
    page.get_by_label("Chức vụ người ký").fill("Giám đốc")
    page.get_by_label("Họ tên người ký").fill("Người ký (demo)")
    page.get_by_label("Độ khẩn").select_option(label="Khẩn")
    page.get_by_label("Tệp văn bản đã ký và phụ lục").set_input_files(GUIDE)
    page.get_by_role("button", name="Lưu").click()
    expect_flash(page, "Đã lưu văn bản.")
    expect(page.locator("#document h1")).to_contain_text(GUIDE_SUBJECT)
    expect_meta(page, "Số, ký hiệu", "Chưa cấp số")
    expect(page.locator("ul.files")).to_contain_text(GUIDE.name)

    form = action_form(page, "issue")
    expect(form.get_by_label("Trích yếu")).to_have_value(GUIDE_SUBJECT)
    form.locator("#field-recipients").get_by_label(WARD).check()
    submit_action(page, "issue", "Vào sổ và phát hành")
    expect_flash(page, "Đã vào sổ và phát hành văn bản.")
    expect_state(page, "Đã phát hành")
    expect_meta(page, "Số, ký hiệu", GUIDE_NUMBER)
    expect(recipient_row(page, WARD)).to_contain_text("01 – Đã đến")
    expect(page.locator("#timeline")).to_contain_text(
        f"Vào sổ và phát hành — Nguyễn Thị K (Thành phố): số {GUIDE_NUMBER}"
    )
    shots.take(page, "city-issues-guide")
    log_out(page)

    # Step 2: the ward clerk finds it among incoming documents, registers it
    # and forwards it to the advisor.
    log_in(page, "badinh.vanthu", WARD)
    open_document(page, "Văn bản đến", GUIDE_SUBJECT)
    expect_state(page, "Chờ vào sổ")
    expect_meta(page, "Số, ký hiệu", GUIDE_NUMBER)
    expect_meta(page, "Cơ quan ban hành", CITY)
    expect_meta(page, "Số đến", "Chưa vào sổ")
    expect(page.locator("ul.files")).to_contain_text(GUIDE.name)
    submit_action(page, "register", "Vào sổ văn bản đến")
    expect_flash(page, "Đã vào sổ văn bản đến.")
    expect_state(page, "Đã vào sổ, chờ chuyển tham mưu")
    expect_meta(page, "Số đến", "1")
    expect(page.locator("#timeline")).to_contain_text(
        "Vào sổ văn bản đến — Nguyễn Thị A (Phường Ba Đình): số đến 1"
    )
    form = action_form(page, "forward")
    form.get_by_label("Ghi chú").fill("Kính chuyển Văn phòng tham mưu.")
    submit_action(page, "forward", "Chuyển tham mưu")
    expect_flash(page, "Đã chuyển văn bản cho bộ phận tham mưu.")
    expect_state(page, "Chờ đề xuất xử lý")
    expect(page.locator("#actions")).to_have_count(0)
    shots.take(page, "ward-clerk-registers")
    log_out(page)

    # Step 3: the advisor proposes how to handle it.
    log_in(page, "badinh.thammuu", WARD)
    open_document(page, "Việc cần làm", GUIDE_SUBJECT)
    expect_state(page, "Chờ đề xuất xử lý")
    form = action_form(page, "propose")
    form.get_by_label("Nội dung đề xuất").fill("Đề nghị giao Phòng Kinh tế chủ trì.")
    submit_action(page, "propose", "Đề xuất xử lý")
    expect_flash(page, "Đã trình đề xuất xử lý lên lãnh đạo.")
    expect_state(page, "Chờ lãnh đạo phân công")
    expect(page.locator("ul.notes")).to_contain_text(
        "Đề xuất — Trần Văn B (Phường Ba Đình)"
    )
    shots.take(page, "advisor-proposes")
    log_out(page)

    # Step 4: the chairman writes the bút phê and assigns the departments.
    log_in(page, "badinh.chutich", WARD)
    open_document(page, "Việc cần làm", GUIDE_SUBJECT)
    expect(page.locator("ul.notes")).to_contain_text(
        "Đề nghị giao Phòng Kinh tế chủ trì."
    )
    form = action_form(page, "instruct")
    form.get_by_label("Ý kiến chỉ đạo (bút phê)").fill(
        "Giao Phòng Kinh tế chủ trì, báo cáo kết quả."
    )
    form.get_by_label("Chủ trì xử lý").select_option(label="Phòng: Phòng Kinh tế")
    form.locator("#field-support").get_by_label("Phòng Văn hóa - Xã hội").check()
    form.get_by_label("Hạn xử lý").fill(deadline.isoformat())
    submit_action(page, "instruct", "Bút phê và phân công")
    expect_flash(page, "Đã bút phê và phân công xử lý.")
    expect_state(page, "Chờ lãnh đạo phòng phân công")
    expect_meta(page, "Đơn vị xử lý", "Phòng Kinh tế")
    expect_deadline(page, deadline)
    assignments = page.locator("table.list.compact").first
    expect(assignments.locator("tr", has_text="Chủ trì")).to_contain_text(
        "Phòng Kinh tế"
    )
    expect(assignments.locator("tr", has_text="Phối hợp")).to_contain_text(
        "Phòng Văn hóa - Xã hội"
    )
    shots.take(page, "chairman-instructs")
    log_out(page)

    # Step 5: the head of Phòng Kinh tế assigns the officer.
    log_in(page, "badinh.truongphong", WARD)
    open_document(page, "Việc cần làm", GUIDE_SUBJECT)
    form = action_form(page, "assign")
    expect(form.get_by_label("Chuyên viên xử lý")).to_contain_text(
        "Hoàng Văn E (Phường Ba Đình)"
    )
    form.get_by_label("Ý kiến chỉ đạo").fill("Đề nghị xử lý ngay.")
    submit_action(page, "assign", "Giao chuyên viên xử lý")
    expect_flash(page, "Đã giao chuyên viên xử lý.")
    expect_state(page, "Chờ chuyên viên xử lý")
    expect_meta(page, "Đang ở", "Hoàng Văn E (Phường Ba Đình)")
    shots.take(page, "head-assigns-officer")
    log_out(page)

    # Step 6: the officer drafts the reply and submits it. The head initials it
    # and sends it to the format reviewer.
    log_in(page, "badinh.chuyenvien", WARD)
    open_document(page, "Việc cần làm", GUIDE_SUBJECT)
    form = action_form(page, "draft_reply")
    expect(form.get_by_label("Trích yếu")).to_have_value(REPLY_SUBJECT)
    form.get_by_label("Loại văn bản").select_option("Công văn")
    form.get_by_label("Tệp dự thảo").set_input_files(REPLY_FILE)
    # The server responds to the new draft with HX-Redirect, so the browser
    # loads the draft's page.
    with page.expect_response(
        lambda response: response.request.method == "POST"
    ) as response_info:
        form.get_by_role("button", name="Soạn văn bản trả lời").click()
    response = response_info.value
    assert response.request.headers.get("hx-request") == "true"
    draft_path = response.headers.get("hx-redirect")
    assert draft_path is not None
    assert re.fullmatch(r"/documents/\d+", draft_path)
    page.wait_for_url(f"**{draft_path}")
    expect_flash(page, "Đã tạo dự thảo văn bản trả lời.")
    expect(page.locator("#document h1")).to_contain_text(REPLY_SUBJECT)
    expect_state(page, "Đang soạn thảo")
    expect_meta(page, "Trả lời văn bản", f"{GUIDE_NUMBER} — {GUIDE_SUBJECT}")
    expect(page.locator("ol.versions")).to_contain_text(REPLY_FILE.name)
    submit_action(page, "submit", "Trình lãnh đạo phòng")
    expect_flash(page, "Đã trình dự thảo lên lãnh đạo phòng.")
    expect_state(page, "Chờ lãnh đạo phòng duyệt")
    shots.take(page, "officer-submits-reply")
    log_out(page)

    log_in(page, "badinh.truongphong", WARD)
    open_document(page, "Việc cần làm", REPLY_SUBJECT)
    form = action_form(page, "initial")
    form.get_by_label("Bộ phận kiểm soát văn bản (kiểm tra thể thức)").check()
    form.get_by_label("Ý kiến").fill("Đồng ý nội dung.")
    submit_action(page, "initial", "Ký nháy và trình")
    expect_flash(page, "Đã ký nháy và trình dự thảo.")
    expect_state(page, "Chờ kiểm soát thể thức")
    expect(page.locator("ul.notes")).to_contain_text("Lãnh đạo phòng: đồng ý")
    shots.take(page, "head-initials")
    log_out(page)

    # Step 7: the format reviewer ticks the checklist and passes the draft.
    log_in(page, "badinh.kiemsoat", WARD)
    open_document(page, "Việc cần làm", REPLY_SUBJECT)
    form = action_form(page, "format_pass")
    checkboxes = form.locator("#field-checklist input[type=checkbox]")
    for index in range(checkboxes.count()):
        checkboxes.nth(index).check()
    form.get_by_label("Đạt, trình lãnh đạo UBND").check()
    submit_action(page, "format_pass", "Ghi kết quả kiểm tra")
    expect_flash(page, "Đã ghi kết quả kiểm tra thể thức.")
    expect_state(page, "Chờ lãnh đạo UBND phê duyệt")
    expect(page.locator("ul.notes")).to_contain_text("Kiểm soát thể thức: đồng ý")
    expect(page.locator("ul.checklist").first).to_contain_text(
        "☑ Quốc hiệu và Tiêu ngữ"
    )
    shots.take(page, "format-reviewer-passes")
    log_out(page)

    # Step 8: the chairman approves the reply.
    log_in(page, "badinh.chutich", WARD)
    open_document(page, "Việc cần làm", REPLY_SUBJECT)
    submit_action(page, "approve", "Phê duyệt")
    expect_flash(page, "Đã phê duyệt dự thảo.")
    expect_state(page, "Đã duyệt, chờ phát hành")
    expect(page.locator("ul.notes")).to_contain_text("Lãnh đạo UBND: đồng ý")
    shots.take(page, "chairman-approves")
    log_out(page)

    # Step 9: the ward clerk numbers the reply and issues it to the city and the
    # centre under the trial subject, then sees that both received it.
    log_in(page, "badinh.vanthu", WARD)
    open_document(page, "Việc cần làm", REPLY_SUBJECT)
    form = action_form(page, "issue")
    expect(form).to_contain_text(f"phải bắt đầu bằng “{TRIAL_SUBJECT}”")
    # The rule requires only a prefix, so the drafted subject follows it.
    expect(form.get_by_label("Trích yếu")).to_have_value(
        f"{TRIAL_SUBJECT} - {REPLY_SUBJECT}"
    )
    recipients = form.locator("#field-recipients")
    expect(recipients.get_by_label(CITY)).to_be_checked()
    expect(recipients.get_by_label(CENTER)).to_be_checked()
    submit_action(page, "issue", "Vào sổ và phát hành")
    expect_flash(page, "Đã vào sổ và phát hành văn bản.")
    expect(page.locator("#document h1")).to_contain_text(TRIAL_SUBJECT)
    expect_state(page, "Đã phát hành")
    expect_meta(page, "Số, ký hiệu", REPLY_NUMBER)
    expect(recipient_row(page, CITY)).to_contain_text("01 – Đã đến")
    expect(recipient_row(page, CENTER)).to_contain_text("01 – Đã đến")
    shots.take(page, "ward-clerk-issues-reply")

    # The guide itself is done at the ward: the reply closed it.
    page.get_by_role("link", name=f"{GUIDE_NUMBER} — {GUIDE_SUBJECT}").click()
    expect_state(page, "Hoàn thành")
    expect(page.locator("#timeline")).to_contain_text(
        f"Đã trả lời bằng văn bản số {REPLY_NUMBER}"
    )
    log_out(page)

    # The city clerk sees on the original that Ba Đình finished it.
    log_in(page, "thanhpho.vanthu", CITY)
    open_document(page, "Văn bản đi", GUIDE_SUBJECT)
    expect(recipient_row(page, WARD)).to_contain_text("06 – Hoàn thành")
    expect(recipient_row(page, WARD)).to_contain_text(
        f"Đã trả lời bằng văn bản số {REPLY_NUMBER}"
    )
    shots.take(page, "city-sees-ward-finished")

    # The reply waits in the city's electronic inbox.
    page.locator("nav.nav").get_by_role("link", name="Văn bản đến").click()
    row = page.locator("#results tbody tr", has_text=TRIAL_SUBJECT)
    expect(row).to_contain_text(REPLY_NUMBER)
    expect(row).to_contain_text(WARD)
    expect(row).to_contain_text("Chờ vào sổ")
    log_out(page)

    # The ward clerk checks once more from the outgoing list that both city
    # units received the reply.
    log_in(page, "badinh.vanthu", WARD)
    open_document(page, "Văn bản đi", f"{TRIAL_SUBJECT} - {REPLY_SUBJECT}")
    expect_meta(page, "Số, ký hiệu", REPLY_NUMBER)
    expect(recipient_row(page, CITY)).to_contain_text("01 – Đã đến")
    expect(recipient_row(page, CENTER)).to_contain_text("01 – Đã đến")
    shots.take(page, "ward-sees-reply-received")


def test_expired_session_action_shows_login_page(new_page, artifacts):
    page = new_page()
    log_in(page, "badinh.vanthu", WARD)
    open_document(page, "Văn bản đến", demo.TRIAL_GUIDE_SUBJECT)
    document_url = page.url
    page.context.clear_cookies(name="session")
    assert [c for c in page.context.cookies() if c["name"] == "session"] == []

    action_form(page, "register").get_by_role(
        "button", name="Vào sổ văn bản đến"
    ).click()
    page.wait_for_url(re.compile(r"/login\?next=/documents/\d+$"))
    expect(page).to_have_title("Đăng nhập · VanBan")
    expect(page.get_by_role("heading", name="Đăng nhập", level=1)).to_be_visible()
    expect_flash(page, "Vui lòng đăng nhập để tiếp tục.")
    # A login form swapped into the document page would keep the old page's
    # markup around it.
    expect(page.locator("header.topbar")).to_have_count(1)
    expect(page.locator("form input[name=username]")).to_have_count(1)
    expect(page.locator("#document")).to_have_count(0)
    page.screenshot(path=artifacts / "session-expired-login.png", full_page=True)

    page.get_by_label("Tên đăng nhập").fill("badinh.vanthu")
    page.get_by_label("Mật khẩu").fill(demo.DEMO_PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url(document_url)
    expect(page.locator("#document h1")).to_contain_text(demo.TRIAL_GUIDE_SUBJECT)
    expect_state(page, "Chờ vào sổ")
    expect_meta(page, "Số đến", "Chưa vào sổ")


def test_expired_session_keeps_typed_reason(new_page, artifacts):
    page = new_page()
    log_in(page, "badinh.vanthu", WARD)
    open_document(page, "Văn bản đến", demo.TRIAL_GUIDE_SUBJECT)
    document_url = page.url
    reason = "Văn bản gửi nhầm đơn vị,\nđề nghị gửi lại."
    form = action_form(page, "return")
    form.get_by_label("Lý do trả lại").fill(reason)
    page.context.clear_cookies(name="session")

    form.get_by_role("button", name="Trả lại nơi gửi").click()
    page.wait_for_url(re.compile(r"/login\?next=/documents/\d+$"))
    page.get_by_label("Tên đăng nhập").fill("badinh.vanthu")
    page.get_by_label("Mật khẩu").fill(demo.DEMO_PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url(document_url)

    restored = action_form(page, "return")
    expect(restored.get_by_label("Lý do trả lại")).to_have_value(reason)
    expect(restored.locator(".restored")).to_contain_text("Đã khôi phục nội dung")
    expect_state(page, "Chờ vào sổ")
    page.screenshot(path=artifacts / "session-expired-restored.png", full_page=True)


def test_expired_session_keeps_plain_form(new_page, artifacts):
    page = new_page()
    shots = Screenshots(artifacts, prefix="session-expired-form-")
    log_in(page, "badinh.quantri", WARD)
    page.goto(f"/admin/organisations/{org('Ba Đình').id}/users/new")
    form_url = page.url
    page.get_by_label("Họ và tên").fill("Nguyễn Văn Thử")
    page.get_by_label("Chức vụ").fill("Chuyên viên phòng Kinh tế")
    page.get_by_label("Thư điện tử").fill("thu@example.invalid")
    page.get_by_label("Phòng ban").select_option(label="Phòng Kinh tế")
    page.get_by_label("Chuyên viên", exact=True).check()
    page.get_by_label("Tên đăng nhập").fill("badinh.thu")
    page.get_by_label("Mật khẩu ban đầu").fill("BatDau2026")
    page.context.clear_cookies(name="session")

    # The plain form posts without a session, and the login page states that
    # the typed content is kept.
    page.get_by_role("button", name="Lưu").click()
    page.wait_for_url(re.compile(r"/login\?next=/admin/organisations/\d+/users/new$"))
    expect(page.locator("#pending-form-note")).to_contain_text(
        "Nội dung bạn vừa nhập vào biểu mẫu vẫn được giữ lại."
    )
    shots.take(page, "login")
    page.get_by_label("Tên đăng nhập").fill("badinh.quantri")
    page.get_by_label("Mật khẩu").fill(demo.DEMO_PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()

    # After the login every kept field is listed, and the password is not.
    page.wait_for_url(re.compile(r"/login/resubmit$"))
    expect(
        page.get_by_role("heading", name="Gửi lại biểu mẫu", level=1)
    ).to_be_visible()
    expect_meta(page, "Họ và tên", "Nguyễn Văn Thử")
    expect_meta(page, "Chức vụ", "Chuyên viên phòng Kinh tế")
    expect_meta(page, "Thư điện tử", "thu@example.invalid")
    expect_meta(page, "Vai trò", "Chuyên viên")
    expect_meta(page, "Tên đăng nhập", "badinh.thu")
    expect(page.locator("main")).to_contain_text("mật khẩu không được giữ lại")
    expect(page.locator("main")).not_to_contain_text("BatDau2026")
    shots.take(page, "resubmit")

    # One click sends the kept values back. The form then requests only the
    # password.
    page.get_by_role("button", name="Gửi lại").click()
    page.wait_for_url(form_url)
    expect(page.get_by_label("Họ và tên")).to_have_value("Nguyễn Văn Thử")
    expect(page.get_by_label("Thư điện tử")).to_have_value("thu@example.invalid")
    expect(page.get_by_label("Phòng ban").locator("option:checked")).to_have_text(
        "Phòng Kinh tế"
    )
    expect(page.get_by_label("Chuyên viên", exact=True)).to_be_checked()
    expect(page.get_by_label("Tên đăng nhập")).to_have_value("badinh.thu")
    expect(page.locator("main")).to_contain_text("Trường này là bắt buộc.")
    page.get_by_label("Mật khẩu ban đầu").fill("BatDau2026")
    page.get_by_role("button", name="Lưu").click()
    expect_flash(page, "Đã thêm người dùng.")
    expect(page.locator("main")).to_contain_text("badinh.thu")
    shots.take(page, "saved")


def test_action_form_error_keeps_typed_text(new_page, artifacts):
    page = new_page()
    shots = Screenshots(artifacts, prefix="form-error-")
    deadline = local_today() + timedelta(days=3)

    # An empty reason for returning the document is rejected next to its field.
    log_in(page, "badinh.vanthu", WARD)
    open_document(page, "Văn bản đến", demo.TRIAL_GUIDE_SUBJECT)
    submit_action(page, "return", "Trả lại nơi gửi", status=422)
    field = page.locator("#field-reason")
    expect(field).to_have_class(re.compile(r"\binvalid\b"))
    expect(field.locator("p.error")).to_have_text("Trường này là bắt buộc.")
    expect(field.get_by_label("Lý do trả lại")).to_have_attribute(
        "aria-invalid", "true"
    )
    expect(page.locator("#action-return")).to_have_attribute("open", "")
    expect_state(page, "Chờ vào sổ")
    shots.take(page, "empty-return-reason")

    # The clerk registers and forwards instead, and the advisor proposes.
    submit_action(page, "register", "Vào sổ văn bản đến")
    submit_action(page, "forward", "Chuyển tham mưu")
    expect_state(page, "Chờ đề xuất xử lý")
    log_out(page)
    log_in(page, "badinh.thammuu", WARD)
    open_document(page, "Việc cần làm", demo.TRIAL_GUIDE_SUBJECT)
    action_form(page, "propose").get_by_label("Nội dung đề xuất").fill(
        "Đề nghị giao Phòng Văn hóa - Xã hội chủ trì."
    )
    submit_action(page, "propose", "Đề xuất xử lý")
    log_out(page)

    # The chairman forgets to choose the lead: the error sits next to that
    # field, and the instruction, supporting unit and deadline stay as typed.
    log_in(page, "badinh.chutich", WARD)
    open_document(page, "Việc cần làm", demo.TRIAL_GUIDE_SUBJECT)
    instruction = "Giao phòng chuyên môn nghiên cứu,\nbáo cáo trước hạn."
    form = action_form(page, "instruct")
    form.get_by_label("Ý kiến chỉ đạo (bút phê)").fill(instruction)
    form.locator("#field-support").get_by_label("Phòng Kinh tế").check()
    form.get_by_label("Hạn xử lý").fill(deadline.isoformat())
    submit_action(page, "instruct", "Bút phê và phân công", status=422)

    form = action_form(page, "instruct")
    lead = page.locator("#field-lead")
    expect(lead.locator("p.error")).to_have_text("Trường này là bắt buộc.")
    expect(lead.get_by_label("Chủ trì xử lý")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#action-instruct p.error")).to_have_count(1)
    expect(form.get_by_label("Ý kiến chỉ đạo (bút phê)")).to_have_value(instruction)
    expect(form.locator("#field-support").get_by_label("Phòng Kinh tế")).to_be_checked()
    expect(
        form.locator("#field-support").get_by_label("Phòng Văn hóa - Xã hội")
    ).not_to_be_checked()
    expect(form.get_by_label("Hạn xử lý")).to_have_value(deadline.isoformat())
    expect_state(page, "Chờ lãnh đạo phân công")
    shots.take(page, "instruction-without-lead")

    # Choosing the lead is then enough to send the same form.
    form.get_by_label("Chủ trì xử lý").select_option(
        label="Phòng: Phòng Văn hóa - Xã hội"
    )
    submit_action(page, "instruct", "Bút phê và phân công")
    expect_flash(page, "Đã bút phê và phân công xử lý.")
    expect_state(page, "Chờ lãnh đạo phòng phân công")
    expect(page.locator("ul.notes")).to_contain_text("báo cáo trước hạn.")
    expect_deadline(page, deadline)


def test_phone_login_todo_and_document(new_page, artifacts):
    page = new_page(viewport=PHONE, is_mobile=True, has_touch=True)
    shots = Screenshots(artifacts, prefix="phone-")

    log_in(page, "badinh.vanthu", WARD)
    expect(page.locator("label.nav-toggle-label")).to_be_visible()
    expect(page.locator("nav.nav")).to_be_hidden()
    row = page.locator("#results tbody tr", has_text=demo.TRIAL_GUIDE_SUBJECT)
    expect(row).to_contain_text("01/HD-UBND")
    expect(row).to_contain_text("Chờ vào sổ")
    assert_fits_width(page)
    shots.take(page, "todo-list")

    row.get_by_role("link", name=demo.TRIAL_GUIDE_SUBJECT).click()
    expect(page.locator("#document h1")).to_contain_text(demo.TRIAL_GUIDE_SUBJECT)
    expect_meta(page, "Số, ký hiệu", "01/HD-UBND")
    expect_meta(page, "Cơ quan ban hành", CITY)
    register = action_form(page, "register").get_by_role(
        "button", name="Vào sổ văn bản đến"
    )
    register.scroll_into_view_if_needed()
    expect(register).to_be_visible()
    assert_fits_width(page)
    shots.take(page, "document")

    submit_action(page, "register", "Vào sổ văn bản đến")
    expect_flash(page, "Đã vào sổ văn bản đến.")
    expect_meta(page, "Số đến", "1")
    assert_fits_width(page)
    shots.take(page, "registered")

    page.locator("label.nav-toggle-label").click()
    expect(page.locator("nav.nav")).to_be_visible()
    shots.take(page, "menu")
    log_out(page)
