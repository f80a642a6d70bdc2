"""Background jobs: APScheduler running the outbox delivery in one process only."""

import fcntl
import logging
import os
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask

from vanban.extensions import db, sqlite_write_intent
from vanban.services import outbox

logger = logging.getLogger(__name__)

_lock_handle = None


def deliver_outbox(app: Flask) -> int:
    """Deliver pending outbox messages in a session of the job's own."""
    token = sqlite_write_intent.set(True)
    try:
        with app.app_context():
            try:
                count = outbox.deliver_pending(db.session)
                db.session.commit()
            except Exception:
                db.session.rollback()
                logger.exception("outbox delivery job failed")
                return 0
            finally:
                db.session.remove()
    finally:
        sqlite_write_intent.reset(token)
    if count:
        logger.info("outbox job delivered %d messages", count)
    return count


def _take_process_lock(app: Flask) -> bool:
    """Hold an exclusive lock file so that one process per instance runs jobs."""
    global _lock_handle
    path = Path(app.instance_path) / "scheduler.lock"
    handle = open(path, "w")  # noqa: SIM115 (kept open for the process lifetime)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return False
    _lock_handle = handle
    return True


def start_scheduler(app: Flask) -> BackgroundScheduler | None:
    """Start the jobs unless another process already runs them."""
    interval = app.config["OUTBOX_INTERVAL_SECONDS"]
    if interval <= 0:
        return None
    # The debug reloader's parent process only watches files; jobs run in the child.
    if app.debug and os.environ.get("WERKZEUG_RUN_MAIN") != "true":
        return None
    if not _take_process_lock(app):
        logger.info("scheduler already running in another process")
        return None
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(
        deliver_outbox,
        "interval",
        seconds=interval,
        args=[app],
        id="deliver_outbox",
        max_instances=1,
        coalesce=True,
    )
    scheduler.start()
    logger.info("scheduler started, outbox every %s s", interval)
    return scheduler
