"""Capture the SQL statements that a block of test code sends to the database."""

from contextlib import contextmanager

from sqlalchemy import event

from vanban.extensions import db


@contextmanager
def captured_statements():
    """Yield a list that collects the text of each statement run inside the block."""
    statements = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
