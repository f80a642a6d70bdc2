"""Indexes for the search, the keyword lists and the to-do list

Revision ID: 0012_search_speed
Revises: 0011_outgoing_unique
"""

from alembic import op

revision = "0012_search_speed"
down_revision = "0011_outgoing_unique"
branch_labels = None
depends_on = None

# (name, table, columns)
INDEXES = [
    # A keyword search reads the word index's matches first and looks each
    # document up by id. This index answers that lookup for the permission
    # filter, the list filters and the sorts without reading the wide row.
    (
        "ix_documents_lookup",
        "documents",
        [
            "id",
            "organisation_id",
            "direction",
            "state",
            "urgency",
            "holder_id",
            "department_id",
            "due_date",
            "created_at",
        ],
    ),
    # The folded columns that the search's rank reads for every match.
    (
        "ix_document_search_rank",
        "document_search",
        ["document_id", "number_text", "subject_text", "organ_text", "signer_text"],
    ),
    # The to-do list filtered by urgency or sorted by deadline, which
    # ix_documents_todo cannot answer without reading every row.
    (
        "ix_documents_todo_filters",
        "documents",
        [
            "organisation_id",
            "state",
            "direction",
            "urgency",
            "due_date",
            "holder_id",
            "department_id",
            "created_at",
        ],
    ),
]


def upgrade():
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade():
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
