"""Document visibility rules, shared by views, lists and tests."""

from sqlalchemy import and_, exists, false, or_, select, true

from vanban.models import Assignment, Document, User
from vanban.services import trial, workflow

# Roles that see every document of their organisation, secret documents only
# with clearance (User.secret_clearance).
ORGANISATION_WIDE_ROLES = ("clerk", "advisor", "leader", "format_reviewer")


def visible_filter(user: User):
    """Return a WHERE clause selecting the documents the user may read."""
    own_org = Document.organisation_id == user.organisation_id
    if user.has_role(*ORGANISATION_WIDE_ROLES):
        return and_(own_org, secret_filter(user))
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
        conditions.append(_personally_involved(user))
    return and_(own_org, or_(*conditions), secret_filter(user))


def secret_filter(user: User):
    """Return a WHERE clause leaving out the secret documents hidden from the user.

    A cleared user passes every document. An uncleared user passes the
    documents without secrecy, and the secret ones they hold, wrote or were
    assigned by name. An assignment to their department does not count.
    """
    if user.secret_clearance:
        return true()
    return or_(Document.secrecy == 0, _personally_involved(user))


def _personally_involved(user: User):
    return or_(
        Document.holder_id == user.id,
        Document.author_id == user.id,
        exists(
            select(Assignment.id).where(
                Assignment.document_id == Document.id,
                Assignment.user_id == user.id,
            )
        ),
    )


def sees_whole_organisation(user: User) -> bool:
    """Tell whether visible_filter selects every document of the user's
    organisation, so that counts kept per organisation apply to the user."""
    return user.has_role(*ORGANISATION_WIDE_ROLES) and user.secret_clearance


def can_view(session, user: User, document: Document) -> bool:
    if trainer_reads(session, user, document):
        return True
    if document.organisation_id != user.organisation_id:
        return False
    query = select(Document.id).where(Document.id == document.id, visible_filter(user))
    return session.scalar(query) is not None


def rejection_status(session, user: User, document: Document) -> int:
    """Return the HTTP status that rejects a document the user may not read.

    A secret document returns 404 to the users of its organisation and to the
    trainers of its ward, so that the response does not confirm it exists.
    Other rejections return 403. Because a user of another organisation gets
    403 for every document, the status reveals nothing about its secrecy.
    """
    if document.secrecy > 0 and (
        document.organisation_id == user.organisation_id
        or _trainer_follows(session, user, document)
    ):
        return 404
    return 403


def conceals(session, user: User, document: Document) -> bool:
    """Tell whether the document is secret and hidden from the user, so that
    pages listing it for another reason must not show its subject."""
    if document.secrecy == 0 or user.secret_clearance:
        return False
    query = select(Document.id).where(Document.id == document.id, secret_filter(user))
    return session.scalar(query) is None


def trainer_reads(session, user: User, document: Document) -> bool:
    """Tell whether a trainer reads a document of a ward taking part in the trial.

    Such access is read-only: workflow actions need the document's own
    organisation, and the trial blueprint rejects every POST on the document.
    A trainer reads a secret document only with clearance.
    """
    return _trainer_follows(session, user, document) and (
        document.secrecy == 0 or user.secret_clearance
    )


def _trainer_follows(session, user: User, document: Document) -> bool:
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
    return and_(
        Document.organisation_id == user.organisation_id,
        or_(*conditions),
        secret_filter(user),
    )
