"""Vietnamese text for click's own messages and usage lines in our commands.

click 8.5 marks its messages (usage line, help sections, usage errors,
prompts, "Aborted!") for gettext, with `from gettext import gettext as _` and
`from gettext import ngettext` in each of its modules. `install()` gives those
names a Vietnamese catalogue. Strings are looked up by click's exact English
msgid, so `click` is pinned in requirements.txt and tests/test_cli_text.py fails
when a click upgrade adds, changes or drops a message.

Command and AppGroup name the placeholders of the usage line in Vietnamese
("[TÙY_CHỌN]" in place of "[OPTIONS]"), which click does not pass through
gettext.
"""

import gettext
import importlib

import click
from flask.cli import AppGroup as FlaskAppGroup

OPTIONS_METAVAR = "[TÙY_CHỌN]"
SUBCOMMAND_METAVAR = "LỆNH [THAM_SỐ]..."

# click's modules that bind `_` or `ngettext` from gettext. click._winconsole
# does too, but it is imported on Windows only.
CLICK_MODULES = (
    "click._termui_impl",
    "click.core",
    "click.decorators",
    "click.exceptions",
    "click.formatting",
    "click.parser",
    "click.shell_completion",
    "click.termui",
    "click.types",
    "click.utils",
)

MESSAGES = {
    # Help pages.
    "Usage:": "Cách dùng:",
    "Options": "Tùy chọn",
    "Positional arguments": "Đối số",
    "Commands": "Lệnh",
    "Show this message and exit.": "Hiện hướng dẫn này rồi thoát.",
    "Show the version and exit.": "Hiện phiên bản rồi thoát.",
    "%(prog)s, version %(version)s": "%(prog)s, phiên bản %(version)s",
    "Confirm the action without prompting.": "Xác nhận thao tác mà không hỏi lại.",
    "env var: {var}": "biến môi trường: {var}",
    "default: {default}": "mặc định: {default}",
    "required": "bắt buộc",
    "(dynamic)": "(tính khi chạy)",
    "deprecated": "đã lỗi thời",
    "DeprecationWarning: The command {name!r} is deprecated.{extra_message}": (
        "Cảnh báo: lệnh {name!r} đã lỗi thời.{extra_message}"
    ),
    # click fills {param_type} with the English "option" or "argument".
    "DeprecationWarning: The {param_type} {name!r} is deprecated.{extra_message}": (
        "Cảnh báo: tham số {name!r} đã lỗi thời.{extra_message}"
    ),
    # Errors and their hint.
    "Error: {message}": "Lỗi: {message}",
    "Try '{command} {option}' for help.": (
        "Chạy '{command} {option}' để xem hướng dẫn."
    ),
    "Aborted!": "Đã hủy.",
    "Missing command.": "Thiếu lệnh.",
    "Missing argument": "Thiếu đối số",
    "Missing option": "Thiếu tùy chọn",
    "Missing parameter": "Thiếu tham số",
    "Missing {param_type}": "Thiếu {param_type}",
    "Missing parameter: {param_name}": "Thiếu tham số: {param_name}",
    "No such option {name!r}.": "Không có tùy chọn {name!r}.",
    "No such command {name!r}.": "Không có lệnh {name!r}.",
    "Invalid value: {message}": "Giá trị không hợp lệ: {message}",
    "Invalid value for {param_hint}: {message}": (
        "Giá trị không hợp lệ cho {param_hint}: {message}"
    ),
    "Value must be an iterable.": "Giá trị phải là một dãy giá trị.",
    "Option {name!r} does not take a value.": "Tùy chọn {name!r} không nhận giá trị.",
    "Argument {name!r} takes {nargs} values.": "Đối số {name!r} nhận {nargs} giá trị.",
    "unknown error": "lỗi không xác định",
    "Could not open file {filename!r}: {message}": (
        "Không mở được tệp {filename!r}: {message}"
    ),
    # Parameter types. click fills {name} of the path messages and
    # {number_type} with English words, so the Vietnamese text leaves them out.
    "Choose from:\n\t{choices}": "Chọn một trong:\n\t{choices}",
    "{value} is not in the range {range}.": "{value} nằm ngoài khoảng {range}.",
    "{value!r} is not a valid {number_type}.": "{value!r} không phải là số hợp lệ.",
    "{value!r} is not a valid boolean. Recognized values: {states}": (
        "{value!r} không phải là giá trị đúng/sai hợp lệ. Các giá trị được chấp "
        "nhận: {states}"
    ),
    "{value!r} is not a valid UUID.": "{value!r} không phải là UUID hợp lệ.",
    "file": "tệp",
    "directory": "thư mục",
    "path": "đường dẫn",
    "{name} {filename!r} does not exist.": "Đường dẫn {filename!r} không tồn tại.",
    "{name} {filename!r} is a file.": "{filename!r} là tệp, không phải thư mục.",
    "{name} {filename!r} is a directory.": "{filename!r} là thư mục, không phải tệp.",
    "{name} {filename!r} is not readable.": "Không có quyền đọc {filename!r}.",
    "{name} {filename!r} is not writable.": "Không có quyền ghi {filename!r}.",
    "{name} {filename!r} is not executable.": "Không có quyền chạy {filename!r}.",
    # Prompts.
    "Do you want to continue?": "Bạn có muốn tiếp tục không?",
    "Repeat for confirmation": "Nhập lại để xác nhận",
    "Error: The two entered values do not match.": (
        "Lỗi: hai giá trị đã nhập không khớp nhau."
    ),
    # click.confirm accepts only y, yes, n and no.
    "Error: invalid input": "Lỗi: câu trả lời không hợp lệ, hãy nhập y hoặc n.",
    "Press any key to continue...": "Nhấn phím bất kỳ để tiếp tục...",
    # Progress bar, editor, shell completion and the Windows console.
    "d": " ngày",
    "{editor}: Editing failed": "{editor}: sửa không thành công",
    "{editor}: Editing failed: {e}": "{editor}: sửa không thành công: {e}",
    "Shell completion is not supported for Bash versions older than 4.4.": (
        "Không hỗ trợ tự hoàn thành lệnh với Bash cũ hơn bản 4.4."
    ),
    "Couldn't detect Bash version, shell completion is not supported.": (
        "Không xác định được phiên bản Bash nên không hỗ trợ tự hoàn thành lệnh."
    ),
    "Windows error: {error}": "Lỗi Windows: {error}",
}

