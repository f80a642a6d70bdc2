"""Commands for admins and scripts: `flask --app app init-db`, `seed-demo`.

Their help and messages are Vietnamese, click's own included (see
vanban.click_vi). Their logs stay English.
"""

import logging
import sys

import click
from flask import Flask
from flask_migrate import upgrade

from vanban import click_vi, jobs, registers_cli
from vanban.exchange import cli as exchange_cli
from vanban.exchange import hub_cli
from vanban.extensions import db
from vanban.services import demo, outbox

logger = logging.getLogger(__name__)


def register_commands(app: Flask) -> None:
    # NOTE: `flask --help` keeps its English usage line and Flask's own options
    # (--app, --debug, --env-file) because Flask formats them before it loads
    # this app. Flask and Flask-Migrate do not mark their help texts for
    # gettext, so `run`, `shell`, `routes` and `db` show English option help
    # inside Vietnamese click text.
    click_vi.install()
    exchange_cli.register(app)
    hub_cli.register(app)
    registers_cli.register(app)

    @app.cli.command(
        "init-db",
        cls=click_vi.Command,
        help="Tạo cơ sở dữ liệu hoặc nâng cấp lên phiên bản mới nhất.",
    )
    def init_db():
        upgrade(revision="heads")
        click.echo("Cơ sở dữ liệu đã được tạo hoặc nâng cấp.")

    @app.cli.command(
        "seed-demo",
        cls=click_vi.Command,
        help="Nạp dữ liệu mẫu: các đơn vị, tài khoản demo và hướng dẫn dùng thử "
        "của thành phố. Chạy lại lệnh không thay đổi gì.",
    )
    @click.option(
        "--only",
        type=click.Choice(demo.SEED_PARTS),
        default="all",
        show_default=True,
        help="Phần dữ liệu cần nạp: all (cả hai phía), city (chỉ các đơn vị của "
        "thành phố) hoặc wards (chỉ các phường). city và wards dành cho bản cài "
        "đặt trao đổi văn bản với phía bên kia qua trục liên thông.",
    )
    @click.option(
        "--ward",
        "ward_slugs",
        multiple=True,
        metavar="PHƯỜNG",
        help="Chỉ nạp phường mẫu này, theo tiền tố tên đăng nhập như badinh; lặp "
        "lại tùy chọn để nạp nhiều phường. Mặc định: cả năm phường.",
    )
    def seed_demo(only: str, ward_slugs: tuple[str, ...]):
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

    @app.cli.command(
        "deliver",
        cls=click_vi.Command,
        help="Chuyển ngay mọi thông điệp đang chờ trong hộp thư đi.",
    )
    def deliver():
        count = outbox.deliver_pending(db.session)
        db.session.commit()
        click.echo(f"Đã chuyển {count} thông điệp.")

    @app.cli.command(
        "scheduler",
        cls=click_vi.Command,
        help="Chạy các tác vụ nền ở tiền cảnh cho đến khi nhận SIGTERM hoặc "
        "Ctrl+C.\n\nMỗi bản cài đặt chỉ chạy một bộ lập lịch: lệnh thứ hai dùng "
        "cùng thư mục instance sẽ thoát với mã 1.",
    )
    def scheduler():
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
