"""The search index: folded document text and the text read from attachments."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from vanban.extensions import db
from vanban.models.types import UTCDateTime, utcnow

EXTRACTION_STATUSES = ("ok", "empty", "truncated", "failed", "unsupported")


class DocumentSearch(db.Model):
    """One document's searchable text, folded (lower case, no diacritics, đ as d).

    `all_text` joins the other columns. SQLite indexes its words in the FTS5
    table `document_search_fts`, and PostgreSQL indexes its trigrams with a
    pg_trgm GIN index. Migration 0007_search creates both.
    """

    __tablename__ = "document_search"
    __table_args__ = (
        # The folded columns the rank reads for every match (0012_search_speed).
        Index(
            "ix_document_search_rank",
            "document_id",
            "number_text",
            "subject_text",
            "organ_text",
            "signer_text",
        ),
    )

    document_id: Mapped[int] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True
    )
    number_text: Mapped[str] = mapped_column(Text, default="")
    subject_text: Mapped[str] = mapped_column(Text, default="")
    organ_text: Mapped[str] = mapped_column(Text, default="")
    signer_text: Mapped[str] = mapped_column(Text, default="")
    # Description, reply text and the text of every attachment.
    content_text: Mapped[str] = mapped_column(Text, default="")
    all_text: Mapped[str] = mapped_column(Text, default="")
    indexed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AttachmentText(db.Model):
    """Text read once from a stored file, keyed like the file by its SHA-256."""

    __tablename__ = "attachment_texts"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    # NFC text as read from the file, cut at the extraction limit.
    text: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16))
    extracted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
