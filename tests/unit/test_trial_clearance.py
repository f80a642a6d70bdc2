"""Trial accounts get secret clearance by the same rule as the demo accounts."""

import pytest
from sqlalchemy import select

from tests.roster import find_user
from vanban.models import Organisation, User
from vanban.services import trial_accounts
from vanban.services.demo import WARD_ACCOUNTS

TRAINER = "tttt.huongdan"
WARD_SLUG = "thunghiem"


@pytest.fixture
def new_ward(session) -> Organisation:
    city = session.scalar(select(Organisation).where(Organisation.kind == "city"))
    ward = Organisation(
        code="000.99.02.H01",
        name="UBND Phường Thử Nghiệm",
        kind="ward",
        parent_id=city.id,
    )
    session.add(ward)
    session.commit()
    return ward


def _prepare(session, ward: Organisation, new_passwords: bool = False):
    trainer = find_user(session, TRAINER)
    trial_accounts.prepare(session, trainer, [ward], new_passwords=new_passwords)
    session.commit()


def _clearance_by_suffix(session, slug: str) -> dict[str, bool]:
    return {
        suffix: find_user(session, f"{slug}.{suffix}").secret_clearance
        for suffix, *_ in WARD_ACCOUNTS
    }


def test_clerk_and_chairman_cleared(session, new_ward):
    _prepare(session, new_ward)

    cleared = {
        suffix
        for suffix, is_cleared in _clearance_by_suffix(session, WARD_SLUG).items()
        if is_cleared
    }
    assert cleared == {"vanthu", "chutich"}


def test_trial_matches_demo_accounts(session, new_ward):
    _prepare(session, new_ward)

    trial_clearance = _clearance_by_suffix(session, WARD_SLUG)
    demo_clearance = _clearance_by_suffix(session, "badinh")
    assert trial_clearance == demo_clearance


def test_prepare_again_keeps_clearance(session, new_ward):
    _prepare(session, new_ward)
    clerk = find_user(session, f"{WARD_SLUG}.vanthu")
    advisor = find_user(session, f"{WARD_SLUG}.thammuu")
    # An admin's later choices stand when the trainer prepares the ward again.
    clerk.secret_clearance = False
    advisor.secret_clearance = True
    session.commit()

    _prepare(session, new_ward, new_passwords=True)

    session.expire_all()
    assert session.get(User, clerk.id).secret_clearance is False
    assert session.get(User, advisor.id).secret_clearance is True
