"""Commands for the exchange: `flask --app app exchange parse|connect|sync`."""

import dataclasses
import json
from datetime import date, datetime
from pathlib import Path

import click
from flask import Flask
from sqlalchemy import select

from vanban import click_vi
from vanban.exchange import connector, hub, local
from vanban.exchange.edxml import parse_package
from vanban.exchange.packages import Attachment, EdocPackage, EdxmlError
from vanban.extensions import db
from vanban.models import ConnectorSettings, Organisation
from vanban.services import ServiceError

exchange = click_vi.AppGroup(
    "exchange",
    help="Đọc gói tin edXML (QCVN 102:2016/BTTTT) và kết nối với trục liên thông "
    "của thành phố.",
)


@exchange.command(
    "parse",
    help="In ra dạng JSON những gì bộ đọc đọc được từ một gói tin edXML. Lệnh "
    "không thay đổi dữ liệu.",
)
@click.argument(
    "path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    metavar="TỆP",
    help="Tệp gói tin edXML cần đọc.",
)
def parse_command(path: Path):
    try:
        package = parse_package(path.read_bytes())
    except EdxmlError as exc:
        raise click.ClickException(f"{exc.user_message} Chi tiết: {exc}") from exc
    click.echo(json.dumps(package_to_json(package), ensure_ascii=False, indent=2))


@exchange.command(
    "connect",
    help="Lưu cấu hình kết nối trục liên thông của một đơn vị và thử kết nối bằng "
    "cách đọc danh bạ của trục.",
)
@click.option(
    "--org",
    "organisation_code",
    required=True,
    metavar="MÃ",
    help="Mã định danh (OrganId) của đơn vị đặt tại cài đặt này, ví dụ 000.00.00.H01.",
)
@click.option(
    "--hub",
    "hub_url",
    required=True,
    metavar="URL",
    help="Địa chỉ gốc API của trục: https://, hoặc http:// khi trục ở chính máy này.",
)
@click.option(
    "--token",
    prompt="Mã truy cập (token) do trục cấp",
    hide_input=True,
    envvar="VANBAN_HUB_TOKEN",
    metavar="MÃ_TRUY_CẬP",
    help="Mã truy cập (token) trục đã cấp cho đơn vị. Thiếu tùy chọn này thì lệnh "
    "lấy từ biến môi trường VANBAN_HUB_TOKEN, không có nữa thì hỏi.",
)
@click.option(
    "--interval",
    type=click.IntRange(min=10),
    default=60,
    show_default=True,
    metavar="GIÂY",
    help="Số giây giữa hai lần hỏi trục.",
)
def connect_command(organisation_code: str, hub_url: str, token: str, interval: int):
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


@exchange.command(
    "connect-local",
    help="Kết nối mọi đơn vị đặt tại cài đặt này với trục liên thông của chính "
    "cài đặt này.\n\nĐơn vị nào chưa có trong danh bạ của trục thì được thêm vào. "
    "Mỗi đơn vị được cấp mã truy cập mới, ghi thẳng vào cấu hình kết nối của đơn "
    "vị (dùng cho bản cài đặt gộp cả hai phía, như bản của người tập huấn hay bản "
    "demo). Máy chủ ở địa chỉ --hub phải bật trục (HUB_ENABLED).",
)
@click.option(
    "--hub",
    "hub_url",
    required=True,
    metavar="URL",
    help="Địa chỉ gốc API trục của chính cài đặt này, ví dụ "
    "http://127.0.0.1:5000/api/edoc/v1.",
)
@click.option(
    "--interval",
    type=click.IntRange(min=10),
    default=10,
    show_default=True,
    metavar="GIÂY",
    help="Số giây giữa hai lần hỏi trục.",
)
def connect_local_command(hub_url: str, interval: int):
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


@exchange.command(
    "sync",
    help="Gửi ngay hộp thư đi lên trục và nhận từ trục, rồi in ra số gói tin đã "
    "gửi và nhận.",
)
@click.option(
    "--org",
    "organisation_code",
    default=None,
    metavar="MÃ",
    help="Mã định danh của một đơn vị. Mặc định chạy mọi kết nối đang bật.",
)
def sync_command(organisation_code: str | None):
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
        f"{report.duplicates}), {report.statuses_applied} trạng thái (trùng "
        f"{report.statuses_repeated}, không rõ văn bản {report.statuses_unknown}); "
        f"từ chối {report.rejected} gói tin."
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
