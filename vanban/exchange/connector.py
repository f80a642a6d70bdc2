"""The hub connector: push the outbox to the city hub and poll it for packages.

A run works for one organisation hosted here. It claims the organisation's
connector settings, so that one run at a time works for it across processes,
then pushes due outbox messages, polls documents and statuses when its poll
interval has passed, and releases the claim. No database transaction is open
while it waits for the hub, and every step commits what it did, so a failed
step leaves the earlier ones stored and the next run starts clean.
"""

import json
import logging
import math
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import timedelta
from functools import partial
from urllib.parse import quote

import requests
from flask import current_app
from sqlalchemy import func, or_, select, update

from vanban.exchange import claims, deliveries, mapping
from vanban.exchange.edxml import build_edoc, build_status, parse_package
from vanban.exchange.packages import EdocPackage, EdxmlError, StatusPackage
from vanban.exchange.pipeline import Calls, Outcome
from vanban.extensions import sqlite_reading, sqlite_write_intent
from vanban.models import ConnectorSettings, Document, Organisation, OutboxMessage
from vanban.services import ServiceError, outbox
from vanban.services.clock import local, now

logger = logging.getLogger(__name__)

MIB = 1024 * 1024
# The exchange contract bounds every call: connect within 5 s, read within 30 s.
MAX_CONNECT_TIMEOUT = 5.0
MAX_READ_TIMEOUT = 30.0
# Seconds before the first, second, third and fourth retry of a message, then
# HOURLY_DELAY before each further one.
RETRY_DELAYS = (30, 120, 600, 1800)
HOURLY_DELAY = 3600
# At most this many calls of one run wait for the hub at once.
MAX_PARALLEL_CALLS = 8
# Received packages committed together, each in a savepoint of its own.
INTAKE_BATCH_SIZE = 20
# 4xx statuses after which a request is retried later instead of failed. 401
# is among them because a wrong or expired token is the installation's setting
# to fix, not a fault of the message, so the message waits for the fix.
RETRY_STATUSES = {401, 408, 429}
_JSON_LIMIT = 10 * MIB
_REASON_LENGTH = 1000


@dataclass(frozen=True)
class ConnectorConfig:
    """Connector limits, read from the app config with these defaults."""

    connect_timeout: float = MAX_CONNECT_TIMEOUT
    read_timeout: float = MAX_READ_TIMEOUT
    # Failed tries of one message before it is marked failed for a clerk.
    max_attempts: int = 30
    # Largest package fetched from the hub, as the hub's default limit.
    max_package_bytes: int = 50 * MIB
    # Seconds a run may start new work; what is in progress then still ends.
    run_seconds: float = 120.0
    # Seconds one download may take in all, however slowly the bytes come.
    transfer_seconds: float = 300.0
    # Pending messages listed per poll; the hub allows at most 500.
    batch_size: int = 100
    # Calls to the hub under way at once, so that the hub works while the run does.
    parallel_calls: int = 4
    directory_refresh_seconds: int = 24 * 3600

    @classmethod
    def from_app(cls) -> "ConnectorConfig":
        """Read the CONNECTOR_* settings, falling back or clamping with a warning.

        A value that is not a number of the right kind is replaced by the
        default, and a number outside its range is clamped to the range.
        """
        read = partial(_read_setting, current_app.config)
        # NOTE: the upper bounds of attempts, package size and run times are
        # chosen to keep a run bounded, not taken from the exchange contract.
        return cls(
            connect_timeout=read(
                "CONNECTOR_CONNECT_TIMEOUT",
                MAX_CONNECT_TIMEOUT,
                (0.1, MAX_CONNECT_TIMEOUT),
            ),
            read_timeout=read(
                "CONNECTOR_READ_TIMEOUT", MAX_READ_TIMEOUT, (0.1, MAX_READ_TIMEOUT)
            ),
            max_attempts=read("CONNECTOR_MAX_ATTEMPTS", cls.max_attempts, (1, 1000)),
            max_package_bytes=read(
                "CONNECTOR_MAX_PACKAGE_BYTES", cls.max_package_bytes, (MIB, 1024 * MIB)
            ),
            run_seconds=read("CONNECTOR_RUN_SECONDS", cls.run_seconds, (1.0, 3600.0)),
            transfer_seconds=read(
                "CONNECTOR_TRANSFER_SECONDS", cls.transfer_seconds, (1.0, 3600.0)
            ),
            batch_size=read("CONNECTOR_BATCH_SIZE", cls.batch_size, (1, 500)),
            parallel_calls=read(
                "CONNECTOR_PARALLEL_CALLS", cls.parallel_calls, (1, MAX_PARALLEL_CALLS)
            ),
        )

    @property
    def lease(self) -> timedelta:
        """Return how long a run's claim lasts: its whole time bound, with a margin."""
        # The last item a run starts may download a package and acknowledge it.
        calls = self.transfer_seconds + 3 * (self.connect_timeout + self.read_timeout)
        return timedelta(seconds=self.run_seconds + calls + 60)


# Settings already warned about, as (name, repr of value), so that a bad value
# is logged once per process and not on every run.
_warned_settings: set[tuple[str, str]] = set()


def _read_setting(config, name: str, default: float, bounds: tuple[float, float]):
    """Return the number `name` in `config`, of the type of `default`, in `bounds`."""
    raw = config.get(name, default)
    value = _number(raw, type(default))
    low, high = bounds
    if value is None:
        _warn_setting(
            name,
            raw,
            "setting %s=%r is not a valid number, using the default %s",
            default,
        )
        return default
    if not low <= value <= high:
        clamped = min(max(value, low), high)
        message = "setting %s=%r is outside %s..%s, using %s"
        _warn_setting(name, raw, message, low, high, clamped)
        return clamped
    return value


def _number(raw, kind: type) -> float | None:
    """Convert a setting to `kind` (int or float), or return None if it is not one."""
    if isinstance(raw, str):
        try:
            raw = float(raw.strip())
        except ValueError:
            return None
    # bool is a subclass of int, but a `true` setting is no number, so it is rejected.
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    if not math.isfinite(raw):
        return None
    if kind is int:
        return int(raw) if raw == int(raw) else None
    return float(raw)


def _warn_setting(name: str, raw, message: str, *args) -> None:
    key = (name, repr(raw))
    if key in _warned_settings:
        return
    _warned_settings.add(key)
    logger.warning(message, name, raw, *args)


class HubError(Exception):
    """The hub rejected a request with a 4xx response that retrying cannot change.

    `recipients` contains the organisation codes that the error body's
    "recipients" list names, such as the recipients a hub does not know.
    """

    def __init__(
        self,
        message: str,
        status: int,
        error: str = "",
        detail: str = "",
        recipients: tuple[str, ...] = (),
    ):
        super().__init__(message)
        self.status = status
        self.error = error
        self.detail = detail
        self.recipients = recipients


