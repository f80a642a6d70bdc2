"""Commands for edXML packages: `flask --app app exchange parse FILE`."""

import dataclasses
import json
from datetime import date, datetime
from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup

from vanban.exchange.edxml import parse_package
from vanban.exchange.packages import Attachment, EdocPackage, EdxmlError

exchange = AppGroup("exchange", help="Read edXML packages (QCVN 102:2016/BTTTT).")


@exchange.command("parse")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def parse_command(path: Path):
    """Print what the parser reads from an edXML package, as JSON."""
    try:
        package = parse_package(path.read_bytes())
    except EdxmlError as exc:
        raise click.ClickException(f"{exc.user_message} Chi tiết: {exc}") from exc
    click.echo(json.dumps(package_to_json(package), ensure_ascii=False, indent=2))


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
