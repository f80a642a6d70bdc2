"""Two installations exchange documents through the city hub over real HTTP.

The city's installation serves the hub and hosts UBND Thành phố and the
Trung tâm. A ward installation hosts three wards. Each runs as its own
gunicorn process on 127.0.0.1 with its own SQLite database and instance
folder. The real CLI prepares each one (init-db, seed-demo, hub add-org,
exchange connect). After that the test drives it only through its web pages,
with one HTTP session per user, and moves packages with `exchange sync`.

Both installations use SQLite files in the test's folder even when the suite
runs on PostgreSQL, because each needs a database of its own and a file needs
no server to create or drop it. The connector and the hub run on PostgreSQL
in-process in tests/routes/test_connector.py.
"""

import random
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import lxml.html
import pytest
import requests

from vanban.services import demo
from vanban.services.drafts import FORMAT_CHECKLIST
from vanban.services.trial import SUBJECT_PREFIX

from .processes import Installation
from .scenario import GUIDE, REPLY_FILE

CITY_CODE = "000.00.00.H01"
CENTER_CODE = "000.01.00.H01"
CITY_NAME = "UBND Thành phố Hà Nội"
CENTER_NAME = "Trung tâm Truyền thông, Dữ liệu và Công nghệ số"
# Ward user-name prefix: (code, name) as seed-demo creates them.
WARDS = {
    "badinh": ("000.01.01.H01", "UBND Phường Ba Đình"),
    "ngocha": ("000.02.01.H01", "UBND Phường Ngọc Hà"),
    "giangvo": ("000.03.01.H01", "UBND Phường Giảng Võ"),
}
# What the sender's page shows for a package the hub accepted, and for a
# recipient that has reported no status yet.
SENT = "Đã gửi lên trục"
NO_STATUS = "Chưa có trạng thái"


@dataclass
class Exchange:
    city: Installation
    wards: Installation
    browsers: dict = field(default_factory=dict)

    def user(self, installation: Installation, username: str) -> "Browser":
        """Return the logged-in session of a user, logging in the first time."""
        key = (installation.name, username)
        if key not in self.browsers:
            self.browsers[key] = Browser(installation, username)
        return self.browsers[key]


def register_all(city: Installation) -> dict[str, str]:
    """Register both city units and the wards at the hub and return their tokens."""
    tokens = {
        CITY_CODE: city.add_org(CITY_CODE, CITY_NAME, None),
        CENTER_CODE: city.add_org(CENTER_CODE, CENTER_NAME, CITY_CODE),
    }
    for code, name in WARDS.values():
        tokens[code] = city.add_org(code, name, CITY_CODE)
    return tokens


def connect_all(
    installation: Installation, codes: list[str], hub_url: str, tokens: dict
) -> None:
    # One after another: each connect adds the hub's directory to the same
    # database, and two at once could both add the same organisation.
    for code in codes:
        installation.connect(code, hub_url, tokens[code])


@pytest.fixture(scope="module")
def exchange(tmp_path_factory):
    """Prepare and start both installations, and stop them when the module ends.

    The two installations are prepared side by side to keep the setup short,
    and the commands of each one run one after another.
    """
    root = tmp_path_factory.mktemp("two-installations")
    city = Installation("city", root / "city", hub_enabled=True)
    wards = Installation("wards", root / "wards")
    ward_seed = ["--only", "wards", *[arg for s in WARDS for arg in ("--ward", s)]]
    try:
        # Leaving the with block waits for both threads, so no server can
        # start after the finally clause has stopped them.
        with ThreadPoolExecutor(max_workers=1) as pool:
            wards_ready = pool.submit(wards.prepare, *ward_seed)
            city.prepare("--only", "city")
            tokens = register_all(city)
            wards_ready.result()
            ward_codes = [code for code, _ in WARDS.values()]
            wards_connected = pool.submit(
                connect_all, wards, ward_codes, city.hub_url, tokens
            )
            connect_all(city, [CITY_CODE, CENTER_CODE], city.hub_url, tokens)
            wards_connected.result()
        yield Exchange(city, wards)
    finally:
        for installation in (city, wards):
            installation.stop()
        for installation in (city, wards):
            # Shown by pytest only when a test fails.
            print(f"--- {installation.name} server log ---\n{installation.log()}")