class PackageTooLarge(HubError):
    """A package larger than the connector accepts."""


class HubUnavailable(Exception):
    """The hub could not be reached or asked to try again later.

    `status` is None when no HTTP response came at all (refused connection,
    timeout, broken stream), which means the hub is unreachable for now.
    """

    def __init__(
        self,
        message: str,
        status: int | None = None,
        detail: str = "",
        retry_after: int | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.detail = detail
        self.retry_after = retry_after


class UnexpectedResponse(HubUnavailable):
    """A 2xx response that is not a response of the hub API.

    The server was reached, so `status` is the HTTP status it returned, and
    `detail` describes in Vietnamese what is wrong with the body. `problem` is
    "content_type" (not JSON), "json" (unreadable JSON), "shape" (fields
    missing) or "too_large".
    """

    def __init__(self, message: str, status: int, problem: str, detail: str):
        super().__init__(message, status=status, detail=detail)
        self.problem = problem


class HubClient:
    """HTTP calls of the exchange API for one organisation, each with timeouts."""

    def __init__(
        self, base_url: str, organ_id: str, token: str, config: ConnectorConfig
    ):
        self.base_url = base_url.rstrip("/")
        self.config = config
        self.parallel_calls = config.parallel_calls
        self._headers = {
            "X-Organ-Id": organ_id,
            "Authorization": f"Bearer {token}",
            "User-Agent": "VanBan-connector/1",
        }
        # requests does not promise that one Session is safe across threads, so
        # each thread of a run's pipeline keeps its own (and its connections).
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()

    @property
    def http(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers.update(self._headers)
            self._local.session = session
            with self._sessions_lock:
                self._sessions.append(session)
        return session

    def close(self) -> None:
        with self._sessions_lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()

    def send(self, kind: str, body: bytes) -> dict:
        """Post a package and return the hub's response, which has its message_id."""
        status, payload = self._json(
            "POST",
            "/messages",
            data=body,
            headers={"Content-Type": "application/xml", "X-Message-Type": kind},
        )
        message_id = payload.get("message_id") if isinstance(payload, dict) else None
        if not isinstance(message_id, str) or not message_id:
            # The hub may have stored the package, and sending it again is safe.
            raise _wrong_shape("POST /messages", status, "không có message_id")
        return payload

    def pending(self, kind: str, limit: int) -> list[dict]:
        """List the deliveries of this kind waiting for this organisation."""
        call = "GET /messages"
        status, payload = self._json(
            "GET", "/messages", params={"type": kind, "limit": limit}
        )
        messages = payload.get("messages") if isinstance(payload, dict) else None
        if not isinstance(messages, list):
            raise _wrong_shape(call, status, "không có danh sách messages")
        # Every item of the hub API has a message_id. An item without one
        # fails the whole list, so that the run reports the invalid response
        # instead of ending as if nothing were pending.
        for index, item in enumerate(messages, start=1):
            message_id = item.get("message_id") if isinstance(item, dict) else None
            if not isinstance(message_id, str) or not message_id:
                raise _wrong_shape(
                    call, status, f"mục thứ {index} của messages thiếu message_id"
                )
        return messages

    def fetch(self, message_id: str) -> bytes:
        """Download one package, as the sender sent it."""
        return self._call(
            "GET", self._message_path(message_id), self.config.max_package_bytes
        )

    def ack(self, message_id: str, result: str, reason: str = "") -> None:
        """Acknowledge a delivery as `done` or `fail` (with the reason)."""
        body = {"result": result}
        if result == "fail":
            body["reason"] = reason[:_REASON_LENGTH]
        self._json("POST", f"{self._message_path(message_id)}/ack", json=body)

    def deliveries(self, message_id: str) -> list[dict]:
        """Return how far each recipient's copy of a message sent from here got."""
        path = f"{self._message_path(message_id)}/deliveries"
        status, payload = self._json("GET", path)
        rows = payload.get("deliveries") if isinstance(payload, dict) else None
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            raise _wrong_shape(
                f"GET {path}",
                status,
                "không có danh sách deliveries gồm các đối tượng",
            )
        return rows

    def organizations(self) -> list[dict]:
        """Return the hub's directory of organisations."""
        status, payload = self._json("GET", "/organizations")
        entries = payload.get("organizations") if isinstance(payload, dict) else None
        if not isinstance(entries, list) or not all(
            isinstance(entry, dict) for entry in entries
        ):
            raise _wrong_shape(
                "GET /organizations",
                status,
                "không có danh sách organizations gồm các đối tượng",
            )
        return entries

    @staticmethod
    def _message_path(message_id: str) -> str:
        return f"/messages/{quote(message_id, safe='')}"

    def _json(self, method: str, path: str, **kwargs) -> tuple[int, object]:
        """Make one request and return the status and JSON value of a 2xx response.

        An empty body is read as {}. A body that is not JSON, or larger than
        any response of the API, raises UnexpectedResponse.
        """
        call = f"{method} {path}"
        try:
            status, content_type, body = self._request(
                method, path, _JSON_LIMIT, **kwargs
            )
        except PackageTooLarge as exc:
            raise UnexpectedResponse(
                f"{call} returned more than {_JSON_LIMIT} bytes",
                exc.status,
                "too_large",
                f"câu trả lời lớn hơn {_JSON_LIMIT // MIB} MB, trong khi câu trả "
                "lời của API trục chỉ vài KB",
            ) from exc
        if not body:
            return status, {}
        media_type = content_type.partition(";")[0].strip().lower()
        if media_type != "application/json" and not media_type.endswith("+json"):
            shown = media_type or "không ghi kiểu nội dung"
            raise UnexpectedResponse(
                f"{call} returned {media_type or 'no Content-Type'}, not JSON",
                status,
                "content_type",
                f"câu trả lời là {shown} (Content-Type), không phải JSON",
            )
        try:
            return status, json.loads(body)
        except ValueError as exc:
            raise UnexpectedResponse(
                f"{call} returned invalid JSON",
                status,
                "json",
                "câu trả lời ghi là JSON nhưng không đọc được",
            ) from exc

    def _call(self, method: str, path: str, limit: int, **kwargs) -> bytes:
        """Make one request and return the body of a 2xx response."""
        return self._request(method, path, limit, **kwargs)[2]

    def _request(
        self, method: str, path: str, limit: int, **kwargs
    ) -> tuple[int, str, bytes]:
        """Make one request and return the status, Content-Type and body of a 2xx.

        Raise HubUnavailable for what may pass (no response, 5xx, 401, 408,
        429, other unexpected statuses) and HubError for any other 4xx.
        """
        url = f"{self.base_url}{path}"
        timeout = (self.config.connect_timeout, self.config.read_timeout)
        try:
            with self.http.request(
                method,
                url,
                timeout=timeout,
                stream=True,
                allow_redirects=False,
                **kwargs,
            ) as response:
                body = self._read(response, limit, f"{method} {path}")
        except requests.Timeout as exc:
            raise HubUnavailable(f"{method} {path} timed out: {exc}") from exc
        except requests.RequestException as exc:
            raise HubUnavailable(f"{method} {path} failed: {exc}") from exc

        status = response.status_code
        if 200 <= status < 300:
            return status, response.headers.get("Content-Type", ""), body
        error, detail, recipients = _error_fields(body)
        message = f"{method} {path} returned HTTP {status} {error}: {detail}"
        message = message.rstrip(": ")
        if 400 <= status < 500 and status not in RETRY_STATUSES:
            raise HubError(message, status, error, detail, recipients)
        raise HubUnavailable(
            message,
            status=status,
            detail=detail,
            retry_after=_retry_after(response.headers.get("Retry-After")),
        )

    def _read(self, response, limit: int, call: str) -> bytes:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise PackageTooLarge(
                f"{call} returned {declared} bytes, more than {limit}",
                response.status_code,
            )
        started = time.monotonic()
        chunks, size = [], 0
        for chunk in response.iter_content(64 * 1024):
            size += len(chunk)
            if size > limit:
                raise PackageTooLarge(
                    f"{call} returned more than {limit} bytes", response.status_code
                )
            if time.monotonic() - started > self.config.transfer_seconds:
                raise HubUnavailable(
                    f"{call} took more than {self.config.transfer_seconds} s"
                )
            chunks.append(chunk)
        return b"".join(chunks)


def _wrong_shape(call: str, status: int, missing: str) -> UnexpectedResponse:
    return UnexpectedResponse(
        f"{call} returned JSON of another shape: {missing}",
        status,
        "shape",
        f"câu trả lời là JSON nhưng {missing}, không đúng dạng của API trục",
    )


def technical_text(exc: Exception) -> str:
    """Return the "Chi tiết kỹ thuật" line a clerk reads for a failed hub call.

    The words are Vietnamese; the hub's own error code and detail, and the
    network library's message, are kept as they came.
    """
    if isinstance(exc, PackageTooLarge):
        return f"Gói tin vượt quá dung lượng cho phép ({exc})."
    status = getattr(exc, "status", None)
    if isinstance(exc, (HubError, HubUnavailable)) and status is not None:
        parts = [part for part in (getattr(exc, "error", ""), exc.detail) if part]
        text = f"Trục trả lời HTTP {status}"
        if parts:
            return f"{text}: {' — '.join(parts)}"
        if status == 404:
            # The hub API returns a JSON error for every path, so a bare 404
            # comes from another server, and the address is wrong.
            return (
                f"{text} mà không phải từ API của trục. Hãy kiểm tra địa chỉ trục "
                "liên thông trong trang cấu hình kết nối."
            )
        return f"{text}."
    if isinstance(exc, HubUnavailable):
        return f"Chưa liên lạc được với trục liên thông ({exc})."
    return str(exc)


def _error_fields(body: bytes) -> tuple[str, str, tuple[str, ...]]:
    """Return the error code, detail and recipient codes of a JSON error body.

    A body in another format, such as the HTML page of a server that is not
    the hub, gives no detail: shown to a clerk it would be markup, and it may
    carry tokens of that page. Plain text keeps its first line. The codes
    come from a "recipients" list of strings, which our hub adds to
    `unknown_recipient`; other hubs may send none.
    """
    try:
        payload = json.loads(body)
    except ValueError:
        text = body[:300].decode("utf-8", "replace").strip()
        if text.startswith("<"):
            return "", "", ()
        return "", text.splitlines()[0] if text else "", ()
    if not isinstance(payload, dict):
        return "", "", ()
    listed = payload.get("recipients")
    recipients = ()
    if isinstance(listed, list):
        recipients = tuple(code for code in listed if isinstance(code, str) and code)
    return (
        str(payload.get("error") or ""),
        str(payload.get("detail") or ""),
        recipients,
    )


def _retry_after(value: str | None) -> int | None:
    if value and value.strip().isdigit():
        return int(value.strip())
    return None


@dataclass
class SyncReport:
    """Counts of the messages and packages that connector runs moved, and errors."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    documents_received: int = 0
    duplicates: int = 0
    statuses_applied: int = 0
    # Status packages recorded before, delivered again after a lost acknowledgement.
    statuses_repeated: int = 0
    statuses_unknown: int = 0
    rejected: int = 0
    directory_entries: int = 0
    directory_created: int = 0
    directory_updated: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def moved(self) -> int:
        return self.sent + self.documents_received + self.statuses_applied

    def add(self, other: "SyncReport") -> None:
        for name in (item.name for item in fields(self)):
            if name == "errors":
                self.errors.extend(other.errors)
            else:
                setattr(self, name, getattr(self, name) + getattr(other, name))


class _Run:
    """State of one run: the client, the time bound and the report."""

    def __init__(
        self, session, organisation: Organisation, client, config: ConnectorConfig
    ):
        self.session = session
        self.config = config
        self.organisation_id = organisation.id
        self.organisation_code = organisation.code
        # A HubClient over HTTP, or a LocalHub inside this installation.
        self.client = client
        self.deadline = time.monotonic() + config.run_seconds
        self.report = SyncReport()
        # Set when the hub sent no response, so that later steps do not wait too.
        self.unreachable = False
        # A condition on OutboxMessage that limits which recipients `push`
        # sends to; None sends to every recipient.
        self.recipient_filter = None

    def out_of_time(self) -> bool:
        return time.monotonic() > self.deadline

    def organisation(self) -> Organisation:
        return self.session.get(Organisation, self.organisation_id)


# Running: claim, steps, release.


def connected_organisation_ids(session) -> set[int]:
    """Return the organisations whose messages go through the hub."""
    query = select(ConnectorSettings.organisation_id).where(ConnectorSettings.enabled)
    return set(session.scalars(query))


def run_due(session, poll: bool = True) -> SyncReport:
    """Run the connector for each organisation with due messages or a due poll."""
    total = SyncReport()
    current = now()
    rows = session.execute(
        select(
            ConnectorSettings.id,
            ConnectorSettings.organisation_id,
            ConnectorSettings.poll_interval_seconds,
            ConnectorSettings.last_poll_at,
        ).where(ConnectorSettings.enabled)
    ).all()
    for settings_id, organisation_id, interval, last_poll_at in rows:
        poll_due = poll and _poll_due(last_poll_at, interval, current)
        if poll_due or _has_due_messages(session, organisation_id, current):
            report = run_cycle(session, settings_id, poll=poll_due)
            if report is not None:
                total.add(report)
    return total


def _poll_due(last_poll_at, interval: int, current) -> bool:
    return last_poll_at is None or current - last_poll_at >= timedelta(seconds=interval)


def _has_due_messages(session, organisation_id: int, current) -> bool:
    query = _due_messages(organisation_id, current).with_only_columns(OutboxMessage.id)
    return session.scalar(query.limit(1)) is not None


def run_cycle(
    session,
    settings_id: int,
    *,
    poll: bool = True,
    config: ConnectorConfig | None = None,
) -> SyncReport | None:
    """Run push and, with `poll`, both polls for one organisation now.

    Return None when a run in another process or thread has claimed the
    organisation, or when its connector is disabled.
    """
    # Other requests may write to the same SQLite database while the run waits
    # for the hub (the hub itself, in an installation that serves it), so each
    # transaction of the run takes the write lock when it begins.
    token = sqlite_write_intent.set(True)
    try:
        return _run_cycle(session, settings_id, poll, config)
    finally:
        sqlite_write_intent.reset(token)


def _run_cycle(session, settings_id: int, poll: bool, config) -> SyncReport | None:
    config = config or ConnectorConfig.from_app()
    started = now()
    session.commit()
    if not _claim(session, settings_id, started, config):
        logger.debug("connector settings %s busy or disabled; run skipped", settings_id)
        return None

    run = None
    try:
        settings = session.get(ConnectorSettings, settings_id)
        client = HubClient(
            settings.hub_url, settings.organisation.code, settings.token, config
        )
        run = _Run(session, settings.organisation, client, config)
        logger.debug("connector run for organisation %s started", run.organisation_id)
        for step in _steps(settings, poll, started, config):
            _run_step(run, step)
        # The statuses 01 of documents just received go out in this run.
        if run.report.documents_received:
            _run_step(run, push)
    finally:
        if run is not None:
            run.client.close()
        _release(session, settings_id, run, started, polled=poll)
    _log_report(run)
    return run.report


def _steps(settings: ConnectorSettings, poll: bool, started, config) -> list:
    if not poll:
        return [push]
    refreshed_at = settings.directory_refreshed_at
    directory_due = refreshed_at is None or started - refreshed_at >= timedelta(
        seconds=config.directory_refresh_seconds
    )
    polls = [poll_documents, poll_statuses, deliveries.check_deliveries]
    if directory_due:
        return [push, _refresh_directory_step, *polls]
    return [push, *polls]


def _claim(session, settings_id: int, started, config: ConnectorConfig) -> bool:
    """Claim the organisation for this run, recording this process as the holder.

    A claim in force is taken over only when its holder is a process of this
    host that no longer runs (claims.holder_gone).
    """
    holder = {
        "lease_until": started + config.lease,
        "lease_host": claims.this_host(),
        "lease_pid": os.getpid(),
        "lease_started_at": started,
    }
    result = session.execute(
        update(ConnectorSettings)
        .where(
            ConnectorSettings.id == settings_id,
            ConnectorSettings.enabled,
            or_(
                ConnectorSettings.lease_until.is_(None),
                ConnectorSettings.lease_until < started,
            ),
        )
        .values(**holder)
        .execution_options(synchronize_session=False)
    )
    claimed = result.rowcount == 1 or _take_over(session, settings_id, holder)
    session.commit()
    return claimed


def _take_over(session, settings_id: int, holder: dict) -> bool:
    """Take the claim of a process of this host that died during its run."""
    row = session.execute(
        select(
            ConnectorSettings.lease_host,
            ConnectorSettings.lease_pid,
            ConnectorSettings.lease_started_at,
        ).where(
            ConnectorSettings.id == settings_id,
            ConnectorSettings.enabled,
            ConnectorSettings.lease_until.is_not(None),
        )
    ).one_or_none()
    if row is None or not claims.holder_gone(row.lease_host, row.lease_pid):
        return False
    # Only if the same dead holder still has it: a run that took it over in
    # the meantime keeps it.
    result = session.execute(
        update(ConnectorSettings)
        .where(
            ConnectorSettings.id == settings_id,
            ConnectorSettings.lease_host == row.lease_host,
            ConnectorSettings.lease_pid == row.lease_pid,
        )
        .values(**holder)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    logger.warning(
        "connector settings %s: took over the claim of process %s on %s, "
        "which started its run at %s and no longer runs",
        settings_id,
        row.lease_pid,
        row.lease_host,
        row.lease_started_at.isoformat() if row.lease_started_at else "(unknown)",
    )
    return True


def _release(session, settings_id: int, run: _Run | None, started, polled) -> None:
    session.rollback()
    settings = session.get(ConnectorSettings, settings_id)
    settings.lease_until = None
    settings.lease_host = None
    settings.lease_pid = None
    settings.lease_started_at = None
    settings.last_sync_at = now()
    if polled:
        # Set even when the hub was unreachable, so that polls wait for the
        # interval instead of delaying every request while the hub is down.
        settings.last_poll_at = started
    if run is None:
        settings.last_error = "the run failed before it started"
    else:
        settings.last_error = "; ".join(run.report.errors)[:2000]
    session.commit()


def _run_step(run: _Run, step) -> None:
    """Run one step; a failure is logged and recorded and the next step runs."""
    if run.unreachable:
        return
    try:
        step(run.session, run)
    except HubUnavailable as exc:
        run.session.rollback()
        run.unreachable = exc.status is None
        run.report.errors.append(technical_text(exc))
        logger.warning(
            "connector %s for organisation %s: %s",
            step.__name__,
            run.organisation_id,
            exc,
        )
    except HubError as exc:
        run.session.rollback()
        run.report.errors.append(technical_text(exc))
        logger.warning(
            "connector %s for organisation %s rejected: %s",
            step.__name__,
            run.organisation_id,
            exc,
        )
    except Exception as exc:
        run.session.rollback()
        run.report.errors.append(f"{step.__name__} failed: {exc}")
        logger.exception(
            "connector %s for organisation %s failed",
            step.__name__,
            run.organisation_id,
        )


def _log_report(run: _Run) -> None:
    report = run.report
    level = logging.INFO if report.moved or report.errors else logging.DEBUG
    logger.log(
        level,
        "connector run for organisation %s ended: sent %d, retrying %d, failed %d, "
        "received %d (repeated %d), statuses %d (repeated %d, unknown %d), "
        "rejected %d, errors %d",
        run.organisation_id,
        report.sent,
        report.retrying,
        report.failed,
        report.documents_received,
        report.duplicates,
        report.statuses_applied,
        report.statuses_repeated,
        report.statuses_unknown,
        report.rejected,
        len(report.errors),
    )


# Push.


def _due_messages(organisation_id: int, current):
    return (
        select(OutboxMessage)
        .where(
            OutboxMessage.sender_organisation_id == organisation_id,
            OutboxMessage.sent_at.is_(None),
            OutboxMessage.state.in_(("pending", "retrying")),
            or_(
                OutboxMessage.next_attempt_at.is_(None),
                OutboxMessage.next_attempt_at <= current,
            ),
        )
        .order_by(OutboxMessage.id)
    )


def push(session, run: _Run) -> None:
    """Post each due outbox message of the organisation to the hub.

    A document goes out as one package addressed to the recipients of its due
    rows, and the hub's response applies to all those rows. When the hub
    rejects a package because it does not know some of its recipients, their
    rows fail and the package goes at once to the other recipients.
    """
    current = now()
    query = _due_messages(run.organisation_id, current)
    if run.recipient_filter is not None:
        query = query.where(run.recipient_filter)
    messages = session.scalars(query.limit(run.config.batch_size)).all()
    units = _units(session, run, messages, current)
    session.commit()

    # Each package sent again has fewer recipients than the one before, so
    # the loop ends.
    while units:
        again: list[list[int]] = []
        with Calls(run.client.parallel_calls, on_wait=session.commit) as sends:
            for kind, message_ids in units:
                if run.out_of_time() or run.unreachable:
                    break
                _push_unit(session, run, sends, kind, message_ids, again)
        units = [("document", message_ids) for message_ids in again]


def _units(session, run: _Run, messages, current) -> list[tuple[str, list[int]]]:
    """Group due rows into packages, oldest first: (kind, outbox row ids).

    A document's package carries every due row of the document and business
    type, also rows past the batch limit, so that a retry sends the same
    bytes. A status, and a row with a DocumentId of its own, go alone.
    """
    keys: dict[tuple, str] = {}
    for message in messages:
        if message.kind == "document" and message.exchange_id is None:
            key = ("package", message.document_id, message.business_doc_type)
        else:
            key = ("row", message.id, None)
        keys.setdefault(key, message.kind)

    units = []
    for (grouping, first, business_doc_type), kind in keys.items():
        if grouping == "row":
            units.append((kind, [first]))
            continue
        message_ids = _package_rows(session, run, first, business_doc_type, current)
        if _document_id_taken(session, run, first, business_doc_type, message_ids):
            own = _give_own_document_ids(session, first, message_ids)
            if own:
                units.extend(("document", [message_id]) for message_id in own)
                continue
        units.append(("document", message_ids))
    return units


def _package_rows(
    session, run: _Run, document_id: int, business_doc_type: int, current
) -> list[int]:
    """Return the due rows that travel in the document's package."""
    query = (
        _due_messages(run.organisation_id, current)
        .with_only_columns(OutboxMessage.id)
        .where(
            OutboxMessage.kind == "document",
            OutboxMessage.document_id == document_id,
            OutboxMessage.business_doc_type == business_doc_type,
            OutboxMessage.exchange_id.is_(None),
        )
    )
    if run.recipient_filter is not None:
        query = query.where(run.recipient_filter)
    return list(session.scalars(query))


def _document_id_taken(
    session, run: _Run, document_id: int, business_doc_type: int, message_ids
) -> bool:
    """Tell whether a hub took the document's package for rows other than these.

    That happens when a row is sent again after the hub refused to deliver
    to its recipient (unknown_recipient) while it delivered to the others,
    or when a row waited for a connector while the others went through this
    installation's hub. The hub takes a package with the same sender,
    DocumentId and business type for a resend of the one it stores, so it
    would not deliver the package to these rows' recipients.
    """
    query = select(OutboxMessage.id).where(
        OutboxMessage.sender_organisation_id == run.organisation_id,
        OutboxMessage.kind == "document",
        OutboxMessage.document_id == document_id,
        OutboxMessage.business_doc_type == business_doc_type,
        OutboxMessage.exchange_id.is_(None),
        OutboxMessage.message_id.is_not(None),
        OutboxMessage.id.not_in(message_ids),
    )
    return session.scalar(query.limit(1)) is not None


def _give_own_document_ids(session, document_id: int, message_ids) -> list[int]:
    """Give each row the DocumentId of a copy, "<DocumentId>#r<row id>".

    Each row then goes alone, as a copy made by "Gửi lại" for a recipient
    that rejected the document does. Return the rows changed. None is changed
    when the document has no DocumentId or a suffix would make it too long:
    the hub then refuses the package, and the clerk reads why.
    """
    exchange_id = session.get(Document, document_id).exchange_id
    longest = f"{exchange_id}#r{max(message_ids)}"
    if not exchange_id or len(longest) > outbox.MAX_EXCHANGE_ID_LENGTH:
        logger.warning(
            "outbox messages %s of document %s get no DocumentId of their own",
            message_ids,
            document_id,
        )
        return []
    for message in _messages(session, message_ids):
        message.exchange_id = f"{exchange_id}#r{message.id}"
        logger.info(
            "outbox message %s goes as %s: the hub already stores the document's "
            "package for other recipients",
            message.id,
            message.exchange_id,
        )
    return sorted(message_ids)


def _push_unit(
    session,
    run: _Run,
    sends: Calls,
    kind: str,
    message_ids: list[int],
    again: list[list[int]],
) -> None:
    """Build one package now and send it in the pipeline; its result comes later."""
    try:
        # Building only reads, so on SQLite it leaves the write lock to the
        # hub's requests, which may share the database.
        with sqlite_reading():
            body = build_package(session, kind, message_ids[0], message_ids)
            recipients = _recipients(session, message_ids)
            # No transaction stays open while the hub is slow to respond.
            session.commit()
    except EdxmlError as exc:
        session.rollback()
        logger.warning("outbox messages %s cannot be built: %s", message_ids, exc)
        _mark_failed(session, run, message_ids, str(exc), exc.user_message)
        return
    message_type = "edoc" if kind == "document" else "status"
    sends.submit(
        partial(run.client.send, message_type, body),
        partial(_record_sent, session, run, message_ids, recipients, again),
    )


def _recipients(session, message_ids: list[int]) -> dict[int, tuple[str, str]]:
    """Return the code and name of each row's recipient, by row id."""
    rows = session.execute(
        select(OutboxMessage.id, Organisation.code, Organisation.name)
        .join(Organisation, Organisation.id == OutboxMessage.recipient_organisation_id)
        .where(OutboxMessage.id.in_(message_ids))
    )
    return {message_id: (code, name) for message_id, code, name in rows}


def _record_sent(
    session,
    run: _Run,
    message_ids: list[int],
    recipients: dict[int, tuple[str, str]],
    again: list[list[int]],
    outcome: Outcome,
):
    """Record the hub's response to a package in the outbox rows it carried.

    When the hub does not know some of the recipients, their rows fail and
    the others go into `again`, to be sent at once in a package of their own.
    The hub stored nothing of the rejected package, so the new package may
    keep its DocumentId.
    """
    exc = outcome.error
    if isinstance(exc, HubError):
        unknown = unknown_recipients(exc, recipients)
        if unknown and len(unknown) < len(message_ids):
            _mark_unknown(session, run, unknown, recipients, exc)
            again.append([i for i in message_ids if i not in unknown])
            return
        logger.warning("hub rejected outbox messages %s: %s", message_ids, exc)
        detail = exc.detail or exc.error or f"HTTP {exc.status}"
        _mark_failed(
            session,
            run,
            message_ids,
            technical_text(exc),
            f"Trục liên thông từ chối gói tin: {detail}",
        )
        return
    if isinstance(exc, HubUnavailable):
        logger.warning("outbox messages %s not sent: %s", message_ids, exc)
        _mark_retrying(session, run, message_ids, exc)
        run.unreachable = run.unreachable or exc.status is None
        return
    if exc is not None:
        raise exc

    message_id = outcome.value["message_id"]
    mark_sent(session, message_ids, message_id)
    run.report.sent += len(message_ids)
    logger.info("outbox messages %s sent to the hub as %s", message_ids, message_id)


def unknown_recipients(
    exc: HubError, recipients: dict[int, tuple[str, str]]
) -> list[int]:
    """Return the rows whose recipient the hub named in an `unknown_recipient` error.

    The codes come from the error body's "recipients" list. A hub that sends
    no such list names them in its detail text, so the codes of `recipients`
    found there as whole words are taken instead.
    """
    if exc.status != 422 or exc.error != "unknown_recipient":
        return []
    if exc.recipients:
        named = set(exc.recipients)
        return [i for i, (code, _) in recipients.items() if code in named]
    return [i for i, (code, _) in recipients.items() if _names_code(exc.detail, code)]


def _names_code(text: str, code: str) -> bool:
    # A code such as 000.01.01.H01 may end a sentence, so a full stop may
    # follow it, but not a full stop followed by more of a longer code.
    pattern = rf"(?<![\w.]){re.escape(code)}(?!\w|\.\w)"
    return re.search(pattern, text) is not None


def _mark_unknown(
    session,
    run: _Run,
    message_ids: list[int],
    recipients: dict[int, tuple[str, str]],
    exc: HubError,
) -> None:
    """Fail the rows of recipients the hub does not deliver to, each with why."""
    logger.warning(
        "hub does not deliver outbox messages %s to their recipients: %s",
        message_ids,
        exc,
    )
    reason = exc.detail or "Mã đơn vị nhận không có trong danh bạ của trục."
    for message_id in message_ids:
        code, name = recipients[message_id]
        detail = (
            f"Trục liên thông không chuyển văn bản cho {name} (mã {code}). "
            f"Trục trả lời: {reason} Văn bản vẫn được gửi "
            "cho các nơi nhận khác. Khi quản trị trục đã thêm hoặc kích hoạt lại "
            "đơn vị này trong danh bạ, bấm “Gửi lại”."
        )
        _mark_failed(session, run, [message_id], technical_text(exc), detail)


def mark_sent(session, message_ids: list[int], message_id: str) -> None:
    """Record that the hub stored the rows' package as `message_id`, and commit."""
    # One UPDATE instead of loading the rows: a run records hundreds of these.
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(message_ids))
        .values(
            state="sent",
            sent_at=now(),
            message_id=message_id[:255],
            attempts=OutboxMessage.attempts + 1,
            next_attempt_at=None,
            last_error="",
            error_detail="",
        )
        .execution_options(synchronize_session=False)
    )
    session.commit()


