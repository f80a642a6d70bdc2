"""Demo users by role and documents placed in a chosen state, for permission tests.

The roster comes from the demo seed (`demo.WARD_ACCOUNTS`), so a role added there
shows up here without editing the tests.
"""

from dataclasses import dataclass

from sqlalchemy import select

from vanban.models import Department, Document, Organisation, User
from vanban.services import workflow
from vanban.services.demo import WARD_ACCOUNTS

WARD = "badinh"
OTHER_WARD = "ngocha"
CITY_USERS = ("thanhpho.vanthu", "tttt.vanthu", "tttt.huongdan")
# role -> user name suffix of the demo account holding it in every ward
SUFFIX_BY_ROLE = {role: suffix for suffix, role, *_ in WARD_ACCOUNTS}
WARD_ROLES = tuple(SUFFIX_BY_ROLE)
# The demo head and officer both work in this department.
HANDLING_DEPARTMENT = "KT"
STATES = {
    "incoming": workflow.INCOMING_STATES,
    "outgoing": workflow.OUTGOING_STATES,
}


def ward_username(role: str, ward: str = WARD) -> str:
    return f"{ward}.{SUFFIX_BY_ROLE[role]}"


def find_user(session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    assert user is not None, f"demo user {username} is missing from the seed"
    return user


@dataclass
class Ward:
    """A seeded ward with its demo users by role."""

    organisation: Organisation
    users: dict[str, User]

    def department(self, session, abbreviation: str) -> Department:
        return session.scalar(
            select(Department).where(
                Department.organisation_id == self.organisation.id,
                Department.abbreviation == abbreviation,
            )
        )


def load_ward(session, ward: str = WARD) -> Ward:
    users = {role: find_user(session, ward_username(role, ward)) for role in WARD_ROLES}
    return Ward(organisation=users["clerk"].organisation, users=users)


def document_in_state(
    ward: Ward, session, direction: str, state: str, **fields
) -> Document:
    """Build an unsaved document of the ward that every actor check accepts.

    It sits in the department of the demo head and officer, held and written by
    the demo officer, so `holder` and `department_head` transitions are open to
    the demo users of those roles.
    """
    officer = ward.users["officer"]
    values = {
        "organisation_id": ward.organisation.id,
        "direction": direction,
        "state": state,
        "subject": f"Văn bản thử quyền ({direction}, {state})",
        "department_id": ward.department(session, HANDLING_DEPARTMENT).id,
        "holder_id": officer.id,
        "author_id": officer.id,
    }
    values.update(fields)
    return Document(**values)


def add_user_like(session, model: User, username: str, **fields) -> User:
    """Add a user with the model user's organisation, roles and password."""
    values = {
        "username": username,
        "full_name": f"Người dùng thử {username}",
        "password_hash": model.password_hash,
        "organisation_id": model.organisation_id,
        "department_id": model.department_id,
    }
    values.update(fields)
    user = User(**values)
    user.role_grants = [type(grant)(role=grant.role) for grant in model.role_grants]
    session.add(user)
    session.flush()
    return user
