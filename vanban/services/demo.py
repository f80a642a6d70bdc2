"""Demo data: the city's two units and five real wards of Hà Nội, with accounts."""

import logging
from collections.abc import Collection
from datetime import timedelta
from importlib import resources

from sqlalchemy import select

from vanban.models import (
    Department,
    Document,
    NumberSeries,
    Organisation,
    User,
    UserRole,
)
from vanban.services import accounts, deadlines, drafts, files, outbox, trial, units
from vanban.services.clock import local_today
from vanban.services.register_books import SECRET_READER_ROLES
from vanban.services.text import fold

logger = logging.getLogger(__name__)

DEMO_PASSWORD = "VanBan@2026"
PROVINCE_CODE = "01"
# Real wards of Hà Nội with their official GSO codes (packaged units list).
WARD_CODES = ("00004", "00008", "00025", "00070", "00082")
WARD_DEPARTMENTS = (
    ("Văn phòng HĐND-UBND", "VP"),
    ("Phòng Kinh tế", "KT"),
    ("Phòng Văn hóa - Xã hội", "VHXH"),
)
# (user name suffix, role, department abbreviation, position, placeholder name)
WARD_ACCOUNTS = (
    ("vanthu", "clerk", "VP", "Văn thư", "Nguyễn Thị A"),
    ("thammuu", "advisor", "VP", "Chuyên viên Văn phòng HĐND-UBND", "Trần Văn B"),
    ("chutich", "leader", None, "Chủ tịch UBND", "Lê Văn C"),
    ("truongphong", "head", "KT", "Trưởng phòng Kinh tế", "Phạm Thị D"),
    ("chuyenvien", "officer", "KT", "Chuyên viên Phòng Kinh tế", "Hoàng Văn E"),
    ("kiemsoat", "format_reviewer", "VP", "Kiểm soát văn bản", "Vũ Thị G"),
    ("quantri", "admin", "VP", "Quản trị hệ thống", "Đỗ Văn H"),
)
TRIAL_GUIDE = "thanhpho_kich-ban-thu-nghiem.pdf"
TRIAL_GUIDE_SUBJECT = (
    "Kịch bản hướng dẫn quy trình xử lý văn bản thử nghiệm trên hệ thống Quản lý "
    "văn bản và Điều hành Thành phố theo mô hình hai cấp"
)


def starts_cleared(roles: Collection[str]) -> bool:
    """Tell whether a new demo or trial account with these roles starts
    cleared to read secret documents.

    Clerks and chairmen keep and read the secret registers
    (SECRET_READER_ROLES), so they start cleared, as migration 0015 cleared the
    existing ones. An admin clears anyone else.
    """
    return any(role in SECRET_READER_ROLES for role in roles)


def ward_slug(name: str) -> str:
    """Turn "Phường Ba Đình" into "badinh" for demo user names."""
    for prefix in ("phuong ", "xa ", "dac khu "):
        folded = fold(name)
        if folded.startswith(prefix):
            folded = folded.removeprefix(prefix)
            break
    return "".join(ch for ch in folded if ch.isalnum())


def _organisation(session, code: str, **fields) -> Organisation:
    organisation = session.scalar(select(Organisation).where(Organisation.code == code))
    if organisation is None:
        organisation = Organisation(code=code, **fields)
        session.add(organisation)
        session.flush()
        _add_series(session, organisation)
    return organisation


def _add_series(session, organisation: Organisation) -> None:
    for direction, name, scope, secret in (
        ("incoming", "Sổ văn bản đến", "all", False),
        ("incoming", "Sổ văn bản đến mật", "all", True),
        ("outgoing", "Sổ công văn đi", "cong_van", False),
        ("outgoing", "Sổ văn bản đi có tên loại", "typed", False),
        ("outgoing", "Sổ văn bản đi mật", "all", True),
    ):
        session.add(
            NumberSeries(
                organisation_id=organisation.id,
                direction=direction,
                name=name,
                scope=scope,
                secret=secret,
            )
        )


def _department(
    session, organisation: Organisation, name: str, abbreviation: str
) -> Department:
    department = session.scalar(
        select(Department).where(
            Department.organisation_id == organisation.id,
            Department.abbreviation == abbreviation,
        )
    )
    if department is None:
        department = Department(
            organisation_id=organisation.id, name=name, abbreviation=abbreviation
        )
        session.add(department)
        session.flush()
    return department


_password_hashes: dict[str, str] = {}


def _demo_password_hash() -> str:
    # Hashing is deliberately slow, so one hash serves every demo account.
    if "demo" not in _password_hashes:
        _password_hashes["demo"] = accounts.hash_password(DEMO_PASSWORD)
    return _password_hashes["demo"]


def _user(
    session,
    username: str,
    full_name: str,
    organisation: Organisation,
    department: Department | None,
    roles: tuple[str, ...],
    position: str = "",
) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        user = User(
            username=username,
            full_name=full_name,
            position=position,
            email=f"{username}@example.invalid",
            password_hash=_demo_password_hash(),
            organisation_id=organisation.id,
            department_id=department.id if department else None,
            secret_clearance=starts_cleared(roles),
        )
        user.role_grants = [UserRole(role=role) for role in roles]
        session.add(user)
        session.flush()
    return user


# The parts `seed` can load: everything, or only one side of a two-installation
# trial, where the city's installation and the wards' installation exchange
# documents through the city hub.
SEED_PARTS = ("all", "city", "wards")


