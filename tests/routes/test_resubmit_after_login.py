"""A plain form posted after the session expired is offered again after login."""

import io
import json
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from lxml import html
from sqlalchemy import select

from vanban import pending_forms
from vanban.extensions import db
from vanban.models import Department, User
from vanban.services import accounts, demo

from ..conftest import WebUser
from ..roster import load_ward, ward_username
from ..scenario import fresh, user

WARD_ADMIN = ward_username("admin")
WARD_CLERK = ward_username("clerk")
SAME_ORIGIN = "http://localhost"
KEPT_NOTE = "Nội dung bạn vừa nhập vào biểu mẫu vẫn được giữ lại."
USER_FORM = {
    "full_name": "Nguyễn Văn Thử",
    "position": "Chuyên viên",
    "email": "nguoidung@example.invalid",
    "roles": ["officer", "head"],
    "username": "badinh.moi",
    "password": "BatDau2026",
}


def end_session(web_user: WebUser, app, ending: str) -> None:
    """End the session: by a logout elsewhere, or by losing the session cookie."""
    if ending == "logged_out_elsewhere":
        fresh()
        accounts.new_session_token(user(WARD_ADMIN))
        db.session.commit()
    else:
        web_user.client.delete_cookie(app.config["SESSION_COOKIE_NAME"])


def post_from_page(web_user: WebUser, url: str, data: dict, origin=SAME_ORIGIN, **kw):
    """Post `data` as the browser does from the form page at `url`."""
    headers = {"Referer": f"http://localhost{url}"}
    if origin is not None:
        headers["Origin"] = origin
    return web_user.post(url, data, headers=headers, **kw)


def log_in_again(web_user: WebUser, login_url: str, username: str = WARD_ADMIN):
    """Open the login page, which brings a fresh CSRF token, and log in."""
    web_user.get(login_url)
    return web_user.post(
        login_url, {"username": username, "password": demo.DEMO_PASSWORD}
    )


def resubmit_form(page: str):
    """Return the resubmit form's action, hidden fields and shown summary."""
    tree = html.fromstring(page)
    [form] = tree.xpath("//form[.//button[normalize-space()='Gửi lại']]")
    hidden = {}
    for field in form.xpath(".//input[@type='hidden']"):
        hidden.setdefault(field.get("name"), []).append(field.get("value"))
    summary = {
        " ".join(dt.text_content().split()): " ".join(dd.text_content().split())
        for dt, dd in zip(form.xpath(".//dt"), form.xpath(".//dd"), strict=True)
    }
    return form.get("action"), hidden, summary


def kept_files(app) -> list:
    folder = pending_forms.Path(app.instance_path) / pending_forms.FOLDER_NAME
    return sorted(folder.glob("*.json")) if folder.exists() else []


def plant_pending_form(web_user: WebUser, app, **overrides) -> str:
    """Store a kept form as keep_for_login does and point the session at it."""
    record = {
        "target": "/documents/new",
        "endpoint": "documents.compose",
        "user_id": None,
        "fields": [["subject", "Trích yếu cài sẵn"]],
        "dropped": [],
        "had_files": False,
        "return_to": None,
        "created": time.time(),
        **overrides,
    }
    pending_id = "p" * 32
    folder = pending_forms.Path(app.instance_path) / pending_forms.FOLDER_NAME
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{pending_id}.json").write_text(json.dumps(record), "utf-8")
    with web_user.client.session_transaction() as session:
        session[pending_forms.SESSION_KEY] = pending_id
    return pending_id


def department(session, ward, abbreviation: str) -> Department | None:
    session.rollback()
    return session.scalar(
        select(Department).where(
            Department.organisation_id == ward.organisation.id,
            Department.abbreviation == abbreviation,
        )
    )


@pytest.mark.parametrize("ending", ["logged_out_elsewhere", "cookie_lost"])
def test_expired_form_resubmitted_after_login(app, session, ending):
    ward = load_ward(session)
    admin = WebUser(app).login(WARD_ADMIN)
    url = f"/admin/organisations/{ward.organisation.id}/departments/new"
    admin.get(url)
    end_session(admin, app, ending)

    posted = post_from_page(admin, url, {"name": "Phòng Tư pháp", "abbreviation": "TP"})
    login_url = posted.headers["Location"]
    login_page = admin.get(login_url).get_data(as_text=True)
    logged_in = log_in_again(admin, login_url)
    offered = admin.get(logged_in.headers["Location"])

    assert posted.status_code == 302
    assert urlsplit(login_url).path == "/login"
    assert parse_qs(urlsplit(login_url).query) == {"next": [url]}
    assert KEPT_NOTE in login_page
    assert logged_in.status_code == 303
    assert logged_in.headers["Location"] == "/login/resubmit"
    assert offered.status_code == 200
    action, hidden, summary = resubmit_form(offered.get_data(as_text=True))
    assert action == url
    assert hidden["name"] == ["Phòng Tư pháp"]
    assert hidden["abbreviation"] == ["TP"]
    assert hidden["csrf_token"] == [admin.token]
    assert summary == {"Tên phòng ban": "Phòng Tư pháp", "Chữ viết tắt": "TP"}
    # Nothing is saved until the user confirms on the page.
    assert department(session, ward, "TP") is None
    assert kept_files(app) == []

    sent = admin.post(action, {k: v[0] for k, v in hidden.items()}, csrf=False)

    assert sent.status_code == 303
    created = department(session, ward, "TP")
    assert created is not None
    assert created.name == "Phòng Tư pháp"


