"""The hub settings pages: who may use them, adding organisations, tokens shown once."""

import re

import pytest
from lxml import html
from sqlalchemy import func, select

from vanban.exchange import connector, hub
from vanban.extensions import db
from vanban.models import AuditEvent, Organisation
from vanban.models.hub import HubOrganisation

from ..conftest import WebUser
from ..hub_support import CITY, WARD, edoc_bytes, register_all
from ..scenario import fresh

CITY_ADMIN = "thanhpho.quantri"
TOKEN = re.compile(r'<code id="hub-token">([^<]+)</code>')
NEW_ORGANISATION = {
    "organ_id": "000.09.01.H01",
    "name": "UBND Phường Thử Nghiệm",
    "parent_organ_id": CITY,
    "email": "vanthu@example.invalid",
}


@pytest.fixture
def app_config():
    return {"HUB_ENABLED": True}


@pytest.fixture
def tokens(app, session):
    return register_all(session)


@pytest.fixture
def admin(login_as, tokens):
    return login_as(CITY_ADMIN)


def organisation_id(organ_id: str) -> int:
    fresh()
    return db.session.scalar(
        select(HubOrganisation.id).where(HubOrganisation.organ_id == organ_id)
    )


def token_on(response) -> str:
    match = TOKEN.search(response.get_data(as_text=True))
    assert match, "the page shows no token"
    return match.group(1)


def hub_urls() -> list[tuple[str, str]]:
    ward = organisation_id(WARD)
    return [
        ("GET", "/hub/"),
        ("GET", "/hub/new"),
        ("POST", "/hub/new"),
        ("GET", f"/hub/{ward}/token"),
        ("POST", f"/hub/{ward}/token"),
        ("POST", f"/hub/{ward}/deactivate"),
        ("POST", f"/hub/{ward}/activate"),
    ]


# Permissions


@pytest.mark.parametrize(
    "username",
    ["badinh.quantri", "thanhpho.vanthu", "badinh.vanthu", "tttt.huongdan"],
    ids=["ward-admin", "city-clerk", "ward-clerk", "center-trainer"],
)
def test_others_get_403_everywhere(login_as, tokens, username):
    other = login_as(username)
    before = db.session.scalars(select(HubOrganisation.token_hash)).all()

    for method, url in hub_urls():
        if method == "GET":
            response = other.get(url)
        else:
            response = other.post(url, NEW_ORGANISATION)
        assert response.status_code == 403, (method, url)

    fresh()
    assert db.session.scalars(select(HubOrganisation.token_hash)).all() == before
    assert hub.find_organisation(db.session, "000.09.01.H01") is None


def test_anonymous_sent_to_login(app, tokens):
    client = app.test_client()

    for method, url in hub_urls():
        response = client.open(url, method=method)
        if method == "GET":
            assert response.status_code == 302, url
            assert "/login" in response.headers["Location"]
        else:
            # The CSRF check runs first and rejects the anonymous POST.
            assert response.status_code in (302, 400), url


def test_city_admin_sees_every_page(admin):
    ward = organisation_id(WARD)

    for url in ("/hub/", "/hub/new", f"/hub/{ward}/token"):
        assert admin.get(url).status_code == 200, url


def test_unknown_organisation_gets_404(admin):
    assert admin.get("/hub/99999/token").status_code == 404
    assert admin.post("/hub/99999/deactivate").status_code == 404


# Menu link


def test_menu_link_for_city_admin(admin):
    page = admin.get("/").get_data(as_text=True)

    assert 'href="/hub/"' in page


@pytest.mark.parametrize("username", ["badinh.quantri", "thanhpho.vanthu"])
def test_menu_link_hidden_from_others(login_as, username):
    page = login_as(username).get("/").get_data(as_text=True)

    assert 'href="/hub/"' not in page


def test_menu_link_hidden_when_hub_disabled(database_url, tmp_path):
    from ..conftest import make_app

    disabled = make_app(database_url, tmp_path / "instance")
    with disabled.app_context():
        page = WebUser(disabled).login(CITY_ADMIN).get("/").get_data(as_text=True)
        db.session.remove()
        db.engine.dispose()

    assert "Trục liên thông" not in page


