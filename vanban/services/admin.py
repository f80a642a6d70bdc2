"""Settings an admin changes: organisations, departments, users, document types.

Every change is recorded in the audit trail as `settings.<thing>.<verb>` with
the values before and after. The city's admin administers the whole
installation, and any other admin administers only their own organisation.
"""

import logging
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from vanban.models import (
    AuditEvent,
    Department,
    DocumentType,
    Organisation,
    User,
    UserRole,
)
from vanban.models.users import ROLES
from vanban.services import (
    Forbidden,
    ServiceError,
    accounts,
    audit,
    clock,
    doctypes,
    units,
)
from vanban.services.audit_labels import ORGANISATION_KIND_LABELS
from vanban.services.demo import ward_slug
from vanban.services.doctypes import ROLE_LABELS
from vanban.services.names import find_same

logger = logging.getLogger(__name__)

# Roles only the city's admin grants or removes: a trainer reads the documents
# of every ward in the trial and resets their accounts.
CITY_ONLY_ROLES = frozenset({"trainer"})

# Roles that read documents, which an admin cannot grant to themselves: every
# role but admin. The organisation-wide roles read all of their organisation's
# documents, a head those of their department, an officer those assigned to
# them, and a trainer those of the wards in the trial.
DOCUMENT_READER_ROLES = frozenset(ROLES) - {"admin"}

# Prefix of the electronic identifier given to an imported ward until the
# admin enters the one from the city's directory.
# NOTE: a ward keeps this provisional code until an admin edits it, and the hub
# cannot address it before then.
PROVISIONAL_CODE_PREFIX = "TAM."


class NotFound(ServiceError):
    status_code = 404


class Invalid(ServiceError):
    """Bad input on a settings form: the page is shown again with the message."""

    status_code = 400


# Who administers what


def can_administer(user: User) -> bool:
    return user.is_authenticated and user.has_role("admin")


def is_installation_admin(user: User) -> bool:
    """Tell whether the user is an admin of the city, who administers everything."""
    return can_administer(user) and user.organisation.kind == "city"


def require_admin(user: User) -> None:
    if not can_administer(user):
        logger.warning("admin page denied to user %s: not an admin", user.id)
        raise Forbidden("Chỉ quản trị hệ thống được vào trang này.")


def require_installation_admin(user: User) -> None:
    if not is_installation_admin(user):
        logger.warning("installation setting denied to user %s", user.id)
        raise Forbidden("Chỉ quản trị của Thành phố được thay đổi mục này.")


def organisations_for(session, admin: User) -> list[Organisation]:
    """Return the organisations the admin administers, the city first."""
    query = select(Organisation).order_by(
        Organisation.parent_id.is_not(None), Organisation.name
    )
    if not is_installation_admin(admin):
        query = query.where(Organisation.id == admin.organisation_id)
    return list(session.scalars(query))


def get_organisation(session, admin: User, organisation_id: int) -> Organisation:
    """Load an organisation the admin administers, or raise NotFound for any other."""
    organisation = session.get(Organisation, organisation_id)
    if organisation is None or (
        not is_installation_admin(admin) and organisation.id != admin.organisation_id
    ):
        raise NotFound("Không tìm thấy đơn vị.")
    return organisation


def _load_in_reach(session, admin: User, model, row_id: int, message: str):
    """Load a row of an organisation the admin administers, or raise NotFound."""
    row = session.get(model, row_id)
    if row is None:
        raise NotFound(message)
    get_organisation(session, admin, row.organisation_id)
    return row


def get_department(session, admin: User, department_id: int) -> Department:
    return _load_in_reach(
        session, admin, Department, department_id, "Không tìm thấy phòng ban."
    )


def get_user(session, admin: User, user_id: int) -> User:
    return _load_in_reach(session, admin, User, user_id, "Không tìm thấy người dùng.")


# Saving and audit


