"""The to-do page offers only the states its documents can be in."""

import re

import pytest

from tests.roster import WARD_ROLES, load_ward, ward_username
from vanban.services import workflow

ALL_STATES = {**workflow.INCOMING_STATES, **workflow.OUTGOING_STATES}


def _offered_states(html: str) -> set[str]:
    select = re.search(r'<select[^>]*name="state".*?</select>', html, re.S)
    assert select, "the state filter is missing"
    values = re.findall(r'<option[^>]*value="([^"]*)"', select.group(0))
    return {value for value in values if value}


def _actionable_states(user) -> set[str]:
    """The states from which one of the user's roles can take a workflow step."""
    return {
        state
        for transition in workflow.TRANSITIONS
        if transition.role in {grant.role for grant in user.role_grants}
        for state in transition.sources
    }


@pytest.mark.parametrize("role", WARD_ROLES)
def test_todo_filter_offers_only_actionable_states(session, login_as, role):
    user = load_ward(session).users[role]
    web = login_as(ward_username(role))

    offered = _offered_states(web.get("/").get_data(as_text=True))

    assert offered == _actionable_states(user)
    # No state where handling has ended is ever on a to-do list.
    assert not offered & {"done", "issued", "returned", "revoked"}


def test_clerk_todo_states_and_labels(session, login_as):
    web = login_as(ward_username("clerk"))

    html = web.get("/").get_data(as_text=True)

    assert _offered_states(html) == {"arrived", "registered", "approved"}
    assert ALL_STATES["approved"] in html
    assert ">Hoàn thành<" not in html


def test_incoming_list_still_offers_every_state(session, login_as):
    web = login_as(ward_username("clerk"))

    offered = _offered_states(web.get("/inbox/").get_data(as_text=True))

    assert offered == set(workflow.INCOMING_STATES)
