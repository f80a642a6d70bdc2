"""Search index over folded document text, and indexes for the document lists

Revision ID: 0007_search
Revises: 0006_deadlines
Create Date: 2026-12-04 19:40:00

"""

import sqlalchemy as sa
from alembic import op

import vanban.models.types
from vanban.services.search import index_fields

# revision identifiers, used by Alembic.
revision = "0007_search"
down_revision = "0006_deadlines"
branch_labels = None
depends_on = None

# SQLite keeps `document_search_fts` in step with `document_search` through these
# triggers, so the application writes only the plain table on both databases.
SQLITE_FTS = [
    """CREATE VIRTUAL TABLE document_search_fts USING fts5(
        all_text, content='document_search', content_rowid='document_id',
        tokenize='unicode61 remove_diacritics 0', prefix='1 2 3')""",
    """CREATE TRIGGER document_search_ai AFTER INSERT ON document_search BEGIN
        INSERT INTO document_search_fts(rowid, all_text)
        VALUES (new.document_id, new.all_text);
    END""",
    """CREATE TRIGGER document_search_ad AFTER DELETE ON document_search BEGIN
        INSERT INTO document_search_fts(document_search_fts, rowid, all_text)
        VALUES ('delete', old.document_id, old.all_text);
    END""",
    """CREATE TRIGGER document_search_au AFTER UPDATE ON document_search BEGIN
        INSERT INTO document_search_fts(document_search_fts, rowid, all_text)
        VALUES ('delete', old.document_id, old.all_text);
        INSERT INTO document_search_fts(rowid, all_text)
        VALUES (new.document_id, new.all_text);
    END""",
]

# Indexes matching the list filters (organisation, direction, state, holder,
# department) and their default sort (newest first).
LIST_INDEXES = [
    ("ix_documents_list", "documents", ["organisation_id", "direction", "created_at"]),
    (
        "ix_documents_state",
        "documents",
        [
            "organisation_id",
            "direction",
            "state",
            "holder_id",
            "department_id",
            "created_at",
        ],
    ),
    (
        "ix_documents_todo",
        "documents",
        [
            "organisation_id",
            "state",
            "direction",
            "holder_id",
            "department_id",
            "created_at",
        ],
    ),
    ("ix_documents_due", "documents", ["organisation_id", "direction", "due_date"]),
    (
        "ix_documents_urgency",
        "documents",
        ["organisation_id", "direction", "urgency", "created_at"],
    ),
    ("ix_documents_holder", "documents", ["holder_id", "state"]),
    ("ix_documents_department", "documents", ["department_id", "state"]),
    ("ix_documents_issued_date", "documents", ["organisation_id", "issued_date"]),
    ("ix_attachments_document_id", "attachments", ["document_id"]),
]


def upgrade():
    op.create_table(
        "document_search",
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("number_text", sa.Text(), nullable=False),
        sa.Column("subject_text", sa.Text(), nullable=False),
        sa.Column("organ_text", sa.Text(), nullable=False),
        sa.Column("signer_text", sa.Text(), nullable=False),
        sa.Column("content_text", sa.Text(), nullable=False),
        sa.Column("all_text", sa.Text(), nullable=False),
        sa.Column(
            "indexed_at", vanban.models.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_document_search_document_id_documents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("document_id", name=op.f("pk_document_search")),
    )
    op.create_table(
        "attachment_texts",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "extracted_at",
            vanban.models.types.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_attachment_texts")),
    )

    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for statement in SQLITE_FTS:
            op.execute(statement)
    elif dialect == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(
            "CREATE INDEX ix_document_search_all_text ON document_search "
            "USING gin (all_text gin_trgm_ops)"
        )

    for name, table, columns in LIST_INDEXES:
        op.create_index(name, table, columns)

    _backfill()


def _backfill():
    """Index the fields of existing documents.

    Attachment text is left out because reading files needs the application's
    instance folder; `flask --app app search reindex` adds it.
    """
    bind = op.get_bind()
    documents = sa.table(
        "documents",
        sa.column("id"),
        sa.column("number"),
        sa.column("notation"),
        sa.column("type_name"),
        sa.column("subject"),
        sa.column("organ_name"),
        sa.column("signer_name"),
        sa.column("signer_position"),
        sa.column("description"),
        sa.column("body_text"),
    )
    index = sa.table(
        "document_search",
        sa.column("document_id"),
        sa.column("number_text"),
        sa.column("subject_text"),
        sa.column("organ_text"),
        sa.column("signer_text"),
        sa.column("content_text"),
        sa.column("all_text"),
        sa.column("indexed_at"),
    )
    now = vanban.models.types.utcnow()
    rows = [
        {"document_id": row.id, **index_fields(row, []), "indexed_at": now}
        for row in bind.execute(sa.select(documents))
    ]
    if rows:
        bind.execute(sa.insert(index), rows)


def downgrade():
    for name, table, _ in reversed(LIST_INDEXES):
        op.drop_index(name, table_name=table)
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS document_search_fts")
    op.drop_table("attachment_texts")
    op.drop_table("document_search")