def test_password_field_is_not_kept(app, session):
    ward = load_ward(session)
    office = ward.department(session, "VP")
    admin = WebUser(app).login(WARD_ADMIN)
    url = f"/admin/organisations/{ward.organisation.id}/users/new"
    end_session(admin, app, "cookie_lost")

    posted = post_from_page(
        admin, url, {**USER_FORM, "department_id": str(office.id)}, csrf=False
    )
    stored = [path.read_text("utf-8") for path in kept_files(app)]
    logged_in = log_in_again(admin, posted.headers["Location"])
    offered = admin.get(logged_in.headers["Location"]).get_data(as_text=True)
    action, hidden, summary = resubmit_form(offered)

    assert len(stored) == 1
    assert USER_FORM["password"] not in stored[0]
    assert USER_FORM["password"] not in offered
    assert "password" not in hidden
    assert "Mật khẩu ban đầu" in offered
    assert "mật khẩu không được giữ lại" in offered
    assert summary == {
        "Họ và tên": "Nguyễn Văn Thử",
        "Chức vụ": "Chuyên viên",
        "Thư điện tử": "nguoidung@example.invalid",
        "Phòng ban": str(office.id),
        "Vai trò": "Chuyên viên, Lãnh đạo phòng",
        "Tên đăng nhập": "badinh.moi",
    }
    assert hidden["roles"] == ["officer", "head"]

    # The form comes back with every kept value, asking only for the password.
    data = {name: values for name, values in hidden.items()}
    without_password = admin.post(action, data, csrf=False)
    form_page = without_password.get_data(as_text=True)
    assert without_password.status_code == 400
    assert 'value="Nguyễn Văn Thử"' in form_page
    assert 'value="badinh.moi"' in form_page
    assert "Trường này là bắt buộc." in form_page

    data["password"] = USER_FORM["password"]
    created = admin.post(action, data, csrf=False)
    assert created.status_code == 303
    session.rollback()
    new_user = session.scalar(select(User).where(User.username == "badinh.moi"))
    assert new_user.roles == {"officer", "head"}
    assert new_user.department_id == office.id


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "null", None], ids=["foreign", "null", "none"]
)
def test_form_from_foreign_origin_not_kept(app, session, origin):
    ward = load_ward(session)
    admin = WebUser(app).login(WARD_ADMIN)
    url = f"/admin/organisations/{ward.organisation.id}/departments/new"
    end_session(admin, app, "logged_out_elsewhere")

    response = admin.post(
        url,
        {"name": "Phòng Giả", "abbreviation": "GIA"},
        headers={"Origin": origin} if origin else {},
    )
    login_page = admin.get(response.headers["Location"]).get_data(as_text=True)
    logged_in = log_in_again(admin, response.headers["Location"])

    assert response.status_code == 302
    assert kept_files(app) == []
    assert KEPT_NOTE not in login_page
    assert logged_in.headers["Location"] != "/login/resubmit"
    assert department(session, ward, "GIA") is None


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/admin/organisations/3/departments/new",
        "//evil.example/admin/organisations/3/departments/new",
        "/no-such-page",
    ],
    ids=["absolute", "scheme-relative", "unknown-path"],
)
def test_kept_form_with_foreign_target_ignored(app, target):
    visitor = WebUser(app)
    visitor.get("/login")
    plant_pending_form(visitor, app, target=target, endpoint="admin.department_form")

    logged_in = log_in_again(visitor, "/login")
    offered = visitor.get("/login/resubmit")

    assert logged_in.headers["Location"] == "/"
    assert offered.status_code == 303
    assert offered.headers["Location"] == "/"
    assert "evil.example" not in offered.get_data(as_text=True)
    assert kept_files(app) == []


def test_foreign_next_does_not_change_target(app, session):
    ward = load_ward(session)
    admin = WebUser(app).login(WARD_ADMIN)
    url = f"/admin/organisations/{ward.organisation.id}/departments/new"
    end_session(admin, app, "logged_out_elsewhere")
    post_from_page(admin, url, {"name": "Phòng Tư pháp", "abbreviation": "TP"})

    logged_in = log_in_again(admin, "/login?next=https://evil.example/steal")
    offered = admin.get(logged_in.headers["Location"]).get_data(as_text=True)
    action, _, _ = resubmit_form(offered)

    assert logged_in.headers["Location"] == "/login/resubmit"
    assert action == url
    assert "evil.example" not in offered


