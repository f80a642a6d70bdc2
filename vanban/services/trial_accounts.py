"""Prepare wards for the trial: one account per role, with one-time passwords."""

import logging
import secrets
import string
from dataclasses import dataclass

from sqlalchemy import func, select

from vanban.models import Organisation, User, UserRole
from vanban.services import ServiceError, accounts, audit, trial
from vanban.services.demo import (
    WARD_ACCOUNTS,
    WARD_DEPARTMENTS,
    _department,
    starts_cleared,
    ward_slug,
)

logger = logging.getLogger(__name__)

# Letters and digits that cannot be mistaken for one another on a printed sheet.
_LETTERS = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ"
_DIGITS = "23456789"
ONE_TIME_PASSWORD_LENGTH = 12


@dataclass(frozen=True)
class IssuedAccount:
    """A line of the printed sheet. `password` is None when the account kept its own."""

    ward: str
    username: str
    role: str
    created: bool
    password: str | None


def one_time_password() -> str:
    """Return a random password that accounts.password_problem accepts."""
    alphabet = _LETTERS + _DIGITS
    while True:
        password = "".join(
            secrets.choice(alphabet) for _ in range(ONE_TIME_PASSWORD_LENGTH)
        )
        if any(ch in _DIGITS for ch in password) and any(
            ch in string.ascii_letters for ch in password
        ):
            return password


def prepare(
    session, user: User, wards: list[Organisation], *, new_passwords: bool
) -> list[IssuedAccount]:
    """Add the wards to the trial and make sure each has an account for every role.

    New accounts get a one-time password. Existing accounts keep their data,
    and get a new one-time password only when `new_passwords` is set.
    """
    if not wards:
        raise ServiceError("Hãy chọn ít nhất một phường, xã.", field="wards")
    issued = []
    for ward in wards:
        trial.add_participant(session, user, ward)
        issued.extend(_ward_accounts(session, ward, new_passwords))
    audit.record(
        session,
        "trial.prepare",
        user=user,
        organisation_id=user.organisation_id,
        ward_ids=[ward.id for ward in wards],
        # Names and codes as they were, for the audit page.
        wards=[{"name": ward.name, "code": ward.code} for ward in wards],
        created=[a.username for a in issued if a.created],
        new_passwords=[a.username for a in issued if a.password and not a.created],
    )
    logger.info(
        "trial prepared for wards %s by user %s", [w.id for w in wards], user.id
    )
    return issued


def _ward_accounts(
    session, ward: Organisation, new_passwords: bool
) -> list[IssuedAccount]:
    slug = ward_slug(ward.name.removeprefix("UBND ").strip())
    if not slug:
        raise ServiceError(
            f"Không tạo được tên đăng nhập từ tên đơn vị “{ward.name}”.",
            field="wards",
        )
    departments = {
        abbreviation: _department(session, ward, name, abbreviation)
        for name, abbreviation in WARD_DEPARTMENTS
    }
    issued = []
    for suffix, role, department, position, _ in WARD_ACCOUNTS:
        username = f"{slug}.{suffix}"
        existing = session.scalar(
            select(User).where(func.lower(User.username) == username)
        )
        if existing is not None and existing.organisation_id != ward.id:
            raise ServiceError(
                f"Tên đăng nhập {username} đã thuộc đơn vị khác. Hãy đổi tên tài "
                "khoản đó trước khi chuẩn bị thử nghiệm.",
                field="wards",
            )
        created = existing is None
        if created:
            existing = _new_account(
                session, ward, username, role, departments.get(department), position
            )
        password = None
        if created or new_passwords:
            password = one_time_password()
            accounts.set_one_time_password(session, existing, password)
        issued.append(IssuedAccount(ward.name, username, role, created, password))
    return issued


def _new_account(session, ward, username, role, department, position) -> User:
    user = User(
        username=username,
        full_name=f"{position} ({ward.name})",
        position=position,
        # Placeholder address; the ward's admin enters the real one.
        email=f"{username}@example.invalid",
        # Replaced at once by the one-time password.
        password_hash="!",
        organisation_id=ward.id,
        department_id=department.id if department else None,
        secret_clearance=starts_cleared((role,)),
    )
    user.role_grants = [UserRole(role=role)]
    session.add(user)
    session.flush()
    logger.info("trial account %s created in organisation %s", user.id, ward.id)
    return user
