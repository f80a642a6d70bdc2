"""Settings defaults; `instance/config.py` and `VANBAN_*` variables override them."""

import json
import os

DEV_SECRET_KEY = "dev-only-secret-change-me"


class Defaults:
    """Code defaults, the first of the three settings layers."""

    SECRET_KEY = DEV_SECRET_KEY
    # None means a SQLite file in the instance folder, filled in by create_app.
    SQLALCHEMY_DATABASE_URI: str | None = None
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True}
    # Largest single attachment in bytes. The form shows this limit next to the field.
    MAX_UPLOAD_BYTES = 20 * 1024 * 1024
    # Hard cap on a whole request body, above the per-file cap so that the form
    # can report an oversized file itself instead of a bare 413.
    MAX_CONTENT_LENGTH = 64 * 1024 * 1024
    MAX_FORM_MEMORY_SIZE = 2 * 1024 * 1024
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    # None: secure cookies when VANBAN_ENV=production, plain ones otherwise.
    SESSION_COOKIE_SECURE: bool | None = None
    PERMANENT_SESSION_LIFETIME = 8 * 3600
    WTF_CSRF_TIME_LIMIT = 8 * 3600
    WTF_CSRF_HEADERS = ["X-CSRFToken"]
    # Failed logins per user name before each further attempt is delayed.
    LOGIN_FREE_ATTEMPTS = 5
    LOGIN_DELAY_SECONDS = 30
    LOGIN_DELAY_MAX_SECONDS = 15 * 60
    PAGE_SIZE = 20
    # Working days before a deadline when a document counts as near its deadline.
    DEADLINE_WARNING_DAYS = 2
    # Seconds between runs of the deadline reminder job, and the local hour
    # (Asia/Ho_Chi_Minh) before which it sends nothing.
    REMINDER_INTERVAL_SECONDS = 900
    REMINDER_START_HOUR = 7
    # Outgoing mail for reminders; no e-mail is sent while SMTP_HOST is empty.
    SMTP_HOST = ""
    SMTP_PORT = 25
    SMTP_USERNAME = ""
    SMTP_PASSWORD = ""
    SMTP_STARTTLS = False
    SMTP_SENDER = "vanban@localhost"
    SMTP_TIMEOUT_SECONDS = 10
    # Seconds between runs of the outbox delivery job; 0 disables the scheduler.
    OUTBOX_INTERVAL_SECONDS = 10
    # Run the jobs in a thread of each process that creates the app, as the
    # run script does. The first process to lock instance/scheduler.lock runs
    # them. In production leave it off and run `flask --app app scheduler`.
    SCHEDULER_ENABLED = False
    # Serve the city hub's API (/api/edoc/v1) and its settings page here.
    HUB_ENABLED = False
    # Largest edXML package the hub accepts, in bytes.
    HUB_MAX_PACKAGE_BYTES = 50 * 1024 * 1024
    TIMEZONE = "Asia/Ho_Chi_Minh"


def environment_overrides(environ=os.environ) -> dict:
    """Read `VANBAN_*` variables; values that parse as JSON keep their type."""
    overrides = {}
    for name, raw in environ.items():
        if not name.startswith("VANBAN_") or name.startswith("VANBAN_TEST_"):
            continue
        key = name.removeprefix("VANBAN_")
        if key == "DATABASE_URL":
            key = "SQLALCHEMY_DATABASE_URI"
        try:
            overrides[key] = json.loads(raw)
        except ValueError:
            overrides[key] = raw
    return overrides
