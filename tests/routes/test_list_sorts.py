"""A list with a keyword pages through its matches in the chosen order."""

import re
from datetime import UTC, date, datetime, timedelta

import pytest

from vanban.models import Document

from ..roster import load_ward

PAGE_SIZE = 2


@pytest.fixture
def clerk(login_as, app):
    app.config["PAGE_SIZE"] = PAGE_SIZE
    return login_as("badinh.vanthu")


@pytest.fixture
def matches(session) -> list[Document]:
    """Five incoming documents with the keyword, created a day apart, with
    urgencies out of step with their age."""
    organisation = load_ward(session, "badinh").organisation
    start = datetime(2026, 3, 2, 8, tzinfo=UTC)
    documents = [
        Document(
            organisation_id=organisation.id,
            direction="incoming",
            state="registered",
            subject=f"Phiếu Lũng Cú {n}",
            organ_name="UBND Thành phố Hà Nội",
            issued_date=date(2026, 3, 2),
            urgency=urgency,
            created_at=start + timedelta(days=n),
        )
        for n, urgency in enumerate([1, 0, 2, 1, 0])
    ]
    session.add_all(documents)
    session.commit()
    return documents


def _shown(clerk, sort: str, pages: int) -> tuple[list[int], str]:
    ids: list[int] = []
    html = ""
    for page in range(1, pages + 1):
        response = clerk.get(
            "/inbox/",
            query_string={"q": "lũng cú", "sort": sort, "page": page},
            htmx=True,
        )
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        ids += [int(i) for i in re.findall(r'href="/documents/(\d+)"', html)]
    return ids, html


@pytest.mark.parametrize(
    ("sort", "key"),
    [
        ("newest", lambda d: (-d.created_at.timestamp(), -d.id)),
        ("oldest", lambda d: (d.created_at.timestamp(), d.id)),
        ("urgency", lambda d: (-d.urgency, -d.created_at.timestamp(), -d.id)),
    ],
)
def test_keyword_list_pages_in_order(clerk, matches, sort, key):
    ids, last_page = _shown(clerk, sort, pages=3)

    assert ids == [d.id for d in sorted(matches, key=key)]
    assert "5 văn bản" in last_page
    assert "Trang 3/3" in last_page
