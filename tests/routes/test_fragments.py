"""Every htmx view as a full page and as a fragment, and the 4xx swap policy."""

import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from vanban.models import Document
from vanban.services import drafts, files, incoming, outbox
from vanban.services.clock import local_today

from ..conftest import FIXTURES
from ..roster import OTHER_WARD, document_in_state, load_ward, ward_username

LIST_PAGES = ("/", "/inbox/", "/registers/outgoing/")
LIST_QUERIES = (
    "",
    "?q=h%C6%B0%E1%BB%9Bng+d%E1%BA%ABn",
    "?state=arrived&urgency=1",
    "?due=soon&sort=due",
    "?due=overdue&sort=urgency&page=2",
    "?sort=oldest&page=x",
)
FULL_PAGE_HEADERS = {
    "boosted": {"HX-Request": "true", "HX-Boosted": "true"},
    "history restore": {"HX-Request": "true", "HX-History-Restore-Request": "true"},
}
# Issued documents travel as edXML packages that carry their files' bytes.
SIGNED_PDF_PATH = FIXTURES / "documents" / "thanhpho_kich-ban-thu-nghiem.pdf"
HTMX_CONFIG = re.compile(r"<meta name=\"htmx-config\"\s+content='([^']*)'>")


def is_full_page(html):
    return html.lstrip().lower().startswith("<!doctype html>")


def starts_with_root(html, root):
    return html.lstrip().startswith(root)


def varies_on_htmx(response):
    return "HX-Request" in response.vary


@pytest.fixture
def clerk(login_as):
    return login_as(ward_username("clerk"))


@pytest.fixture
def guide(session):
    """Return the city's issued trial guide and the ward's received copy."""
    ward = load_ward(session).organisation
    original = session.scalar(
        select(Document).where(
            Document.direction == "outgoing", Document.state == "issued"
        )
    )
    received = session.scalar(
        select(Document).where(
            Document.source_document_id == original.id,
            Document.organisation_id == ward.id,
        )
    )
    return original, received


@pytest.mark.parametrize("url", LIST_PAGES)
def test_list_page_and_fragment(clerk, url):
    for query in LIST_QUERIES:
        page = clerk.get(url + query)
        fragment = clerk.get(url + query, htmx=True)
        page_html = page.get_data(as_text=True)
        fragment_html = fragment.get_data(as_text=True)

        assert page.status_code == 200, query
        assert is_full_page(page_html), query
        assert '<form class="filters"' in page_html, query
        assert '<div id="results">' in page_html, query
        assert varies_on_htmx(page), query
        assert fragment.status_code == 200, query
        assert starts_with_root(fragment_html, '<div id="results">'), query
        assert "<html" not in fragment_html, query
        assert 'class="filters"' not in fragment_html, query
        assert varies_on_htmx(fragment), query


@pytest.mark.parametrize("url", LIST_PAGES)
@pytest.mark.parametrize("kind", FULL_PAGE_HEADERS)
def test_list_full_page_for_boost_and_history(clerk, url, kind):
    response = clerk.get(url, headers=dict(FULL_PAGE_HEADERS[kind]))
    html = response.get_data(as_text=True)

    assert response.status_code == 200
    assert is_full_page(html)
    assert '<form class="filters"' in html
    assert varies_on_htmx(response)


def test_document_page_and_fragment(clerk, guide):
    _, received = guide
    url = f"/documents/{received.id}"

    page = clerk.get(url)
    fragment = clerk.get(url, htmx=True)
    page_html = page.get_data(as_text=True)
    fragment_html = fragment.get_data(as_text=True)

    assert page.status_code == 200
    assert is_full_page(page_html)
    assert '<div id="document"' in page_html
    assert page_html.count('id="flash"') == 1
    assert varies_on_htmx(page)
    assert fragment.status_code == 200
    assert starts_with_root(fragment_html, '<div id="document"')
    assert "<html" not in fragment_html
    assert varies_on_htmx(fragment)


