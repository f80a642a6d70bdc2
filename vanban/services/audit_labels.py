"""Vietnamese labels of the audit trail: actions, recorded fields, their values
and the documents that rows are about.

Document actions take their timeline labels from `workflow.ACTION_LABELS`;
this module adds the actions that are not about one document.
"""

import re
from datetime import UTC, date, datetime

from vanban.models import Document
from vanban.services import workflow
from vanban.services.clock import local
from vanban.services.doctypes import ROLE_LABELS, SECRECY_LABELS, URGENCY_LABELS
from vanban.services.register_settings import SCOPE_LABELS

ORGANISATION_KIND_LABELS = {
    "city": "UBND Thành phố",
    "center": "Đơn vị trực thuộc Thành phố",
    "ward": "UBND phường, xã",
}

ACTION_LABELS = {
    **workflow.ACTION_LABELS,
    "login": "Đăng nhập",
    "failed_login": "Đăng nhập không thành công",
    "logout": "Đăng xuất",
    "password.changed": "Đổi mật khẩu",
    "settings.organisation.create": "Thêm đơn vị",
    "settings.organisation.update": "Sửa đơn vị",
    "settings.organisation.activate": "Cho đơn vị hoạt động lại",
    "settings.organisation.deactivate": "Ngừng hoạt động đơn vị",
    "settings.organisation.import": "Nhập phường, xã",
    "settings.department.create": "Thêm phòng ban",
    "settings.department.update": "Sửa phòng ban",
    "settings.department.activate": "Cho phòng ban hoạt động lại",
    "settings.department.deactivate": "Ngừng hoạt động phòng ban",
    "settings.user.create": "Thêm người dùng",
    "settings.user.update": "Sửa người dùng",
    "settings.user.activate": "Mở khóa người dùng",
    "settings.user.deactivate": "Khóa người dùng",
    "settings.user.reset_password": "Đặt lại mật khẩu người dùng",
    "settings.doctype.create": "Thêm loại văn bản",
    "settings.doctype.update": "Sửa loại văn bản",
    "settings.holidays.update": "Sửa ngày nghỉ, ngày làm bù",
    "settings.holidays.delete": "Xóa ngày nghỉ, ngày làm bù",
    "settings.deadline_rules.update": "Sửa quy tắc hạn xử lý",
    "settings.deadline_rules.delete": "Xóa quy tắc hạn xử lý",
    "settings.series.create": "Thêm sổ văn bản",
    "settings.series.update": "Sửa sổ văn bản",
    "settings.trial.update": "Sửa cấu hình thử nghiệm",
    "register.close": "Đóng sổ văn bản",
    "register.reopen": "Mở lại sổ văn bản",
    "register.number.void": "Hủy số văn bản",
    "trial.prepare": "Chuẩn bị thử nghiệm",
    "trial.reset": "Đặt lại dữ liệu thử nghiệm",
    "hub_organisation_added": "Thêm đơn vị vào trục liên thông",
    "hub_token_issued": "Cấp mã truy cập trục liên thông",
    "hub_organisation_activated": "Cho đơn vị kết nối lại trục liên thông",
    "hub_organisation_deactivated": "Ngừng kết nối đơn vị với trục liên thông",
    "outbox_requeued": "Gửi lại văn bản liên thông",
    "outbox_copy_sent": "Gửi bản mới cho nơi nhận đã từ chối",
    "exchange_synced": "Đồng bộ với trục liên thông",
    "connector_settings_saved": "Sửa kết nối trục liên thông",
}
UNKNOWN_SETTING = "Thay đổi cấu hình"
UNKNOWN_ACTION = "Thao tác khác"
# Deletions recorded before they had actions of their own: the update action,
# with the deleted values before and None after.
LEGACY_DELETE_ACTIONS = {
    "settings.holidays.update": "settings.holidays.delete",
    "settings.deadline_rules.update": "settings.deadline_rules.delete",
}

FIELD_LABELS = {
    "id": "Mã số",
    "name": "Tên",
    "code": "Mã định danh",
    "abbreviation": "Chữ viết tắt",
    "kind": "Loại",
    "unit_code": "Mã đơn vị hành chính",
    "parent_id": "Trực thuộc",
    "active": "Đang hoạt động",
    "username": "Tên đăng nhập",
    "full_name": "Họ và tên",
    "position": "Chức vụ",
    "email": "Thư điện tử",
    "department_id": "Phòng ban",
    "roles": "Vai trò",
    "must_change_password": "Phải đổi mật khẩu",
    "secret_clearance": "Được xem văn bản mật",
    "day": "Ngày",
    "note": "Ghi chú",
    "type_name": "Loại văn bản",
    "urgency": "Độ khẩn",
    "working_days": "Số ngày làm việc",
    "direction": "Sổ",
    "scope": "Phạm vi",
    "secret": "Văn bản mật",
    "type_names": "Các loại văn bản",
    "symbol_pattern": "Mẫu ký hiệu",
    "year": "Năm",
    "closed": "Đã đóng sổ",
    "closed_at": "Thời điểm đóng sổ",
    "start": "Ngày bắt đầu",
    "end": "Ngày kết thúc",
    "subject_prefix": "Phần đầu bắt buộc của trích yếu",
    "stuck_hours": "Ngưỡng cảnh báo (giờ)",
    "state": "Trạng thái",
    "advisor": "Người tham mưu",
    "recipient": "Nơi nhận",
    "exchange_id": "Mã văn bản liên thông",
    "hub_url": "Địa chỉ trục liên thông",
    "poll_interval_seconds": "Chu kỳ hỏi trục (giây)",
    "enabled": "Đang bật",
    "token_changed": "Đổi mã truy cập",
    "advisor_id": "Người tham mưu (mã số)",
}
UNKNOWN_FIELD = "Thông tin khác"

