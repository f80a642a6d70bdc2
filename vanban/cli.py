"""Commands for admins and scripts: `flask --app app init-db`, `seed-demo`."""

import logging
import sys

import click
from flask import Flask
from flask_migrate import upgrade

from vanban import jobs, registers_cli
from vanban.exchange import cli as exchange_cli
from vanban.exchange import hub_cli
from vanban.extensions import db
from vanban.services import demo, outbox

logger = logging.getLogger(__name__)


def register_commands(app: Flask) -> None:
    exchange_cli.register(app)
    hub_cli.register(app)
    registers_cli.register(app)

    @app.cli.command("init-db")
    def init_db():
        """Create the database schema or upgrade it to the latest version."""
        upgrade(revision="heads")
        click.echo("Cơ sở dữ liệu đã được tạo hoặc nâng cấp.")

    @app.cli.command("seed-demo")
    @click.option(
        "--only",
        type=click.Choice(demo.SEED_PARTS),
        default="all",
        show_default=True,
        help="Load only the city's units (city) or only the wards (wards), for "
        "an installation that exchanges with the other side through the hub.",
    )
    @click.option(
        "--ward",
        "ward_slugs",
        multiple=True,
        help="Load only this demo ward, by user-name prefix such as badinh; "
        "repeat for several. Default: all five.",
    )
    def seed_demo(only: str, ward_slugs: tuple[str, ...]):
        """Load the demo organisations, accounts and the city's trial guide."""
        unknown = set(ward_slugs) - set(demo.demo_ward_slugs())
        if unknown:
            raise click.BadParameter(
                f"không có phường mẫu {', '.join(sorted(unknown))}; chọn trong "
                f"{', '.join(demo.demo_ward_slugs())}.",
                param_hint="--ward",
            )
        result = demo.seed(db.session, only=only, ward_slugs=ward_slugs)
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

    @app.cli.command("scheduler")
    def scheduler():
        """Run the background jobs in the foreground until SIGTERM or Ctrl+C.

        Run one per installation. A second one for the same instance folder
        exits with status 1.
        """
        interval = app.config["OUTBOX_INTERVAL_SECONDS"]
        if interval <= 0:
            click.echo(
                f"Không chạy được bộ lập lịch vì VANBAN_OUTBOX_INTERVAL_SECONDS là "
                f"{interval}. Đặt số giây giữa hai lần chuyển thông điệp lớn hơn 0.",
                err=True,
            )
            sys.exit(1)
        try:
            jobs.run_scheduler(app)
        except jobs.SchedulerLockHeld as exc:
            holder = f" (PID {exc.pid})" if exc.pid else ""
            click.echo(
                f"Bộ lập lịch đang chạy ở một tiến trình khác{holder}, tiến trình "
                f"này giữ tệp khóa {exc.path}. Mỗi bản cài đặt chỉ chạy một bộ lập "
                "lịch: dừng tiến trình đó trước khi chạy lại lệnh này.",
                err=True,
            )
            sys.exit(1)
