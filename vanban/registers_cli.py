"""Command for register books: `flask --app app registers export ... FILE.xlsx`."""

import sys
from pathlib import Path

import click
from flask import Flask
from sqlalchemy import select

from vanban import click_vi
from vanban.extensions import db
from vanban.models import Organisation
from vanban.services import ServiceError, register_books

registers_commands = click_vi.AppGroup("registers", help="Xuất sổ đăng ký văn bản.")
# Exit status for bad input, as click uses for usage errors.
BAD_INPUT = 2
EXPORT_KINDS = ("incoming", "outgoing", "follow-up")


def _fail(message: str) -> None:
    """Print `Lỗi: MESSAGE` as click prints usage errors, and exit with status 2."""
    click.echo(f"Lỗi: {message}", err=True)
    sys.exit(BAD_INPUT)


@registers_commands.command(
    "export", help="Ghi sổ đăng ký một năm của một đơn vị ra tệp XLSX."
)
@click.option(
    "--org",
    "code",
    metavar="MÃ",
    help="Mã định danh điện tử của đơn vị, ví dụ 000.00.00.H01.",
)
@click.option(
    "--kind",
    metavar="LOẠI",
    help="Loại sổ: incoming (sổ đến), outgoing (sổ đi) hoặc follow-up (sổ theo "
    "dõi giải quyết).",
)
@click.option("--year", "year_text", metavar="NĂM", help="Năm của sổ, ví dụ 2026.")
@click.option("--secret", is_flag=True, help="Xuất sổ văn bản mật thay cho sổ thường.")
@click.argument(
    "file",
    required=False,
    metavar="TỆP",
    help="Tệp XLSX cần ghi, ví dụ so-den-2026.xlsx.",
)
def export(code, kind, year_text, secret, file):
    if not code:
        _fail("thiếu --org: nhập mã định danh của đơn vị, ví dụ 000.00.00.H01.")
    if kind not in EXPORT_KINDS:
        _fail(
            f"--kind “{kind or ''}” không hợp lệ: chọn incoming (sổ đến), outgoing "
            "(sổ đi) hoặc follow-up (sổ theo dõi giải quyết)."
        )
    if not year_text or not year_text.isdecimal() or len(year_text) != 4:
        _fail(f"--year “{year_text or ''}” không hợp lệ: nhập năm gồm 4 chữ số.")
    if not file:
        _fail("thiếu tên tệp XLSX cần ghi, ví dụ so-den-2026.xlsx.")
    target = Path(file)
    if target.suffix.lower() != ".xlsx":
        _fail(f"tệp “{file}” phải có đuôi .xlsx.")
    if not target.parent.is_dir():
        _fail(f"thư mục “{target.parent}” không tồn tại.")
    try:
        year = register_books.check_year(int(year_text))
    except ServiceError as error:
        _fail(error.message)
    organisation = db.session.scalar(
        select(Organisation).where(Organisation.code == code.strip())
    )
    if organisation is None:
        _fail(f"không có đơn vị mã “{code}”.")

    book = register_books.build_book(
        db.session, organisation, kind, year, secret=secret
    )
    target.write_bytes(register_books.workbook_bytes(book))
    click.echo(
        f"Đã ghi {book.title} của {organisation.name} ({len(book.documents)} văn "
        f"bản) vào {target}."
    )


def register(app: Flask) -> None:
    app.cli.add_command(registers_commands)