# Organisation list


def test_list_shows_organisations_and_counts(admin, callers_sent):
    page = admin.get("/hub/")
    tree = html.fromstring(page.get_data(as_text=True))

    row = tree.get_element_by_id(f"hub-org-{organisation_id(CITY)}")
    cells = {
        cell.get("data-label"): cell.text_content().strip() for cell in row.iter("td")
    }
    assert cells["Mã định danh"] == CITY
    assert cells["Chờ nhận"] == "1"
    assert cells["Đã nhận"] == "0"
    ward_row = tree.get_element_by_id(f"hub-org-{organisation_id(WARD)}")
    assert "1" in [c.text_content().strip() for c in ward_row.iter("td")]


@pytest.fixture
def callers_sent(app, tokens):
    """The ward sent one document to the city through the API."""
    response = app.test_client().post(
        "/api/edoc/v1/messages",
        data=edoc_bytes(),
        headers={
            "X-Organ-Id": WARD,
            "Authorization": f"Bearer {tokens[WARD]}",
            "X-Message-Type": "edoc",
        },
    )
    assert response.status_code == 201


def test_list_as_fragment(admin):
    response = admin.get("/hub/", htmx=True)
    body = response.get_data(as_text=True)

    assert response.status_code == 200
    assert body.lstrip().startswith('<div id="hub-organisations">')
    assert "<html" not in body
    assert "HX-Request" in response.headers["Vary"]


def test_list_never_shows_tokens(admin, tokens):
    body = admin.get("/hub/").get_data(as_text=True)

    for token in tokens.values():
        assert token not in body


# Adding an organisation


def test_add_organisation_shows_token_once(admin):
    response = admin.post("/hub/new", NEW_ORGANISATION)

    assert response.status_code == 200
    token = token_on(response)
    fresh()
    organisation = hub.authenticate(db.session, "000.09.01.H01", token)
    assert organisation is not None
    assert organisation.parent_organ_id == CITY
    assert organisation.email == "vanthu@example.invalid"
    assert organisation.token_hash == hub.hash_token(token)
    assert response.headers["Cache-Control"] == "no-store"
    for url in ("/hub/", f"/hub/{organisation.id}/token", "/hub/new"):
        assert token not in admin.get(url).get_data(as_text=True), url


def test_add_organisation_audited(admin):
    admin.post("/hub/new", NEW_ORGANISATION)

    fresh()
    event = db.session.scalar(
        select(AuditEvent)
        .where(AuditEvent.action == "hub_organisation_added")
        .order_by(AuditEvent.id.desc())
    )
    assert event.detail == {"organ_id": "000.09.01.H01"}
    assert event.user.username == CITY_ADMIN
    assert event.organisation_id == event.user.organisation_id


@pytest.mark.parametrize(
    "changes, field, message",
    [
        ({"organ_id": "H09"}, "organ_id", "NNN.NN.NN.ANN"),
        ({"organ_id": WARD}, "organ_id", "đã có trong danh bạ"),
        ({"organ_id": ""}, "organ_id", "bắt buộc"),
        ({"name": ""}, "name", "bắt buộc"),
        ({"email": "khong-phai-dia-chi"}, "email", "không hợp lệ"),
        ({"parent_organ_id": "000.99.99.H99"}, "parent_organ_id", "Lựa chọn"),
    ],
    ids=["bad-code", "duplicate", "no-code", "no-name", "bad-email", "bad-parent"],
)
def test_invalid_organisation_shows_error_at_field(admin, changes, field, message):
    typed = {**NEW_ORGANISATION, **changes}

    response = admin.post("/hub/new", typed)

    assert response.status_code == 422
    tree = html.fromstring(response.get_data(as_text=True))
    errors = tree.get_element_by_id(f"field-{field}").find_class("error")
    assert message in " ".join(e.text_content() for e in errors)
    assert tree.get_element_by_id("name").get("value") == typed["name"]
    assert tree.get_element_by_id("email").get("value") == typed["email"]
    assert "hub-token" not in response.get_data(as_text=True)


