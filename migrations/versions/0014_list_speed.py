"""List speed: counts by state kept by SQLite triggers; secrecy in the list indexes

The incoming and outgoing lists show how many documents of the organisation
are in each state. Counting them with GROUP BY reads every index entry of the
list (about 4 ms for 70,000 documents). On SQLite, triggers on `documents`
now keep these counts in `document_state_counts`, which the lists read
instead. PostgreSQL keeps counting with GROUP BY: there the triggers would
make concurrent writers of one organisation wait for each other.

The list and lookup indexes also get the columns of the secrecy rule
(`permissions.secret_filter`: secrecy, holder and author), so that the lists
and the search of a user without clearance read them from the index instead
of reading every document's table row.

NOTE: SQLite drops a table's triggers with it. A later migration that
rebuilds `documents` with batch_alter_table must create these triggers again;
tests/routes/test_list_counts.py fails if the counts stop following the
documents.

Revision ID: 0014_list_speed
Revises: 0013_notification_kinds
"""

from alembic import op

revision = "0014_list_speed"
down_revision = "0013_notification_kinds"
branch_labels = None
depends_on = None

# A row per organisation, direction and state that ever had a document.
# The count may fall to 0, and readers skip such rows.
SQLITE_COUNTS = [
    """CREATE TABLE document_state_counts (
        organisation_id INTEGER NOT NULL,
        direction VARCHAR(10) NOT NULL,
        state VARCHAR(24) NOT NULL,
        count INTEGER NOT NULL,
        PRIMARY KEY (organisation_id, direction, state)
    ) WITHOUT ROWID""",
    """CREATE TRIGGER documents_state_count_ai AFTER INSERT ON documents BEGIN
        INSERT INTO document_state_counts VALUES
            (new.organisation_id, new.direction, new.state, 1)
        ON CONFLICT (organisation_id, direction, state)
            DO UPDATE SET count = count + 1;
    END""",
    """CREATE TRIGGER documents_state_count_ad AFTER DELETE ON documents BEGIN
        UPDATE document_state_counts SET count = count - 1
        WHERE organisation_id = old.organisation_id
            AND direction = old.direction AND state = old.state;
    END""",
    """CREATE TRIGGER documents_state_count_au
    AFTER UPDATE OF organisation_id, direction, state ON documents
    WHEN old.organisation_id IS NOT new.organisation_id
        OR old.direction IS NOT new.direction OR old.state IS NOT new.state
    BEGIN
        UPDATE document_state_counts SET count = count - 1
        WHERE organisation_id = old.organisation_id
            AND direction = old.direction AND state = old.state;
        INSERT INTO document_state_counts VALUES
            (new.organisation_id, new.direction, new.state, 1)
        ON CONFLICT (organisation_id, direction, state)
            DO UPDATE SET count = count + 1;
    END""",
    """INSERT INTO document_state_counts
        SELECT organisation_id, direction, state, count(*) FROM documents
        GROUP BY organisation_id, direction, state""",
]
SQLITE_TRIGGERS = [
    "documents_state_count_au",
    "documents_state_count_ad",
    "documents_state_count_ai",
]


# Indexes of `documents` before this revision (0007_search, 0012_search_speed).
LIST_INDEXES = {
    "ix_documents_list": ["organisation_id", "direction", "created_at"],
    "ix_documents_state": [
        "organisation_id",
        "direction",
        "state",
        "holder_id",
        "department_id",
        "created_at",
    ],
    "ix_documents_todo": [
        "organisation_id",
        "state",
        "direction",
        "holder_id",
        "department_id",
        "created_at",
    ],
    "ix_documents_due": ["organisation_id", "direction", "due_date"],
    "ix_documents_urgency": ["organisation_id", "direction", "urgency", "created_at"],
    "ix_documents_lookup": [
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
    "ix_documents_todo_filters": [
        "organisation_id",
        "state",
        "direction",
        "urgency",
        "due_date",
        "holder_id",
        "department_id",
        "created_at",
    ],
}
SECRECY_COLUMNS = ("secrecy", "holder_id", "author_id")


def _with_secrecy(columns: list[str]) -> list[str]:
    return columns + [name for name in SECRECY_COLUMNS if name not in columns]


def _recreate_indexes(widen: bool) -> None:
    for name, columns in LIST_INDEXES.items():
        op.drop_index(name, table_name="documents")
        op.create_index(name, "documents", _with_secrecy(columns) if widen else columns)


def upgrade():
    _recreate_indexes(widen=True)
    if op.get_bind().dialect.name != "sqlite":
        return
    for statement in SQLITE_COUNTS:
        op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS document_state_counts")
    _recreate_indexes(widen=False)
