"""VanBan: document management and operations for ward People's Committees."""

import logging
import os
from pathlib import Path

from flask import Flask

from vanban.config import DEV_SECRET_KEY, Defaults, environment_overrides
from vanban.extensions import csrf, db, htmx, login_manager, migrate

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def create_app(
    test_config: dict | None = None, instance_path: str | None = None
) -> Flask:
    """Build the app from code defaults, instance/config.py and VANBAN_* variables."""
    app = Flask(__name__, instance_relative_config=True, instance_path=instance_path)
    app.config.from_object(Defaults)
    app.config.from_pyfile("config.py", silent=True)
    app.config.update(environment_overrides())
    if test_config:
        app.config.update(test_config)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        database = Path(app.instance_path) / "vanban.sqlite"
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{database}"
    if str(app.config["SQLALCHEMY_DATABASE_URI"]).startswith("sqlite"):
        # A SQLite file never drops a connection, so checking one before each
        # transaction would only cost a statement.
        options = dict(app.config["SQLALCHEMY_ENGINE_OPTIONS"])
        options.pop("pool_pre_ping", None)
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
    production = (
        app.config.get("ENV_NAME", os.environ.get("VANBAN_ENV")) == "production"
    )
    if production and app.config["SECRET_KEY"] == DEV_SECRET_KEY:
        raise RuntimeError("Set VANBAN_SECRET_KEY before running in production.")
    if app.config["SESSION_COOKIE_SECURE"] is None:
        # Production is served over HTTPS, so its session cookie never goes in clear.
        app.config["SESSION_COOKIE_SECURE"] = production

    _configure_logging(app)
    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR))
    login_manager.init_app(app)
    csrf.init_app(app)
    htmx.init_app(app)

    from vanban import models  # noqa: F401  (registers the tables)
    from vanban.blueprints import register_blueprints
    from vanban.cli import register_commands
    from vanban.web import register_web

    register_web(app)
    register_blueprints(app)
    register_commands(app)
    if app.config.get("SCHEDULER_ENABLED"):
        from vanban.jobs import start_scheduler

        start_scheduler(app)
    return app


def _configure_logging(app: Flask) -> None:
    """Log INFO and above to stderr unless the host already configured logging."""
    root = logging.getLogger()
    if root.handlers or app.testing:
        return
    logging.basicConfig(
        level=app.config.get("LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # APScheduler logs every run at INFO; our job logs what it moved instead.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
