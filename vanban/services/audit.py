"""Audit trail: one row for every action a user or the system takes."""

import logging

from vanban.models import AuditEvent, Document, User
from vanban.services import notifications

logger = logging.getLogger(__name__)


def record(
    session,
    action: str,
    *,
    user: User | None = None,
    document: Document | None = None,
    organisation_id: int | None = None,
    **detail,
) -> AuditEvent:
    """Add an audit row in the caller's transaction."""
    if document is not None and document.id is None:
        session.flush()
    if organisation_id is None:
        if document is not None:
            organisation_id = document.organisation_id
        elif user is not None:
            organisation_id = user.organisation_id
    event = AuditEvent(
        action=action,
        user_id=user.id if user else None,
        document_id=document.id if document else None,
        organisation_id=organisation_id,
        detail=detail,
    )
    session.add(event)
    logger.info(
        "audit %s document=%s by user %s",
        action,
        document.id if document else None,
        user.id if user else None,
    )
    # Every audited action passes here, so this one call notifies each user of
    # the documents handed to them, in the same transaction as the action.
    notifications.notify_for_event(session, action, user, document)
    return event
