"""Documents named by audit rows, as much of them as the audit page may show."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import load_only

from vanban.models import AuditEvent, Document, User
from vanban.services import audit_labels, permissions


@dataclass(frozen=True)
class DocumentReference:
    """The part of an audit row's document that the audit page shows.

    A secret document hidden from the viewer gets only a placeholder label, so
    its number, subject and id never reach the template.
    """

    label: str
    subject: str = ""
    # Secrecy level shown beside a secret document the viewer may open.
    secrecy: str = ""
    # Id of the document page to link to, None when the viewer may not open it.
    page_id: int | None = None


def event_document_id(event: AuditEvent) -> int | None:
    """Return the id of the document an audit row is about, or None.

    Rows written with `record(document=...)` keep it in the document_id
    column. The exchange page's resend actions (outbox_requeued,
    outbox_copy_sent) pass `document_id` as a detail, so it sits in the JSON.
    """
    if event.document_id is not None:
        return event.document_id
    value = (event.detail or {}).get("document_id")
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def document_references(
    session, viewer: User, events: Sequence[AuditEvent]
) -> dict[int, DocumentReference]:
    """Map each audit row's id to what the viewer may see of the row's document.

    Rows without a document are left out. The documents of all rows load in
    one query and the viewer's access to them in one more, except that a
    trainer's access to other organisations' documents may add a query for
    each of them.
    """
    document_id_by_event = {event.id: event_document_id(event) for event in events}
    document_ids = {id_ for id_ in document_id_by_event.values() if id_ is not None}
    if not document_ids:
        return {}
    query = (
        select(Document)
        .where(Document.id.in_(document_ids))
        .options(
            load_only(
                Document.organisation_id,
                Document.direction,
                Document.number,
                Document.notation,
                Document.register_number,
                Document.subject,
                Document.secrecy,
            )
        )
    )
    documents = {document.id: document for document in session.scalars(query)}
    viewable = _viewable_ids(session, viewer, documents.values())
    references = {
        id_: _reference(id_, documents.get(id_), id_ in viewable)
        for id_ in document_ids
    }
    return {
        event_id: references[id_]
        for event_id, id_ in document_id_by_event.items()
        if id_ is not None
    }


def _viewable_ids(session, viewer: User, documents: Iterable[Document]) -> set[int]:
    """Return the ids of the documents that permissions.can_view lets the viewer open.

    It applies can_view's rule to all documents at once: the visible_filter
    clause (which requires the viewer's organisation) or trainer_reads.
    NOTE: a change to can_view must be made here too. A test of the audit page
    compares the two on documents of every kind.
    """
    documents = list(documents)
    if not documents:
        return set()
    query = select(Document.id).where(
        Document.id.in_([document.id for document in documents]),
        permissions.visible_filter(viewer),
    )
    viewable = set(session.scalars(query))
    # trainer_reads returns False without a query for a viewer who is not a trainer.
    viewable.update(
        document.id
        for document in documents
        if document.id not in viewable
        and permissions.trainer_reads(session, viewer, document)
    )
    return viewable


def _reference(
    document_id: int, document: Document | None, viewable: bool
) -> DocumentReference:
    if document is None:
        return DocumentReference(label=audit_labels.missing_document(document_id))
    if document.secrecy and not viewable:
        return DocumentReference(label=audit_labels.SECRET_DOCUMENT)
    return DocumentReference(
        label=audit_labels.document_label(document),
        subject=audit_labels.subject_excerpt(document.subject),
        secrecy=audit_labels.secrecy_label(document.secrecy),
        page_id=document.id if viewable else None,
    )
