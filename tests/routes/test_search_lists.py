"""List search: case, diacritics and Unicode form never matter."""

import unicodedata

import pytest

from ..scenario import city_issues_guide

SUBJECT = "Quyết định về việc THỬ NGHIỆM trao đổi văn bản Đợt 1"


@pytest.fixture
def ward_clerk(login_as):
    city_issues_guide(login_as, subject=SUBJECT)
    return login_as("badinh.vanthu")


def result_count(user, query):
    response = user.get("/inbox/", query_string={"q": query}, htmx=True)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    return html.count(SUBJECT)


@pytest.mark.parametrize(
    "query",
    [
        "quyet dinh",
        "QUYẾT ĐỊNH",
        "Quyết định",
        unicodedata.normalize("NFD", "Quyết định"),
        "thử nghiệm",
        "THU NGHIEM",
        "dot 1",
        "ĐỢT",
        "\u00d0ợt",
    ],
)
def test_search_finds_every_spelling(ward_clerk, query):
    assert result_count(ward_clerk, query) == 1


def test_search_by_number_and_symbol(ward_clerk):
    # The demo guide is 01/HD-UBND, so this test's guide is 02/HD-UBND.
    assert result_count(ward_clerk, "02/HD-UBND") == 1
    assert result_count(ward_clerk, "02/hd-ubnd") == 1
    assert result_count(ward_clerk, "03/HD-UBND") == 0


@pytest.mark.parametrize("query", ["%", "_", "quyet%dinh", "q_yet"])
def test_search_wildcards_are_literal(ward_clerk, query):
    assert result_count(ward_clerk, query) == 0


def test_search_without_match(ward_clerk):
    assert result_count(ward_clerk, "không có văn bản này") == 0