class Browser:
    """One user's HTTP session with an installation, as a browser would hold it."""

    def __init__(self, installation: Installation, username: str):
        self.installation = installation
        self.username = username
        self.http = requests.Session()
        response = self.submit(
            "/login",
            "",
            {"username": username, "password": demo.DEMO_PASSWORD},
        )
        assert response.headers["Location"].endswith("/"), response.headers

    def url(self, path: str) -> str:
        return f"{self.installation.base_url}{path}"

    def get(self, path: str) -> requests.Response:
        response = self.http.get(self.url(path), timeout=30)
        assert response.status_code == 200, (path, response.text[:2000])
        return response

    def page(self, path: str):
        return lxml.html.fromstring(self.get(path).text)

    def submit(
        self, page_path: str, action: str, values: dict, files: list | None = None
    ) -> requests.Response:
        """Fill in the page's form that posts to `action` and post it.

        Fields not in `values` keep what the page filled in, the CSRF token
        included. A list value replaces every value of a multiple field.
        `files` lists (field name, path) pairs to upload. Return the response,
        which must be a 303 redirect.
        """
        form = find_form(self.page(page_path), action)
        data = [(k, v) for k, v in form.form_values() if k not in values]
        for key, value in values.items():
            for item in value if isinstance(value, list) else [value]:
                data.append((key, item))
        opened = []
        try:
            for key, path in files or []:
                opened.append((key, (path.name, path.open("rb"))))
            response = self.http.post(
                self.url(action or page_path),
                data=data,
                files=opened or None,
                allow_redirects=False,
                timeout=60,
            )
        finally:
            for _, (_, handle) in opened:
                handle.close()
        assert response.status_code == 303, (
            self.username,
            action,
            response.status_code,
            page_errors(response.text),
        )
        return response

    def act(self, document_id: int, action: str, values: dict, files=None):
        """Post one action form of a document's page."""
        return self.submit(f"/documents/{document_id}", action, values, files)

    def find_document(self, list_path: str, subject: str) -> int:
        """Return the id of the document with this subject in a list page."""
        page = self.page(list_path)
        for link in page.xpath("//div[@id='results']//a[@href]"):
            match = re.fullmatch(r"/documents/(\d+)", link.get("href"))
            if match and link.text_content().strip() == subject:
                return int(match.group(1))
        raise AssertionError(f"{self.username}: no “{subject}” in {list_path}")

    def download_attachments(self, document_id: int) -> dict[str, bytes]:
        """Download every file listed on the document's page, by file name."""
        page = self.page(f"/documents/{document_id}")
        files = {}
        for link in page.xpath("//ul[@class='files']//a[@download]"):
            response = self.get(link.get("href"))
            files[link.text_content().strip()] = response.content
        return files


def find_form(page, action: str):
    for form in page.forms:
        if (form.get("action") or "") == action:
            return form
    actions = [form.get("action") for form in page.forms]
    raise AssertionError(f"no form posting to {action!r}; forms post to {actions}")


def page_errors(html: str) -> list[str]:
    page = lxml.html.fromstring(html or "<p></p>")
    return [e.text_content().strip() for e in page.xpath("//*[@class='error']")]


def choice(page, action: str, name: str, label: str) -> str:
    """Return the value of the option or checkbox of `name` shown with `label`."""
    form = find_form(page, action)
    for option in form.xpath(f".//select[@name='{name}']/option"):
        if option.text_content().strip() == label:
            return option.get("value")
    for box in form.xpath(f".//input[@name='{name}']"):
        labels = form.xpath(f".//label[@for='{box.get('id')}']")
        if labels and labels[0].text_content().strip() == label:
            return box.get("value")
    raise AssertionError(f"no choice “{label}” for {name} in {action}")


def new_document_id(response: requests.Response) -> int:
    return int(response.headers["Location"].rsplit("/", 1)[-1])


def enter_signed(clerk: Browser, values: dict, path) -> int:
    """Enter a signed document with one file as a clerk; return its id."""
    response = clerk.submit(
        "/documents/new",
        "",
        {"signer_name": "Người ký (demo)", "urgency": "1", **values},
        files=[("files", path)],
    )
    return new_document_id(response)


def recipient_rows(browser: Browser, document_id: int) -> dict[str, tuple]:
    """Return, per recipient on the sender's page: purpose, transport, status.

    Each value is the first line of its column, so the transport column
    gives its state without the time under it.
    """
    page = browser.page(f"/documents/{document_id}/recipients")
    table = page.xpath("//section[@id='recipients']//table")[0]
    headers = [cell.text_content().strip() for cell in table.xpath(".//thead//th")]
    rows = {}
    for row in table.xpath(".//tbody/tr"):
        cells = [cell.text_content().strip() for cell in row.xpath("./td")]
        values = dict(zip(headers, cells, strict=True))
        rows[values["Nơi nhận"]] = tuple(
            values[name].splitlines()[0].strip() if values[name] else ""
            for name in ("Mục đích", "Chuyển văn bản", "Trạng thái")
        )
    return rows