def _save_row(session, admin: User, thing: str, row, new_row, values: dict, state):
    """Create `new_row()` when `row` is None, else update `row`, and audit either.

    `state(row)` returns the audited values. The audit row belongs to the
    organisation the row is part of, or is, and otherwise to the admin's own.
    """
    before = state(row) if row is not None else None
    verb = "update" if row is not None else "create"
    if row is None:
        row = new_row()
        session.add(row)
    for key, value in values.items():
        setattr(row, key, value)
    session.flush()
    audit.record(
        session,
        f"settings.{thing}.{verb}",
        user=admin,
        organisation_id=_organisation_of(row, admin),
        before=before,
        after=state(row),
    )
    return row


def _organisation_of(row, admin: User) -> int:
    if isinstance(row, Organisation):
        return row.id
    return getattr(row, "organisation_id", None) or admin.organisation_id


def _named_state(row: Department | DocumentType) -> dict:
    """Return the audited values of a department or a document type."""
    return {
        "id": row.id,
        "name": row.name,
        "abbreviation": row.abbreviation,
        "active": row.active,
    }


def _conflicting_row(session, query, row):
    """Return the row `query` finds, or None when it finds none or `row` itself."""
    other = session.scalar(query)
    if other is None or (row is not None and other.id == row.id):
        return None
    return other


def _set_active(session, admin: User, thing: str, row, active: bool, **keys) -> None:
    """Switch `row.active` and audit it, with `keys` naming the row in the audit."""
    if row.active == active:
        return
    row.active = active
    audit.record(
        session,
        f"settings.{thing}.{'activate' if active else 'deactivate'}",
        user=admin,
        organisation_id=_organisation_of(row, admin),
        before={**keys, "active": not active},
        after={**keys, "active": active},
    )


# Organisations


def _organisation_state(organisation: Organisation) -> dict:
    return {
        "name": organisation.name,
        "code": organisation.code,
        "abbreviation": organisation.abbreviation,
        "kind": organisation.kind,
        "unit_code": organisation.unit_code,
        "parent_id": organisation.parent_id,
        "active": organisation.active,
    }


def _check_organisation_code(
    session, code: str, organisation: Organisation | None
) -> None:
    other = _conflicting_row(
        session, select(Organisation).where(Organisation.code == code), organisation
    )
    if other is not None:
        raise Invalid(f"Mã định danh {code} đã dùng cho {other.name}.", field="code")


def _active_siblings(session, parent_id: int | None) -> list[Organisation]:
    """Return the active organisations directly under `parent_id` (None: the top)."""
    return list(
        session.scalars(
            select(Organisation).where(
                Organisation.parent_id == parent_id, Organisation.active.is_(True)
            )
        )
    )


def _same_name_message(session, name: str, other: Organisation) -> str:
    if other.parent_id is None:
        place = "cũng không trực thuộc đơn vị nào"
    else:
        place = f"cũng trực thuộc {session.get(Organisation, other.parent_id).name}"
    return (
        f"Tên {name} trùng với đơn vị {other.name} (mã định danh {other.code}) "
        f"đang hoạt động, {place}. Hãy đặt tên khác."
    )


def _check_organisation_name(
    session, name: str, parent_id: int | None, organisation: Organisation | None
) -> None:
    """Reject the name of another active organisation under the same parent."""
    siblings = _active_siblings(session, parent_id)
    other = find_same(siblings, name, excluding=organisation)
    if other is not None:
        raise Invalid(_same_name_message(session, name, other), field="name")


# Administrative unit code each kind of organisation takes: a province's
# 2-digit code for the city, a ward's 5-digit code for a ward, and none for a
# center, which is no administrative unit.
UNIT_CODE_RULES = {
    "city": "mã tỉnh, thành phố gồm 2 chữ số, ví dụ 01 (Thành phố Hà Nội)",
    "ward": "mã phường, xã gồm 5 chữ số, ví dụ 00004 (Phường Ba Đình)",
}