@pytest.mark.parametrize("kind", FULL_PAGE_HEADERS)
def test_document_full_page_for_boost_and_history(clerk, guide, kind):
    _, received = guide
    response = clerk.get(
        f"/documents/{received.id}", headers=dict(FULL_PAGE_HEADERS[kind])
    )
    html = response.get_data(as_text=True)

    assert response.status_code == 200
    assert is_full_page(html)
    assert '<div id="document"' in html
    assert html.count('id="flash"') == 1
    assert varies_on_htmx(response)


def test_recipients_page_and_fragment(login_as, guide):
    original, _ = guide
    city_clerk = login_as("thanhpho.vanthu")
    url = f"/documents/{original.id}/recipients"

    page = city_clerk.get(url)
    fragment = city_clerk.get(url, htmx=True)
    boosted = city_clerk.get(url, headers=dict(FULL_PAGE_HEADERS["boosted"]))
    fragment_html = fragment.get_data(as_text=True)

    assert page.status_code == 200
    assert is_full_page(page.get_data(as_text=True))
    assert varies_on_htmx(page)
    assert fragment.status_code == 200
    assert starts_with_root(fragment_html, '<section class="card" id="recipients"')
    assert "<html" not in fragment_html
    assert "UBND Phường Ba Đình" in fragment_html
    assert varies_on_htmx(fragment)
    assert is_full_page(boosted.get_data(as_text=True))


def test_htmx_action_returns_document_with_flash(clerk, guide, session):
    _, received = guide

    response = clerk.post(f"/registers/incoming/{received.id}", htmx=True)
    html = response.get_data(as_text=True)

    assert response.status_code == 200
    assert starts_with_root(html, '<div id="document"')
    assert "<html" not in html
    assert '<div id="flash" hx-swap-oob="true">' in html
    assert "Đã vào sổ văn bản đến." in html
    assert varies_on_htmx(response)
    session.rollback()
    assert session.get(Document, received.id).state == "registered"


@pytest.fixture
def with_leader(session):
    """Return the id of a ward document waiting for the chairman's instruction."""
    ward = load_ward(session)
    document = document_in_state(
        ward, session, "incoming", "with_leader", holder_id=None
    )
    session.add(document)
    session.commit()
    return document.id


def test_htmx_action_form_error_is_422_fragment(login_as, with_leader):
    leader = login_as(ward_username("leader"))
    typed = "Giao phòng chủ trì, báo cáo trước ngày 20."

    response = leader.post(
        f"/annotation/{with_leader}/instruct",
        {"text": typed, "lead": "", "deadline": ""},
        htmx=True,
    )
    html = response.get_data(as_text=True)

    assert response.status_code == 422
    assert starts_with_root(html, '<div id="document"')
    assert "<html" not in html
    assert 'id="action-instruct"' in html
    assert '<p class="error" id="err-lead">' in html
    assert typed in html
    assert varies_on_htmx(response)


def test_htmx_action_service_error_is_422_fragment(session, login_as, with_leader):
    economy = load_ward(session).department(session, "KT")
    leader = login_as(ward_username("leader"))
    yesterday = local_today() - timedelta(days=1)

    response = leader.post(
        f"/annotation/{with_leader}/instruct",
        {
            "text": "Giao Phòng Kinh tế.",
            "lead": f"d{economy.id}",
            "deadline": yesterday.isoformat(),
        },
        htmx=True,
    )
    html = response.get_data(as_text=True)

    assert response.status_code == 422
    assert starts_with_root(html, '<div id="document"')
    assert "Hạn xử lý không được trước ngày hôm nay." in html
    assert yesterday.isoformat() in html
    session.rollback()
    assert session.get(Document, with_leader).state == "with_leader"


def test_plain_action_form_error_is_422_page(login_as, with_leader):
    leader = login_as(ward_username("leader"))

    response = leader.post(
        f"/annotation/{with_leader}/instruct", {"text": "", "lead": ""}
    )
    html = response.get_data(as_text=True)

    assert response.status_code == 422
    assert is_full_page(html)
    assert '<p class="error" id="err-text">' in html


