"""Reset one ward's trial: delete its trial documents and count again from now."""

import logging
from dataclasses import dataclass, field

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from vanban.extensions import db
from vanban.models import Document, Organisation, Recipient, TrialWard, User
from vanban.services import Conflict, audit, trial, trial_progress
from vanban.services.clock import now

logger = logging.getLogger(__name__)


@dataclass
class ResetPlan:
    """The documents a reset deletes, and the trial documents it keeps."""

    ward: Organisation
    delete: list[Document] = field(default_factory=list)
    # Issued without the trial subject, so they are real register entries.
    keep: list[Document] = field(default_factory=list)
    # Copies at city units of the deleted documents sent by the ward.
    city_copies: list[Document] = field(default_factory=list)


def plan(session, row: TrialWard) -> ResetPlan:
    """List what resetting the ward would delete, for the confirmation page."""
    ward = row.organisation
    result = ResetPlan(ward=ward)
    directive, _, own = trial_progress.trial_documents(session, row)
    candidates = []
    if directive is not None:
        candidates.append(directive)
        candidates.extend(
            session.scalars(
                select(Document)
                .where(Document.reply_to_id == directive.id)
                .order_by(Document.id)
            )
        )
    if own is not None:
        candidates.append(own)
    for document in candidates:
        real = (
            document.direction == "outgoing"
            and document.state == "issued"
            and not trial.subject_matches(document.subject, ward)
        )
        (result.keep if real else result.delete).append(document)

    sent_ids = [d.id for d in result.delete if d.direction == "outgoing"]
    if sent_ids:
        result.city_copies = list(
            session.scalars(
                select(Document)
                .join(Recipient, Recipient.incoming_document_id == Document.id)
                .join(Organisation, Organisation.id == Recipient.organisation_id)
                .where(
                    Recipient.document_id.in_(sent_ids),
                    Organisation.kind.in_(("city", "center")),
                )
                .order_by(Document.id)
            )
        )
    return result


def reset(session, user: User, row: TrialWard) -> ResetPlan:
    """Delete the ward's trial documents, restart its progress and audit the reset.

    Other wards keep the copies of documents this ward sent them, detached from
    the deleted original. Register counters are left as they are, so the next
    trial document takes the next number.
    """
    # NOTE: stored files stay in the instance folder, because other documents
    # may share them by content address.
    result = plan(session, row)
    ward_name = result.ward.name
    ids = {d.id for d in result.delete} | {d.id for d in result.city_copies}
    try:
        if ids:
            _delete_documents(session, ids)
    except IntegrityError as error:
        # A foreign key missing from the models, such as one of a table added
        # outside them, still references a document.
        logger.error(
            "trial reset of ward %s failed: %s",
            row.organisation_id,
            type(error.orig).__name__,
        )
        raise Conflict(
            f"Không đặt lại được dữ liệu thử nghiệm của {ward_name}: các văn bản "
            "thử nghiệm còn được dữ liệu khác tham chiếu tới. Chưa có văn bản nào "
            "bị xóa. Hãy báo quản trị hệ thống."
        ) from error
    row.reset_at = now()
    audit.record(
        session,
        "trial.reset",
        user=user,
        organisation_id=row.organisation_id,
        deleted_document_ids=sorted(ids),
        kept_document_ids=[d.id for d in result.keep],
    )
    logger.info(
        "trial of ward %s reset by user %s: %d documents deleted",
        row.organisation_id,
        user.id,
        len(ids),
    )
    return result


def _delete_documents(session, ids: set[int]) -> None:
    """Delete documents with every row that depends on them.

    Rows that only point at a document (another document it replied to,
    replaced or copied, the audit trail, a city recipient's link to the ward's
    copy) lose the link and stay.
    """
    _delete_rows(session, Document.__table__, sorted(ids))
    session.expire_all()


def _delete_rows(session, table, ids: list[int]) -> None:
    """Delete rows of `table` by primary key after the rows that depend on them."""
    [key] = table.primary_key.columns
    if len(ids) == 0:
        return
    for child in db.metadata.sorted_tables:
        for foreign_key in child.foreign_keys:
            if foreign_key.column.table is not table:
                continue
            column = foreign_key.parent
            owned = not column.nullable or foreign_key.ondelete == "CASCADE"
            if owned:
                child_keys = list(child.primary_key.columns)
                if len(child_keys) == 1 and child_keys[0] is not column:
                    # The child rows may have dependants of their own.
                    query = select(child_keys[0]).where(column.in_(ids))
                    if child is table:
                        query = query.where(child_keys[0].not_in(ids))
                    child_ids = list(session.scalars(query))
                    if child_ids:
                        _delete_rows(session, child, child_ids)
                else:
                    session.execute(delete(child).where(column.in_(ids)))
            else:
                # This clears links between the rows being deleted too, such as
                # a reply to a deleted directive, so the delete violates no key.
                session.execute(
                    update(child)
                    .where(column.in_(ids))
                    .values({column.name: None})
                    .execution_options(synchronize_session=False)
                )
    session.execute(delete(table).where(key.in_(ids)))
