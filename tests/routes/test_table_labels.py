"""Table cells carry their column's name for the phone layout.

Below 700 px the table header is hidden and each cell shows its `data-label`
before its value, so every cell must name the column its header names.
"""

import lxml.html
import pytest

from tests.roster import load_ward, ward_username

from ..scenario import city_issues_guide, handle_until_officer

CITY_ADMIN = "thanhpho.quantri"
CENTER = "Trung tâm Truyền thông, Dữ liệu và Công nghệ số"


def _tables(response):
    assert response.status_code == 200
    page = lxml.html.fromstring(response.get_data(as_text=True))
    return page.xpath('//table[contains(concat(" ", @class, " "), " list ")]')


def _header(table) -> list[str]:
    return [" ".join(th.text_content().split()) for th in table.xpath("./thead/tr/th")]


def _assert_cells_named(table) -> int:
    """Check each body cell's data-label against its column header, return the count."""
    header = _header(table)
    checked = 0
    for row in table.xpath("./tbody/tr"):
        cells = row.xpath("./td|./th")
        if len(cells) == 1 and cells[0].get("colspan"):
            # A message such as "no departments yet" spans the whole row.
            continue
        assert len(cells) == len(header), (header, lxml.html.tostring(row))
        for name, cell in zip(header, cells, strict=True):
            if cell.tag == "td":
                assert cell.get("data-label") == name, lxml.html.tostring(cell)
                checked += 1
    return checked


@pytest.mark.parametrize(
    "url",
    ["/admin/organisations", "/admin/users", "/admin/doctypes"],
)
def test_admin_list_cells_named(login_as, url):
    tables = _tables(login_as(CITY_ADMIN).get(url))
    assert tables
    for table in tables:
        assert _assert_cells_named(table) > 0, _header(table)


def test_ward_users_cells_named(login_as, session):
    ward = load_ward(session)
    response = login_as(ward_username("admin")).get(
        f"/admin/users?organisation_id={ward.organisation.id}"
    )
    departments, users = _tables(response)
    assert _assert_cells_named(departments) == 4 * 3
    assert _assert_cells_named(users) > 6


def test_blank_admin_cell_is_empty(login_as):
    """A blank cell has no text at all, so that `td:empty` hides it on a phone."""
    [table] = _tables(login_as(CITY_ADMIN).get("/admin/organisations"))
    [row] = [row for row in table.xpath("./tbody/tr") if CENTER in row.text_content()]
    [cell] = row.xpath('./td[@data-label="Mã đơn vị hành chính"]')
    assert cell.text is None
    assert len(cell) == 0


def test_assignment_cells_named(login_as):
    _, incoming_id = city_issues_guide(login_as)
    handle_until_officer(login_as, incoming_id)
    response = login_as("badinh.chuyenvien").get(f"/documents/{incoming_id}")
    [table] = [t for t in _tables(response) if "Người giao" in _header(t)]
    # The lead department, the supporting department and the officer make three rows.
    assert _assert_cells_named(table) == 3 * 4


def test_deadline_settings_cells_named(login_as):
    admin = login_as(ward_username("admin"))
    response = admin.post(
        "/deadlines/settings/calendar",
        {"day": "2026-12-31", "kind": "off", "note": "Nghỉ theo thông báo"},
    )
    assert response.status_code == 303

    tables = _tables(admin.get("/deadlines/settings"))

    ids = {table.get("id") for table in tables}
    assert {"calendar-changes", "deadline-rules"} <= ids
    for table in tables:
        if table.get("id") in ("calendar-changes", "deadline-rules"):
            assert _assert_cells_named(table) > 0, _header(table)