def test_htmx_conflict_goes_to_flash(clerk, guide):
    _, received = guide
    url = f"/registers/incoming/{received.id}"
    assert clerk.post(url).status_code == 303

    response = clerk.post(url, htmx=True)
    html = response.get_data(as_text=True)

    assert response.status_code == 409
    assert response.headers["HX-Retarget"] == "#flash"
    assert response.headers["HX-Reswap"] == "innerHTML"
    assert "Vào sổ văn bản đến" in html
    assert "<html" not in html
    assert 'id="flash"' not in html
    assert varies_on_htmx(response)


def test_plain_conflict_is_error_page(clerk, guide):
    _, received = guide
    url = f"/registers/incoming/{received.id}"
    assert clerk.post(url).status_code == 303

    response = clerk.post(url)

    assert response.status_code == 409
    assert "HX-Retarget" not in response.headers
    assert is_full_page(response.get_data(as_text=True))


@pytest.mark.parametrize(
    "username, reason",
    [
        (ward_username("leader"), "wrong role"),
        (ward_username("clerk", OTHER_WARD), "other organisation"),
    ],
)
def test_htmx_forbidden_goes_to_flash(login_as, guide, username, reason):
    _, received = guide
    user = login_as(username)

    response = user.post(f"/registers/incoming/{received.id}", htmx=True)
    html = response.get_data(as_text=True)

    assert response.status_code == 403, reason
    assert response.headers["HX-Retarget"] == "#flash", reason
    assert response.headers["HX-Reswap"] == "innerHTML", reason
    assert "quyền" in html, reason
    assert "<html" not in html, reason
    assert varies_on_htmx(response), reason


def swap_rule(rules, status):
    """Return the first responseHandling rule htmx 2 applies to a status.

    htmx tests each rule's `code` as an unanchored regular expression against
    the status and takes the first match.
    """
    for rule in rules:
        if re.search(rule["code"], str(status)):
            return rule
    return None


def test_htmx_config_swaps_4xx_into_page(clerk):
    html = clerk.get("/").get_data(as_text=True)
    match = HTMX_CONFIG.search(html)
    assert match, "the htmx-config meta is missing from base.html"
    config = json.loads(match.group(1))
    rules = config["responseHandling"]

    for status in (400, 403, 404, 409, 422, 429):
        rule = swap_rule(rules, status)
        assert rule is not None, status
        assert rule["swap"] is True, status
        assert rule.get("error") is False, status
    assert swap_rule(rules, 200)["swap"] is True
    assert swap_rule(rules, 204)["swap"] is False
    assert swap_rule(rules, 500)["swap"] is False
    assert swap_rule(rules, 500)["error"] is True
    assert config["allowEval"] is False


def arrive(session, sender, recipient, subject, urgency, due_date):
    """Issue a document from the sender ward and return the recipient's copy."""
    clerk = sender.users["clerk"]
    document = drafts.compose(
        session,
        clerk,
        type_name="Công văn",
        subject=subject,
        description="",
        signer_name="Người ký",
        signer_position="Chủ tịch",
        urgency=urgency,
        secrecy=0,
        due_date=None,
        files=[files.store_bytes(SIGNED_PDF_PATH.read_bytes(), "ky.pdf")],
    )
    drafts.issue(
        session,
        clerk,
        document,
        subject=subject,
        recipient_ids=[recipient.organisation.id],
    )
    session.flush()
    outbox.deliver_pending(session)
    received = session.scalar(
        select(Document).where(
            Document.source_document_id == document.id,
            Document.organisation_id == recipient.organisation.id,
        )
    )
    # Set on the received copy: the sender may not give a deadline in the past.
    received.due_date = due_date
    return received


@pytest.fixture
def inbox_samples(session):
    """Make four incoming documents, received in the order A, B, C, D."""
    ward = load_ward(session)
    sender = load_ward(session, OTHER_WARD)
    today = local_today()
    samples = {
        "A": (0, today - timedelta(days=3)),
        "B": (1, today + timedelta(days=1)),
        "C": (3, today + timedelta(days=30)),
        "D": (0, None),
    }
    ids = {}
    for name, (urgency, due_date) in samples.items():
        subject = f"Kiểm thử bộ lọc văn bản {name}"
        ids[name] = arrive(session, sender, ward, subject, urgency, due_date)
    incoming.register(session, ward.users["clerk"], ids["B"])
    session.commit()
    return {name: f"Kiểm thử bộ lọc văn bản {name}" for name in samples}