def _check_unit_code(session, values: dict, organisation: Organisation | None) -> None:
    """Reject a unit code that does not fit the kind, is unknown or is taken."""
    code = values["unit_code"]
    kind = values["kind"]
    if not code:
        return

    kind_label = ORGANISATION_KIND_LABELS[kind]
    if kind not in UNIT_CODE_RULES:
        raise Invalid(
            f"Đơn vị loại {kind_label} không phải đơn vị hành chính nên không có "
            "mã đơn vị hành chính. Hãy để trống ô này.",
            field="unit_code",
        )

    unit = units.find_unit(code)
    expected = "province" if kind == "city" else "ward"
    if unit is None or unit.level != expected:
        if unit is None:
            found = f"Không có mã {code} trong danh mục đơn vị hành chính."
        else:
            found = f"Mã {code} là mã của {unit.name}."
        raise Invalid(
            f"{found} Đơn vị loại {kind_label} cần {UNIT_CODE_RULES[kind]}.",
            field="unit_code",
        )
    if kind == "ward":
        _check_ward_province(session, unit, values["parent_id"])

    query = select(Organisation).where(Organisation.unit_code == code)
    if organisation is not None:
        query = query.where(Organisation.id != organisation.id)
    other = session.scalars(query.limit(1)).first()
    if other is not None:
        raise Invalid(
            f"Mã đơn vị hành chính {code} đã dùng cho {other.name}.",
            field="unit_code",
        )


def _check_ward_province(session, ward: units.Unit, parent_id: int | None) -> None:
    """Reject a ward under a city whose unit code names another province."""
    parent = session.get(Organisation, parent_id) if parent_id else None
    if parent is None or parent.kind != "city" or not parent.unit_code:
        return
    if ward.province_code != parent.unit_code:
        province = units.find_unit(ward.province_code)
        raise Invalid(
            f"{ward.name} (mã {ward.code}) thuộc {province.name}, không thuộc "
            f"{parent.name}. Hãy kiểm tra lại mã đơn vị hành chính hoặc đơn vị "
            "trực thuộc.",
            field="unit_code",
        )


def save_organisation(
    session, admin: User, organisation: Organisation | None, values: dict
) -> Organisation:
    """Create an organisation (when `organisation` is None) or edit one."""
    require_installation_admin(admin)
    _check_organisation_code(session, values["code"], organisation)
    _check_organisation_name(session, values["name"], values["parent_id"], organisation)
    _check_unit_code(session, values, organisation)
    return _save_row(
        session,
        admin,
        "organisation",
        organisation,
        Organisation,
        values,
        _organisation_state,
    )


def set_organisation_active(
    session, admin: User, organisation: Organisation, active: bool
) -> None:
    require_installation_admin(admin)
    if not active and organisation.id == admin.organisation_id:
        raise Invalid("Không thể ngừng hoạt động đơn vị của chính bạn.")
    if active and not organisation.active:
        siblings = _active_siblings(session, organisation.parent_id)
        other = find_same(siblings, organisation.name, excluding=organisation)
        if other is not None:
            raise Invalid(
                "Không thể cho đơn vị hoạt động lại. "
                + _same_name_message(session, organisation.name, other)
            )
    if not active and organisation.active:
        # Its users are signed out, and login rejects them while it is inactive.
        for user in session.scalars(
            select(User).where(User.organisation_id == organisation.id)
        ):
            accounts.new_session_token(user)
    _set_active(session, admin, "organisation", organisation, active)


def importable_wards(session, province_code: str) -> list[dict]:
    """Return the province's wards, each marked when already imported."""
    try:
        province = units.find_province(province_code)
    except KeyError:
        raise Invalid(
            "Hãy chọn tỉnh, thành phố trong danh sách.", field="province"
        ) from None
    present = set(
        session.scalars(
            select(Organisation.unit_code).where(
                Organisation.unit_code.in_([w["Code"] for w in province["Wards"]]),
                Organisation.kind == "ward",
            )
        )
    )
    return [{**ward, "imported": ward["Code"] in present} for ward in province["Wards"]]