# ngettext messages, by click's singular msgid: the Vietnamese text for a count
# of one, then for any other count.
PLURAL_MESSAGES = {
    "Got unexpected extra argument ({args})": (
        "Thừa đối số không dùng đến ({args}).",
        "Thừa các đối số không dùng đến ({args}).",
    ),
    "Takes {nargs} values but 1 was given.": (
        "Cần {nargs} giá trị nhưng chỉ nhận được 1.",
        "Cần {nargs} giá trị nhưng nhận được {len}.",
    ),
    "Did you mean {possibility}?": (
        "Có phải ý bạn là {possibility}?",
        "(Có phải ý bạn là một trong: {possibilities}?)",
    ),
    "Option {name!r} requires an argument.": (
        "Tùy chọn {name!r} cần một giá trị.",
        "Tùy chọn {name!r} cần {nargs} giá trị.",
    ),
    "{value!r} is not {choice}.": (
        "{value!r} không phải là {choice}.",
        "{value!r} không phải là một trong {choices}.",
    ),
    "{value!r} does not match the format {format}.": (
        "{value!r} không đúng định dạng {format}.",
        "{value!r} không đúng định dạng nào trong {formats}.",
    ),
    "{len_type} values are required, but {len_value} was given.": (
        "Cần {len_type} giá trị nhưng nhận được {len_value}.",
        "Cần {len_type} giá trị nhưng nhận được {len_value}.",
    ),
}

# Messages that only a programming mistake produces (a bad decorator, colour
# or stream name), raised as TypeError or ValueError with a traceback for the
# developer. They stay English like the rest of the code's errors.
DEVELOPER_MESSAGES = frozenset(
    {
        "Name '{name}' defined twice",
        "Boolean option {decl!r} cannot use the same flag for true/false.",
        "Could not determine name for option with declarations {decls!r}",
        "No options defined but a name was passed ({name}). Did you mean to "
        "declare an argument instead? Did you mean to pass '--{name}'?",
        "Arguments take exactly one parameter declaration, got {length}: {decls}.",
        "Invalid start character for option ({option})",
        "Unknown color {colour!r}",
        "Unknown standard stream '{name}'",
        "Choice({choices})",
    }
)


class ClickCatalogue(gettext.NullTranslations):
    """The Vietnamese catalogue for click's msgids, returning unknown ones unchanged."""

    def gettext(self, message: str) -> str:
        return MESSAGES.get(message, message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        forms = PLURAL_MESSAGES.get(singular)
        if forms is None:
            return singular if n == 1 else plural
        return forms[0] if n == 1 else forms[1]


CATALOGUE = ClickCatalogue()


def install() -> None:
    """Make click show its messages in Vietnamese, for the whole process.

    This rebinds click's module-level `_` and `ngettext`. Python's global
    gettext would do it without patching, but it takes the language only from
    the LANGUAGE, LC_ALL, LC_MESSAGES and LANG environment variables and reads
    catalogues only from compiled .mo files on disk. So it would need LANGUAGE=vi
    forced on this process and every child process, and a .mo file written at
    start-up. Rebinding changes click's text and nothing else. It is safe to
    call more than once.
    """
    for name in CLICK_MODULES:
        module = importlib.import_module(name)
        if hasattr(module, "_"):
            module._ = CATALOGUE.gettext
        if hasattr(module, "ngettext"):
            module.ngettext = CATALOGUE.ngettext


class Command(click.Command):
    """A click command whose usage line shows "[TÙY_CHỌN]"."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("options_metavar", OPTIONS_METAVAR)
        super().__init__(*args, **kwargs)


class AppGroup(FlaskAppGroup):
    """Flask's AppGroup with Vietnamese usage placeholders for it and its commands."""

    command_class = Command

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("options_metavar", OPTIONS_METAVAR)
        kwargs.setdefault("subcommand_metavar", SUBCOMMAND_METAVAR)
        super().__init__(*args, **kwargs)