# Reasons for a failed login, as `accounts.authenticate` records them.
LOGIN_FAILURE_LABELS = {
    "unknown_user": "Không có tên đăng nhập này",
    "wrong_password": "Sai mật khẩu",
    "user_inactive": "Tài khoản đã bị khóa",
    "organisation_inactive": "Đơn vị đã ngừng hoạt động",
}

# A document's state, recorded as the value before or after an action. An
# action that also records a person stores the state under "state".
STATE_LABELS = {**workflow.INCOMING_STATES, **workflow.OUTGOING_STATES}
# Labels of coded values, keyed by the field that contains them.
VALUE_LABELS = {
    "kind": {**ORGANISATION_KIND_LABELS, "off": "Ngày nghỉ", "work": "Ngày làm việc"},
    "direction": {"incoming": "Văn bản đến", "outgoing": "Văn bản đi"},
    "scope": SCOPE_LABELS,
    "urgency": URGENCY_LABELS,
    "roles": ROLE_LABELS,
    "state": STATE_LABELS,
}


def action_label(action: str) -> str:
    if action in ACTION_LABELS:
        return ACTION_LABELS[action]
    return UNKNOWN_SETTING if action.startswith("settings.") else UNKNOWN_ACTION


def event_action_label(action: str, detail: dict | None) -> str:
    """Label an audit row's action, naming a deletion recorded as an update."""
    detail = detail or {}
    deleted = detail.get("before") and "after" in detail and detail["after"] is None
    if deleted and action in LEGACY_DELETE_ACTIONS:
        action = LEGACY_DELETE_ACTIONS[action]
    return action_label(action)


def field_label(key: str) -> str:
    return FIELD_LABELS.get(key, UNKNOWN_FIELD)


def value_label(key: str | None, value) -> str:
    """Return a recorded value as text, with a label in place of a known code."""
    if value is None:
        return "(trống)"
    if isinstance(value, bool):
        return "có" if value else "không"
    if isinstance(value, list):
        return ", ".join(value_label(key, item) for item in value)
    if isinstance(value, str):
        when = _date_text(value)
        if when is not None:
            return when
    labels = VALUE_LABELS.get(key, {}) if key else STATE_LABELS
    return str(labels.get(value, value))


_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_ISO_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def _date_text(value: str) -> str | None:
    """Return an ISO day as dd/mm/yyyy and an ISO instant in local time, else None.

    Audit rows store days and instants as `isoformat()` strings, instants in UTC.
    An instant without an offset is read as UTC.
    """
    try:
        if _ISO_DAY.fullmatch(value):
            return f"{date.fromisoformat(value):%d/%m/%Y}"
        if _ISO_INSTANT.match(value):
            instant = datetime.fromisoformat(value)
            if instant.tzinfo is None:
                instant = instant.replace(tzinfo=UTC)
            return f"{local(instant):%d/%m/%Y %H:%M}"
    except (ValueError, OverflowError):
        return None
    return None


# The document an audit row is about

# Shown in place of a secret document the viewer may not open. It names no
# secrecy level, number or subject.
SECRET_DOCUMENT = "Văn bản mật"
SUBJECT_EXCERPT_LENGTH = 90


def document_label(document: Document) -> str:
    """Name a document by its number and symbol (số, ký hiệu).

    An incoming document adds its số đến, or "chưa vào sổ" before registration.
    A document without a number is named by its id, which its page's URL ends with.
    """
    number = document.number_and_notation
    if document.direction == "outgoing":
        return f"Số {number}" if number else f"Dự thảo, mã số {document.id}"
    if document.register_number:
        if number:
            return f"Số {number}, số đến {document.register_number}"
        return f"Số đến {document.register_number}"
    if number:
        return f"Số {number}, chưa vào sổ"
    return f"Văn bản đến chưa vào sổ, mã số {document.id}"


def missing_document(document_id: int) -> str:
    return f"Văn bản mã số {document_id} không còn trong hệ thống"


def secrecy_label(secrecy: int) -> str:
    """Return the secrecy level of a secret document, or "" for an ordinary one."""
    return SECRECY_LABELS.get(secrecy, "") if secrecy else ""


def subject_excerpt(subject: str) -> str:
    """Shorten a subject (trích yếu) to about SUBJECT_EXCERPT_LENGTH characters.

    The cut falls between words where the text has a space near the limit.
    """
    subject = " ".join(subject.split())
    if len(subject) <= SUBJECT_EXCERPT_LENGTH:
        return subject
    cut = subject[:SUBJECT_EXCERPT_LENGTH]
    space = cut.rfind(" ")
    if space > SUBJECT_EXCERPT_LENGTH * 2 // 3:
        cut = cut[:space]
    return cut.rstrip(" ,.;:-") + "…"