def build_package(
    session, kind: str, message_id: int, message_ids: list[int] | None = None
) -> bytes:
    """Return the edXML bytes of an outbox message, as the hub receives them.

    A document's package goes to the recipients of the rows `message_ids`,
    by default to every recipient of the document. It carries the document's
    DocumentId, or the row's own when the row has one (outbox.copy_package).
    """
    message = session.get(OutboxMessage, message_id)
    if kind == "document" and message.exchange_id is not None:
        return outbox.copy_package(session, message)
    document = session.get(Document, message.document_id)
    if kind == "document":
        recipient_ids = None
        if message_ids is not None:
            recipient_ids = set(
                session.scalars(
                    select(OutboxMessage.recipient_organisation_id).where(
                        OutboxMessage.id.in_(message_ids)
                    )
                )
            )
        package = mapping.document_package(
            session,
            document,
            message.business_doc_type,
            message.note,
            recipient_ids=recipient_ids,
        )
        if not package.recipients:
            raise EdxmlError(
                f"outbox messages {message_ids}: no recipient of document "
                f"{document.id} among theirs",
                "Các đơn vị nhận của tin này không còn trong danh sách nơi nhận "
                "của văn bản.",
                element="To",
            )
        # Stamped with when the change was queued, not the current time, so
        # that a retry sends the same bytes and the hub answers it as a resend.
        queued_at = session.scalar(
            select(func.min(OutboxMessage.created_at)).where(
                OutboxMessage.kind == "document",
                OutboxMessage.document_id == message.document_id,
                OutboxMessage.business_doc_type == message.business_doc_type,
            )
        )
        return build_edoc(package, now=queued_at)
    package = mapping.status_package(
        document, message.status_code, message.note, message.created_at
    )
    return build_status(package)


