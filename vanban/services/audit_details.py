"""Text of each audit page row: action, summary and the values before and after.

Ids of departments and organisations in the recorded values, and the hub
organisations that hub actions name, are shown by name. Each kind of name
loads in one query for the whole page.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select

from vanban.models import AuditEvent, Department, HubOrganisation, Organisation
from vanban.services import audit_labels

SYSTEM_ACTOR = "Hệ thống"
# A failed login has no signed-in user: the user name tried is in the summary.
ANONYMOUS_ACTOR = "Chưa đăng nhập"
NOTHING_DELETED = "Không có dữ liệu nào cần xóa"

# Recorded values as shown: (field label, value) pairs for a mapping, the text
# of a single value, or "" when nothing was recorded.
ShownValues = tuple[tuple[str, str], ...] | str


@dataclass(frozen=True)
class RowText:
    """Text of one audit page row, apart from its document."""

    actor: str
    action: str
    # Lines under the action about what it applied to, such as the hub
    # organisation or the counts of a trial reset.
    summary: tuple[str, ...]
    before: ShownValues
    after: ShownValues


@dataclass
class ReferencedNames:
    """Names of the rows that a page's recorded values refer to by id or code."""

    departments: dict[int, str] = field(default_factory=dict)
    organisations: dict[int, Organisation] = field(default_factory=dict)
    hub_organisations: dict[str, str] = field(default_factory=dict)


def row_texts(session, events: Sequence[AuditEvent]) -> dict[int, RowText]:
    """Map each audit row's id to its text, loading the names it refers to."""
    names = load_names(session, events)
    return {event.id: row_text(event, names) for event in events}


def load_names(session, events: Sequence[AuditEvent]) -> ReferencedNames:
    """Load the departments, organisations and hub organisations the rows name."""
    department_ids: set[int] = set()
    organisation_ids: set[int] = set()
    organ_ids: set[str] = set()
    for event in events:
        detail = event.detail or {}
        for state in (detail.get("before"), detail.get("after")):
            if isinstance(state, dict):
                department_ids |= _ids(state.get("department_id"))
                organisation_ids |= _ids(state.get("parent_id"))
        if event.action == "trial.prepare" and "wards" not in detail:
            organisation_ids |= _ids(detail.get("ward_ids"))
        if isinstance(detail.get("organ_id"), str):
            organ_ids.add(detail["organ_id"])

    names = ReferencedNames()
    if department_ids:
        rows = session.execute(
            select(Department.id, Department.name).where(
                Department.id.in_(department_ids)
            )
        )
        names.departments = {id_: name for id_, name in rows}
    if organisation_ids:
        organisations = session.scalars(
            select(Organisation).where(Organisation.id.in_(organisation_ids))
        )
        names.organisations = {org.id: org for org in organisations}
    if organ_ids:
        rows = session.execute(
            select(HubOrganisation.organ_id, HubOrganisation.name).where(
                HubOrganisation.organ_id.in_(organ_ids)
            )
        )
        names.hub_organisations = {code: name for code, name in rows}
    return names


def _ids(value) -> set[int]:
    """Return the integer ids in a recorded value: one id, a list of ids or None."""
    values = value if isinstance(value, list) else [value]
    return {
        item for item in values if isinstance(item, int) and not isinstance(item, bool)
    }


def row_text(event: AuditEvent, names: ReferencedNames) -> RowText:
    detail = event.detail or {}
    return RowText(
        actor=_actor(event),
        action=audit_labels.event_action_label(event.action, detail),
        summary=_summary(event.action, detail, names),
        before=_shown(detail.get("before"), names),
        after=_shown(detail.get("after"), names),
    )


def _actor(event: AuditEvent) -> str:
    if event.user is not None:
        return f"{event.user.full_name} ({event.user.username})"
    if event.action == "failed_login":
        return ANONYMOUS_ACTOR
    return SYSTEM_ACTOR


def _shown(state, names: ReferencedNames) -> ShownValues:
    if isinstance(state, dict):
        return tuple(
            (audit_labels.field_label(key), value_text(key, value, names))
            for key, value in state.items()
        )
    if state is None:
        return ""
    return audit_labels.value_label(None, state)


def value_text(key: str, value, names: ReferencedNames) -> str:
    """Return a recorded value as text, with a name in place of a known id."""
    if key == "department_id" and _ids(value):
        return names.departments.get(value) or f"Phòng ban mã số {value}"
    if key == "parent_id" and _ids(value):
        organisation = names.organisations.get(value)
        return organisation.name if organisation else f"Đơn vị mã số {value}"
    return audit_labels.value_label(key, value)


# Summaries of actions that record no values before and after


def _summary(action: str, detail: dict, names: ReferencedNames) -> tuple[str, ...]:
    # The hub page's actions name the directory entry by its `organ_id`.
    if isinstance(detail.get("organ_id"), str):
        return _hub_summary(detail["organ_id"], names)
    if action == "trial.reset":
        return _reset_summary(detail)
    if action == "trial.prepare":
        return _prepare_summary(detail, names)
    if action == "failed_login":
        return _failed_login_summary(detail)
    return ()


def _hub_summary(organ_id: str, names: ReferencedNames) -> tuple[str, ...]:
    name = names.hub_organisations.get(organ_id)
    if name is None:
        return (f"Mã định danh {organ_id}",)
    return (f"{name} ({organ_id})",)


def _reset_summary(detail: dict) -> tuple[str, ...]:
    deleted = len(detail.get("deleted_document_ids") or [])
    kept = len(detail.get("kept_document_ids") or [])
    text = f"Đã xóa {deleted} văn bản" if deleted else NOTHING_DELETED
    if kept:
        text += f", giữ {kept} văn bản đã phát hành chính thức"
    return (text,)


def _prepare_summary(detail: dict, names: ReferencedNames) -> tuple[str, ...]:
    """Name the prepared wards and count the accounts given a one-time password.

    Rows recorded before the ward names were added hold only `ward_ids`, which
    are looked up. A ward deleted since is shown by its id.
    """
    wards = detail.get("wards")
    if isinstance(wards, list):
        labels = [
            f"{ward.get('name')} ({ward.get('code')})"
            for ward in wards
            if isinstance(ward, dict)
        ]
    else:
        labels = []
        for ward_id in sorted(_ids(detail.get("ward_ids"))):
            ward = names.organisations.get(ward_id)
            labels.append(
                f"{ward.name} ({ward.code})" if ward else f"Đơn vị mã số {ward_id}"
            )
    lines = []
    if labels:
        lines.append("Phường, xã: " + ", ".join(labels))
    created = len(detail.get("created") or [])
    renewed = len(detail.get("new_passwords") or [])
    if created:
        lines.append(f"Tạo {created} tài khoản mới")
    if renewed:
        lines.append(f"Cấp mật khẩu mới cho {renewed} tài khoản")
    return tuple(lines)


def _failed_login_summary(detail: dict) -> tuple[str, ...]:
    lines = [f"Tên đăng nhập: {detail.get('username', '')}"]
    reason = audit_labels.LOGIN_FAILURE_LABELS.get(detail.get("reason"))
    if reason:
        lines.append(reason)
    return tuple(lines)
