"""The state machines, transition by transition, allowed and forbidden.

Every test is parametrized from `workflow.TRANSITIONS`, so a new transition is
covered without editing this file.
"""

import pytest
from sqlalchemy import select

from vanban.models import ROLES, Document
from vanban.models.documents import STATUS_CODES
from vanban.services import Conflict, Forbidden, permissions, workflow

from ..roster import (
    CITY_USERS,
    OTHER_WARD,
    STATES,
    WARD_ROLES,
    add_user_like,
    document_in_state,
    find_user,
    load_ward,
)

TRANSITIONS = workflow.TRANSITIONS
ACTORS = ("role", "holder", "department_head")


def transition_id(transition):
    return transition.name


def by_actor(actor):
    return [t for t in TRANSITIONS if t.actor == actor]


@pytest.fixture
def ward(session):
    return load_ward(session)


@pytest.fixture
def other_ward(session):
    return load_ward(session, OTHER_WARD)


def assert_forbidden(user, document, transition, case):
    assert not workflow.may(user, document, transition.name), case
    assert transition not in workflow.allowed_actions(user, document), case
    with pytest.raises(Forbidden) as refused:
        workflow.require(user, document, transition.name)
    assert transition.label in refused.value.message, case


def test_table_names_are_unique():
    names = [t.name for t in TRANSITIONS]
    assert len(names) == len(set(names))
    assert set(workflow.BY_NAME) == set(names)


@pytest.mark.parametrize("transition", TRANSITIONS, ids=transition_id)
def test_table_entry_is_well_formed(transition):
    states = STATES[transition.direction]
    assert transition.sources, "a transition needs a source state"
    assert transition.targets, "a transition needs a target state"
    for state in transition.sources:
        assert state in states, f"unknown source state {state}"
    for state in transition.targets:
        assert state in states, f"unknown target state {state}"
    assert transition.role in ROLES
    assert transition.actor in ACTORS
    assert transition.status_code is None or transition.status_code in STATUS_CODES
    assert transition.label
    assert workflow.ACTION_LABELS[transition.name] == transition.label


@pytest.mark.parametrize("transition", TRANSITIONS, ids=transition_id)
def test_actor_may_take_transition(session, ward, transition):
    user = ward.users[transition.role]
    for state in transition.sources:
        document = document_in_state(ward, session, transition.direction, state)
        assert workflow.may(user, document, transition.name), state
        assert workflow.require(user, document, transition.name) is transition, state
        assert transition in workflow.allowed_actions(user, document), state


@pytest.mark.parametrize("transition", TRANSITIONS, ids=transition_id)
def test_other_roles_are_forbidden(session, ward, transition):
    document = document_in_state(
        ward, session, transition.direction, transition.sources[0]
    )
    other_roles = [role for role in WARD_ROLES if role != transition.role]
    assert other_roles
    for role in other_roles:
        assert_forbidden(ward.users[role], document, transition, role)


@pytest.mark.parametrize("transition", TRANSITIONS, ids=transition_id)
def test_other_organisations_are_forbidden(session, ward, other_ward, transition):
    document = document_in_state(
        ward, session, transition.direction, transition.sources[0]
    )
    same_role_elsewhere = other_ward.users[transition.role]
    assert_forbidden(same_role_elsewhere, document, transition, OTHER_WARD)
    for username in CITY_USERS:
        assert_forbidden(find_user(session, username), document, transition, username)


@pytest.mark.parametrize("transition", TRANSITIONS, ids=transition_id)
def test_other_states_conflict(session, ward, transition):
    user = ward.users[transition.role]
    states = STATES[transition.direction]
    other_states = [s for s in states if s not in transition.sources]
    assert other_states
    for state in other_states:
        document = document_in_state(ward, session, transition.direction, state)
        assert not workflow.may(user, document, transition.name), state
        assert transition not in workflow.allowed_actions(user, document), state
        with pytest.raises(Conflict) as refused:
            workflow.require(user, document, transition.name)
        assert states[state] in refused.value.message, state


@pytest.mark.parametrize("transition", by_actor("holder"), ids=transition_id)
def test_holder_transition_needs_holder(session, ward, transition):
    officer = ward.users["officer"]
    colleague = add_user_like(session, officer, f"{officer.username}.2")
    state = transition.sources[0]
    held_by_officer = document_in_state(ward, session, transition.direction, state)
    held_by_colleague = document_in_state(
        ward, session, transition.direction, state, holder_id=colleague.id
    )
    held_by_nobody = document_in_state(
        ward, session, transition.direction, state, holder_id=None
    )

    assert_forbidden(colleague, held_by_officer, transition, "colleague")
    assert_forbidden(officer, held_by_colleague, transition, "not the holder")
    assert_forbidden(officer, held_by_nobody, transition, "nobody holds it")
    assert workflow.require(colleague, held_by_colleague, transition.name)


@pytest.mark.parametrize("transition", by_actor("holder"), ids=transition_id)
def test_non_holder_in_other_state_is_forbidden(session, ward, transition):
    officer = ward.users["officer"]
    colleague = add_user_like(session, officer, f"{officer.username}.2")
    states = STATES[transition.direction]
    state = next(s for s in states if s not in transition.sources)
    document = document_in_state(ward, session, transition.direction, state)

    assert_forbidden(colleague, document, transition, state)


@pytest.mark.parametrize("transition", by_actor("department_head"), ids=transition_id)
def test_head_transition_needs_own_department(session, ward, transition):
    head = ward.users["head"]
    culture = ward.department(session, "VHXH")
    culture_head = add_user_like(
        session, head, f"{head.username}.vhxh", department_id=culture.id
    )
    state = transition.sources[0]
    in_economy = document_in_state(ward, session, transition.direction, state)
    in_culture = document_in_state(
        ward, session, transition.direction, state, department_id=culture.id
    )
    in_no_department = document_in_state(
        ward, session, transition.direction, state, department_id=None
    )

    assert_forbidden(culture_head, in_economy, transition, "head of VHXH")
    assert_forbidden(head, in_culture, transition, "document of VHXH")
    assert_forbidden(head, in_no_department, transition, "no department")
    assert workflow.require(culture_head, in_culture, transition.name)


@pytest.mark.parametrize("transition", by_actor("role"), ids=transition_id)
def test_role_transition_allows_any_holder(session, ward, transition):
    actor = ward.users[transition.role]
    second = add_user_like(session, actor, f"{actor.username}.2", department_id=None)
    document = document_in_state(
        ward,
        session,
        transition.direction,
        transition.sources[0],
        holder_id=None,
        department_id=None,
    )

    assert workflow.require(actor, document, transition.name) is transition
    assert workflow.require(second, document, transition.name) is transition


@pytest.mark.parametrize("role", WARD_ROLES)
def test_todo_list_matches_table(session, ward, other_ward, role):
    documents = {}
    for direction, states in STATES.items():
        for state in states:
            document = document_in_state(ward, session, direction, state)
            session.add(document)
            documents[direction, state] = document
    session.flush()

    def todo(user):
        query = select(Document.id).where(permissions.actionable_filter(user))
        return set(session.scalars(query))

    # "revise" keeps a draft in the drafting state, which "submit" already lists.
    expected = {
        documents[t.direction, state].id
        for t in TRANSITIONS
        if t.role == role and t.name != "revise"
        for state in t.sources
    }
    mine = todo(ward.users[role]) & {d.id for d in documents.values()}
    elsewhere = todo(other_ward.users[role]) & {d.id for d in documents.values()}

    assert mine == expected
    assert elsewhere == set()
