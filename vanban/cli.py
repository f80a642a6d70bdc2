"""Commands for admins and scripts: `flask --app app init-db`, `seed-demo`."""

import logging

import click
from flask import Flask
from flask_migrate import upgrade

from vanban.exchange import cli as exchange_cli
from vanban.exchange import hub_cli
from vanban.extensions import db
from vanban.services import demo, outbox

logger = logging.getLogger(__name__)


def register_commands(app: Flask) -> None:
    exchange_cli.register(app)
    hub_cli.register(app)

    @app.cli.command("init-db")
    def init_db():
        """Create the database schema or upgrade it to the latest version."""
        upgrade()
        click.echo("Cơ sở dữ liệu đã được tạo hoặc nâng cấp.")

    @app.cli.command("seed-demo")
    def seed_demo():
        """Load the demo organisations, accounts and the city's trial guide."""
        result = demo.seed(db.session)
        click.echo(
            f"Dữ liệu mẫu: {result['organisations']} đơn vị; mật khẩu mọi tài khoản "
            f"demo: {demo.DEMO_PASSWORD}"
        )

    @app.cli.command("deliver")
    def deliver():
        """Deliver every message waiting in the outbox now."""
        count = outbox.deliver_pending(db.session)
        db.session.commit()
        click.echo(f"Đã chuyển {count} thông điệp.")