def seed(session, only: str = "all", ward_slugs: Collection[str] = ()) -> dict:
    """Load the demo data; a second run finds everything in place and adds nothing.

    `only="city"` loads the city's two units and their accounts, and no wards.
    `only="wards"` loads the wards and their accounts, with the city's two
    units as organisations without accounts, so that wards can address them.
    `ward_slugs` (such as "badinh") limits the wards to those named. The trial
    guide is issued only when everything is loaded.
    """
    if only not in SEED_PARTS:
        raise ValueError(f"only must be one of {SEED_PARTS}, not {only!r}")
    unknown = set(ward_slugs) - set(demo_ward_slugs())
    if unknown:
        raise ValueError(
            f"unknown demo wards {sorted(unknown)}; choose from {demo_ward_slugs()}"
        )
    city, center, city_clerk = _seed_city(session, with_accounts=only != "wards")
    wards = []
    if only != "city":
        wards = _seed_wards(session, city, ward_slugs)
    if trial.window(session) is None:
        today = local_today()
        trial.set_window(session, today, today + timedelta(days=180))
    session.flush()
    issued = False
    if only == "all":
        issued = _issue_trial_guide(session, city_clerk, wards)
    session.commit()
    outbox.deliver_pending(session)
    session.commit()
    return {"organisations": 2 + len(wards), "trial_guide_issued": issued}


def _seed_city(
    session, with_accounts: bool
) -> tuple[Organisation, Organisation, User | None]:
    """Load the city and its Center; return them and the city clerk, if loaded."""
    province = units.find_province(PROVINCE_CODE)
    city_name = province["FullName"]
    # NOTE: electronic identifiers (mã định danh) come from the city's directory,
    # which the demo does not have; these codes are placeholders of that shape.
    city = _organisation(
        session,
        "000.00.00.H01",
        name=f"UBND {city_name}",
        abbreviation="UBND",
        kind="city",
        unit_code=PROVINCE_CODE,
    )
    center = _organisation(
        session,
        "000.01.00.H01",
        name="Trung tâm Truyền thông, Dữ liệu và Công nghệ số",
        abbreviation="TTTTDL",
        kind="center",
        parent_id=city.id,
    )
    if not with_accounts:
        return city, center, None

    city_office = _department(session, city, "Văn phòng UBND Thành phố", "VP")
    center_office = _department(session, center, "Phòng Hành chính", "HC")
    city_clerk = _user(
        session,
        "thanhpho.vanthu",
        "Nguyễn Thị K (Thành phố)",
        city,
        city_office,
        ("clerk",),
        "Văn thư",
    )
    _user(
        session,
        "thanhpho.quantri",
        "Trần Văn L (Thành phố)",
        city,
        city_office,
        ("admin",),
        "Quản trị hệ thống",
    )
    _user(
        session,
        "tttt.vanthu",
        "Lê Thị M (Trung tâm)",
        center,
        center_office,
        ("clerk",),
        "Văn thư",
    )
    _user(
        session,
        "tttt.huongdan",
        "Phạm Văn N (Trung tâm)",
        center,
        center_office,
        ("trainer",),
        "Chuyên viên",
    )
    return city, center, city_clerk


def _seed_wards(
    session, city: Organisation, ward_slugs: Collection[str]
) -> list[Organisation]:
    """Load the demo wards, or those named in `ward_slugs`, with their accounts."""
    selected = set(ward_slugs)
    wards = []
    for index, code in enumerate(WARD_CODES, start=1):
        ward_data = units.find_ward(PROVINCE_CODE, code)
        slug = ward_slug(ward_data["FullName"])
        if selected and slug not in selected:
            continue
        ward = _organisation(
            session,
            f"000.{index:02d}.01.H01",
            name=f"UBND {ward_data['FullName']}",
            abbreviation="UBND",
            kind="ward",
            unit_code=code,
            parent_id=city.id,
        )
        wards.append(ward)
        departments = {
            abbr: _department(session, ward, name, abbr)
            for name, abbr in WARD_DEPARTMENTS
        }
        deadlines.seed_default_rules(session, ward.id)
        short = ward_data["FullName"]
        for suffix, role, department, position, name in WARD_ACCOUNTS:
            _user(
                session,
                f"{slug}.{suffix}",
                f"{name} ({short})",
                ward,
                departments.get(department),
                (role,),
                position,
            )
    return wards


def demo_ward_slugs() -> list[str]:
    """Return the user-name prefixes of the demo wards, such as "badinh"."""
    return [
        ward_slug(units.find_ward(PROVINCE_CODE, code)["FullName"])
        for code in WARD_CODES
    ]


def _issue_trial_guide(session, clerk: User, wards: list[Organisation]) -> bool:
    exists = session.scalar(
        select(Document.id).where(
            Document.organisation_id == clerk.organisation_id,
            Document.subject == TRIAL_GUIDE_SUBJECT,
        )
    )
    if exists is not None:
        return False
    source = resources.files("vanban").joinpath(f"data/demo/{TRIAL_GUIDE}")
    with source.open("rb") as stream:
        stored = files.store(stream, TRIAL_GUIDE)
    document = drafts.compose(
        session,
        clerk,
        type_name="Hướng dẫn",
        subject=TRIAL_GUIDE_SUBJECT,
        description="Kịch bản 01 và 02 thử nghiệm trao đổi văn bản điện tử.",
        signer_name="Hoàng Văn P",
        signer_position="Giám đốc",
        urgency=1,
        secrecy=0,
        due_date=local_today() + timedelta(days=7),
        files=[stored],
    )
    drafts.issue(
        session,
        clerk,
        document,
        subject=TRIAL_GUIDE_SUBJECT,
        recipient_ids=[w.id for w in wards],
    )
    return True
