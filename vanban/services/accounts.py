"""Passwords, login attempts and session tokens."""

import logging
import secrets
from datetime import timedelta

from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from vanban.models import AuditEvent, User
from vanban.services import ServiceError, audit
from vanban.services.clock import now
from vanban.services.text import nfc

logger = logging.getLogger(__name__)

# Werkzeug's scrypt: a memory-hard key-derivation function.
PASSWORD_METHOD = "scrypt"

FAILED_LOGIN_ACTION = "failed_login"
# Maximum length of the user name recorded for a failed login, which is also
# the maximum the login form accepts.
AUDITED_USERNAME_LENGTH = 64
# Failed logins with an unknown user name pass no per-name delay, so the audit
# trail records at most this many of them in each window, for the whole
# installation. The others are only logged.
UNKNOWN_NAME_AUDIT_LIMIT = 30
UNKNOWN_NAME_AUDIT_WINDOW = timedelta(hours=1)
WRONG_CREDENTIALS = "Tên đăng nhập hoặc mật khẩu không đúng."


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
    guesser gets a few tries an hour instead of thousands. Each failed attempt
    that the delay lets through is recorded in the audit trail and committed,
    because the caller rolls back. An attempt rejected by the delay is not.
    """
    typed = nfc(username)
    user = session.scalar(
        select(User).where(func.lower(User.username) == typed.lower())
    )
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
    if user is None:
        # Spend the same time as a real check so names cannot be probed.
        check_password_hash(_DUMMY_HASH, password)
        logger.warning("failed login for an unknown user name")
        _audit_unknown_name(session, typed)
        raise ServiceError(WRONG_CREDENTIALS, field="password")
    if not check_password_hash(user.password_hash, password):
        _fail_login(session, user, typed, "wrong_password")
        raise ServiceError(WRONG_CREDENTIALS, field="password")
    # A locked account counts its attempts too, so that the delay also bounds
    # the audit rows of someone who still has its password.
    if not user.active:
        _fail_login(session, user, typed, "user_inactive")
        raise ServiceError("Tài khoản đã bị khóa. Liên hệ quản trị.", field="username")
    if not user.organisation.active:
        _fail_login(session, user, typed, "organisation_inactive")
        raise ServiceError(
            "Đơn vị của bạn đã ngừng hoạt động trên hệ thống. Liên hệ quản trị.",
            field="username",
        )
    user.failed_login_count = 0
    user.last_failed_login_at = None
    return user


def _fail_login(session, user: User, typed: str, reason: str) -> None:
    """Count a failed login of a known user, audit it and commit."""
    user.failed_login_count += 1
    user.last_failed_login_at = now()
    _audit_failed_login(session, typed, reason, user.organisation_id)
    session.commit()
    logger.warning(
        "failed login for user %s (%d in a row): %s",
        user.id,
        user.failed_login_count,
        reason,
    )


def _audit_unknown_name(session, typed: str) -> None:
    """Audit a failed login with an unknown user name, unless the window is full."""
    since = now() - UNKNOWN_NAME_AUDIT_WINDOW
    # The LIMIT stops the count at the cap, however many rows the window has.
    recent = select(AuditEvent.id).where(
        AuditEvent.organisation_id.is_(None),
        AuditEvent.action == FAILED_LOGIN_ACTION,
        AuditEvent.created_at >= since,
    )
    count = session.scalar(
        select(func.count()).select_from(
            recent.limit(UNKNOWN_NAME_AUDIT_LIMIT).subquery()
        )
    )
    if count >= UNKNOWN_NAME_AUDIT_LIMIT:
        logger.warning(
            "failed login for an unknown user name not audited: %d already "
            "audited since %s",
            count,
            since.isoformat(timespec="seconds"),
        )
        return
    _audit_failed_login(session, typed, "unknown_user", None)
    session.commit()


def _audit_failed_login(
    session, typed: str, reason: str, organisation_id: int | None
) -> None:
    """Record a failed login with the user name tried, never the password.

    The row has no user, because the person who typed the name is not signed
    in. It belongs to the organisation of the account with that name, if any.
    """
    audit.record(
        session,
        FAILED_LOGIN_ACTION,
        organisation_id=organisation_id,
        username=typed[:AUDITED_USERNAME_LENGTH],
        reason=reason,
    )


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
