"""The counts by state on the incoming and outgoing lists follow every change.

On SQLite the lists read counts that triggers keep (migration 0014_list_speed).
These tests compare them with a count of the documents themselves after
inserts, state changes, moves and deletes.
"""

import re

import pytest
from sqlalchemy import delete, func, insert, select, update

from tests.roster import find_user, ward_username
from vanban.models import Document, User
from vanban.services import lists, permissions

DIRECTIONS = ("incoming", "outgoing")


def _expected(session, user: User, direction: str) -> dict[str, int]:
    rows = session.execute(
        select(Document.state, func.count())
        .where(permissions.visible_filter(user), Document.direction == direction)
        .group_by(Document.state)
    )
    return dict(rows.all())


def _listed(session, user: User, direction: str) -> dict[str, int]:
    page = lists.list_documents(
        session, user, direction, lists.Filters(), page_size=20, warning_days=3
    )
    assert page.total == sum(page.counts.values())
    return page.counts


def _assert_counts_follow(session, user: User) -> None:
    for direction in DIRECTIONS:
        assert _listed(session, user, direction) == _expected(session, user, direction)


def _copy(session, document_id: int, **changes) -> int:
    """Insert a copy of a document with some columns changed and return its id."""
    table = Document.__table__
    row = dict(
        session.execute(select(table).where(table.c.id == document_id)).one()._mapping
    )
    row.pop("id")
    # Outgoing numbers are unique, so the copy has none.
    row.update(number=None, notation=None, register_number=None, **changes)
    return session.execute(insert(table).values(**row)).inserted_primary_key[0]


@pytest.fixture
def clerk(session):
    return find_user(session, ward_username("clerk"))


def test_counts_follow_inserts_changes_and_deletes(session, clerk):
    table = Document.__table__
    own = select(table.c.id).where(table.c.organisation_id == clerk.organisation_id)
    first = session.scalar(own.where(table.c.direction == "incoming").limit(1))
    assert first is not None, "the demo ward has no incoming document"
    _assert_counts_follow(session, clerk)
    before = _expected(session, clerk, "incoming")

    added = [_copy(session, first, state="with_leader") for _ in range(3)]
    session.commit()
    _assert_counts_follow(session, clerk)
    assert _listed(session, clerk, "incoming").get("with_leader", 0) == (
        before.get("with_leader", 0) + 3
    )

    session.execute(update(table).where(table.c.id == added[0]).values(state="done"))
    session.execute(
        update(table).where(table.c.id == added[1]).values(direction="outgoing")
    )
    other_ward = session.scalar(
        select(User.organisation_id).where(
            User.organisation_id != clerk.organisation_id
        )
    )
    session.execute(
        update(table).where(table.c.id == added[2]).values(organisation_id=other_ward)
    )
    session.commit()
    _assert_counts_follow(session, clerk)

    session.execute(delete(table).where(table.c.id.in_(added)))
    session.commit()
    _assert_counts_follow(session, clerk)
    assert _listed(session, clerk, "incoming") == before


def test_counts_skip_emptied_state(session, clerk):
    table = Document.__table__
    incoming = select(table.c.id).where(
        table.c.organisation_id == clerk.organisation_id,
        table.c.direction == "incoming",
    )
    first = session.scalar(incoming.limit(1))
    session.execute(update(table).where(table.c.id.in_(incoming)).values(state="done"))
    session.commit()

    assert _listed(session, clerk, "incoming") == {"done": _count(session, incoming)}
    session.execute(update(table).where(table.c.id == first).values(state="arrived"))
    session.commit()
    assert _listed(session, clerk, "incoming") == _expected(session, clerk, "incoming")


def _count(session, query) -> int:
    return session.scalar(select(func.count()).select_from(query.subquery()))


@pytest.mark.parametrize("role", ["officer", "head"])
def test_counts_for_partial_readers(session, role):
    user = find_user(session, ward_username(role))
    clerk = find_user(session, ward_username("clerk"))

    _assert_counts_follow(session, user)
    assert sum(_listed(session, user, "incoming").values()) < sum(
        _listed(session, clerk, "incoming").values()
    )


def test_inbox_page_shows_the_counts(session, login_as, clerk):
    expected = _expected(session, clerk, "incoming")
    html = login_as(ward_username("clerk")).get("/inbox/").get_data(as_text=True)

    counts_list = re.search(r'<ul class="counts".*?</ul>', html, re.S)
    assert counts_list, "the counts by state are missing"
    numbers = [
        int(n) for n in re.findall(r"<strong>(\d+)</strong>", counts_list.group(0))
    ]
    assert sorted(numbers) == sorted(expected.values())


def test_counts_leave_out_secrets_hidden_from_user(session, clerk):
    table = Document.__table__
    secret = session.scalar(
        select(table.c.id).where(
            table.c.organisation_id == clerk.organisation_id,
            table.c.direction == "incoming",
            table.c.holder_id.is_distinct_from(clerk.id),
            table.c.author_id.is_distinct_from(clerk.id),
        )
    )
    assert secret is not None, "the demo ward has no incoming document to hide"
    session.execute(update(table).where(table.c.id == secret).values(secrecy=1))
    cleared = _listed(session, clerk, "incoming")

    clerk.secret_clearance = False
    session.commit()

    _assert_counts_follow(session, clerk)
    assert (
        sum(_listed(session, clerk, "incoming").values()) == sum(cleared.values()) - 1
    )
