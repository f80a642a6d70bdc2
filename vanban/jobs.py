"""Background jobs: APScheduler running the outbox delivery in one process only.

The jobs run either inside the web app (`VANBAN_SCHEDULER_ENABLED=true`, as
the run script does) or in a process of their own (`flask --app app
scheduler`). Either way the process first takes an exclusive lock on
`scheduler.lock` in the instance folder, so one scheduler runs per
installation however many processes and workers start one.

NOTE: the lock covers the processes of one machine. Servers that share a
database but not an instance folder each run a scheduler. The hub connector
then still runs once at a time per organisation, because it claims the
organisation's settings row in the database.
"""

import fcntl
import logging
import os
import signal
import threading
import time
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask

from vanban.extensions import db, sqlite_write_intent
from vanban.services import outbox, reminders
from vanban.services.clock import local, now

logger = logging.getLogger(__name__)

LOCK_FILE_NAME = "scheduler.lock"
_EXTENSION_KEY = "vanban.scheduler"


class SchedulerLockHeld(Exception):
    """Another process holds the scheduler lock of this instance folder."""

    def __init__(self, path: Path, pid: int | None):
        super().__init__(f"{path} is locked by process {pid or 'unknown'}")
        self.path = path
        self.pid = pid


class ProcessLock:
    """An exclusive flock on a file, held until release or the process ends.

    The kernel drops the lock when the process exits, even on SIGKILL, so a
    crashed scheduler never leaves a stale lock. The holder writes its PID
    into the file so that the next process can name it.
    """

    def __init__(self, path: Path):
        self.path = path
        self.fd: int | None = None

    def acquire(self) -> bool:
        """Take the lock without waiting, and return False if another holder has it."""
        # Opened without truncating, so that a failed attempt keeps the
        # holder's PID in the file.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd
        _held_locks.add(self)
        return True

    def holder_pid(self) -> int | None:
        """Return the PID written by the current holder, if the file has one."""
        try:
            text = self.path.read_text().strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None

    def release(self) -> None:
        if self.fd is None:
            return
        os.ftruncate(self.fd, 0)
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
        self.fd = None
        _held_locks.discard(self)


_held_locks: set[ProcessLock] = set()


def _close_inherited_locks() -> None:
    """Close the lock descriptors that a forked child inherits, keeping the locks.

    A child shares the parent's open file description, and LOCK_UN there
    would release the parent's lock too, so the child only closes its copy.
    Otherwise a worker forked by a preloading server (gunicorn --preload)
    would keep the lock after the parent, which runs the jobs, has exited.
    """
    for lock in list(_held_locks):
        if lock.fd is not None:
            os.close(lock.fd)
            lock.fd = None
    _held_locks.clear()


os.register_at_fork(after_in_child=_close_inherited_locks)


def deliver_outbox(app: Flask) -> int:
    """Deliver pending outbox messages in a session of the job's own."""
    started = time.monotonic()
    token = sqlite_write_intent.set(True)
    try:
        with app.app_context():
            try:
                count = outbox.deliver_pending(db.session)
                db.session.commit()
            except Exception:
                db.session.rollback()
                logger.exception(
                    "outbox run failed after %.1f s", time.monotonic() - started
                )
                return 0
            finally:
                db.session.remove()
    finally:
        sqlite_write_intent.reset(token)
    # Runs that moved nothing repeat every interval, so they log at DEBUG.
    level = logging.INFO if count else logging.DEBUG
    logger.log(
        level,
        "outbox run ended: %d messages moved in %.1f s",
        count,
        time.monotonic() - started,
    )
    return count


def send_deadline_reminders(app: Flask) -> int:
    """Send the day-before and due-day reminders, then their e-mails; idempotent."""
    if local(now()).hour < app.config["REMINDER_START_HOUR"]:
        return 0
    token = sqlite_write_intent.set(True)
    try:
        with app.app_context():
            try:
                count = reminders.send_due_reminders(db.session)
                db.session.commit()
                settings = reminders.SmtpSettings.from_config(app.config)
                emailed = reminders.email_pending_reminders(db.session, settings)
                db.session.commit()
            except Exception:
                db.session.rollback()
                logger.exception("deadline reminder run failed")
                return 0
            finally:
                db.session.remove()
    finally:
        sqlite_write_intent.reset(token)
    level = logging.INFO if count or emailed else logging.DEBUG
    logger.log(level, "deadline reminders sent: %d, e-mailed: %d", count, emailed)
    return count


