"""The `hub` commands: add-org, rotate-token and list."""

import re

import pytest

from vanban.exchange import hub
from vanban.extensions import db

from .hub_support import CITY, WARD, register_all
from .scenario import fresh

TOKEN_LINE = re.compile(r"Mã truy cập \(chỉ hiện lần này, hãy lưu lại ngay\): (\S+)")


@pytest.fixture
def app_config():
    return {"HUB_ENABLED": True}


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def printed_token(output: str) -> str:
    tokens = TOKEN_LINE.findall(output)
    assert len(tokens) == 1, output
    return tokens[0]


def test_add_org_prints_token_once(runner):
    result = runner.invoke(args=["hub", "add-org", CITY, "UBND Thành phố Hà Nội"])

    assert result.exit_code == 0, result.output
    token = printed_token(result.output)
    fresh()
    organisation = hub.authenticate(db.session, CITY, token)
    assert organisation.name == "UBND Thành phố Hà Nội"
    assert organisation.token_hash == hub.hash_token(token)
    assert result.stderr == ""


def test_add_org_with_parent_and_email(runner):
    runner.invoke(args=["hub", "add-org", CITY, "UBND Thành phố"])

    result = runner.invoke(
        args=[
            "hub",
            "add-org",
            WARD,
            "UBND Phường Ba Đình",
            "--parent",
            CITY,
            "--email",
            "vanthu@example.invalid",
        ]
    )

    assert result.exit_code == 0, result.output
    fresh()
    organisation = hub.find_organisation(db.session, WARD)
    assert organisation.parent_organ_id == CITY
    assert organisation.email == "vanthu@example.invalid"


@pytest.mark.parametrize(
    "args, message",
    [
        (["H01", "Tên"], "NNN.NN.NN.ANN"),
        ([WARD, "Tên", "--parent", "000.99.99.H99"], "000.99.99.H99"),
        ([WARD, "Tên", "--email", "sai"], "thư điện tử"),
    ],
    ids=["bad-code", "unknown-parent", "bad-email"],
)
def test_add_org_rejects(runner, args, message):
    result = runner.invoke(args=["hub", "add-org", *args])

    assert result.exit_code == 1
    assert message in result.output
    assert "Mã truy cập" not in result.output
    fresh()
    assert hub.directory(db.session) == []


def test_add_org_twice_rejected(runner):
    runner.invoke(args=["hub", "add-org", CITY, "UBND Thành phố"])

    result = runner.invoke(args=["hub", "add-org", CITY, "Lần hai"])

    assert result.exit_code == 1
    assert "đã có trong danh bạ" in result.output


def test_rotate_token_replaces_old(runner, session):
    tokens = register_all(session)

    result = runner.invoke(args=["hub", "rotate-token", WARD])

    assert result.exit_code == 0, result.output
    token = printed_token(result.output)
    fresh()
    assert hub.authenticate(db.session, WARD, token) is not None
    assert hub.authenticate(db.session, WARD, tokens[WARD]) is None


def test_rotate_token_of_unknown_code(runner):
    result = runner.invoke(args=["hub", "rotate-token", "000.99.99.H99"])

    assert result.exit_code == 1
    assert "000.99.99.H99" in result.output


def test_list_shows_organisations(runner, session):
    tokens = register_all(session)
    hub.set_active(session, hub.find_organisation(session, WARD), False)
    session.commit()

    result = runner.invoke(args=["hub", "list"])

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    ward_line = next(line for line in lines if line.startswith(WARD))
    assert "đã ngừng" in ward_line
    assert CITY in ward_line
    assert "UBND Phường Ba Đình" in ward_line
    for token in tokens.values():
        assert token not in result.output


def test_list_when_empty(runner):
    result = runner.invoke(args=["hub", "list"])

    assert result.exit_code == 0
    assert "chưa có đơn vị nào" in result.output


@pytest.mark.parametrize("app_config", [{}], ids=["hub-disabled"])
def test_add_org_warns_when_hub_disabled(runner, app_config):
    result = runner.invoke(args=["hub", "add-org", CITY, "UBND Thành phố"])

    assert result.exit_code == 0
    assert "HUB_ENABLED" in result.stderr
    printed_token(result.stdout)


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("a\tb\nc", "U+0009 ở vị trí 2"),
        ("UBND Phường\nMới", "U+000A ở vị trí 12"),
        ("UBND\u200bPhường", "U+200B ở vị trí 5"),
        ("UBND Phường\u2028Mới", "U+2028 ở vị trí 12"),
    ],
    ids=["tab", "newline", "zero-width-space", "line-separator"],
)
def test_add_org_rejects_control_characters(runner, name, shown):
    result = runner.invoke(args=["hub", "add-org", "000.09.05.H01", name])

    assert result.exit_code == 1, result.output
    assert f"Tên đơn vị chứa ký tự điều khiển {shown}" in result.output
    assert "Đã thêm" not in result.output
    fresh()
    assert hub.find_organisation(db.session, "000.09.05.H01") is None


def test_add_org_keeps_ordinary_spaces(runner):
    name = "UBND Phường\u00a0Mới  (thử)"

    result = runner.invoke(args=["hub", "add-org", "000.09.05.H01", name])

    assert result.exit_code == 0, result.output
    fresh()
    assert hub.find_organisation(db.session, "000.09.05.H01").name == name
