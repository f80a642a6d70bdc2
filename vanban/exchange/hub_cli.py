"""Commands for the city hub's directory: `flask --app app hub add-org CODE NAME`."""

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from vanban.exchange import hub
from vanban.extensions import db
from vanban.services import ServiceError

hub_commands = AppGroup(
    "hub", help="Manage the city hub's organisations and their API tokens."
)


@hub_commands.command("add-org")
@click.argument("code")
@click.argument("name")
@click.option("--parent", help="Code of the parent organisation, already registered.")
@click.option("--email", help="Public e-mail address of the organisation's office.")
def add_org(code: str, name: str, parent: str | None, email: str | None):
    """Register an organisation and print its API token once."""
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


@hub_commands.command("rotate-token")
@click.argument("code")
def rotate_token(code: str):
    """Replace an organisation's API token and print the new one once."""
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


@hub_commands.command("list")
def list_organisations():
    """List the hub's organisations with their message counts."""
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