def test_invalid_organisation_as_fragment(admin):
    response = admin.post(
        "/hub/new", {**NEW_ORGANISATION, "organ_id": "H09"}, htmx=True
    )
    body = response.get_data(as_text=True)

    assert response.status_code == 422
    assert body.lstrip().startswith("<form")
    assert 'id="hub-organisation-form"' in body
    assert 'value="UBND Phường Thử Nghiệm"' in body


def test_parent_choices_list_directory(admin):
    tree = html.fromstring(admin.get("/hub/new").get_data(as_text=True))

    values = [o.get("value") for o in tree.get_element_by_id("parent_organ_id")]
    assert values[0] == ""
    assert CITY in values
    assert WARD in values


# Issuing a new token


def test_confirm_page_shows_no_token(admin):
    body = admin.get(f"/hub/{organisation_id(WARD)}/token").get_data(as_text=True)

    assert "hub-token" not in body
    assert "hết hiệu lực" in body


def test_issue_token_replaces_old(admin, tokens):
    response = admin.post(f"/hub/{organisation_id(WARD)}/token")

    assert response.status_code == 200
    token = token_on(response)
    fresh()
    assert token != tokens[WARD]
    assert hub.authenticate(db.session, WARD, token) is not None
    assert hub.authenticate(db.session, WARD, tokens[WARD]) is None
    assert "/api/edoc/v1" in response.get_data(as_text=True)
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "hub_token_issued")
    )
    assert event.detail == {"organ_id": WARD}


# Deactivating and activating


def test_deactivate_as_page(admin, tokens):
    response = admin.post(f"/hub/{organisation_id(WARD)}/deactivate")

    assert response.status_code == 303
    assert response.headers["Location"].endswith("/hub/")
    fresh()
    assert hub.authenticate(db.session, WARD, tokens[WARD]) is None
    assert f"Đã ngừng kết nối {WARD}" in admin.get("/hub/").get_data(as_text=True)


def test_deactivate_as_fragment(admin, tokens):
    ward = organisation_id(WARD)

    response = admin.post(f"/hub/{ward}/deactivate", htmx=True)
    body = response.get_data(as_text=True)

    assert response.status_code == 200
    assert body.lstrip().startswith(f'<tr id="hub-org-{ward}">')
    assert "Đã ngừng" in body
    assert f"/hub/{ward}/activate" in body
    fresh()
    assert hub.authenticate(db.session, WARD, tokens[WARD]) is None


def test_activate_again(admin, tokens):
    ward = organisation_id(WARD)
    admin.post(f"/hub/{ward}/deactivate")

    response = admin.post(f"/hub/{ward}/activate", htmx=True)

    assert response.status_code == 200
    assert f"/hub/{ward}/deactivate" in response.get_data(as_text=True)
    fresh()
    assert hub.authenticate(db.session, WARD, tokens[WARD]) is not None
    actions = db.session.scalars(
        select(AuditEvent.action).where(AuditEvent.action.like("hub_organisation_%"))
    ).all()
    assert "hub_organisation_deactivated" in actions
    assert "hub_organisation_activated" in actions


def test_every_post_needs_csrf_token(admin, tokens):
    before = db.session.scalars(
        select(HubOrganisation.token_hash).order_by(HubOrganisation.id)
    ).all()

    for method, url in hub_urls():
        if method != "POST":
            continue
        response = admin.post(url, NEW_ORGANISATION, csrf=False)
        assert response.status_code == 400, url

    fresh()
    after = db.session.scalars(
        select(HubOrganisation.token_hash).order_by(HubOrganisation.id)
    ).all()
    assert after == before
    assert hub.authenticate(db.session, WARD, tokens[WARD]) is not None
    assert hub.find_organisation(db.session, "000.09.01.H01") is None


# Names in the directory