def sample_order(html, subjects):
    """Return the sample names in the order their subjects appear."""
    positions = {name: html.find(subject) for name, subject in subjects.items()}
    return [
        name for name, at in sorted(positions.items(), key=lambda p: p[1]) if at >= 0
    ]


@pytest.mark.parametrize(
    "query, expected",
    [
        ("", ["D", "C", "B", "A"]),
        ("&sort=newest", ["D", "C", "B", "A"]),
        ("&sort=oldest", ["A", "B", "C", "D"]),
        ("&sort=due", ["A", "B", "C", "D"]),
        ("&sort=urgency", ["C", "B", "D", "A"]),
        ("&urgency=3", ["C"]),
        ("&urgency=1", ["B"]),
        ("&due=overdue", ["A"]),
        ("&due=soon", ["B"]),
        ("&state=registered", ["B"]),
        ("&state=arrived&sort=oldest", ["A", "C", "D"]),
        ("&state=no-such-state&sort=oldest", ["A", "B", "C", "D"]),
    ],
)
def test_inbox_filters_and_sorts(clerk, inbox_samples, query, expected):
    response = clerk.get(f"/inbox/?q=b%E1%BB%99+l%E1%BB%8Dc{query}", htmx=True)

    assert response.status_code == 200
    assert sample_order(response.get_data(as_text=True), inbox_samples) == expected


def test_search_leaves_out_other_documents(clerk, inbox_samples, guide):
    _, received = guide

    everything = clerk.get("/inbox/", htmx=True).get_data(as_text=True)
    searched = clerk.get("/inbox/?q=b%E1%BB%99+l%E1%BB%8Dc", htmx=True)

    assert received.subject in everything
    assert received.subject not in searched.get_data(as_text=True)


def test_search_ignores_diacritics(clerk, inbox_samples):
    response = clerk.get("/inbox/?q=kiem+thu+bo+loc&sort=oldest", htmx=True)

    assert sample_order(response.get_data(as_text=True), inbox_samples) == [
        "A",
        "B",
        "C",
        "D",
    ]


def test_full_list_page_keeps_filter_values(clerk, inbox_samples):
    html = clerk.get("/inbox/?q=b%E1%BB%99+l%E1%BB%8Dc&urgency=3").get_data(
        as_text=True
    )

    assert 'value="bộ lọc"' in html
    assert '<option selected value="3">' in html


def test_inbox_pages(app, clerk, inbox_samples):
    app.config["PAGE_SIZE"] = 2
    base = "/inbox/?q=b%E1%BB%99+l%E1%BB%8Dc&sort=oldest"

    first = clerk.get(base, htmx=True).get_data(as_text=True)
    second = clerk.get(base + "&page=2", htmx=True).get_data(as_text=True)
    beyond = clerk.get(base + "&page=9", htmx=True).get_data(as_text=True)
    invalid = clerk.get(base + "&page=abc", htmx=True).get_data(as_text=True)

    assert sample_order(first, inbox_samples) == ["A", "B"]
    assert "Trang 1/2" in first
    assert "page=2" in first
    assert "page=1" not in first
    assert sample_order(second, inbox_samples) == ["C", "D"]
    assert "Trang 2/2" in second
    assert "page=1" in second
    assert sample_order(beyond, inbox_samples) == ["C", "D"]
    assert sample_order(invalid, inbox_samples) == ["A", "B"]
    assert "4 văn bản" in first


def test_pager_links_keep_filters(app, clerk, inbox_samples):
    app.config["PAGE_SIZE"] = 2

    html = clerk.get(
        "/inbox/?q=b%E1%BB%99+l%E1%BB%8Dc&sort=oldest", htmx=True
    ).get_data(as_text=True)
    links = re.findall(r'href="(/inbox/\?[^"]*page=2[^"]*)"', html)

    assert links
    assert "sort=oldest" in links[0]
    assert "q=b%E1%BB%99+l%E1%BB%8Dc" in links[0]
