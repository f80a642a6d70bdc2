"""The two state machines, written as data: incoming handling and outgoing drafts.

Views ask `allowed_actions` which buttons to show; every service action calls
`require` again before it changes anything.
"""

import logging
from dataclasses import dataclass

from sqlalchemy import select

from vanban.models import Department, Document, User, UserRole
from vanban.services import Conflict, Forbidden, ServiceError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Transition:
    name: str
    label: str
    direction: str
    sources: tuple[str, ...]
    targets: tuple[str, ...]
    role: str
    # Who among the role may act: anyone holding it in the organisation, only
    # the user the document is with, or only the head of its department.
    actor: str = "role"
    # Processing status reported to the sender (incoming documents only).
    status_code: str | None = None


INCOMING_STATES = {
    "arrived": "Chờ vào sổ",
    "registered": "Đã vào sổ, chờ chuyển tham mưu",
    "with_advisor": "Chờ đề xuất xử lý",
    "with_leader": "Chờ lãnh đạo phân công",
    "with_head": "Chờ lãnh đạo phòng phân công",
    "with_officer": "Chờ chuyên viên xử lý",
    "in_progress": "Đang xử lý",
    "replying": "Đang soạn văn bản trả lời",
    "done": "Hoàn thành",
    "returned": "Đã trả lại nơi gửi",
    # Revoked by its sender (vanban.services.changes); no action leads on.
    "revoked": "Đã thu hồi",
}
OUTGOING_STATES = {
    "drafting": "Đang soạn thảo",
    "head_review": "Chờ lãnh đạo phòng duyệt",
    "format_review": "Chờ kiểm soát thể thức",
    "leader_review": "Chờ lãnh đạo UBND phê duyệt",
    "approved": "Đã duyệt, chờ phát hành",
    "issued": "Đã phát hành",
    "revoked": "Đã thu hồi",
}

TRANSITIONS = (
    Transition(
        "register",
        "Vào sổ văn bản đến",
        "incoming",
        ("arrived",),
        ("registered",),
        "clerk",
        status_code="03",
    ),
    Transition(
        "return",
        "Trả lại nơi gửi",
        "incoming",
        ("arrived",),
        ("returned",),
        "clerk",
        status_code="02",
    ),
    Transition(
        "forward",
        "Chuyển tham mưu",
        "incoming",
        ("registered",),
        ("with_advisor",),
        "clerk",
    ),
    Transition(
        "propose",
        "Đề xuất xử lý",
        "incoming",
        ("with_advisor",),
        ("with_leader",),
        "advisor",
    ),
    Transition(
        "instruct",
        "Bút phê và phân công",
        "incoming",
        ("with_leader",),
        ("with_head", "with_officer"),
        "leader",
        status_code="04",
    ),
    Transition(
        "assign",
        "Giao chuyên viên xử lý",
        "incoming",
        ("with_head",),
        ("with_officer",),
        "head",
        actor="department_head",
    ),
    Transition(
        "start",
        "Bắt đầu xử lý",
        "incoming",
        ("with_officer",),
        ("in_progress",),
        "officer",
        actor="holder",
        status_code="05",
    ),
    Transition(
        "finish",
        "Kết thúc xử lý",
        "incoming",
        ("with_officer", "in_progress"),
        ("done",),
        "officer",
        actor="holder",
        status_code="06",
    ),
    Transition(
        "draft_reply",
        "Soạn văn bản trả lời",
        "incoming",
        ("with_officer", "in_progress"),
        ("replying",),
        "officer",
        actor="holder",
    ),
    Transition(
        "revise",
        "Sửa dự thảo",
        "outgoing",
        ("drafting",),
        ("drafting",),
        "officer",
        actor="holder",
    ),
    Transition(
        "submit",
        "Trình lãnh đạo phòng",
        "outgoing",
        ("drafting",),
        ("head_review",),
        "officer",
        actor="holder",
    ),
    Transition(
        "head_return",
        "Trả lại chuyên viên",
        "outgoing",
        ("head_review",),
        ("drafting",),
        "head",
        actor="department_head",
    ),
    Transition(
        "initial",
        "Ký nháy và trình",
        "outgoing",
        ("head_review",),
        ("format_review", "leader_review"),
        "head",
        actor="department_head",
    ),
    Transition(
        "format_pass",
        "Đạt thể thức, trình lãnh đạo",
        "outgoing",
        ("format_review",),
        ("leader_review",),
        "format_reviewer",
    ),
    Transition(
        "format_return",
        "Trả lại để sửa thể thức",
        "outgoing",
        ("format_review",),
        ("drafting",),
        "format_reviewer",
    ),
    Transition(
        "approve", "Phê duyệt", "outgoing", ("leader_review",), ("approved",), "leader"
    ),
    Transition(
        "leader_return",
        "Trả lại dự thảo",
        "outgoing",
        ("leader_review",),
        ("drafting",),
        "leader",
    ),
    Transition(
        "issue", "Vào sổ và phát hành", "outgoing", ("approved",), ("issued",), "clerk"
    ),
)
BY_NAME = {t.name: t for t in TRANSITIONS}
# Timeline wording for every audited action, transitions included.
ACTION_LABELS = {
    **{t.name: t.label for t in TRANSITIONS},
    "format_return": "Trả lại để sửa thể thức",
    "received": "Nhận văn bản điện tử",
    "status_received": "Nơi nhận cập nhật trạng thái",
    "draft_created": "Tạo dự thảo",
    "composed": "Nhập văn bản đi",
    "replied": "Hoàn thành bằng văn bản trả lời",
    "revoke_sent": "Thu hồi văn bản đã phát hành",
    "update_sent": "Gửi cập nhật văn bản",
    "replace_sent": "Thay thế bằng văn bản khác",
    "revoked_by_sender": "Nơi gửi thu hồi văn bản",
    "updated_by_sender": "Nơi gửi cập nhật văn bản",
    "replaced_by_sender": "Nơi gửi thay thế văn bản",
}