@dataclass
class WardImport:
    """The organisations an import added, and how many chosen wards were present."""

    created: list[Organisation]
    existing: int

    def message(self) -> str:
        text = f"Đã thêm {len(self.created)} phường, xã."
        if self.existing:
            text += f" {self.existing} phường, xã đã có từ trước nên không thêm lại."
        return text


def import_wards(
    session, admin: User, province_code: str, ward_codes: list[str], parent_id: int
) -> WardImport:
    """Add the chosen wards of a province as organisations, skipping present ones."""
    require_installation_admin(admin)
    if not ward_codes:
        raise Invalid("Hãy đánh dấu ít nhất một phường, xã.", field="wards")
    wards = {w["Code"]: w for w in importable_wards(session, province_code)}
    unknown = [code for code in ward_codes if code not in wards]
    if unknown:
        raise Invalid(
            "Có phường, xã không thuộc tỉnh, thành phố đã chọn.", field="wards"
        )
    created = []
    existing = 0
    siblings = _active_siblings(session, parent_id)
    for code in dict.fromkeys(ward_codes):
        ward = wards[code]
        if ward["imported"]:
            existing += 1
            continue
        name = f"UBND {ward['FullName']}"
        other = find_same(siblings, name)
        if other is not None:
            raise Invalid(
                f"Không nhập được {ward['FullName']} (mã {code}): đã có đơn vị "
                f"{other.name} (mã định danh {other.code}) cùng tên, đang hoạt động "
                "và trực thuộc cùng đơn vị. Hãy sửa hoặc ngừng hoạt động đơn vị đó, "
                "hoặc bỏ chọn phường, xã này.",
                field="wards",
            )
        organisation = Organisation(
            code=f"{PROVISIONAL_CODE_PREFIX}{code}",
            name=name,
            abbreviation="UBND",
            kind="ward",
            unit_code=code,
            parent_id=parent_id,
        )
        session.add(organisation)
        session.flush()
        audit.record(
            session,
            "settings.organisation.import",
            user=admin,
            organisation_id=organisation.id,
            before=None,
            after=_organisation_state(organisation),
        )
        created.append(organisation)
        siblings.append(organisation)
    logger.info("imported %d wards of province %s", len(created), province_code)
    return WardImport(created=created, existing=existing)


# Departments


def save_department(
    session,
    admin: User,
    organisation: Organisation,
    department: Department | None,
    values: dict,
) -> Department:
    require_admin(admin)
    _check_department_names(session, organisation, department, values)
    return _save_row(
        session,
        admin,
        "department",
        department,
        lambda: Department(organisation_id=organisation.id),
        values,
        _named_state,
    )


def _check_department_names(
    session, organisation: Organisation, department: Department | None, values: dict
) -> None:
    """Reject a name or abbreviation another department of the organisation has.

    Departments turned off count too, because turning one on again would
    bring the duplicate back.
    """
    departments = list(
        session.scalars(
            select(Department).where(Department.organisation_id == organisation.id)
        )
    )
    other = find_same(departments, values["name"], excluding=department)
    if other is not None:
        hint = "Hãy đặt tên khác."
        if not other.active:
            hint = (
                "Phòng ban đó đang ngừng hoạt động: hãy cho hoạt động lại phòng "
                "ban đó hoặc đặt tên khác."
            )
        raise Invalid(
            f"{organisation.name} đã có phòng ban {other.name}. {hint}", field="name"
        )
    other = find_same(
        departments,
        values["abbreviation"],
        attribute="abbreviation",
        excluding=department,
    )
    if other is not None:
        raise Invalid(
            f"Chữ viết tắt {values['abbreviation']} đã dùng cho {other.name}. "
            "Hãy chọn chữ viết tắt khác.",
            field="abbreviation",
        )


def set_department_active(
    session, admin: User, department: Department, active: bool
) -> None:
    require_admin(admin)
    _set_active(session, admin, "department", department, active, id=department.id)


# Users


