"""Reading documents: current files, versions, timeline."""

from sqlalchemy import select

from vanban.models import Attachment, AuditEvent, Document, DraftVersion, ReviewStep


def latest_version(session, document: Document) -> DraftVersion | None:
    return session.scalar(
        select(DraftVersion)
        .where(DraftVersion.document_id == document.id)
        .order_by(DraftVersion.version.desc())
        .limit(1)
    )


def current_attachments(session, document: Document) -> list[Attachment]:
    """Return the files that go out with the document: the latest version's."""
    version = latest_version(session, document)
    return [
        a
        for a in document.attachments
        if a.draft_version_id is None or (version and a.draft_version_id == version.id)
    ]


def versions(session, document: Document) -> list[DraftVersion]:
    return list(
        session.scalars(
            select(DraftVersion)
            .where(DraftVersion.document_id == document.id)
            .order_by(DraftVersion.version)
        )
    )


def timeline(session, document: Document) -> list[AuditEvent]:
    return list(
        session.scalars(
            select(AuditEvent)
            .where(AuditEvent.document_id == document.id)
            .order_by(AuditEvent.id)
        )
    )


def reviews(session, document: Document) -> list[ReviewStep]:
    return list(
        session.scalars(
            select(ReviewStep)
            .where(ReviewStep.document_id == document.id)
            .order_by(ReviewStep.id)
        )
    )


def replies(session, document: Document) -> list[Document]:
    """Return the drafts and issued documents that answer this incoming document."""
    return list(
        session.scalars(
            select(Document)
            .where(Document.reply_to_id == document.id)
            .order_by(Document.id)
        )
    )
