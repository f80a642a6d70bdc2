"""Paging through many matches: the search's result limit, the keyword lists'
count and the deadline sort across documents with and without a deadline."""

import re
from datetime import date, timedelta

import pytest

from vanban.models import Document
from vanban.services import search

from ..roster import load_ward


@pytest.fixture
def clerk(login_as):
    return login_as("badinh.vanthu")


@pytest.fixture
def small_pages(app):
    app.config["PAGE_SIZE"] = 2
    yield 2
    app.config["PAGE_SIZE"] = 20


def add_documents(session, subjects_and_deadlines) -> list[int]:
    organisation = load_ward(session, "badinh").organisation
    documents = [
        Document(
            organisation_id=organisation.id,
            direction="incoming",
            state="registered",
            subject=subject,
            organ_name="UBND Thành phố Hà Nội",
            issued_date=date(2026, 3, 2),
            due_date=due_date,
        )
        for subject, due_date in subjects_and_deadlines
    ]
    session.add_all(documents)
    session.commit()
    return [document.id for document in documents]


def shown_ids(response) -> list[int]:
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    html = response.get_data(as_text=True)
    return [int(i) for i in re.findall(r'href="/documents/(\d+)"', html)]


def test_search_stops_counting_past_limit(session, clerk, monkeypatch):
    ids = add_documents(session, [(f"Phiếu Lũng Cú {n}", None) for n in range(5)])
    monkeypatch.setattr(search, "RESULT_LIMIT", 3)

    response = clerk.get("/search/", query_string={"q": "lung cu"}, htmx=True)
    html = response.get_data(as_text=True)
    assert "Tìm thấy hơn 3 văn bản" in html
    assert "hãy thêm từ khóa hoặc điều kiện để thu hẹp" in html
    # Ranked as before: equal scores, newest first.
    assert shown_ids(response) == sorted(ids, reverse=True)

    narrower = clerk.get("/search/", query_string={"q": "lung cu 4"}, htmx=True)
    assert "Tìm thấy 1 văn bản" in narrower.get_data(as_text=True)
    assert shown_ids(narrower) == [ids[4]]


def test_search_pages_stop_at_limit(session, clerk, monkeypatch, small_pages):
    add_documents(session, [(f"Phiếu Lũng Cú {n}", None) for n in range(7)])
    monkeypatch.setattr(search, "RESULT_LIMIT", 4)

    response = clerk.get(
        "/search/",
        query_string={"q": "lung cu", "page": 9},
        headers={"HX-Target": "search-results"},
        htmx=True,
    )
    assert "Trang 2/2" in response.get_data(as_text=True)
    assert len(shown_ids(response)) == 2


def test_keyword_list_counts_and_pages(session, clerk, small_pages):
    ids = add_documents(session, [(f"Phiếu Lũng Cú {n}", None) for n in range(5)])
    newest_first = sorted(ids, reverse=True)

    first = clerk.get("/inbox/", query_string={"q": "lũng cú"}, htmx=True)
    assert "5 văn bản" in first.get_data(as_text=True)
    assert "Trang 1/3" in first.get_data(as_text=True)
    assert shown_ids(first) == newest_first[:2]

    last = clerk.get("/inbox/", query_string={"q": "lũng cú", "page": 3}, htmx=True)
    assert shown_ids(last) == newest_first[4:]

    # A page past the end shows the last page, counted.
    past = clerk.get("/inbox/", query_string={"q": "lũng cú", "page": 40}, htmx=True)
    assert "Trang 3/3" in past.get_data(as_text=True)
    assert shown_ids(past) == newest_first[4:]


def test_deadline_sort_pages_through_undated(session, clerk, app, small_pages):
    today = date(2026, 3, 10)
    ids = add_documents(
        session,
        [
            ("Phiếu Lũng Cú A", None),
            ("Phiếu Lũng Cú B", today + timedelta(days=5)),
            ("Phiếu Lũng Cú C", None),
            ("Phiếu Lũng Cú D", today + timedelta(days=1)),
            ("Phiếu Lũng Cú E", today + timedelta(days=5)),
        ],
    )
    a, b, c, d, e = ids
    # Soonest deadline first, the newest first on the same day, then the
    # documents without a deadline, newest first.
    expected = [d, e, b, c, a]

    seen = []
    for page in (1, 2, 3):
        response = clerk.get(
            "/inbox/",
            query_string={"q": "lung cu", "sort": "due", "page": page},
            htmx=True,
        )
        seen.extend(shown_ids(response))
    assert seen == expected

    # Without a keyword, small pages put together give the one long page.
    def inbox_by_deadline(page):
        response = clerk.get(
            "/inbox/", query_string={"sort": "due", "page": page}, htmx=True
        )
        return shown_ids(response)

    app.config["PAGE_SIZE"] = 1000
    whole = inbox_by_deadline(1)
    assert [i for i in whole if i in ids] == expected
    app.config["PAGE_SIZE"] = 2
    paged = []
    for page in range(1, -(-len(whole) // 2) + 1):
        paged.extend(inbox_by_deadline(page))
    assert paged == whole