def _user_state(user: User) -> dict:
    return {
        "id": user.id,
        "username": user.username,
        "full_name": user.full_name,
        "position": user.position,
        "email": user.email,
        "department_id": user.department_id,
        "roles": sorted(user.roles),
        "active": user.active,
        "secret_clearance": user.secret_clearance,
    }


def _is_active_admin(user: User) -> bool:
    return user.active and user.has_role("admin")


def _guard_last_admin(session, user: User, roles: set[str], active: bool) -> None:
    """Reject a change that leaves the user's organisation without an active admin."""
    if not _is_active_admin(user) or (active and "admin" in roles):
        return
    others = session.scalar(
        select(func.count(User.id))
        .join(UserRole, UserRole.user_id == User.id)
        .where(
            User.organisation_id == user.organisation_id,
            User.active.is_(True),
            UserRole.role == "admin",
            User.id != user.id,
        )
    )
    if not others:
        raise Invalid(
            "Không thể thực hiện: đây là quản trị cuối cùng còn hoạt động của "
            f"{user.organisation.name}. Hãy giao vai trò Quản trị cho người khác "
            "trước.",
            field="roles",
        )


def _check_department(session, organisation: Organisation, department_id) -> None:
    if department_id is None:
        return
    department = session.get(Department, department_id)
    if department is None or department.organisation_id != organisation.id:
        raise Invalid("Phòng ban không thuộc đơn vị này.", field="department_id")


def _check_roles(roles: set[str]) -> None:
    if not roles:
        raise Invalid("Hãy chọn ít nhất một vai trò.", field="roles")
    if not roles <= set(ROLES):
        raise Invalid("Có vai trò không có trong danh sách.", field="roles")


def assignable_roles(admin: User) -> tuple[str, ...]:
    """Return the roles the admin may grant or remove, in display order."""
    if is_installation_admin(admin):
        return ROLES
    return tuple(role for role in ROLES if role not in CITY_ONLY_ROLES)


def _require_user_reach(admin: User, organisation: Organisation) -> None:
    """Reject a user change in an organisation the admin does not administer."""
    if not is_installation_admin(admin) and organisation.id != admin.organisation_id:
        logger.warning(
            "user change in organisation %s denied to user %s",
            organisation.id,
            admin.id,
        )
        raise Forbidden("Bạn chỉ quản lý người dùng của đơn vị mình.")


def _granted_roles(admin: User, roles: set[str], current: set[str]) -> set[str]:
    """Return the roles the user ends up with when the admin submits `roles`.

    An admin other than the city's cannot grant a city-only role, and the
    city-only roles a user already has stay, because their form lacks them.
    """
    if is_installation_admin(admin):
        return roles
    granted = (roles - current) & CITY_ONLY_ROLES
    if granted:
        logger.warning("city-only role granted by user %s rejected", admin.id)
        raise Forbidden(
            "Chỉ quản trị của Thành phố được giao vai trò "
            + ", ".join(ROLE_LABELS[role] for role in sorted(granted))
            + "."
        )
    return (roles - CITY_ONLY_ROLES) | (current & CITY_ONLY_ROLES)


def ward_account_prefix(organisation: Organisation) -> str | None:
    """Return the user-name prefix of a ward's prepared accounts, such as "badinh".

    The trial preparation names a ward's accounts `<prefix>.<role>`.
    """
    if organisation.kind != "ward":
        return None
    return ward_slug(organisation.name.removeprefix("UBND ").strip()) or None


def _check_username_prefix(session, organisation: Organisation, username: str) -> None:
    """Reject a user name that starts with another ward's account prefix."""
    head, dot, _ = username.partition(".")
    if not dot:
        return
    wards = session.scalars(
        select(Organisation).where(
            Organisation.kind == "ward", Organisation.id != organisation.id
        )
    )
    owner = next((ward for ward in wards if ward_account_prefix(ward) == head), None)
    if owner is not None and ward_account_prefix(organisation) != head:
        raise Invalid(
            f"Tên đăng nhập bắt đầu bằng “{head}.” dành cho tài khoản của "
            f"{owner.name}. Hãy chọn tên khác.",
            field="username",
        )


