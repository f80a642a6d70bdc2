"""Hand-written migrations: a fresh database upgraded to head matches the models.

Runs on SQLite, or on PostgreSQL when VANBAN_TEST_DATABASE_URL is set, each
test in an empty database of its own.
"""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from vanban.extensions import db
from vanban.models import Organisation

from .conftest import PG_URL, _admin_engine, _pg_database_url, make_app

HAND_OVER_TEXTS = {
    "awaiting_proposal": "Văn bản đến chờ bạn đề xuất xử lý: Công văn A",
    "awaiting_direction": "Văn bản đến chờ bạn bút phê, phân công: Công văn B",
    "awaiting_issue": "Dự thảo đã được phê duyệt, chờ vào sổ và phát hành: Công văn C",
}
ASSIGNMENT_TEXT = "Bạn được giao xử lý văn bản: Công văn D"


@pytest.fixture
def empty_app(databases, tmp_path):
    """An app on an empty database, with no revision applied."""
    if PG_URL:
        name = f"{databases.prefix}_empty_{len(databases.created)}"
        with _admin_engine().connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        databases.created.append(name)
        url = _pg_database_url(name)
    else:
        url = f"sqlite:///{tmp_path / 'empty.sqlite'}"
    application = make_app(url, tmp_path / "instance")
    with application.app_context():
        yield application
        db.session.remove()
        db.engine.dispose()
    databases.drop(url)


# Objects that migrations create and no model describes: SQLite's FTS5 table
# with its shadow tables and PostgreSQL's trigram index (0007_search), and
# SQLite's trigger-kept list counts (0014_list_speed).
UNMODELLED_TABLE_PREFIXES = ("document_search_fts", "document_state_counts")
UNMODELLED_INDEXES = {"ix_document_search_all_text"}


def _modelled(object_, name, type_, reflected, compare_to) -> bool:
    if type_ == "table":
        return not name.startswith(UNMODELLED_TABLE_PREFIXES)
    if type_ == "index":
        return name not in UNMODELLED_INDEXES
    return True


def _differences() -> list:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_object": _modelled}
        )
        return compare_metadata(context, db.metadata)


def _kinds() -> dict[str, str]:
    rows = db.session.execute(text("SELECT text, kind FROM notifications"))
    kinds = dict(rows.all())
    db.session.rollback()
    return kinds


def test_head_matches_models(empty_app):
    upgrade(revision="heads")

    assert _differences() == []


def _add_user(username: str, roles: tuple[str, ...] = ()) -> int:
    """Insert a user with plain SQL, since the model has columns of later revisions."""
    organisation_id = db.session.scalar(
        text("SELECT id FROM organisations WHERE code = '000.00.00.H99'")
    )
    if organisation_id is None:
        organisation = Organisation(code="000.00.00.H99", name="UBND thử", kind="ward")
        db.session.add(organisation)
        db.session.flush()
        organisation_id = organisation.id
    db.session.execute(
        text(
            "INSERT INTO users (username, full_name, position, password_hash, "
            "organisation_id, active, failed_login_count, session_token, "
            "created_at) VALUES (:username, 'Người thử', '', '-', "
            ":organisation_id, TRUE, 0, '', CURRENT_TIMESTAMP)"
        ),
        {"username": username, "organisation_id": organisation_id},
    )
    user_id = db.session.scalar(
        text("SELECT id FROM users WHERE username = :username"), {"username": username}
    )
    for role in roles:
        db.session.execute(
            text("INSERT INTO user_roles (user_id, role) VALUES (:user_id, :role)"),
            {"user_id": user_id, "role": role},
        )
    db.session.commit()
    return user_id


def test_0013_moves_hand_overs_to_own_kinds(empty_app):
    upgrade(revision="0012_search_speed")
    user_id = _add_user("thu.nghiem")
    for body in [*HAND_OVER_TEXTS.values(), ASSIGNMENT_TEXT]:
        db.session.execute(
            text(
                "INSERT INTO notifications (user_id, kind, text, created_at) "
                "VALUES (:user_id, 'assignment', :text, CURRENT_TIMESTAMP)"
            ),
            {"user_id": user_id, "text": body},
        )
    db.session.commit()

    upgrade(revision="0013_notification_kinds")
    kinds = _kinds()
    for kind, body in HAND_OVER_TEXTS.items():
        assert kinds[body] == kind
    assert kinds[ASSIGNMENT_TEXT] == "assignment"

    downgrade(revision="0012_search_speed")
    assert set(_kinds().values()) == {"assignment"}


def _user_columns() -> set[str]:
    with db.engine.connect() as connection:
        return {column["name"] for column in inspect(connection).get_columns("users")}


def test_0015_adds_and_drops_secret_clearance(empty_app):
    upgrade(revision="0015_secret_clearance")
    assert "secret_clearance" in _user_columns()

    downgrade(revision="0014_list_speed")
    assert "secret_clearance" not in _user_columns()


def test_0015_clears_existing_clerks_and_leaders(empty_app):
    upgrade(revision="0014_list_speed")
    users = {
        "van.thu": _add_user("van.thu", ("clerk",)),
        "lanh.dao": _add_user("lanh.dao", ("leader", "admin")),
        "chuyen.vien": _add_user("chuyen.vien", ("officer",)),
        "truong.phong": _add_user("truong.phong", ("head",)),
    }

    upgrade(revision="0015_secret_clearance")
    rows = db.session.execute(text("SELECT id, secret_clearance FROM users"))
    cleared = {user_id: bool(value) for user_id, value in rows.all()}
    db.session.rollback()
    assert cleared[users["van.thu"]] is True
    assert cleared[users["lanh.dao"]] is True
    assert cleared[users["chuyen.vien"]] is False
    assert cleared[users["truong.phong"]] is False