def _messages(session, message_ids: list[int]) -> list[OutboxMessage]:
    query = select(OutboxMessage).where(OutboxMessage.id.in_(message_ids))
    return list(session.scalars(query))


def _mark_failed(
    session, run: _Run, message_ids: list[int], error: str, detail: str
) -> None:
    mark_failed(session, message_ids, error, detail)
    run.report.failed += len(message_ids)


def mark_failed(session, message_ids: list[int], error: str, detail: str) -> None:
    """Mark the rows failed with the technical error and the clerk's detail; commit."""
    for message in _messages(session, message_ids):
        message.state = "failed"
        message.attempts += 1
        message.next_attempt_at = None
        message.last_error = error[:2000]
        message.error_detail = detail[:2000]
    session.commit()


def _mark_retrying(
    session, run: _Run, message_ids: list[int], exc: HubUnavailable
) -> None:
    current = now()
    for message in _messages(session, message_ids):
        message.attempts += 1
        message.last_error = technical_text(exc)[:2000]
        if message.attempts >= run.config.max_attempts:
            message.state = "failed"
            message.next_attempt_at = None
            message.error_detail = (
                f"Đã thử gửi {message.attempts} lần nhưng không gửi được tới trục "
                "liên thông. Đề nghị quản trị kiểm tra kết nối rồi gửi lại."
            )
            run.report.failed += 1
            logger.warning(
                "outbox message %s failed after %d attempts",
                message.id,
                message.attempts,
            )
            continue
        delay = retry_delay(message.attempts, exc.retry_after)
        message.state = "retrying"
        message.next_attempt_at = current + delay
        message.error_detail = (
            "Chưa gửi được tới trục liên thông. Hệ thống sẽ tự gửi lại lúc "
            f"{local(message.next_attempt_at):%d/%m/%Y %H:%M}."
        )
        run.report.retrying += 1
    session.commit()