def _add_jobs(scheduler: BackgroundScheduler, app: Flask, interval: float) -> None:
    # What bounds an outbox run: delivery inside this installation is
    # database work only, and PostgreSQL rows are taken with SKIP LOCKED.
    # The hub connector works for one organisation at a time, and each
    # organisation's run starts no new push or package after
    # CONNECTOR_RUN_SECONDS (120 s by default). Each HTTP call it makes has
    # a 5 s connect timeout, a 30 s timeout per socket read and, for a
    # download, CONNECTOR_TRANSFER_SECONDS (300 s) in all. So a silent or
    # slow hub holds one organisation's run for at most its lease (about
    # 10 minutes with the defaults), then the next organisation runs.
    # max_instances=1 skips the runs due while one is still going, and
    # coalesce turns a backlog of missed runs into one.
    # NOTE: statements are not bounded: a PostgreSQL lock wait lasts until
    # the lock is free unless the database sets lock_timeout.
    scheduler.add_job(
        deliver_outbox,
        "interval",
        seconds=interval,
        args=[app],
        id="deliver_outbox",
        max_instances=1,
        coalesce=True,
        # A run up to one interval late still starts. A later one is dropped,
        # because the next run is due by then anyway.
        misfire_grace_time=max(int(interval), 1),
    )
    reminder_interval = app.config["REMINDER_INTERVAL_SECONDS"]
    if reminder_interval > 0:
        scheduler.add_job(
            send_deadline_reminders,
            "interval",
            seconds=reminder_interval,
            args=[app],
            id="send_deadline_reminders",
            max_instances=1,
            coalesce=True,
        )


def start_scheduler(app: Flask) -> BackgroundScheduler | None:
    """Start the jobs in a thread of this process unless another process runs them."""
    interval = app.config["OUTBOX_INTERVAL_SECONDS"]
    if interval <= 0:
        return None
    # The debug reloader's parent process only watches files; jobs run in the child.
    if app.debug and os.environ.get("WERKZEUG_RUN_MAIN") != "true":
        return None
    lock = ProcessLock(Path(app.instance_path) / LOCK_FILE_NAME)
    if not lock.acquire():
        logger.info(
            "scheduler not started: process %s already runs it", lock.holder_pid()
        )
        return None
    scheduler = BackgroundScheduler(timezone="UTC")
    _add_jobs(scheduler, app, interval)
    scheduler.start()
    app.extensions[_EXTENSION_KEY] = (scheduler, lock)
    logger.info(
        "scheduler started in process %s, outbox every %s s", os.getpid(), interval
    )
    return scheduler


def stop_scheduler(app: Flask) -> None:
    """Stop the scheduler that start_scheduler started, after its running jobs."""
    started = app.extensions.pop(_EXTENSION_KEY, None)
    if started is None:
        return
    scheduler, lock = started
    scheduler.shutdown(wait=True)
    lock.release()
    logger.info("scheduler stopped in process %s", os.getpid())


def run_scheduler(app: Flask, stop: threading.Event | None = None) -> None:
    """Run the jobs in this process until SIGTERM, SIGINT or `stop` is set.

    Raise SchedulerLockHeld when another process already runs them. Call it
    from the main thread, which installs the signal handlers.
    """
    interval = app.config["OUTBOX_INTERVAL_SECONDS"]
    if interval <= 0:
        raise ValueError(
            f"OUTBOX_INTERVAL_SECONDS is {interval}; set it above 0 to run the jobs"
        )
    # With VANBAN_SCHEDULER_ENABLED set, create_app has already started the
    # jobs in a thread of this process, holding the lock. Stop that thread, so
    # that the jobs run in this one instead.
    stop_scheduler(app)
    lock = ProcessLock(Path(app.instance_path) / LOCK_FILE_NAME)
    if not lock.acquire():
        raise SchedulerLockHeld(lock.path, lock.holder_pid())

    stop = stop or threading.Event()

    def request_stop(signum, frame):
        logger.info("scheduler received %s", signal.Signals(signum).name)
        stop.set()

    previous = {
        signum: signal.signal(signum, request_stop)
        for signum in (signal.SIGTERM, signal.SIGINT)
    }
    scheduler = BackgroundScheduler(timezone="UTC")
    try:
        _add_jobs(scheduler, app, interval)
        scheduler.start()
        logger.info(
            "scheduler started in process %s, outbox every %s s", os.getpid(), interval
        )
        stop.wait()
        logger.info("scheduler stopping; waiting for the running job to end")
        scheduler.shutdown(wait=True)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        lock.release()
    logger.info("scheduler stopped in process %s", os.getpid())
