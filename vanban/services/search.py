"""Document search: the folded text index, kept current on every flush, and queries.

Every string is folded by `text.fold` (case, diacritics, đ to d, any Unicode
form) before it is stored or searched, so the database compares plain folded
text. A query matches a document when each of its words is a substring of the
document's indexed text, checked with LIKE on both databases. The candidates
come from an index: PostgreSQL's pg_trgm GIN index serves that LIKE itself, and
SQLite first narrows by an FTS5 word index, where each query word must begin a
word of the text.
"""

import functools
import logging
import re
from dataclasses import dataclass, field
from datetime import date

from flask import has_app_context
from markupsafe import Markup, escape
from sqlalchemy import (
    Integer,
    case,
    column,
    delete,
    event,
    exists,
    func,
    insert,
    literal,
    literal_column,
    select,
    table,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.selectable import Join

from vanban.models import Attachment, Document, User
from vanban.models.search import AttachmentText, DocumentSearch
from vanban.models.types import utcnow
from vanban.services import files, permissions, textextract
from vanban.services.text import fold, nfc

logger = logging.getLogger(__name__)

MAX_TERMS = 8
MAX_TERM_CHARS = 64
# Letters and digits, as FTS5's unicode61 tokenizer splits words.
_WORD = re.compile(r"[^\W_]+")
# Characters of stored attachment text read when looking for an excerpt.
SNIPPET_SCAN_CHARS = 20_000
SNIPPET_CHARS = 160
# Maximum number of documents a search counts and pages through.
RESULT_LIMIT = 1000

# Document columns whose change needs the index row rebuilt.
INDEXED_FIELDS = (
    "number",
    "notation",
    "type_name",
    "subject",
    "organ_name",
    "signer_name",
    "signer_position",
    "description",
    "body_text",
)
_PENDING = "search_pending"


# Building index rows


def index_fields(document, attachment_texts: list[str]) -> dict[str, str]:
    """Fold a document's searchable fields into the columns of its index row.

    `document` is any object with the Document field names, such as a row.
    """
    number = fold(f"{document.number or ''}/{document.notation or ''}")
    content = "\n".join(
        [document.description or "", document.body_text or "", *attachment_texts]
    )
    fields = {
        "number_text": "" if number == "/" else number,
        "subject_text": fold(document.subject),
        "organ_text": fold(document.organ_name),
        "signer_text": fold(
            f"{document.signer_name or ''} {document.signer_position or ''}"
        ),
        "content_text": fold(content),
    }
    # The type name is searched by the keyword box only, because the form
    # filters by type with a list.
    fields["all_text"] = "\n".join([*fields.values(), fold(document.type_name)])
    return fields


def reindex(session, document_ids, read_files: bool = True) -> int:
    """Rebuild the index rows of these documents and return how many were written.

    Runs on the session's connection, so it may be called while a flush ends.
    """
    ids = sorted({int(i) for i in document_ids if i is not None})
    if not ids:
        return 0
    connection = session.connection()
    texts = _attachment_texts(connection, ids, read_files)
    documents = Document.__table__
    rows = []
    now = utcnow()
    for row in connection.execute(select(documents).where(documents.c.id.in_(ids))):
        fields = index_fields(row, texts.get(row.id, []))
        rows.append({"document_id": row.id, **fields, "indexed_at": now})

    table = DocumentSearch.__table__
    connection.execute(delete(table).where(table.c.document_id.in_(ids)))
    if rows:
        connection.execute(insert(table), rows)
    return len(rows)


def reindex_all(session, batch_size: int = 500) -> int:
    """Rebuild the whole index, reading attachment text not read before."""
    total = 0
    last_id = 0
    while True:
        ids = list(
            session.scalars(
                select(Document.id)
                .where(Document.id > last_id)
                .order_by(Document.id)
                .limit(batch_size)
            )
        )
        if not ids:
            return total
        total += reindex(session, ids)
        session.commit()
        last_id = ids[-1]


def _attachment_texts(connection, ids: list[int], read_files: bool):
    """Return {document id: [attachment text]}, extracting files not read yet."""
    attachments = Attachment.__table__
    texts_table = AttachmentText.__table__
    rows = connection.execute(
        select(
            attachments.c.document_id,
            attachments.c.sha256,
            attachments.c.content_type,
            texts_table.c.text,
            texts_table.c.status,
        )
        .outerjoin(texts_table, texts_table.c.sha256 == attachments.c.sha256)
        .where(attachments.c.document_id.in_(ids))
        .order_by(attachments.c.id)
    ).all()

    known: dict[str, str] = {r.sha256: r.text for r in rows if r.status is not None}
    if read_files and has_app_context():
        for row in rows:
            if row.sha256 not in known:
                known[row.sha256] = _extract_and_store(
                    connection, row.sha256, row.content_type
                )

    by_document: dict[int, list[str]] = {}
    for row in rows:
        text_value = known.get(row.sha256, "")
        texts = by_document.setdefault(row.document_id, [])
        if text_value and text_value not in texts:
            texts.append(text_value)
    return by_document


def _extract_and_store(connection, sha256: str, content_type: str) -> str:
    try:
        path = files.path_for(sha256)
    except ValueError:
        return ""
    if not path.exists():
        logger.warning("file %s of an attachment is missing", sha256[:12])
        return ""
    extracted = textextract.extract(path, content_type)
    values = {
        "sha256": sha256,
        "text": extracted.text,
        "status": extracted.status,
        "extracted_at": utcnow(),
    }
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(AttachmentText.__table__).values(**values)
    connection.execute(statement.on_conflict_do_nothing(index_elements=["sha256"]))
    logger.info("file %s text read: %s", sha256[:12], extracted.status)
    return extracted.text


# Keeping the index current: every flush that adds or changes a document or
# adds an attachment rebuilds that document's row in the same transaction.


def _fields_changed(document: Document) -> bool:
    from sqlalchemy import inspect

    state = inspect(document)
    return any(state.attrs[name].history.has_changes() for name in INDEXED_FIELDS)


@event.listens_for(Session, "before_flush")
def _collect_changes(session, flush_context, instances):
    pending = session.info.setdefault(_PENDING, [])
    for obj in session.new:
        if isinstance(obj, Document | Attachment):
            pending.append(obj)
    for obj in session.dirty:
        if isinstance(obj, Document) and _fields_changed(obj):
            pending.append(obj)


@event.listens_for(Session, "after_flush_postexec")
def _update_index(session, flush_context):
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    ids = {obj.id if isinstance(obj, Document) else obj.document_id for obj in pending}
    reindex(session, ids)


@event.listens_for(Session, "after_soft_rollback")
def _forget_changes(session, previous_transaction):
    session.info.pop(_PENDING, None)


# Queries


def search_terms(query: str | None) -> list[str]:
    """Split a query into distinct folded words, at most MAX_TERMS of them."""
    terms: list[str] = []
    for word in fold(query).split():
        word = word[:MAX_TERM_CHARS]
        if word not in terms:
            terms.append(word)
    return terms[:MAX_TERMS]


def _like_pattern(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _contains(column, term: str):
    return column.like(_like_pattern(term), escape="\\")


# SQLite's word index of `document_search.all_text`, kept by triggers.
_FTS = table("document_search_fts", column("rowid", Integer))
_FTS_TABLE = literal_column("document_search_fts")
# Migration 0012_search_speed: narrow indexes, read by id, of the documents'
# columns that filters and sorts read and of the folded columns the rank reads.
LOOKUP_INDEX = "ix_documents_lookup"
RANK_INDEX = "ix_document_search_rank"


class _MatchesFirst(Join):
    """The word index's matches joined to documents, read in that order.

    Without statistics SQLite would rather read all the user's documents and
    look each one up in the word index, which is slow for a large ward. CROSS
    JOIN keeps the matches as the outer loop, and INDEXED BY looks the
    documents up in a narrow index instead of their wide rows.
    """

    inherit_cache = True
    plain = " JOIN documents ON "
    forced = f" CROSS JOIN documents INDEXED BY {LOOKUP_INDEX} ON "


class _RankColumns(Join):
    """A join to the folded columns that reads them from RANK_INDEX."""

    inherit_cache = True
    plain = " JOIN document_search ON "
    forced = f" JOIN document_search INDEXED BY {RANK_INDEX} ON "


@compiles(_MatchesFirst, "sqlite")
@compiles(_RankColumns, "sqlite")
def _compile_forced_join(join, compiler, **kw):
    rendered = compiler.visit_join(join, **kw)
    assert join.plain in rendered, rendered
    return rendered.replace(join.plain, join.forced, 1)


def restrict_to_matches(session, query, terms: list[str], read_index: bool = False):
    """Keep the documents of a select over Document that contain every term,
    joined to their index rows when `read_index` is set.

    On SQLite the select reads the word index's matches first and looks each
    one up by id, instead of checking every document the user may read
    against them.
    """
    exact = terms
    fts_query = _fts_query(terms) if _dialect(session) == "sqlite" else ""
    index_row = DocumentSearch.__table__
    if fts_query:
        source = _MatchesFirst(_FTS, Document.__table__, _FTS.c.rowid == Document.id)
        if read_index:
            source = _RankColumns(
                source, index_row, index_row.c.document_id == Document.id
            )
        query = query.select_from(source).where(_FTS_TABLE.op("MATCH")(fts_query))
        # A term of one plain word matches exactly when it begins a word of
        # the text, so only the other terms need the substring check.
        exact = [t for t in terms if not (t.isascii() and t.isalnum())]
    elif read_index:
        query = query.join(index_row, index_row.c.document_id == Document.id)
    if exact:
        # An alias, so that a query already joined to the index still
        # correlates this subquery with Document alone.
        row = aliased(DocumentSearch)
        query = query.where(
            exists(
                select(literal(1)).where(
                    row.document_id == Document.id,
                    *(_contains(row.all_text, t) for t in exact),
                )
            )
        )
    return query


def _dialect(session) -> str:
    return session.get_bind().dialect.name


def _fts_query(terms: list[str]) -> str:
    """Build an FTS5 query in which each term's words form a phrase whose last
    word may be a prefix, as in `"15 qd ubnd" * AND "dinh" *`.

    NOTE: a term that starts inside a word (such as "uyet" for "quyet") is found
    on PostgreSQL but not on SQLite, whose index only finds words by their start.
    """
    phrases = []
    for term in terms:
        words = _WORD.findall(term)
        if words:
            phrases.append('"' + " ".join(words) + '" *')
    return " AND ".join(phrases)


def rank_expression(terms: list[str]):
    """Score a matched document: each term counts most in the number and symbol,
    then the subject, then the issuing body or signer, then the text."""
    score = literal(0)
    for term in terms:
        score = score + case(
            (_contains(DocumentSearch.number_text, term), 8),
            (_contains(DocumentSearch.subject_text, term), 4),
            (_contains(DocumentSearch.organ_text, term), 2),
            (_contains(DocumentSearch.signer_text, term), 2),
            else_=1,
        )
    if len(terms) > 1:
        phrase = " ".join(terms)
        score = score + case(
            (_contains(DocumentSearch.subject_text, phrase), 4), else_=0
        )
    return score


@dataclass
class Criteria:
    """Search criteria from the form, every one optional."""

    q: str = ""
    number: str = ""
    subject: str = ""
    organ: str = ""
    signer: str = ""
    content: str = ""
    date_from: date | None = None
    date_to: date | None = None
    type_name: str = ""
    urgency: int | None = None
    state: str = ""
    direction: str = ""
    sort: str = "relevance"

    # Form field -> index column it is matched against.
    FIELD_COLUMNS = {
        "number": "number_text",
        "subject": "subject_text",
        "organ": "organ_text",
        "signer": "signer_text",
        "content": "content_text",
    }

    def field_terms(self) -> dict[str, list[str]]:
        return {
            name: search_terms(getattr(self, name))
            for name in self.FIELD_COLUMNS
            if search_terms(getattr(self, name))
        }

    def is_empty(self) -> bool:
        return not (
            search_terms(self.q)
            or self.field_terms()
            or self.date_from
            or self.date_to
            or self.type_name
            or self.urgency is not None
            or self.state
            or self.direction
        )


@dataclass
class Hit:
    document: Document
    rank: int
    subject: Markup
    number: Markup
    organ: Markup
    snippet: Markup | None = None


@dataclass
class Results:
    hits: list[Hit]
    total: int
    page: int
    pages: int
    terms: list[str] = field(default_factory=list)
    # True when more documents match than RESULT_LIMIT, the maximum shown.
    more: bool = False


def _criteria_clauses(criteria: Criteria) -> list:
    clauses = []
    for name, values in criteria.field_terms().items():
        column = getattr(DocumentSearch, criteria.FIELD_COLUMNS[name])
        clauses.extend(_contains(column, t) for t in values)
    if criteria.date_from:
        clauses.append(Document.issued_date >= criteria.date_from)
    if criteria.date_to:
        clauses.append(Document.issued_date <= criteria.date_to)
    if criteria.type_name:
        clauses.append(Document.type_name == criteria.type_name)
    if criteria.urgency is not None:
        clauses.append(Document.urgency == criteria.urgency)
    if criteria.state:
        clauses.append(Document.state == criteria.state)
    if criteria.direction:
        clauses.append(Document.direction == criteria.direction)
    return clauses


def search(
    session, user: User, criteria: Criteria, page: int, page_size: int
) -> Results:
    """Return one page of the documents the user may read that match, ranked."""
    terms = search_terms(criteria.q)
    field_terms = [t for values in criteria.field_terms().values() for t in values]
    every_term = terms + field_terms
    where = [permissions.visible_filter(user), *_criteria_clauses(criteria)]

    def matching(read_index: bool):
        query = select(Document.id).where(*where)
        return restrict_to_matches(session, query, every_term, read_index)

    # Counting stops past the limit: a search with more matches than anyone
    # reads needs more words, not an exact count. The advanced fields read
    # the folded columns, and so does the rank.
    counted = matching(bool(field_terms)).limit(RESULT_LIMIT + 1).subquery()
    total = session.scalar(select(func.count()).select_from(counted)) or 0
    pages = max(1, -(-min(total, RESULT_LIMIT) // page_size))
    page = min(max(page, 1), pages)

    rank = rank_expression(terms).label("rank")
    newest = (Document.created_at.desc(), Document.id.desc())
    if criteria.sort == "oldest":
        order = (Document.created_at.asc(), Document.id.asc())
    elif criteria.sort == "newest" or not terms:
        order = newest
    else:
        order = (rank.desc(), *newest)
    # The page's ids are chosen over narrow rows first, so the sort never
    # carries whole documents; then the page's documents are loaded by id.
    ranked = session.execute(
        matching(bool(every_term))
        .add_columns(rank)
        .order_by(*order)
        .offset((page - 1) * page_size)
        .limit(page_size)
    ).all()
    documents = documents_by_id(session, [document_id for document_id, _ in ranked])
    rows = [(documents[document_id], score) for document_id, score in ranked]

    hits = _hits(session, rows, every_term)
    return Results(
        hits, min(total, RESULT_LIMIT), page, pages, terms, total > RESULT_LIMIT
    )


def documents_by_id(session, ids: list[int]) -> dict[int, Document]:
    """Load documents by id in one query."""
    if not ids:
        return {}
    return {
        d.id: d for d in session.scalars(select(Document).where(Document.id.in_(ids)))
    }


def _hits(session, rows, terms: list[str]) -> list[Hit]:
    hits = []
    for document, rank in rows:
        hits.append(
            Hit(
                document=document,
                rank=int(rank or 0),
                subject=highlight(document.subject, terms),
                number=highlight(document.number_and_notation, terms),
                organ=highlight(document.organ_name, terms),
            )
        )
    # A document whose shown fields miss a term matched it in its text, so
    # show an excerpt from the description, reply text or an attachment.
    unexplained = [hit for hit in hits if terms and not _all_shown(hit.document, terms)]
    if unexplained:
        texts = _document_texts(session, [hit.document.id for hit in unexplained])
        for hit in unexplained:
            document = hit.document
            sources = [document.description, document.body_text]
            hit.snippet = snippet(sources + texts.get(document.id, []), terms)
    return hits


def _all_shown(document: Document, terms: list[str]) -> bool:
    shown = fold(
        f"{document.number_and_notation} {document.subject} {document.organ_name}"
    )
    return all(term in shown for term in terms)


def _document_texts(session, ids: list[int]) -> dict[int, list[str]]:
    rows = session.execute(
        select(Attachment.document_id, AttachmentText.text)
        .join(AttachmentText, AttachmentText.sha256 == Attachment.sha256)
        .where(Attachment.document_id.in_(ids), AttachmentText.text != "")
    )
    texts: dict[int, list[str]] = {}
    for document_id, value in rows:
        texts.setdefault(document_id, []).append(value)
    return texts


# Highlighting


@functools.lru_cache(maxsize=4096)
def _fold_letter(letter: str) -> str:
    """Fold one letter for highlighting, keeping whitespace, which `fold` strips.

    A page repeats the same letters, so the results are cached.
    """
    return letter if letter.isspace() else fold(letter)


def highlight(value: str | None, terms: list[str]) -> Markup:
    """Escape the text and wrap every folded match of a term in <mark>."""
    original = nfc(value)
    if not original or not terms:
        return escape(original)
    pieces = list(map(_fold_letter, original))
    folded = "".join(pieces)
    if set(map(len, pieces)) == {1}:
        # Each letter folds to one letter, as Vietnamese text does, so a
        # position in the folded text is the same in the original.
        spans = []
        for term in terms:
            start = folded.find(term)
            while start != -1:
                spans.append((start, start + len(term)))
                start = folded.find(term, start + len(term))
        return _render_spans(original, spans)
    # Otherwise remember which letter each folded one came from.
    owners: list[int] = []
    for index, piece in enumerate(pieces):
        owners.extend([index] * len(piece))
    marked = [False] * len(original)
    for term in terms:
        start = folded.find(term)
        while start != -1:
            for position in range(start, start + len(term)):
                marked[owners[position]] = True
            start = folded.find(term, start + len(term))
    spans = []
    for index, is_marked in enumerate(marked):
        if is_marked:
            spans.append((index, index + 1))
    return _render_spans(original, spans)


def _render_spans(original: str, spans: list[tuple[int, int]]) -> Markup:
    """Escape the text and wrap its marked spans in <mark>, one mark for spans
    that touch or overlap."""
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    parts: list[str] = []
    done = 0
    for start, end in merged:
        if start > done:
            parts.append(str(escape(original[done:start])))
        parts.append(f"<mark>{escape(original[start:end])}</mark>")
        done = end
    if done < len(original):
        parts.append(str(escape(original[done:])))
    return Markup("".join(parts))


def snippet(sources: list[str | None], terms: list[str]) -> Markup | None:
    """Return a highlighted excerpt around the first line that contains a term."""
    for source in sources:
        if not source:
            continue
        for line in source[:SNIPPET_SCAN_CHARS].splitlines():
            folded = fold(line)
            positions = [folded.find(t) for t in terms if t in folded]
            if not positions:
                continue
            # Folding keeps Vietnamese text about as long, so the position in
            # the folded line is close to the one in the original.
            start = max(0, min(positions) - SNIPPET_CHARS // 3)
            excerpt = nfc(line)[start : start + SNIPPET_CHARS]
            prefix = "… " if start else ""
            suffix = " …" if start + SNIPPET_CHARS < len(line) else ""
            return Markup(prefix) + highlight(excerpt, terms) + Markup(suffix)
    return None
