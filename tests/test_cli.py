"""The admin commands: init-db, seed-demo and deliver, and the outbox job."""

from sqlalchemy import func, select

from vanban.extensions import db
from vanban.jobs import deliver_outbox
from vanban.models import (
    Department,
    Document,
    Organisation,
    OutboxMessage,
    Recipient,
    User,
)
from vanban.services import demo

from .conftest import make_app


def row_counts():
    db.session.rollback()
    return {
        model.__name__: db.session.scalar(select(func.count()).select_from(model))
        for model in (Organisation, Department, User, Document, Recipient)
    }


def test_init_db_and_seed_demo_on_empty_database(tmp_path):
    app = make_app(f"sqlite:///{tmp_path / 'fresh.sqlite'}", tmp_path / "instance")
    runner = app.test_cli_runner()

    result = runner.invoke(args=["init-db"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    assert demo.DEMO_PASSWORD in result.output

    with app.app_context():
        counts = row_counts()
        assert counts["Organisation"] == 7
        assert counts["User"] == 4 + 5 * len(demo.WARD_ACCOUNTS)
        # The trial guide goes out once and arrives once at each ward.
        assert counts["Document"] == 1 + len(demo.WARD_CODES)
        db.session.remove()
        db.engine.dispose()


def test_seed_demo_one_side_each(tmp_path):
    city_app = make_app(f"sqlite:///{tmp_path / 'city.sqlite'}", tmp_path / "city")
    ward_app = make_app(f"sqlite:///{tmp_path / 'ward.sqlite'}", tmp_path / "ward")
    city_runner = city_app.test_cli_runner()
    ward_runner = ward_app.test_cli_runner()
    for runner in (city_runner, ward_runner):
        result = runner.invoke(args=["init-db"])
        assert result.exit_code == 0, result.output

    result = city_runner.invoke(args=["seed-demo", "--only", "city"])
    assert result.exit_code == 0, result.output
    result = ward_runner.invoke(
        args=["seed-demo", "--only", "wards", "--ward", "badinh", "--ward", "ngocha"]
    )
    assert result.exit_code == 0, result.output

    with city_app.app_context():
        counts = row_counts()
        assert counts["Organisation"] == 2
        assert counts["User"] == 4
        assert counts["Document"] == 0
        db.session.remove()
        db.engine.dispose()
    with ward_app.app_context():
        counts = row_counts()
        # The city's two units are there to be addressed, without accounts.
        assert counts["Organisation"] == 4
        assert counts["User"] == 2 * len(demo.WARD_ACCOUNTS)
        assert counts["Document"] == 0
        kinds = db.session.scalars(
            select(Organisation.kind).order_by(Organisation.id)
        ).all()
        assert kinds == ["city", "center", "ward", "ward"]
        users = db.session.scalars(select(User.username)).all()
        assert {name.split(".")[0] for name in users} == {"badinh", "ngocha"}
        db.session.remove()
        db.engine.dispose()


def test_seed_demo_unknown_ward_rejected(tmp_path):
    app = make_app(f"sqlite:///{tmp_path / 'fresh.sqlite'}", tmp_path / "instance")
    runner = app.test_cli_runner()
    assert runner.invoke(args=["init-db"]).exit_code == 0

    result = runner.invoke(args=["seed-demo", "--only", "wards", "--ward", "hanoi"])

    assert result.exit_code == 2
    assert "hanoi" in result.output
    assert "badinh" in result.output
    with app.app_context():
        assert row_counts()["Organisation"] == 0
        db.session.remove()
        db.engine.dispose()


def test_seed_demo_twice_changes_nothing(app):
    before = row_counts()
    result = app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    assert row_counts() == before


def test_init_db_on_current_schema_is_a_no_op(app):
    before = row_counts()
    result = app.test_cli_runner().invoke(args=["init-db"])
    assert result.exit_code == 0, result.output
    assert row_counts() == before


def test_demo_wards_are_real_units():
    from vanban.services import units

    names = [units.find_ward("01", code)["FullName"] for code in demo.WARD_CODES]
    assert names[0] == "Phường Ba Đình"
    assert len(set(names)) == len(demo.WARD_CODES)


def test_outbox_job_delivers_pending_messages(app):
    city_document = db.session.scalar(
        select(Document).where(Document.direction == "outgoing")
    )
    ward = db.session.scalar(
        select(Organisation).where(Organisation.name == "UBND Phường Ngọc Hà")
    )
    # A message queued but not yet delivered, as after a failed delivery.
    db.session.add(
        OutboxMessage(
            kind="status",
            sender_organisation_id=ward.id,
            recipient_organisation_id=city_document.organisation_id,
            document_id=db.session.scalar(
                select(Document.id).where(
                    Document.organisation_id == ward.id,
                    Document.source_document_id == city_document.id,
                )
            ),
            status_code="03",
        )
    )
    db.session.commit()

    assert deliver_outbox(app) == 1
    db.session.rollback()
    recipient = db.session.scalar(
        select(Recipient).where(
            Recipient.document_id == city_document.id,
            Recipient.organisation_id == ward.id,
        )
    )
    assert recipient.status_code == "03"
    assert deliver_outbox(app) == 0


def test_outbox_job_survives_a_failure(app, monkeypatch):
    from vanban.services import outbox

    def broken(session, limit=500):
        raise RuntimeError("simulated failure")

    monkeypatch.setattr(outbox, "deliver_pending", broken)
    assert deliver_outbox(app) == 0