def create_user(
    session, admin: User, organisation: Organisation, values: dict, password: str
) -> User:
    """Add a user who must change the given password at their first login."""
    require_admin(admin)
    _require_user_reach(admin, organisation)
    roles = _granted_roles(admin, set(values.pop("roles")), set())
    _check_roles(roles)
    _check_department(session, organisation, values.get("department_id"))
    username = values["username"].lower()
    _check_username_prefix(session, organisation, username)
    existing_id = session.scalar(
        select(User.id).where(func.lower(User.username) == username)
    )
    if existing_id is not None:
        raise Invalid(f"Tên đăng nhập {username} đã có người dùng.", field="username")
    user = User(organisation_id=organisation.id, **{**values, "username": username})
    user.role_grants = [UserRole(role=role) for role in sorted(roles)]
    session.add(user)
    accounts.set_one_time_password(session, user, password)
    session.flush()
    audit.record(
        session,
        "settings.user.create",
        user=admin,
        organisation_id=organisation.id,
        before=None,
        after=_user_state(user),
    )
    return user


def _check_own_reading_rights(
    admin: User, user: User, roles: set[str], secret_clearance: bool
) -> None:
    """Reject an admin's edit of their own account that widens what they read.

    Clearance for secret documents and roles that read documents come from
    another admin, so that no admin reads documents on their own say-so.
    Giving them up is allowed.
    """
    if user.id != admin.id:
        return
    if secret_clearance and not user.secret_clearance:
        logger.warning("own secret clearance of user %s rejected", admin.id)
        raise Invalid(
            "Bạn không thể tự cho mình được xem văn bản mật. Hãy nhờ một quản trị "
            "khác của đơn vị hoặc quản trị của Thành phố thực hiện.",
            field="secret_clearance",
        )
    added = (roles - user.roles) & DOCUMENT_READER_ROLES
    if added:
        logger.warning("own roles %s of user %s rejected", sorted(added), admin.id)
        names = ", ".join(ROLE_LABELS[role] for role in sorted(added))
        raise Invalid(
            f"Bạn không thể tự giao cho mình vai trò {names}, vì vai trò này được "
            "đọc văn bản. Hãy nhờ một quản trị khác của đơn vị hoặc quản trị của "
            "Thành phố thực hiện.",
            field="roles",
        )


def update_user(session, admin: User, user: User, values: dict) -> None:
    require_admin(admin)
    _require_user_reach(admin, user.organisation)
    roles = _granted_roles(admin, set(values.pop("roles")), user.roles)
    _check_roles(roles)
    _check_own_reading_rights(
        admin, user, roles, values.get("secret_clearance", user.secret_clearance)
    )
    _check_department(session, user.organisation, values.get("department_id"))
    _guard_last_admin(session, user, roles, values.get("active", user.active))
    before = _user_state(user)
    for key, value in values.items():
        setattr(user, key, value)
    if roles != user.roles:
        user.role_grants = [UserRole(role=role) for role in sorted(roles)]
    if not user.active:
        accounts.new_session_token(user)
    session.flush()
    audit.record(
        session,
        "settings.user.update",
        user=admin,
        organisation_id=user.organisation_id,
        before=before,
        after=_user_state(user),
    )


def set_user_active(session, admin: User, user: User, active: bool) -> None:
    require_admin(admin)
    _require_user_reach(admin, user.organisation)
    if user.active == active:
        return
    _guard_last_admin(session, user, user.roles, active)
    if not active:
        # A deactivated account is signed out everywhere at once.
        accounts.new_session_token(user)
    _set_active(
        session, admin, "user", user, active, id=user.id, username=user.username
    )


