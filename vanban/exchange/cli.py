"""Commands for the exchange: `flask --app app exchange parse|connect|sync`."""

import dataclasses
import json
from datetime import date, datetime
from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import select

from vanban.exchange import connector, hub, local
from vanban.exchange.edxml import parse_package
from vanban.exchange.packages import Attachment, EdocPackage, EdxmlError
from vanban.extensions import db
from vanban.models import ConnectorSettings, Organisation
from vanban.services import ServiceError

exchange = AppGroup(
    "exchange",
    help="Read edXML packages (QCVN 102:2016/BTTTT) and connect to the city hub.",
)


@exchange.command("parse")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def parse_command(path: Path):
    """Print what the parser reads from an edXML package, as JSON."""
    try:
        package = parse_package(path.read_bytes())
    except EdxmlError as exc:
        raise click.ClickException(f"{exc.user_message} Chi tiết: {exc}") from exc
    click.echo(json.dumps(package_to_json(package), ensure_ascii=False, indent=2))


@exchange.command("connect")
@click.option(
    "--org",
    "organisation_code",
    required=True,
    help="Code (OrganId) of the organisation hosted here, e.g. 000.00.00.H01.",
)
@click.option(
    "--hub",
    "hub_url",
    required=True,
    help="Base URL of the hub API; https://, or http:// to this machine only.",
)
@click.option(
    "--token",
    prompt=True,
    hide_input=True,
    envvar="VANBAN_HUB_TOKEN",
    help="Token the hub issued to the organisation; prompted for when omitted.",
)
@click.option(
    "--interval",
    type=click.IntRange(min=10),
    default=60,
    show_default=True,
    help="Seconds between two polls of the hub.",
)
def connect_command(organisation_code: str, hub_url: str, token: str, interval: int):
    """Save the organisation's hub settings and test them by reading the directory."""
    organisation = _organisation_by_code(organisation_code)
    try:
        settings = connector.save_settings(
            db.session, organisation, hub_url, token, interval
        )
    except ServiceError as exc:
        raise click.ClickException(exc.message) from exc
    db.session.commit()
    click.echo(
        f"Đã lưu cấu hình kết nối của {organisation.name} ({organisation.code}) "
        f"tới {settings.hub_url}, mã truy cập {settings.masked_token}, "
        f"hỏi trục mỗi {interval} giây."
    )

    try:
        report = connector.check_connection(db.session, settings)
    except (connector.HubError, connector.HubUnavailable) as exc:
        db.session.rollback()
        settings = db.session.get(ConnectorSettings, settings.id)
        settings.last_error = connector.technical_text(exc)[:2000]
        db.session.commit()
        raise click.ClickException(
            f"Chưa kết nối được trục liên thông: {_hub_problem(exc)}"
        ) from exc
    click.echo(
        f"Kết nối thành công. Danh bạ trục có {report.directory_entries} đơn vị: "
        f"thêm {report.directory_created}, cập nhật tên {report.directory_updated}."
    )


@exchange.command("connect-local")
@click.option(
    "--hub",
    "hub_url",
    required=True,
    help="Base URL of this installation's own hub API, e.g. "
    "http://127.0.0.1:5000/api/edoc/v1.",
)
@click.option(
    "--interval",
    type=click.IntRange(min=10),
    default=10,
    show_default=True,
    help="Seconds between two polls of the hub.",
)
def connect_local_command(hub_url: str, interval: int):
    """Connect every organisation hosted here to this installation's own hub.

    Each is added to the hub's directory when missing and given a new token,
    which goes straight into its connector settings (an all-in-one
    installation, such as a trainer's or the demo). The hub must be enabled
    (HUB_ENABLED) in the server that answers the URL.
    """
    organisations = local.hosted_organisations(db.session)
    for organisation in organisations:
        local.register(db.session, organisation)
    db.session.flush()
    for organisation in organisations:
        entry = hub.find_organisation(db.session, organisation.code)
        if entry is None:
            raise click.ClickException(
                f"Không thêm được {organisation.name} ({organisation.code}) vào "
                "danh bạ trục liên thông."
            )
        token = hub.rotate_token(db.session, entry)
        try:
            connector.save_settings(db.session, organisation, hub_url, token, interval)
        except ServiceError as exc:
            raise click.ClickException(exc.message) from exc
    db.session.commit()
    click.echo(
        f"Đã kết nối {len(organisations)} đơn vị với trục liên thông {hub_url}, "
        f"hỏi trục mỗi {interval} giây."
    )