@pytest.mark.parametrize(
    "name",
    ["ubnd phường ba đình", "  UBND   PHƯỜNG BA ĐÌNH "],
    ids=["lower", "spaces-upper"],
)
def test_name_taken_in_directory_rejected(admin, name):
    typed = {**NEW_ORGANISATION, "name": name}

    response = admin.post("/hub/new", typed)

    assert response.status_code == 422
    tree = html.fromstring(response.get_data(as_text=True))
    errors = tree.get_element_by_id("field-name").find_class("error")
    text = " ".join(e.text_content() for e in errors)
    assert f"trùng với {WARD} – UBND Phường Ba Đình" in text
    assert tree.get_element_by_id("organ_id").get("value") == typed["organ_id"]
    fresh()
    assert hub.find_organisation(db.session, typed["organ_id"]) is None


def test_name_of_deactivated_entry_taken_once(admin):
    ward = organisation_id(WARD)
    admin.post(f"/hub/{ward}/deactivate")

    added = admin.post("/hub/new", {**NEW_ORGANISATION, "name": "UBND Phường Ba Đình"})
    reactivated = admin.post(f"/hub/{ward}/activate")

    assert added.status_code == 200
    assert reactivated.status_code == 422
    body = reactivated.get_data(as_text=True)
    assert f"Không thể kích hoạt lại {WARD}" in body
    assert "000.09.01.H01 – UBND Phường Ba Đình" in body
    fresh()
    assert not hub.find_organisation(db.session, WARD).active


# The entry this installation's own connector uses


def _connect(session, organ_id: str, token: str, enabled: bool = True) -> None:
    organisation = session.scalar(
        select(Organisation).where(Organisation.code == organ_id)
    )
    settings = connector.save_settings(
        session, organisation, "http://127.0.0.1:5000/api/edoc/v1", token
    )
    settings.enabled = enabled
    session.commit()


def _deactivations() -> int:
    fresh()
    return db.session.scalar(
        select(func.count(AuditEvent.id)).where(
            AuditEvent.action == "hub_organisation_deactivated"
        )
    )


def test_own_connector_entry_kept_active(admin, session, tokens):
    _connect(session, CITY, tokens[CITY])

    response = admin.post(f"/hub/{organisation_id(CITY)}/deactivate")

    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert f"Không thể ngừng kết nối {CITY}: UBND Thành phố Hà Nội" in body
    assert "hãy tắt kết nối trục liên thông của đơn vị đó" in body
    assert 'id="hub-organisations"' in body
    assert hub.authenticate(db.session, CITY, tokens[CITY]) is not None
    assert _deactivations() == 0


def test_own_connector_entry_kept_as_fragment(admin, session, tokens):
    _connect(session, WARD, tokens[WARD])

    response = admin.post(f"/hub/{organisation_id(WARD)}/deactivate", htmx=True)

    assert response.status_code == 422
    assert response.headers["HX-Retarget"] == "#flash"
    assert f"Không thể ngừng kết nối {WARD}" in response.get_data(as_text=True)
    fresh()
    assert hub.find_organisation(db.session, WARD).active


@pytest.mark.parametrize(
    ("token", "enabled"),
    [("mot-ma-cua-truc-khac", True), (None, False)],
    ids=["other-token", "disabled"],
)
def test_entry_without_working_connector_deactivated(
    admin, session, tokens, token, enabled
):
    _connect(session, WARD, token or tokens[WARD], enabled=enabled)

    response = admin.post(f"/hub/{organisation_id(WARD)}/deactivate")

    assert response.status_code == 303
    assert _deactivations() == 1


def test_name_with_control_characters_rejected(admin):
    typed = {**NEW_ORGANISATION, "name": "UBND Phường\tThử\u200bNghiệm"}

    response = admin.post("/hub/new", typed)

    assert response.status_code == 422
    tree = html.fromstring(response.get_data(as_text=True))
    errors = tree.get_element_by_id("field-name").find_class("error")
    assert "ký tự điều khiển U+0009" in " ".join(e.text_content() for e in errors)
    assert "hub-token" not in response.get_data(as_text=True)
    fresh()
    assert hub.find_organisation(db.session, NEW_ORGANISATION["organ_id"]) is None