def retry_delay(attempts: int, retry_after: int | None = None) -> timedelta:
    """Return the wait before the next try after `attempts` failed tries.

    A Retry-After from the hub lengthens the wait, up to an hour.
    """
    index = max(attempts, 1) - 1
    seconds = RETRY_DELAYS[index] if index < len(RETRY_DELAYS) else HOURLY_DELAY
    if retry_after is not None:
        seconds = max(seconds, min(retry_after, HOURLY_DELAY))
    return timedelta(seconds=seconds)


# Polls.


def _poll(session, run: _Run, message_type: str, take) -> None:
    """Fetch each pending package of a type, hand it to `take` and acknowledge it.

    Downloads run ahead in the pipeline while earlier packages are stored.
    Packages are committed in batches, and each acknowledgement goes out
    once its package is committed.
    """
    session.commit()
    pending = run.client.pending(message_type, run.config.batch_size)
    depth = run.client.parallel_calls
    app = current_app._get_current_object()
    with Calls(depth, on_wait=session.commit) as acks:
        intake = _Intake(session, run, acks)
        # Waiting for a download ends the batch, so that no write lock is
        # held while the hub works.
        with Calls(depth, on_wait=intake.commit) as downloads:
            for item in pending:
                if run.out_of_time():
                    break
                message_id = item["message_id"]
                downloads.submit(
                    partial(_download, app, run.client, message_id),
                    partial(_downloaded, session, run, intake, message_id, take),
                )
        intake.commit()