def state_label(document: Document) -> str:
    states = INCOMING_STATES if document.direction == "incoming" else OUTGOING_STATES
    return states.get(document.state, document.state)


def _actor_matches(user: User, document: Document, transition: Transition) -> bool:
    if transition.actor == "holder":
        return document.holder_id == user.id
    if transition.actor == "department_head":
        return (
            document.department_id is not None
            and user.department_id == document.department_id
        )
    return True


def may(user: User, document: Document, name: str) -> bool:
    """Tell whether the user may take the named action on the document now."""
    transition = BY_NAME[name]
    return (
        user.organisation_id == document.organisation_id
        and document.direction == transition.direction
        and document.state in transition.sources
        and user.has_role(transition.role)
        and _actor_matches(user, document, transition)
    )


def allowed_actions(user: User, document: Document) -> list[Transition]:
    return [t for t in TRANSITIONS if may(user, document, t.name)]


def require(user: User, document: Document, name: str) -> Transition:
    """Return the transition or raise: Forbidden for the wrong user, Conflict for
    the wrong state."""
    transition = BY_NAME[name]
    if may(user, document, name):
        return transition
    allowed_by_role = (
        user.organisation_id == document.organisation_id
        and document.direction == transition.direction
        and user.has_role(transition.role)
        and _actor_matches(user, document, transition)
    )
    if allowed_by_role:
        logger.warning(
            "action %s on document %s rejected in state %s for user %s",
            name,
            document.id,
            document.state,
            user.id,
        )
        raise Conflict(
            f"Không thể thực hiện “{transition.label}”: văn bản đang ở trạng thái "
            f"“{state_label(document)}”. Hãy tải lại trang để xem trạng thái mới."
        )
    logger.warning(
        "action %s on document %s forbidden for user %s", name, document.id, user.id
    )
    raise Forbidden(
        f"Bạn không có quyền thực hiện “{transition.label}” với văn bản này."
    )


# Role names as the rejection of a secret hand-over words them.
TAKER_LABELS = {
    "clerk": "văn thư",
    "advisor": "tham mưu",
    "leader": "lãnh đạo UBND",
    "head": "lãnh đạo phòng",
    "officer": "chuyên viên",
    "format_reviewer": "người kiểm soát văn bản",
}
# Actions whose form can name one person, who may then read the secret
# document: the form field and the advice added to the rejection.
NAMED_TAKER = {
    "forward": ("advisor", "hoặc chọn một người tham mưu cụ thể"),
    "instruct": ("lead", "hoặc giao chủ trì cho một chuyên viên cụ thể"),
}


def require_secret_reader(session, document: Document, action: str) -> None:
    """Raise ServiceError when no user who may take the secret document's
    next action may also read it, so that it would wait unseen.

    A user reads it when cleared, or when holding, writing or assigned it by
    name. The message names the role that needs clearance. Documents without
    secrecy pass without a query.
    """
    if document.secrecy == 0:
        return
    # Imported here because permissions reads TRANSITIONS from this module.
    from vanban.services import permissions

    pending = [
        t
        for t in TRANSITIONS
        if t.direction == document.direction and document.state in t.sources
    ]
    if not pending:
        return
    candidates = session.scalars(
        select(User)
        .join(UserRole, UserRole.user_id == User.id)
        .where(
            User.organisation_id == document.organisation_id,
            User.active.is_(True),
            UserRole.role.in_({t.role for t in pending}),
        )
        .distinct()
    )
    for candidate in candidates:
        if any(may(candidate, document, t.name) for t in pending):
            if permissions.can_view(session, candidate, document):
                return
    role = pending[0].role
    takers = TAKER_LABELS.get(role, role)
    # The relationship may still hold the department from before the action.
    department = (
        session.get(Department, document.department_id)
        if pending[0].actor == "department_head" and document.department_id
        else None
    )
    if department is not None:
        takers = f"{takers} nào của {department.name}"
    else:
        takers = f"{takers} nào"
    field, advice = NAMED_TAKER.get(action, (None, ""))
    logger.warning(
        "action %s on secret document %s rejected: no %s may read it",
        action,
        document.id,
        role,
    )
    raise ServiceError(
        f"Văn bản mật: chưa có {takers} được xem văn bản mật. Đề nghị quản trị "
        f"cấp quyền{' ' + advice if advice else ''}.",
        field=field,
    )
