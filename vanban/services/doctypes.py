"""Document types and abbreviations from Nghị định 30/2020/NĐ-CP, Phụ lục III.

The list ships with the code and is copied into the `document_types` table,
where the city's admin edits it. `ABBREVIATIONS` and `TYPE_CHOICES` list the
active types, offered for new documents. `ALL_TYPE_CHOICES` lists every type,
turned off or not, for filters over documents already recorded. `refresh`,
which runs before each request, keeps the three in step with the table.
"""

import logging
import time

from sqlalchemy import select

logger = logging.getLogger(__name__)

# (name, abbreviation); công văn has no abbreviation and is numbered in its own series.
DOCUMENT_TYPES = (
    ("Công văn", ""),
    ("Nghị quyết", "NQ"),
    ("Quyết định", "QĐ"),
    ("Chỉ thị", "CT"),
    ("Quy chế", "QC"),
    ("Quy định", "QyĐ"),
    ("Thông cáo", "TC"),
    ("Thông báo", "TB"),
    ("Hướng dẫn", "HD"),
    ("Chương trình", "CTr"),
    ("Kế hoạch", "KH"),
    ("Phương án", "PA"),
    ("Đề án", "ĐA"),
    ("Dự án", "DA"),
    ("Báo cáo", "BC"),
    ("Biên bản", "BB"),
    ("Tờ trình", "TTr"),
    ("Hợp đồng", "HĐ"),
    ("Công điện", "CĐ"),
    ("Bản ghi nhớ", "BGN"),
    ("Bản thỏa thuận", "BTT"),
    ("Giấy ủy quyền", "GUQ"),
    ("Giấy mời", "GM"),
    ("Giấy giới thiệu", "GGT"),
    ("Giấy nghỉ phép", "GNP"),
    ("Phiếu gửi", "PG"),
    ("Phiếu chuyển", "PC"),
    ("Phiếu báo", "PB"),
)
ABBREVIATIONS = dict(DOCUMENT_TYPES)
TYPE_CHOICES = [(name, name) for name, _ in DOCUMENT_TYPES]
ALL_TYPE_CHOICES = list(TYPE_CHOICES)

# Seconds a worker trusts its copy of the table before reading it again.
# NOTE: another worker process sees an admin's edit only after this delay, and
# code running outside a request (CLI, scheduler) keeps the list it last read.
REFRESH_SECONDS = 30
_loaded: dict = {"source": None, "at": 0.0}


def refresh(session, force: bool = False) -> None:
    """Update ABBREVIATIONS, TYPE_CHOICES and ALL_TYPE_CHOICES from the table.

    They are changed in place because forms and services hold references to
    them. An empty table (a database not yet migrated) keeps the shipped list.
    """
    from vanban.models import DocumentType

    source = str(session.get_bind().url)
    fresh = time.monotonic() - _loaded["at"] < REFRESH_SECONDS
    if not force and _loaded["source"] == source and fresh:
        return
    rows = session.execute(
        select(
            DocumentType.name, DocumentType.abbreviation, DocumentType.active
        ).order_by(DocumentType.position, DocumentType.id)
    ).all()
    if not rows:
        rows = [(name, abbreviation, True) for name, abbreviation in DOCUMENT_TYPES]
    pairs = [(name, abbreviation) for name, abbreviation, active in rows if active]
    ABBREVIATIONS.clear()
    ABBREVIATIONS.update(pairs)
    TYPE_CHOICES[:] = [(name, name) for name, _ in pairs]
    ALL_TYPE_CHOICES[:] = [(name, name) for name, _, _ in rows]
    _loaded.update(source=source, at=time.monotonic())


def is_known_type(name: str) -> bool:
    """Tell whether a type name is in the table, active or turned off."""
    return any(name == known for known, _ in ALL_TYPE_CHOICES)


def use_shipped() -> None:
    """Go back to the shipped list, as a process that never read the table has."""
    ABBREVIATIONS.clear()
    ABBREVIATIONS.update(DOCUMENT_TYPES)
    TYPE_CHOICES[:] = [(name, name) for name, _ in DOCUMENT_TYPES]
    ALL_TYPE_CHOICES[:] = TYPE_CHOICES
    _loaded.update(source=None, at=0.0)


def invalidate() -> None:
    """Make the next `refresh` read the table again."""
    _loaded["at"] = 0.0


URGENCY_LABELS = {
    0: "Thường",
    1: "Khẩn",
    2: "Thượng khẩn",
    3: "Hỏa tốc",
    4: "Hỏa tốc hẹn giờ",
}
SECRECY_LABELS = {0: "Thường", 1: "Mật", 2: "Tối mật", 3: "Tuyệt mật"}
STATUS_LABELS = {
    "01": "Đã đến",
    "02": "Từ chối tiếp nhận",
    "03": "Đã tiếp nhận",
    "04": "Phân công",
    "05": "Đang xử lý",
    "06": "Hoàn thành",
    "13": "Lấy lại",
    "15": "Đồng ý lấy lại/cập nhật",
    "16": "Từ chối lấy lại/cập nhật",
}
ROLE_LABELS = {
    "clerk": "Văn thư",
    "advisor": "Bộ phận tham mưu",
    "leader": "Lãnh đạo UBND",
    "head": "Lãnh đạo phòng",
    "officer": "Chuyên viên",
    "format_reviewer": "Kiểm soát văn bản",
    "admin": "Quản trị",
    "trainer": "Hướng dẫn thử nghiệm",
}