def timeline(browser: Browser, document_id: int) -> str:
    page = browser.page(f"/documents/{document_id}")
    return " ".join(page.xpath("//section[@id='timeline']")[0].text_content().split())


def test_scenario_01_city_directive_and_ward_reply(exchange):
    city, wards = exchange.city, exchange.wards
    subject = "Hướng dẫn thử nghiệm trao đổi văn bản giữa hai cài đặt"

    # 1. The city clerk enters the signed guide and issues it to Ba Đình.
    city_clerk = exchange.user(city, "thanhpho.vanthu")
    outgoing_id = enter_signed(
        city_clerk,
        {"type_name": "Hướng dẫn", "subject": subject, "signer_position": "Giám đốc"},
        GUIDE,
    )
    issue = f"/registers/outgoing/{outgoing_id}/issue"
    page = city_clerk.page(f"/documents/{outgoing_id}")
    ward_value = choice(page, issue, "recipients", WARDS["badinh"][1])
    city_clerk.act(outgoing_id, issue, {"subject": subject, "recipients": ward_value})
    assert recipient_rows(city_clerk, outgoing_id) == {
        WARDS["badinh"][1]: ("Để xử lý", SENT, NO_STATUS)
    }

    # 2. The ward installation takes the package in; its clerk registers it.
    wards.sync()
    clerk = exchange.user(wards, "badinh.vanthu")
    incoming_id = clerk.find_document("/inbox/", subject)
    files = clerk.download_attachments(incoming_id)
    assert files == {GUIDE.name: GUIDE.read_bytes()}
    clerk.act(incoming_id, f"/registers/incoming/{incoming_id}", {})
    clerk.act(incoming_id, f"/inbox/{incoming_id}/forward", {"note": ""})

    # 3-5. Advisor, chairman, department head.
    advisor = exchange.user(wards, "badinh.thammuu")
    advisor.act(
        incoming_id,
        f"/annotation/{incoming_id}/propose",
        {"text": "Đề nghị giao Phòng Kinh tế chủ trì."},
    )
    leader = exchange.user(wards, "badinh.chutich")
    instruct = f"/annotation/{incoming_id}/instruct"
    page = leader.page(f"/documents/{incoming_id}")
    leader.act(
        incoming_id,
        instruct,
        {
            "text": "Giao Phòng Kinh tế chủ trì, báo cáo kết quả.",
            "lead": choice(page, instruct, "lead", "Phòng: Phòng Kinh tế"),
            "support": choice(page, instruct, "support", "Phòng Văn hóa - Xã hội"),
        },
    )
    head = exchange.user(wards, "badinh.truongphong")
    assign = f"/annotation/{incoming_id}/assign"
    page = head.page(f"/documents/{incoming_id}")
    officer_name = "Hoàng Văn E (Phường Ba Đình)"
    head.act(
        incoming_id,
        assign,
        {
            "officer": choice(page, assign, "officer", officer_name),
            "text": "Đề nghị xử lý ngay.",
        },
    )

    # 6-8. The officer drafts the reply; head, format reviewer and leader pass it.
    officer = exchange.user(wards, "badinh.chuyenvien")
    response = officer.act(
        incoming_id,
        f"/approval/{incoming_id}/reply",
        {"type_name": "Công văn", "subject": "V/v báo cáo kết quả thử nghiệm"},
        files=[("files", REPLY_FILE)],
    )
    draft_id = new_document_id(response)
    officer.act(draft_id, f"/approval/{draft_id}/submit", {})
    head.act(draft_id, f"/approval/{draft_id}/initial", {"send_to": "format"})
    reviewer = exchange.user(wards, "badinh.kiemsoat")
    reviewer.act(
        draft_id,
        f"/approval/{draft_id}/format-check",
        {"checklist": [key for key, _, _ in FORMAT_CHECKLIST], "decision": "pass"},
    )
    leader.act(draft_id, f"/approval/{draft_id}/approve", {})

    # 9. The clerk issues the reply to both city units with the trial subject,
    # which the issue form suggests along with the two recipients.
    issue = f"/registers/outgoing/{draft_id}/issue"
    page = clerk.page(f"/documents/{draft_id}")
    form = find_form(page, issue)
    trial_subject = f"{SUBJECT_PREFIX} - UBND PHƯỜNG BA ĐÌNH"
    assert form.fields["subject"].startswith(trial_subject)
    city_units = [
        choice(page, issue, "recipients", CITY_NAME),
        choice(page, issue, "recipients", CENTER_NAME),
    ]
    assert sorted(form.fields["recipients"]) == sorted(city_units)
    reply_subject = f"{trial_subject} - Báo cáo kết quả thử nghiệm"
    clerk.act(draft_id, issue, {"subject": reply_subject, "recipients": city_units})

    # The city installation applies the statuses and takes the reply in.
    city.sync()
    rows = recipient_rows(city_clerk, outgoing_id)
    assert rows[WARDS["badinh"][1]] == ("Để xử lý", SENT, "06 – Hoàn thành")
    history = timeline(city_clerk, outgoing_id)
    for status in (
        "01 Đã đến",
        "03 Đã tiếp nhận",
        "04 Phân công",
        "05 Đang xử lý",
        "06 Hoàn thành",
    ):
        assert f"{WARDS['badinh'][1]} — {status}" in history
    assert history.index("— 01 Đã đến") < history.index("— 06 Hoàn thành")
    for username in ("thanhpho.vanthu", "tttt.vanthu"):
        city_user = exchange.user(city, username)
        reply_id = city_user.find_document("/inbox/", reply_subject)
        files = city_user.download_attachments(reply_id)
        assert files == {REPLY_FILE.name: REPLY_FILE.read_bytes()}, username

    # The ward sees for itself that the reply reached both city units.
    wards.sync(WARDS["badinh"][0])
    assert recipient_rows(clerk, draft_id) == {
        CITY_NAME: ("Để xử lý", SENT, "01 – Đã đến"),
        CENTER_NAME: ("Để xử lý", SENT, "01 – Đã đến"),
    }


