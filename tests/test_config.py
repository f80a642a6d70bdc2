"""Settings layers: code defaults, then instance/config.py, then VANBAN_* variables."""

import pytest

from vanban import create_app
from vanban.config import DEV_SECRET_KEY, environment_overrides


def test_environment_overrides_parse_json_and_rename_database():
    overrides = environment_overrides(
        {
            "VANBAN_PAGE_SIZE": "50",
            "VANBAN_SCHEDULER_ENABLED": "true",
            "VANBAN_DATABASE_URL": "postgresql+psycopg://u@h/db",
            "VANBAN_SECRET_KEY": "plain text",
            "VANBAN_TEST_DATABASE_URL": "ignored",
            "OTHER": "ignored",
        }
    )
    assert overrides["PAGE_SIZE"] == 50
    assert overrides["SCHEDULER_ENABLED"] is True
    assert overrides["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@h/db"
    assert overrides["SECRET_KEY"] == "plain text"
    assert "TEST_DATABASE_URL" not in overrides
    assert "OTHER" not in overrides


def test_layers_apply_in_order(tmp_path, monkeypatch):
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "config.py").write_text("PAGE_SIZE = 7\nDEADLINE_WARNING_DAYS = 5\n")
    monkeypatch.setenv("VANBAN_DEADLINE_WARNING_DAYS", "9")

    app = create_app(instance_path=str(instance))

    assert app.config["PAGE_SIZE"] == 7
    assert app.config["DEADLINE_WARNING_DAYS"] == 9
    assert app.config["SQLALCHEMY_DATABASE_URI"] == (
        f"sqlite:///{instance / 'vanban.sqlite'}"
    )
    assert app.config["SESSION_COOKIE_SECURE"] is False


def test_production_refuses_the_development_key(tmp_path, monkeypatch):
    monkeypatch.setenv("VANBAN_ENV", "production")
    monkeypatch.delenv("VANBAN_SECRET_KEY", raising=False)
    with pytest.raises(RuntimeError, match="VANBAN_SECRET_KEY"):
        create_app(instance_path=str(tmp_path))


def test_production_uses_secure_cookies(tmp_path, monkeypatch):
    monkeypatch.setenv("VANBAN_ENV", "production")
    monkeypatch.setenv("VANBAN_SECRET_KEY", "a-long-random-production-key")
    app = create_app(instance_path=str(tmp_path))
    assert app.config["SECRET_KEY"] != DEV_SECRET_KEY
    assert app.config["SESSION_COOKIE_SECURE"] is True
