"""Commands for the city hub's directory: `flask --app app hub add-org CODE NAME`."""

import click
from flask import Flask, current_app

from vanban import click_vi
from vanban.exchange import hub
from vanban.extensions import db
from vanban.services import ServiceError

hub_commands = click_vi.AppGroup(
    "hub",
    help="Quản lý danh bạ đơn vị của trục liên thông thành phố và mã truy cập API "
    "của từng đơn vị.",
)


@hub_commands.command(
    "add-org",
    help="Thêm một đơn vị vào danh bạ của trục và in mã truy cập API của đơn vị, "
    "chỉ một lần.",
)
@click.argument("code", metavar="MÃ", help="Mã định danh (OrganId) của đơn vị.")
@click.argument("name", metavar="TÊN", help="Tên đơn vị.")
@click.option(
    "--parent",
    metavar="MÃ",
    help="Mã định danh của đơn vị cấp trên, đã có trong danh bạ.",
)
@click.option(
    "--email",
    metavar="EMAIL",
    help="Địa chỉ e-mail công khai của văn phòng đơn vị.",
)
def add_org(code: str, name: str, parent: str | None, email: str | None):
    _warn_if_disabled()
    try:
        organisation, token = hub.add_organisation(
            db.session, code, name, parent, email
        )
    except ServiceError as error:
        raise click.ClickException(error.message) from error
    db.session.commit()
    click.echo(f"Đã thêm {organisation.organ_id} – {organisation.name}.")
    _echo_token(token)


@hub_commands.command(
    "rotate-token",
    help="Cấp mã truy cập API mới cho một đơn vị và in mã mới, chỉ một lần. Mã cũ "
    "hết hiệu lực ngay.",
)
@click.argument("code", metavar="MÃ", help="Mã định danh (OrganId) của đơn vị.")
def rotate_token(code: str):
    _warn_if_disabled()
    organisation = hub.find_organisation(db.session, code.strip())
    if organisation is None:
        raise click.ClickException(
            f"Không có đơn vị mã {code} trong danh bạ của trục. Xem danh sách bằng "
            "lệnh `flask --app app hub list`."
        )
    token = hub.rotate_token(db.session, organisation)
    db.session.commit()
    click.echo(
        f"Đã cấp mã truy cập mới cho {organisation.organ_id}; mã cũ hết hiệu lực."
    )
    _echo_token(token)


@hub_commands.command(
    "list",
    help="Liệt kê các đơn vị trong danh bạ của trục cùng số thông điệp đã gửi, "
    "chờ nhận, đã nhận và bị lỗi của từng đơn vị.",
)
def list_organisations():
    summaries = hub.organisation_summaries(db.session)
    if not summaries:
        click.echo("Danh bạ của trục chưa có đơn vị nào.")
        return
    click.echo(
        "Mã định danh   Trạng thái  Cấp trên       Đã gửi  Chờ nhận  Đã nhận  Lỗi  "
        "Tên đơn vị"
    )
    for summary in summaries:
        organisation = summary.organisation
        state = "kết nối" if organisation.active else "đã ngừng"
        click.echo(
            f"{organisation.organ_id:<14} {state:<11} "
            f"{organisation.parent_organ_id or '-':<14} {summary.sent:>6}  "
            f"{summary.received['pending']:>8}  {summary.received['delivered']:>7}  "
            f"{summary.received['failed']:>3}  {organisation.name}"
        )


def register(app: Flask) -> None:
    app.cli.add_command(hub_commands)


def _echo_token(token: str) -> None:
    click.echo(f"Mã truy cập (chỉ hiện lần này, hãy lưu lại ngay): {token}")


def _warn_if_disabled() -> None:
    if not current_app.config.get("HUB_ENABLED"):
        click.echo(
            "Lưu ý: cài đặt này chưa bật trục (HUB_ENABLED), nên API của trục chưa "
            "nhận yêu cầu.",
            err=True,
        )