def reset_password(session, admin: User, user: User, password: str) -> None:
    """Set a one-time password, which the user replaces at the next login."""
    require_admin(admin)
    _require_user_reach(admin, user.organisation)
    before = user.must_change_password
    accounts.set_one_time_password(session, user, password)
    audit.record(
        session,
        "settings.user.reset_password",
        user=admin,
        organisation_id=user.organisation_id,
        before={"id": user.id, "must_change_password": before},
        after={"id": user.id, "must_change_password": True},
    )


def users_of(session, organisation: Organisation) -> list[User]:
    return list(
        session.scalars(
            select(User)
            .where(User.organisation_id == organisation.id)
            .order_by(User.active.desc(), User.username)
        )
    )


# Document types


def _check_doctype_names(session, doctype: DocumentType | None, values: dict) -> None:
    """Reject a name or abbreviation another type has, whatever the letter case.

    Diacritics count, because the decree's own list has HĐ beside HD and ĐA
    beside DA.
    """
    types = list(session.scalars(select(DocumentType)))
    other = find_same(types, values["name"], excluding=doctype)
    if other is not None:
        raise Invalid(f"Loại văn bản {other.name} đã có.", field="name")
    abbreviation = values["abbreviation"]
    other = find_same(types, abbreviation, attribute="abbreviation", excluding=doctype)
    if other is not None:
        raise Invalid(
            f"Chữ viết tắt {abbreviation} đã dùng cho loại {other.name}. "
            "Hãy chọn chữ viết tắt khác.",
            field="abbreviation",
        )


def save_doctype(
    session, admin: User, doctype: DocumentType | None, values: dict
) -> DocumentType:
    require_installation_admin(admin)
    _check_doctype_names(session, doctype, values)
    last_position = session.scalar(select(func.max(DocumentType.position))) or 0
    doctype = _save_row(
        session,
        admin,
        "doctype",
        doctype,
        lambda: DocumentType(position=last_position + 1),
        values,
        _named_state,
    )
    doctypes.invalidate()
    return doctype


# Audit trail


AUDIT_PAGE_SIZE = 50


@dataclass
class AuditFilters:
    user: str = ""
    action: str = ""
    start: date | None = None
    end: date | None = None
    organisation_id: int | None = None


@dataclass
class AuditPage:
    events: list[AuditEvent]
    total: int
    page: int
    pages: int


def audit_events(session, admin: User, filters: AuditFilters, page: int) -> AuditPage:
    """Return one page of audit rows the admin may read, newest first."""
    require_admin(admin)

    query = select(AuditEvent)
    if not is_installation_admin(admin):
        query = query.where(AuditEvent.organisation_id == admin.organisation_id)
    if filters.organisation_id is not None:
        query = query.where(AuditEvent.organisation_id == filters.organisation_id)
    if filters.user:
        query = query.join(User, User.id == AuditEvent.user_id).where(
            func.lower(User.username).contains(filters.user.lower(), autoescape=True)
        )
    if filters.action:
        query = query.where(
            AuditEvent.action.startswith(filters.action, autoescape=True)
        )
    if filters.start is not None:
        query = query.where(AuditEvent.created_at >= clock.day_start(filters.start))
    if filters.end is not None:
        query = query.where(AuditEvent.created_at < clock.day_end(filters.end))

    total = session.scalar(select(func.count()).select_from(query.subquery()))
    pages = max(1, -(-total // AUDIT_PAGE_SIZE))
    page = min(max(page, 1), pages)
    events = session.scalars(
        query.options(selectinload(AuditEvent.user))
        .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
        .limit(AUDIT_PAGE_SIZE)
        .offset((page - 1) * AUDIT_PAGE_SIZE)
    )
    return AuditPage(events=list(events), total=total, page=page, pages=pages)


def audit_actions(session, admin: User) -> list[str]:
    """Return the actions present in the trail the admin may read."""
    query = select(AuditEvent.action).distinct().order_by(AuditEvent.action)
    if not is_installation_admin(admin):
        query = query.where(AuditEvent.organisation_id == admin.organisation_id)
    return list(session.scalars(query))
