"""Commands for the exchange: `flask --app app exchange parse|connect|sync`."""

import dataclasses
import json
from datetime import date, datetime
from pathlib import Path

import click
from flask import Flask, current_app
from sqlalchemy import select

from vanban import click_vi
from vanban.exchange import connection, connector, hub, local
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


def _rule(check):
    """Return a click callback that applies a settings rule to an option's value.

    A ServiceError of the rule becomes a usage error (exit code 2) with its
    Vietnamese message, and click prompts again for a prompted option.
    """

    def callback(ctx, param, value):
        if value is None:
            return None
        try:
            return check(value)
        except ServiceError as exc:
            raise click.BadParameter(exc.message) from exc

    return callback


def _check_organ_id(value: str) -> str:
    """Return the stripped code if it has the form the hub's directory accepts."""
    code = value.strip()
    if not hub.ORGAN_ID_PATTERN.fullmatch(code):
        raise ServiceError(
            "Mã định danh (OrganId) phải có dạng NNN.NN.NN.ANN, ví dụ 000.00.00.H01. "
            "Đơn vị mới có mã tạm (TAM.…) cần được cấp mã định danh trước khi kết "
            "nối trục."
        )
    return code


@exchange.command(
    "parse",
    help="In ra dạng JSON những gì bộ đọc đọc được từ một gói tin edXML, để tìm "
    "lỗi của gói tin. Lệnh không thay đổi dữ liệu.\n\n"
    "Mục hub_rejections liệt kê mọi lỗi mà trục liên thông sẽ từ chối gói tin vì "
    "nó (trích yếu dài quá 500 ký tự, thiếu hoặc trùng nơi nhận, sai loại nghiệp "
    "vụ...), mỗi lỗi với mã lỗi và chi tiết như trục trả lời. Có lỗi như vậy thì "
    "lệnh vẫn in đủ nội dung đọc được, rồi kết thúc với mã 1. Lệnh không kiểm tra "
    "danh bạ của trục (đơn vị gửi, nơi nhận có trong danh bạ hay không).\n\n"
    "Tệp lớn hơn giới hạn gói tin của trục (HUB_MAX_PACKAGE_BYTES, mặc định 50 "
    "MiB) bị từ chối mà không đọc hết.",
)
@click.argument(
    "path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    metavar="TỆP",
    help="Tệp gói tin edXML cần đọc.",
)
def parse_command(path: Path):
    data = _read_package_file(path)
    try:
        package = parse_package(data)
    except EdxmlError as exc:
        raise click.ClickException(f"{exc.user_message} Chi tiết: {exc}") from exc
    rejections = [
        {"status": error.status, "error": error.code, "detail": error.detail}
        for error in hub.package_problems(package)
    ]
    output = {**package_to_json(package), "hub_rejections": rejections}
    click.echo(json.dumps(output, ensure_ascii=False, indent=2))
    if rejections:
        others = len(rejections) - 1
        raise click.ClickException(
            f"Trục liên thông sẽ từ chối gói tin này: {rejections[0]['detail']}"
            + (f" Còn {others} lỗi khác, xem mục hub_rejections." if others else "")
        )


def _read_package_file(path: Path) -> bytes:
    """Read at most the hub's package limit plus one byte, to see if it is over.

    The size that stat reports is not trusted, because pipes and devices such
    as /dev/zero have none.
    """
    limit = int(
        current_app.config.get("HUB_MAX_PACKAGE_BYTES", hub.DEFAULT_MAX_PACKAGE_BYTES)
    )
    try:
        with path.open("rb") as file:
            data = file.read(limit + 1)
    except OSError as exc:
        raise click.ClickException(
            f"Không đọc được tệp {path}: {exc.strerror or exc}."
        ) from exc
    if len(data) > limit:
        raise click.ClickException(
            f"Tệp {path} lớn hơn giới hạn gói tin của trục ({limit} byte, khoảng "
            f"{limit / hub.MIB:g} MiB, cài đặt HUB_MAX_PACKAGE_BYTES), nên trục sẽ "
            "từ chối gói tin này. Lệnh dừng đọc ở giới hạn đó."
        )
    return data


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
    callback=_rule(_check_organ_id),
    help="Mã định danh (OrganId) của đơn vị đặt tại cài đặt này, ví dụ 000.00.00.H01.",
)
@click.option(
    "--hub",
    "hub_url",
    required=True,
    metavar="URL",
    callback=_rule(connection.check_hub_url),
    help="Địa chỉ gốc API của trục: https://, hoặc http:// khi trục ở chính máy "
    "này (localhost, địa chỉ 127.x.x.x hoặc [::1]).",
)
@click.option(
    "--token",
    prompt="Mã truy cập (token) do trục cấp",
    hide_input=True,
    envvar="VANBAN_HUB_TOKEN",
    metavar="MÃ_TRUY_CẬP",
    callback=_rule(connection.check_token_length),
    help="Mã truy cập (token) trục đã cấp cho đơn vị. Thiếu tùy chọn này thì lệnh "
    "lấy từ biến môi trường VANBAN_HUB_TOKEN, không có nữa thì hỏi.",
)
@click.option(
    "--interval",
    type=click.IntRange(connection.MIN_POLL_SECONDS, connection.MAX_POLL_SECONDS),
    default=60,
    show_default=True,
    metavar="GIÂY",
    help=f"Số giây giữa hai lần hỏi trục, từ {connection.MIN_POLL_SECONDS} đến "
    f"{connection.MAX_POLL_SECONDS}.",
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
            "Chưa kết nối được trục liên thông: "
            f"{connection.describe_problem(exc)} Chi tiết kỹ thuật: {exc}"
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
    callback=_rule(connection.check_hub_url),
    help="Địa chỉ gốc API trục của chính cài đặt này, ví dụ "
    "http://127.0.0.1:5000/api/edoc/v1.",
)
@click.option(
    "--interval",
    type=click.IntRange(connection.MIN_POLL_SECONDS, connection.MAX_POLL_SECONDS),
    default=10,
    show_default=True,
    metavar="GIÂY",
    help=f"Số giây giữa hai lần hỏi trục, từ {connection.MIN_POLL_SECONDS} đến "
    f"{connection.MAX_POLL_SECONDS}.",
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
        f"gửi đi {report.sent}, chờ gửi lại {report.retrying}, gửi thất bại "
        f"{report.failed}; nhận {report.documents_received} văn bản (trùng "
        f"{report.duplicates}), {report.statuses_applied} trạng thái (trùng "
        f"{report.statuses_repeated}, không rõ văn bản {report.statuses_unknown}); "
        f"từ chối {report.rejected} gói tin."
    )


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