@exchange.command("sync")
@click.option(
    "--org",
    "organisation_code",
    default=None,
    help="Code of one organisation; by default every enabled connector runs.",
)
def sync_command(organisation_code: str | None):
    """Push the outbox and poll the hub now, then print what moved."""
    query = select(ConnectorSettings).where(ConnectorSettings.enabled)
    organisation = None
    if organisation_code is not None:
        organisation = _organisation_by_code(organisation_code)
        query = query.where(ConnectorSettings.organisation_id == organisation.id)
    targets = [
        (settings.id, settings.organisation.name, settings.organisation.code)
        for settings in db.session.scalars(query.order_by(ConnectorSettings.id))
    ]
    if not targets and organisation is None:
        raise click.ClickException(
            "Chưa có đơn vị nào được bật kết nối trục liên thông. Dùng lệnh "
            "`flask --app app exchange connect --org <mã đơn vị> --hub <URL>` "
            "để cấu hình."
        )
    if not targets:
        raise click.ClickException(_not_connected(organisation))

    had_errors = False
    for settings_id, name, code in targets:
        report = connector.run_cycle(db.session, settings_id, poll=True)
        if report is None:
            click.echo(f"{name} ({code}): đang đồng bộ ở tiến trình khác, bỏ qua.")
            continue
        click.echo(f"{name} ({code}): {_describe(report)}")
        for error in report.errors:
            click.echo(f"  Lỗi: {error}", err=True)
        had_errors = had_errors or bool(report.errors)
    if had_errors:
        raise click.ClickException("Đồng bộ xong nhưng có lỗi, xem chi tiết ở trên.")


def _organisation_by_code(code: str) -> Organisation:
    organisation = db.session.scalar(
        select(Organisation).where(Organisation.code == code.strip())
    )
    if organisation is None:
        raise click.ClickException(
            f"Mã đơn vị “{code}” không có trong cơ sở dữ liệu này. Kiểm tra lại "
            "mã định danh (OrganId), ví dụ 000.00.00.H01."
        )
    return organisation


def _not_connected(organisation: Organisation) -> str:
    """Explain why a known organisation has no connector to run, and what to do."""
    label = f"{organisation.name} ({organisation.code})"
    if organisation not in local.hosted_organisations(db.session):
        return (
            f"{label} không có tài khoản nào đang hoạt động ở cài đặt này (chỉ có "
            "trong danh bạ), nên không đồng bộ ở đây được."
        )
    connect = (
        f"`flask --app app exchange connect --org {organisation.code} --hub <URL>`"
    )
    settings = db.session.scalar(
        select(ConnectorSettings).where(
            ConnectorSettings.organisation_id == organisation.id
        )
    )
    if settings is not None:
        return (
            f"Kết nối trục liên thông của {label} đang tắt. Bật lại bằng lệnh "
            f"{connect}."
        )
    return (
        f"{label} chưa được bật kết nối trục liên thông. Kết nối bằng lệnh "
        f"{connect}. Lệnh sẽ hỏi mã truy cập (token) do trục cấp."
    )


def _describe(report: connector.SyncReport) -> str:
    return (
        f"gửi đi {report.sent}, chờ gửi lại {report.retrying}, gửi lỗi "
        f"{report.failed}; nhận {report.documents_received} văn bản (trùng "
        f"{report.duplicates}), {report.statuses_applied} trạng thái (không rõ văn "
        f"bản {report.statuses_unknown}); từ chối {report.rejected} gói tin."
    )


def _hub_problem(exc: Exception) -> str:
    """Describe in Vietnamese why reading the hub's directory failed."""
    status = getattr(exc, "status", None)
    detail = getattr(exc, "detail", "")
    if status is None:
        return f"không kết nối được hoặc quá thời gian chờ ({exc})."
    if status == 401:
        return "trục từ chối mã truy cập (HTTP 401). Kiểm tra lại token."
    return f"trục trả lời HTTP {status}" + (f": {detail}" if detail else ".")


def register(app: Flask) -> None:
    app.cli.add_command(exchange)


def package_to_json(package) -> dict:
    """Return the package as JSON values, listing attachments by size and SHA-256."""
    kind = "edoc" if isinstance(package, EdocPackage) else "status"
    return {"kind": kind, **_to_json(package)}


def _to_json(value):
    if isinstance(value, Attachment):
        return {
            "name": value.name,
            "content_type": value.content_type,
            "size": value.size,
            "sha256": value.sha256,
            "description": value.description,
            "content_id": value.content_id,
        }
    if dataclasses.is_dataclass(value):
        return {
            item.name: _to_json(getattr(value, item.name))
            for item in dataclasses.fields(value)
        }
    if isinstance(value, list):
        return [_to_json(item) for item in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value