def test_scenario_02_ward_sends_on_own_initiative(exchange, tmp_path):
    city, wards = exchange.city, exchange.wards
    sender_code = WARDS["ngocha"][0]
    # An appendix of 9 MB: its package has a base64 text node of about 12.6
    # million characters, over libxml2's default limit of 10 million.
    appendix = tmp_path / "phu-luc-so-lieu.pdf"
    appendix.write_bytes(b"%PDF-1.7\n" + random.Random(2).randbytes(9 * 1024 * 1024))
    sent_files = {
        REPLY_FILE.name: REPLY_FILE.read_bytes(),
        appendix.name: appendix.read_bytes(),
    }

    # An officer of Ngọc Hà drafts; the head and the leader pass the draft.
    officer = exchange.user(wards, "ngocha.chuyenvien")
    response = officer.submit(
        "/documents/new-draft",
        "",
        {
            "type_name": "Công văn",
            "subject": "V/v phối hợp tổ chức ngày hội chuyển đổi số",
            "body_text": "Đề nghị các phường phối hợp tổ chức.",
        },
        files=[("files", REPLY_FILE), ("files", appendix)],
    )
    draft_id = new_document_id(response)
    officer.act(draft_id, f"/approval/{draft_id}/submit", {})
    head = exchange.user(wards, "ngocha.truongphong")
    head.act(draft_id, f"/approval/{draft_id}/initial", {"send_to": "leader"})
    leader = exchange.user(wards, "ngocha.chutich")
    leader.act(draft_id, f"/approval/{draft_id}/approve", {})

    # The clerk issues it to two wards for action and to the city units for
    # information, keeping the trial subject the form suggests.
    clerk = exchange.user(wards, "ngocha.vanthu")
    issue = f"/registers/outgoing/{draft_id}/issue"
    page = clerk.page(f"/documents/{draft_id}")
    subject = find_form(page, issue).fields["subject"]
    assert subject.startswith(f"{SUBJECT_PREFIX} - UBND PHƯỜNG NGỌC HÀ")
    clerk.act(
        draft_id,
        issue,
        {
            "recipients": [
                choice(page, issue, "recipients", WARDS["badinh"][1]),
                choice(page, issue, "recipients", WARDS["giangvo"][1]),
            ],
            "info": [
                choice(page, issue, "info", CITY_NAME),
                choice(page, issue, "info", CENTER_NAME),
            ],
        },
    )
    assert set(recipient_rows(clerk, draft_id).values()) == {
        ("Để xử lý", SENT, NO_STATUS),
        ("Để biết", SENT, NO_STATUS),
    }

    # Every recipient takes it in; Ba Đình registers it.
    wards.sync()
    city.sync()
    ward_clerk = exchange.user(wards, "badinh.vanthu")
    incoming_id = ward_clerk.find_document("/inbox/", subject)
    ward_clerk.act(incoming_id, f"/registers/incoming/{incoming_id}", {})
    for installation, username in (
        (wards, "giangvo.vanthu"),
        (city, "thanhpho.vanthu"),
        (city, "tttt.vanthu"),
    ):
        receiver = exchange.user(installation, username)
        received_id = receiver.find_document("/inbox/", subject)
        files = receiver.download_attachments(received_id)
        assert files == sent_files, username

    # The sender sees delivery and processing per recipient on its page.
    wards.sync(sender_code)
    assert recipient_rows(clerk, draft_id) == {
        WARDS["badinh"][1]: ("Để xử lý", SENT, "03 – Đã tiếp nhận"),
        WARDS["giangvo"][1]: ("Để xử lý", SENT, "01 – Đã đến"),
        CITY_NAME: ("Để biết", SENT, "01 – Đã đến"),
        CENTER_NAME: ("Để biết", SENT, "01 – Đã đến"),
    }