class _Intake:
    """The packages stored since the run's last commit, not yet acknowledged.

    Several packages share one transaction, each in a savepoint of its own,
    so that one commit and one write lock serve them all. Their reports and
    acknowledgements wait for the commit: when it fails, or the process dies
    before it, the packages stay pending at the hub and the next poll takes
    them in again.
    """

    def __init__(self, session, run: _Run, acks: Calls):
        self.session = session
        self.run = run
        self.acks = acks
        # (message_id, "" when stored or the reason it was rejected, report).
        self.uncommitted: list[tuple[str, str, Callable[[], None] | None]] = []

    def hold(
        self, message_id: str, outcome: str, report: Callable[[], None] | None = None
    ) -> None:
        self.uncommitted.append((message_id, outcome, report))
        if len(self.uncommitted) >= INTAKE_BATCH_SIZE:
            self.commit()

    def commit(self) -> None:
        """Commit the stored packages, then report and acknowledge each one."""
        uncommitted, self.uncommitted = self.uncommitted, []
        try:
            self.session.commit()
        except Exception:
            logger.exception("commit of %d received packages failed", len(uncommitted))
            self.session.rollback()
            self._report_lost(uncommitted, "not committed")
            return
        for message_id, outcome, report in uncommitted:
            if report is not None:
                report()
            self.acks.submit(
                partial(_ack, self.run.client, message_id, outcome),
                partial(_acknowledged, self.run, message_id),
            )

    def roll_back(self) -> None:
        """Undo the transaction and every package stored in it since the last commit."""
        uncommitted, self.uncommitted = self.uncommitted, []
        self.session.rollback()
        self._report_lost(uncommitted, "rolled back")

    def _report_lost(self, packages: list, failure: str) -> None:
        if not packages:
            return
        message_ids = [message_id for message_id, _, _ in packages]
        logger.warning(
            "packages %s %s; the next poll takes them in again", message_ids, failure
        )
        self.run.report.errors.append(
            f"{len(packages)} gói tin chưa được lưu; lần nhận sau sẽ nhận lại."
        )


