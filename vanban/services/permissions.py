"""Document visibility rules, shared by views, lists and tests."""

from sqlalchemy import and_, exists, false, or_, select

from vanban.models import Assignment, Document, User
from vanban.services import trial, workflow

# Roles that see every document of their organisation.
ORGANISATION_WIDE_ROLES = ("clerk", "advisor", "leader", "format_reviewer")


def visible_filter(user: User):
    """Return a WHERE clause selecting the documents the user may read."""
    own_org = Document.organisation_id == user.organisation_id
    if user.has_role(*ORGANISATION_WIDE_ROLES):
        return own_org
    conditions = [false()]
    if user.has_role("head") and user.department_id is not None:
        conditions.append(Document.department_id == user.department_id)
        conditions.append(
            exists(
                select(Assignment.id).where(
                    Assignment.document_id == Document.id,
                    Assignment.department_id == user.department_id,
                )
            )
        )
    if user.has_role("officer"):
        conditions.append(Document.holder_id == user.id)
        conditions.append(Document.author_id == user.id)
        conditions.append(
            exists(
                select(Assignment.id).where(
                    Assignment.document_id == Document.id,
                    Assignment.user_id == user.id,
                )
            )
        )
    # NOTE: secret documents (độ mật) are not yet limited to cleared users.
    return and_(own_org, or_(*conditions))


def can_view(session, user: User, document: Document) -> bool:
    if trainer_reads(session, user, document):
        return True
    if document.organisation_id != user.organisation_id:
        return False
    query = select(Document.id).where(Document.id == document.id, visible_filter(user))
    return session.scalar(query) is not None


def trainer_reads(session, user: User, document: Document) -> bool:
    """Tell whether a trainer reads a document of a ward taking part in the trial.

    Such access is read-only: workflow actions need the document's own
    organisation, and the trial blueprint rejects every POST on the document.
    """
    return (
        user.has_role("trainer")
        and document.organisation_id != user.organisation_id
        and trial.is_participant(session, document.organisation_id)
    )


def actionable_filter(user: User):
    """Return a WHERE clause for documents waiting for this user's action."""
    conditions = [false()]
    for transition in workflow.TRANSITIONS:
        if not user.has_role(transition.role) or transition.name == "revise":
            continue
        clause = and_(
            Document.direction == transition.direction,
            Document.state.in_(transition.sources),
        )
        if transition.actor == "holder":
            clause = and_(clause, Document.holder_id == user.id)
        elif transition.actor == "department_head":
            if user.department_id is None:
                continue
            clause = and_(clause, Document.department_id == user.department_id)
        conditions.append(clause)
    return and_(Document.organisation_id == user.organisation_id, or_(*conditions))