def test_scenario_03_city_copy_waits_for_connector(exchange):
    """A ward without its connector reaches its neighbour directly, not the city.

    The ward installation hosts Ba Đình and Ngọc Hà, but not the city, which
    only the hub reaches. With Ngọc Hà's connector off, the copy for the city
    waits, and the hub takes it as soon as the connector is on again.
    """
    city, wards = exchange.city, exchange.wards
    sender_code = WARDS["ngocha"][0]
    neighbour = WARDS["badinh"][1]
    settings_path = "/exchange/settings"

    # Ngọc Hà's admin turns the connector off, and the page explains the effect.
    admin = exchange.user(wards, "ngocha.quantri")
    admin.submit(settings_path, settings_path, {"enabled": []})
    help_text = " ".join(admin.page(settings_path).text_content().split())
    assert "chỉ được chuyển trực tiếp tới các đơn vị có tài khoản" in help_text
    assert "nằm chờ với trạng thái “Chưa gửi”" in help_text

    # Ngọc Hà's clerk enters a signed document and issues it to both.
    clerk = exchange.user(wards, "ngocha.vanthu")
    document_id = enter_signed(
        clerk,
        {
            "type_name": "Công văn",
            "subject": "Văn bản gửi khi tắt kết nối trục",
            "signer_position": "Chủ tịch",
        },
        REPLY_FILE,
    )
    issue = f"/registers/outgoing/{document_id}/issue"
    page = clerk.page(f"/documents/{document_id}")
    subject = find_form(page, issue).fields["subject"]
    clerk.act(
        document_id,
        issue,
        {
            "subject": subject,
            "recipients": [
                choice(page, issue, "recipients", neighbour),
                choice(page, issue, "recipients", CITY_NAME),
            ],
            "info": [],
        },
    )

    waiting = ("Để xử lý", "Chưa gửi", NO_STATUS)
    assert recipient_rows(clerk, document_id) == {
        neighbour: ("Để xử lý", "Đã chuyển đến nơi nhận", NO_STATUS),
        CITY_NAME: waiting,
    }
    reason = clerk.page(f"/documents/{document_id}/recipients").text_content()
    assert "Đơn vị nhận không thuộc hệ thống này" in reason
    city.sync()
    wards.sync()
    city_clerk = exchange.user(city, "thanhpho.vanthu")
    assert subject not in city_clerk.get("/inbox/").text
    assert recipient_rows(clerk, document_id)[CITY_NAME] == waiting

    # The admin turns the connector on again: the push takes the waiting copy.
    admin.submit(settings_path, settings_path, {"enabled": "y"})
    wards.sync(sender_code)
    assert recipient_rows(clerk, document_id)[CITY_NAME] == (
        "Để xử lý",
        SENT,
        NO_STATUS,
    )
    city.sync()
    received_id = city_clerk.find_document("/inbox/", subject)
    files = city_clerk.download_attachments(received_id)
    assert files == {REPLY_FILE.name: REPLY_FILE.read_bytes()}

    wards.sync(sender_code)
    assert recipient_rows(clerk, document_id) == {
        neighbour: ("Để xử lý", "Đã chuyển đến nơi nhận", "01 – Đã đến"),
        CITY_NAME: ("Để xử lý", SENT, "01 – Đã đến"),
    }
