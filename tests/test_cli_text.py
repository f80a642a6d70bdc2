"""Vietnamese text of our commands: help pages, click's usage errors and prompts."""

import ast
import gettext
import re
import string
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from vanban import click_vi

from .conftest import make_app

# Flask-Migrate's group, whose help text is its own English.
FOREIGN_COMMANDS = {"db"}
COMMAND_PATHS = [
    ("deliver",),
    ("exchange",),
    ("exchange", "connect"),
    ("exchange", "connect-local"),
    ("exchange", "parse"),
    ("exchange", "sync"),
    ("hub",),
    ("hub", "add-org"),
    ("hub", "list"),
    ("hub", "rotate-token"),
    ("init-db",),
    ("registers",),
    ("registers", "export"),
    ("scheduler",),
    ("search",),
    ("search", "reindex"),
    ("seed-demo",),
]
# click's English wording, which must not reach an admin.
ENGLISH_CLICK_TEXT = (
    "Usage:",
    "Options:",
    "Commands:",
    "arguments:",
    "Show this message",
    "Error:",
    "for help",
    "Missing",
    "No such",
    "Invalid value",
    "Did you mean",
    "Aborted",
    "default:",
    "required]",
    "[OPTIONS]",
    "COMMAND [ARGS]",
    "TEXT",
    "INTEGER",
    "PATH",
)
ENGLISH_WORD = re.compile(
    r"\b(the|and|or|of|to|for|with|from|this|is|by)\b", re.IGNORECASE
)
CLICK_SOURCE = Path(click.__file__).parent
# Msgids that click passes to `_` through a variable: `_(extra["required"])`.
CLICK_VARIABLE_MSGIDS = {"required"}
HUB_URL = "https://hub.example.invalid/api/edoc/v1"


@pytest.fixture
def cli_app(tmp_path):
    """An app for commands that stop before they touch the database."""
    return make_app(f"sqlite:///{tmp_path / 'cli.sqlite'}", tmp_path / "instance")


@pytest.fixture
def runner(cli_app):
    return cli_app.test_cli_runner()


def assert_no_english_click_text(output: str) -> None:
    for text in ENGLISH_CLICK_TEXT:
        assert text not in output, output


def command_paths(group: click.Group, ctx: click.Context, prefix=()):
    for name in group.list_commands(ctx):
        if not prefix and name in FOREIGN_COMMANDS:
            continue
        command = group.get_command(ctx, name)
        yield (*prefix, name), command
        if isinstance(command, click.Group):
            yield from command_paths(command, ctx, (*prefix, name))


def test_command_list_complete_and_vietnamese(cli_app):
    ctx = click.Context(cli_app.cli)
    found = dict(command_paths(cli_app.cli, ctx))

    assert sorted(found) == COMMAND_PATHS
    for path, command in found.items():
        assert isinstance(command, click_vi.Command | click_vi.AppGroup), path


@pytest.mark.parametrize("path", COMMAND_PATHS, ids=" ".join)
def test_help_is_vietnamese(runner, path):
    result = runner.invoke(args=[*path, "--help"])

    assert result.exit_code == 0, result.output
    assert "Cách dùng:" in result.output
    assert "[TÙY_CHỌN]" in result.output
    assert re.search(r"--help +Hiện hướng dẫn này rồi thoát\.", result.output)
    assert_no_english_click_text(result.output)
    assert ENGLISH_WORD.findall(result.output) == [], result.output


def test_group_without_command_shows_help(runner):
    result = runner.invoke(args=["hub"])

    assert result.exit_code == 2
    assert "LỆNH [THAM_SỐ]..." in result.output
    assert "Lệnh:" in result.output
    assert "rotate-token" in result.output
    assert_no_english_click_text(result.output)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["registers", "export", "--bogus"], "Lỗi: Không có tùy chọn '--bogus'."),
        (["exchange", "sync", "--og", "x"], "Có phải ý bạn là '--org'?"),
        (["hub", "add-org", "000.00.00.H01"], "Lỗi: Thiếu đối số 'TÊN'."),
        (["exchange", "connect", "--hub", HUB_URL], "Lỗi: Thiếu tùy chọn '--org'."),
        (
            ["exchange", "connect", "--org", "000.00.00.H01", "--hub", HUB_URL]
            + ["--token", "t", "--interval", "5"],
            "Giá trị không hợp lệ cho '--interval': 5 nằm ngoài khoảng 10<=x<=86400.",
        ),
        (
            ["exchange", "connect", "--org", "000.00.00.H01", "--token", "t"]
            + ["--hub", "http://127.0.0.1:99999/api"],
            "Giá trị không hợp lệ cho '--hub': Địa chỉ trục liên thông không hợp lệ: "
            "cổng",
        ),
        (
            ["seed-demo", "--only", "x"],
            "'x' không phải là một trong 'all', 'city', 'wards'.",
        ),
        (
            ["exchange", "parse", "/nonexistent/goi-tin.edxml"],
            "Đường dẫn '/nonexistent/goi-tin.edxml' không tồn tại.",
        ),
        (["hub", "nosuch"], "Lỗi: Không có lệnh 'nosuch'."),
        (["hub", "list", "extra"], "Lỗi: Thừa đối số không dùng đến (extra)."),
    ],
)
def test_usage_error_is_vietnamese(runner, args, message):
    result = runner.invoke(args=args)

    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Cách dùng:" in result.output
    assert "--help' để xem hướng dẫn." in result.output
    assert_no_english_click_text(result.output)


