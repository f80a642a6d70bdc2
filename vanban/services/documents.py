"""Reading documents: current files, versions, timeline."""

from sqlalchemy import select

from vanban.models import (
    Assignment,
    Attachment,
    AuditEvent,
    Document,
    DraftVersion,
    Instruction,
    ReviewStep,
)


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


def rows_of(session, model, document: Document, order_by=None) -> list:
    """Return a model's rows that belong to the document, oldest first."""
    query = select(model).where(model.document_id == document.id)
    return list(session.scalars(query.order_by(order_by or model.id)))


def versions(session, document: Document) -> list[DraftVersion]:
    return rows_of(session, DraftVersion, document, DraftVersion.version)


def timeline(session, document: Document) -> list[AuditEvent]:
    return rows_of(session, AuditEvent, document)


def reviews(session, document: Document) -> list[ReviewStep]:
    return rows_of(session, ReviewStep, document)


def instructions(session, document: Document) -> list[Instruction]:
    return rows_of(session, Instruction, document)


def assignments(session, document: Document) -> list[Assignment]:
    return rows_of(session, Assignment, document)


def replies(session, document: Document) -> list[Document]:
    """Return the drafts and issued documents that reply to this incoming document."""
    query = select(Document).where(Document.reply_to_id == document.id)
    return list(session.scalars(query.order_by(Document.id)))