def poll_documents(session, run: _Run) -> None:
    """Take in the document packages waiting at the hub for the organisation."""
    _poll(session, run, "edoc", _take_in_document)


def poll_statuses(session, run: _Run) -> None:
    """Apply the status packages waiting at the hub to the outgoing documents."""
    _poll(session, run, "status", _apply_status)


@dataclass(frozen=True)
class _Download:
    """A fetched package, read and with its files stored, or why it was refused."""

    package: EdocPackage | StatusPackage | None = None
    files: list | None = None
    error: EdxmlError | mapping.IntakeError | None = None


def _download(app, client, message_id: str) -> _Download:
    """Fetch and parse a package, and store the files of a new document.

    This runs on a pipeline thread, so it touches neither the session nor the
    run's report. Files are named by their content, so a package that is
    then refused or taken in twice leaves at most unused files.
    """
    data = client.fetch(message_id)
    try:
        package = parse_package(data)
        if not isinstance(package, EdocPackage) or not mapping.brings_files(package):
            return _Download(package)
        with app.app_context():
            return _Download(package, files=mapping.store_files(package))
    except (EdxmlError, mapping.IntakeError) as exc:
        return _Download(error=exc)


def _downloaded(
    session, run: _Run, intake: _Intake, message_id: str, take, outcome: Outcome
) -> None:
    """Store a downloaded package with `take`; its acknowledgement waits in `intake`."""
    exc = outcome.error
    if isinstance(exc, PackageTooLarge):
        logger.warning("package %s rejected as too large: %s", message_id, exc)
        limit = run.config.max_package_bytes // MIB
        run.report.rejected += 1
        intake.hold(message_id, f"Gói tin lớn hơn {limit} MB nên không nhận được.")
    elif isinstance(exc, HubError):
        logger.warning("package %s not fetched: %s", message_id, exc)
        run.report.errors.append(technical_text(exc))
    elif exc is not None:
        raise exc
    else:
        take(session, run, intake, message_id, outcome.value)


def _ack(client, message_id: str, outcome: str) -> None:
    """Send `done` when the outcome is "", else `fail` with it as the reason."""
    if outcome:
        client.ack(message_id, "fail", outcome)
    else:
        client.ack(message_id, "done")


def _acknowledged(run: _Run, message_id: str, outcome: Outcome) -> None:
    exc = outcome.error
    if isinstance(exc, HubError):
        logger.warning("acknowledgement of package %s rejected: %s", message_id, exc)
        run.report.errors.append(technical_text(exc))
    elif exc is not None:
        raise exc


