"""Flask extensions, created unbound and initialised in create_app."""

from contextlib import contextmanager
from contextvars import ContextVar

from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from htmx_flask import Htmx
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase

# Stable constraint names so that Alembic can alter them on SQLite too.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
htmx = Htmx()

# When set, SQLite transactions start with BEGIN IMMEDIATE, taking the write lock
# before the first read. Without it a transaction that read and then writes fails
# with "database is locked" when another writer committed in between.
sqlite_write_intent: ContextVar[bool] = ContextVar("sqlite_write_intent", default=False)


@contextmanager
def sqlite_reading():
    """Begin the transactions inside with a plain BEGIN: they only read.

    A caller with write intent uses it for a transaction that it ends before
    it writes, so that the read does not wait for, or hold, the write lock.
    """
    token = sqlite_write_intent.set(False)
    try:
        yield
    finally:
        sqlite_write_intent.reset(token)


@event.listens_for(Engine, "connect")
def _configure_sqlite(dbapi_connection, connection_record):
    """Turn on foreign keys and WAL, and let SQLAlchemy issue BEGIN itself."""
    if type(dbapi_connection).__module__ != "sqlite3":
        return
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    # A 64 MiB page cache per connection keeps search and list indexes in memory.
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.close()
    from vanban.services.folding import register_sqlite

    register_sqlite(dbapi_connection)


@event.listens_for(Engine, "begin")
def _begin_sqlite(connection):
    if connection.dialect.name != "sqlite":
        return
    if sqlite_write_intent.get():
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        connection.exec_driver_sql("BEGIN")