def test_option_without_value_is_vietnamese(runner):
    result = runner.invoke(args=["exchange", "sync", "--org"])

    assert result.exit_code == 2, result.output
    assert "Lỗi: Tùy chọn '--org' cần một giá trị." in result.output
    assert_no_english_click_text(result.output)


def test_aborted_token_prompt_is_vietnamese(runner):
    result = runner.invoke(
        args=["exchange", "connect", "--org", "000.00.00.H01", "--hub", HUB_URL],
        input="",
        env={"VANBAN_HUB_TOKEN": None},
    )

    assert result.exit_code == 1, result.output
    assert "Mã truy cập (token) do trục cấp:" in result.output
    assert "Đã hủy." in result.output
    assert_no_english_click_text(result.output)


def test_aborted_confirmation_is_vietnamese():
    click_vi.install()

    @click.command(cls=click_vi.Command)
    def confirm_command():
        click.confirm("Tiếp tục?", abort=True)

    result = CliRunner().invoke(confirm_command, input="x\nn\n")

    assert result.exit_code == 1, result.output
    assert "Lỗi: câu trả lời không hợp lệ, hãy nhập y hoặc n." in result.output
    assert "Đã hủy." in result.output
    assert_no_english_click_text(result.output)


def test_click_exception_keeps_status_1(app):
    result = app.test_cli_runner().invoke(args=["hub", "rotate-token", "000.99.99.H99"])

    assert result.exit_code == 1, result.output
    assert "Lỗi: Không có đơn vị mã 000.99.99.H99" in result.output
    assert_no_english_click_text(result.output)


def click_translation_calls() -> list[tuple[str, ...]]:
    """Return the literal msgids of each `_` and `ngettext` call in click."""
    calls = []
    for path in CLICK_SOURCE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("_", "ngettext")
            ):
                continue
            literals = tuple(
                arg.value
                for arg in node.args
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
            )
            if literals:
                calls.append(literals)
    return calls


def placeholders(text: str) -> set[str]:
    fields = {name for _, name, _, _ in string.Formatter().parse(text) if name}
    return fields | set(re.findall(r"%\((\w+)\)s", text))


def test_catalogue_matches_click_messages():
    msgids = {literals[0] for literals in click_translation_calls()}
    msgids |= CLICK_VARIABLE_MSGIDS
    known = (
        set(click_vi.MESSAGES)
        | set(click_vi.PLURAL_MESSAGES)
        | click_vi.DEVELOPER_MESSAGES
    )

    assert sorted(msgids - known) == [], "click messages without a translation"
    assert sorted(known - msgids) == [], "translations of messages click dropped"


def test_translations_use_only_known_placeholders():
    plurals = {
        literals[0]: literals[1]
        for literals in click_translation_calls()
        if len(literals) == 2
    }

    for msgid, text in click_vi.MESSAGES.items():
        assert placeholders(text) <= placeholders(msgid), msgid
    for singular, forms in click_vi.PLURAL_MESSAGES.items():
        allowed = placeholders(singular) | placeholders(plurals[singular])
        for text in forms:
            assert placeholders(text) <= allowed, singular


def test_install_covers_every_click_module():
    click_vi.install()
    gettext_users = {
        f"click.{path.stem}"
        for path in CLICK_SOURCE.glob("*.py")
        if "from gettext import" in path.read_text(encoding="utf-8")
    }

    assert gettext_users - {"click._winconsole"} == set(click_vi.CLICK_MODULES)
    for name in click_vi.CLICK_MODULES:
        module = sys.modules[name]
        assert getattr(module, "_", None) is not gettext.gettext, name
        assert getattr(module, "ngettext", None) is not gettext.ngettext, name