def _take_in(
    session, run: _Run, intake: _Intake, message_id: str, download, kind, take, done
):
    """Store a downloaded package of `kind` with `take` in a savepoint.

    `intake` holds the acknowledgement: `done` with the report `done` gives
    once committed, `fail` with the reason for a rejected package. After an
    unexpected error the transaction is rolled back with every package in it,
    and they stay pending at the hub so that the next poll tries them again.
    """
    label = "package" if kind is EdocPackage else "status package"
    try:
        if download.error is not None:
            raise download.error
        package = download.package
        if not isinstance(package, kind):
            raise mapping.IntakeError(
                f"a package of another kind was listed as a {label}",
                "Gói tin là gói trạng thái, không phải gói văn bản."
                if kind is EdocPackage
                else "Gói tin là gói văn bản, không phải gói trạng thái.",
            )
        for warning in package.warnings:
            logger.info("%s %s: %s", label, message_id, warning)
        with session.begin_nested():
            result = take(package)
    except EdxmlError as exc:
        logger.warning("%s %s cannot be read: %s", label, message_id, exc)
        run.report.rejected += 1
        intake.hold(message_id, exc.user_message)
        return
    except mapping.IntakeError as exc:
        logger.warning("%s %s not taken in: %s", label, message_id, exc)
        run.report.rejected += 1
        intake.hold(message_id, exc.reason)
        return
    except Exception:
        logger.exception("%s %s not taken in; the next poll retries", label, message_id)
        run.report.errors.append(f"{label} {message_id} not taken in")
        intake.roll_back()
        return
    intake.hold(message_id, "", partial(done, package, result))


def _take_in_document(session, run: _Run, intake, message_id: str, download) -> None:
    """Store one document package; its acknowledgement waits in `intake`."""

    def take(package):
        return mapping.receive_document(
            session, run.organisation(), package, message_id, stored=download.files
        )

    def done(package, received):
        if received.created:
            run.report.documents_received += 1
        else:
            run.report.duplicates += 1

    _take_in(session, run, intake, message_id, download, EdocPackage, take, done)


def _apply_status(session, run: _Run, intake, message_id: str, download) -> None:
    """Apply one status package; its acknowledgement waits in `intake`.

    A status for a document this organisation did not send is acknowledged
    as done and logged, so that it does not come back at every poll. A status
    recorded before, delivered again because its acknowledgement was lost,
    counts as repeated, not applied.
    """

    def take(package):
        return mapping.apply_status(session, run.organisation(), package)

    def done(package, applied):
        if applied.recorded:
            run.report.statuses_applied += 1
            return
        if applied.recipient is not None:
            run.report.statuses_repeated += 1
            return
        logger.warning(
            "status %s from %s for unknown document %s acknowledged and dropped",
            package.status_code,
            package.sender.organ_id,
            package.response_for.document_id,
        )
        run.report.statuses_unknown += 1

    _take_in(session, run, intake, message_id, download, StatusPackage, take, done)


# Directory.


def _refresh_directory_step(session, run: _Run) -> None:
    refresh_directory(session, run.client, run.report)
    settings = session.scalar(
        select(ConnectorSettings).where(
            ConnectorSettings.organisation_id == run.organisation_id
        )
    )
    settings.directory_refreshed_at = now()
    session.commit()


def refresh_directory(session, client: HubClient, report: SyncReport) -> None:
    """Add and update organisations from the hub's directory, counting in `report`.

    Organisations missing from the directory are kept as they are.
    """
    session.commit()
    entries = client.organizations()
    parents = {}
    for entry in entries:
        code = entry.get("organ_id")
        name = entry.get("name")
        if not isinstance(code, str) or not code or len(code) > 32:
            logger.warning("directory entry with organ_id %r skipped", code)
            continue
        name = mapping.organisation_name(name if isinstance(name, str) else "", code)
        organisation = session.scalar(
            select(Organisation).where(Organisation.code == code)
        )
        if organisation is None:
            session.add(mapping.new_organisation(code, name))
            report.directory_created += 1
        elif organisation.name != name:
            organisation.name = name
            report.directory_updated += 1
        parents[code] = entry.get("parent_id")
    session.flush()

    by_code = {
        organisation.code: organisation
        for organisation in session.scalars(
            select(Organisation).where(Organisation.code.in_(list(parents)))
        )
    }
    for code, parent_code in parents.items():
        organisation = by_code[code]
        parent = by_code.get(parent_code) if isinstance(parent_code, str) else None
        if parent is None and parent_code:
            parent = session.scalar(
                select(Organisation).where(Organisation.code == parent_code)
            )
        parent_id = (
            parent.id if parent is not None and parent is not organisation else None
        )
        if organisation.parent_id != parent_id:
            organisation.parent_id = parent_id
    session.commit()
    report.directory_entries += len(entries)
    logger.info(
        "directory refreshed: %d entries, %d added, %d renamed",
        len(entries),
        report.directory_created,
        report.directory_updated,
    )


# Settings.


def save_settings(
    session,
    organisation: Organisation,
    hub_url: str,
    token: str,
    poll_interval_seconds: int = 60,
) -> ConnectorSettings:
    """Create or replace the organisation's connector settings and enable them."""
    # Imported here because the connection module imports this one.
    from vanban.exchange.connection import check_hub_url

    hub_url = check_hub_url(hub_url)
    token = token.strip()
    if not token:
        raise ServiceError("Vui lòng nhập mã truy cập (token) do trục liên thông cấp.")
    # The token travels in an HTTP header, which carries printable ASCII only.
    if not (token.isascii() and token.isprintable()) or " " in token:
        raise ServiceError(
            "Mã truy cập (token) chỉ gồm chữ cái, chữ số và ký hiệu ASCII, "
            "không có dấu cách."
        )
    settings = session.scalar(
        select(ConnectorSettings).where(
            ConnectorSettings.organisation_id == organisation.id
        )
    )
    if settings is None:
        settings = ConnectorSettings(organisation_id=organisation.id)
        session.add(settings)
    settings.hub_url = hub_url
    settings.token = token
    settings.poll_interval_seconds = poll_interval_seconds
    settings.enabled = True
    settings.last_error = ""
    session.flush()
    logger.info(
        "connector settings of organisation %s saved for %s",
        organisation.id,
        hub_url,
    )
    return settings


def check_connection(session, settings: ConnectorSettings) -> SyncReport:
    """Read the hub's directory with the settings and store it locally.

    Raise HubError or HubUnavailable when the hub does not return it.
    """
    config = ConnectorConfig.from_app()
    client = HubClient(
        settings.hub_url, settings.organisation.code, settings.token, config
    )
    settings_id = settings.id
    report = SyncReport()
    try:
        refresh_directory(session, client, report)
    finally:
        client.close()
    settings = session.get(ConnectorSettings, settings_id)
    settings.directory_refreshed_at = now()
    session.commit()
    return report