def test_oversize_form_reported_not_kept(app, session):
    ward = load_ward(session)
    admin = WebUser(app).login(WARD_ADMIN)
    url = f"/admin/organisations/{ward.organisation.id}/departments/new"
    end_session(admin, app, "logged_out_elsewhere")
    name = "x" * (pending_forms.MAX_KEPT_BYTES + 1)

    posted = post_from_page(admin, url, {"name": name, "abbreviation": "TP"})
    login_page = admin.get(posted.headers["Location"]).get_data(as_text=True)
    logged_in = log_in_again(admin, posted.headers["Location"])

    assert posted.status_code == 302
    assert kept_files(app) == []
    assert "Nội dung bạn nhập dài hơn 64 KB nên không được giữ lại" in login_page
    assert KEPT_NOTE not in login_page
    assert logged_in.headers["Location"] == url


def test_kept_form_of_other_user_dropped(app, session):
    ward = load_ward(session)
    admin = WebUser(app).login(WARD_ADMIN)
    url = f"/admin/organisations/{ward.organisation.id}/departments/new"
    end_session(admin, app, "logged_out_elsewhere")
    posted = post_from_page(admin, url, {"name": "Phòng Tư pháp", "abbreviation": "TP"})
    assert len(kept_files(app)) == 1

    logged_in = log_in_again(admin, posted.headers["Location"], username=WARD_CLERK)

    assert logged_in.status_code == 303
    assert logged_in.headers["Location"] == url
    assert kept_files(app) == []
    assert admin.get("/login/resubmit").headers["Location"] == "/"


def test_kept_form_expires(app):
    visitor = WebUser(app)
    visitor.get("/login")
    plant_pending_form(
        visitor, app, created=time.time() - pending_forms.MAX_AGE_SECONDS - 60
    )

    login_page = visitor.get("/login").get_data(as_text=True)
    logged_in = log_in_again(visitor, "/login")

    assert KEPT_NOTE not in login_page
    assert logged_in.headers["Location"] == "/"
    assert kept_files(app) == []


def test_uploaded_files_reported_not_kept(app):
    clerk = WebUser(app).login(WARD_CLERK)
    clerk.get("/documents/new")
    clerk.client.delete_cookie(app.config["SESSION_COOKIE_NAME"])

    posted = post_from_page(
        clerk,
        "/documents/new",
        {
            "subject": "Công văn giữ lại khi hết phiên",
            "files": (io.BytesIO(b"%PDF-1.4 demo"), "cong-van.pdf"),
        },
        csrf=False,
        content_type="multipart/form-data",
    )
    login_page = clerk.get(posted.headers["Location"]).get_data(as_text=True)
    logged_in = log_in_again(clerk, posted.headers["Location"], username=WARD_CLERK)
    offered = clerk.get(logged_in.headers["Location"]).get_data(as_text=True)
    _, hidden, summary = resubmit_form(offered)

    assert "Riêng tệp đính kèm không giữ được" in login_page
    assert "Tệp đính kèm không được giữ lại" in offered
    assert "files" not in hidden
    assert hidden["subject"] == ["Công văn giữ lại khi hết phiên"]
    assert summary["Trích yếu"] == "Công văn giữ lại khi hết phiên"


def test_logout_discards_kept_form(app):
    visitor = WebUser(app)
    visitor.get("/login")
    plant_pending_form(visitor, app, user_id=user(WARD_CLERK).id)
    visitor.post("/login", {"username": WARD_CLERK, "password": demo.DEMO_PASSWORD})

    visitor.get("/")
    visitor.post("/logout")

    assert kept_files(app) == []


def test_lost_cookie_form_hidden_from_next_user(app, session):
    """On a shared computer, the form is not shown to the next user."""
    ward = load_ward(session)
    admin = WebUser(app).login(WARD_ADMIN)
    url = f"/admin/organisations/{ward.organisation.id}/departments/new"
    end_session(admin, app, "cookie_lost")
    posted = post_from_page(admin, url, {"name": "Phòng Tư pháp", "abbreviation": "TP"})
    assert len(kept_files(app)) == 1

    logged_in = log_in_again(admin, posted.headers["Location"], username=WARD_CLERK)

    assert logged_in.headers["Location"] == url
    assert kept_files(app) == []
    assert "Phòng Tư pháp" not in admin.get(url).get_data(as_text=True)


def test_form_of_unknown_user_not_kept(app, session):
    ward = load_ward(session)
    admin = WebUser(app).login(WARD_ADMIN)
    url = f"/admin/organisations/{ward.organisation.id}/departments/new"
    end_session(admin, app, "cookie_lost")
    admin.client.delete_cookie(pending_forms.LAST_USER_COOKIE)

    posted = post_from_page(admin, url, {"name": "Phòng Tư pháp", "abbreviation": "TP"})
    login_page = admin.get(posted.headers["Location"]).get_data(as_text=True)

    assert kept_files(app) == []
    assert "không được giữ lại" in login_page
    assert KEPT_NOTE not in login_page


def test_logout_forgets_last_user(app):
    admin = WebUser(app).login(WARD_ADMIN)
    assert admin.client.get_cookie(pending_forms.LAST_USER_COOKIE) is not None

    admin.post("/logout", {})

    assert admin.client.get_cookie(pending_forms.LAST_USER_COOKIE) is None
