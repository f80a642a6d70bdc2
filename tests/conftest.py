"""Fixtures: a migrated, seeded database per test on SQLite or PostgreSQL.

Set VANBAN_TEST_DATABASE_URL to a PostgreSQL URL to run the suite there. Each
run then creates throwaway databases next to the one the URL names, and drops
them at the end.
"""

import contextvars
import os
import re
import shutil
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from vanban import create_app
from vanban.extensions import db
from vanban.services import demo

FIXTURES = Path(__file__).parent / "fixtures"
SHARED_SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples"
PG_URL = os.environ.get("VANBAN_TEST_DATABASE_URL", "")

TEST_CONFIG = {
    "TESTING": True,
    "SECRET_KEY": "test-secret-key",
    "SCHEDULER_ENABLED": False,
}


def _admin_engine():
    return create_engine(PG_URL, isolation_level="AUTOCOMMIT")


def _pg_database_url(name: str) -> str:
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


class DatabaseFactory:
    """Make a fresh copy of the seeded template database for each test."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.prefix = f"vanban_test_{uuid.uuid4().hex[:8]}"
        self.created: list[str] = []
        self.template_files = workdir / "template-instance" / "files"

    @property
    def dialect(self) -> str:
        return "postgresql" if PG_URL else "sqlite"

    def template_url(self) -> str:
        if PG_URL:
            name = f"{self.prefix}_template"
            with _admin_engine().connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            self.created.append(name)
            return _pg_database_url(name)
        return f"sqlite:///{self.workdir / 'template.sqlite'}"

    def copy_url(self) -> str:
        if PG_URL:
            name = f"{self.prefix}_{len(self.created)}"
            template = f"{self.prefix}_template"
            with _admin_engine().connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
            self.created.append(name)
            return _pg_database_url(name)
        target = self.workdir / f"db-{uuid.uuid4().hex[:8]}.sqlite"
        shutil.copyfile(self.workdir / "template.sqlite", target)
        return f"sqlite:///{target}"

    def drop(self, url: str) -> None:
        if not PG_URL:
            return
        name = make_url(url).database
        with _admin_engine().connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.created.remove(name)

    def drop_all(self) -> None:
        if not PG_URL:
            return
        with _admin_engine().connect() as conn:
            for name in reversed(self.created):
                if re.fullmatch(r"vanban_test_[0-9a-f]{8}_\w+", name):
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def make_app(database_url: str, instance: Path, **config):
    return create_app(
        {**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": database_url, **config},
        instance_path=str(instance),
    )


@pytest.fixture(scope="session")
def databases(tmp_path_factory):
    """Migrate and seed a template database once per test session."""
    factory = DatabaseFactory(tmp_path_factory.mktemp("databases"))
    url = factory.template_url()
    template_app = make_app(url, factory.workdir / "template-instance")
    with template_app.app_context():
        from flask_migrate import upgrade

        upgrade(revision="heads")
        demo.seed(db.session)
        db.session.remove()
        db.engine.dispose()
    yield factory
    factory.drop_all()


@pytest.fixture
def database_url(databases):
    url = databases.copy_url()
    yield url
    databases.drop(url)


@pytest.fixture
def app_config():
    """Settings added to TEST_CONFIG; test modules override this to change them."""
    return {}


@pytest.fixture
def app(database_url, tmp_path, databases, app_config):
    """An app on its own copy of the seeded database and its own files folder."""
    instance = tmp_path / "instance"
    shutil.copytree(databases.template_files, instance / "files")
    application = make_app(database_url, instance, **app_config)
    with application.app_context():
        yield application
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def session(app):
    return db.session


@pytest.fixture
def client(app):
    return app.test_client()


CSRF_META = re.compile(r'name="csrf-token" id="csrf-token" content="([^"]+)"')


def in_fresh_context(function, *args, **kwargs):
    """Run a request outside the test's app context, as a real server would.

    Inside the test's context the request would share its `g` and database
    session, which hides bugs such as a CSRF token cached across requests.
    """
    return contextvars.Context().run(function, *args, **kwargs)


class WebUser:
    """A test client that logs in through the real form and sends CSRF tokens."""

    def __init__(self, app):
        self.client = app.test_client()
        self.token = None

    def _remember_token(self, response):
        if response.mimetype != "text/html":
            return response
        match = CSRF_META.search(response.get_data(as_text=True))
        if match:
            self.token = match.group(1)
        return response

    def get(self, url, htmx=False, **kwargs):
        headers = kwargs.pop("headers", {})
        if htmx:
            headers["HX-Request"] = "true"
        response = in_fresh_context(self.client.get, url, headers=headers, **kwargs)
        return self._remember_token(response)

    def post(self, url, data=None, htmx=False, csrf=True, **kwargs):
        data = dict(data or {})
        headers = kwargs.pop("headers", {})
        if csrf:
            if self.token is None:
                self.get("/login")
            data.setdefault("csrf_token", self.token)
        if htmx:
            headers["HX-Request"] = "true"
        response = in_fresh_context(
            self.client.post, url, data=data, headers=headers, **kwargs
        )
        return self._remember_token(response)

    def login(self, username, password=demo.DEMO_PASSWORD):
        self.get("/login")
        response = self.post("/login", {"username": username, "password": password})
        assert response.status_code == 303, response.get_data(as_text=True)[:500]
        self.get("/")
        return self


@pytest.fixture
def login_as(app):
    """Return a function that logs a demo user in and returns its WebUser."""

    def login(username):
        return WebUser(app).login(username)

    return login
