"""Passwords, login attempts and session tokens."""

import logging
import secrets

from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from vanban.models import User
from vanban.services import ServiceError, audit
from vanban.services.clock import now
from vanban.services.text import nfc

logger = logging.getLogger(__name__)

# Werkzeug's scrypt: a memory-hard key-derivation function.
PASSWORD_METHOD = "scrypt"


class LoginThrottled(ServiceError):
    status_code = 429


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=PASSWORD_METHOD)


def _delay_for(failures: int, free: int, base: int, maximum: int) -> int:
    """Seconds to wait after `failures` failed logins: doubling after the free ones."""
    if failures < free:
        return 0
    return min(base * 2 ** (failures - free), maximum)


def authenticate(session, username: str, password: str, config) -> User:
    """Return the user for valid credentials, or raise ServiceError.

    Repeated failures for one user name make each further attempt wait, so a
    guesser gets a few tries an hour instead of thousands.
    """
    username = nfc(username).lower()
    user = session.scalar(select(User).where(func.lower(User.username) == username))
    if user is not None and user.failed_login_count:
        wait = _delay_for(
            user.failed_login_count,
            config["LOGIN_FREE_ATTEMPTS"],
            config["LOGIN_DELAY_SECONDS"],
            config["LOGIN_DELAY_MAX_SECONDS"],
        )
        elapsed = (now() - user.last_failed_login_at).total_seconds()
        if elapsed < wait:
            remaining = int(wait - elapsed) + 1
            logger.warning("login throttled for user %s", user.id)
            raise LoginThrottled(
                f"Đăng nhập sai nhiều lần. Vui lòng thử lại sau {remaining} giây."
            )
    if user is None or not check_password_hash(user.password_hash, password):
        if user is not None:
            user.failed_login_count += 1
            user.last_failed_login_at = now()
            session.commit()
            logger.warning(
                "failed login for user %s (%d in a row)",
                user.id,
                user.failed_login_count,
            )
        else:
            # Spend the same time as a real check so names cannot be probed.
            check_password_hash(_DUMMY_HASH, password)
            logger.warning("failed login for an unknown user name")
        raise ServiceError("Tên đăng nhập hoặc mật khẩu không đúng.", field="password")
    if not user.active:
        raise ServiceError("Tài khoản đã bị khóa. Liên hệ quản trị.", field="username")
    if not user.organisation.active:
        raise ServiceError(
            "Đơn vị của bạn đã ngừng hoạt động trên hệ thống. Liên hệ quản trị.",
            field="username",
        )
    user.failed_login_count = 0
    user.last_failed_login_at = None
    return user


# The simple strength rule for passwords people choose or admins set.
MIN_PASSWORD_LENGTH = 8


def password_problem(password: str) -> str | None:
    """Return why a new password is too weak, or None when it is acceptable."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Mật khẩu cần ít nhất {MIN_PASSWORD_LENGTH} ký tự."
    if not any(ch.isalpha() for ch in password) or not any(
        ch.isdigit() for ch in password
    ):
        return "Mật khẩu cần có cả chữ cái và chữ số."
    return None


def set_one_time_password(session, user: User, password: str) -> None:
    """Give the user a password they must replace at their next login.

    Every open session of the user ends. The caller records the audit row
    and commits.
    """
    problem = password_problem(password)
    if problem:
        raise ServiceError(problem, field="password")
    user.password_hash = hash_password(password)
    user.must_change_password = True
    user.failed_login_count = 0
    user.last_failed_login_at = None
    new_session_token(user)
    logger.info("one-time password set for user %s", user.id)


def change_password(session, user: User, current: str, new: str) -> None:
    """Replace the user's password after checking the current one.

    Clears the forced-change flag, ends the user's other sessions and records
    the change in the audit trail. The caller commits.
    """
    if not check_password_hash(user.password_hash, current):
        raise ServiceError("Mật khẩu hiện tại không đúng.", field="current_password")
    if new == current:
        raise ServiceError(
            "Mật khẩu mới phải khác mật khẩu hiện tại.", field="new_password"
        )
    problem = password_problem(new)
    if problem:
        raise ServiceError(problem, field="new_password")
    was_forced = user.must_change_password
    user.password_hash = hash_password(new)
    user.must_change_password = False
    new_session_token(user)
    audit.record(
        session,
        "password.changed",
        user=user,
        before={"must_change_password": was_forced},
        after={"must_change_password": False},
    )
    logger.info("user %s changed their password", user.id)


def new_session_token(user: User) -> None:
    """Replace the user's session token, which ends every other session too."""
    user.session_token = secrets.token_hex(16)


_DUMMY_HASH = generate_password_hash(secrets.token_hex(8), method=PASSWORD_METHOD)
