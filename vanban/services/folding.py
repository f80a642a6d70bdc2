"""Folding in SQL: the same case and diacritic folding as `text.fold`, in queries.

It serves filters on columns outside the search index. Document search itself
compares text folded once by `text.fold` when indexed (`services/search.py`).

SQLite gets `text.fold` itself as a registered function. PostgreSQL gets a
`translate()` over every Latin letter whose fold is one ASCII letter, which does
not depend on the database's locale the way `lower()` does.
"""

from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import String

from vanban.services.text import fold

SQLITE_FUNCTION = "vanban_fold"


def _translation_table() -> tuple[str, str]:
    """Return the `translate()` source and target letters for PostgreSQL."""
    codepoints = [
        *range(ord("A"), ord("Z") + 1),
        *range(0xC0, 0x250),
        *range(0x1E00, 0x1F00),
    ]
    source, target = [], []
    for codepoint in codepoints:
        letter = chr(codepoint)
        folded = fold(letter)
        if len(folded) == 1 and folded.isascii() and folded != letter:
            source.append(letter)
            target.append(folded)
    return "".join(source), "".join(target)


PG_SOURCE, PG_TARGET = _translation_table()


class folded(FunctionElement):  # noqa: N801 (used like a SQL function)
    """SQL expression folding a text column for diacritic-insensitive matching."""

    type = String()
    inherit_cache = True


@compiles(folded)
def _compile_default(element, compiler, **kw):
    return f"{SQLITE_FUNCTION}({compiler.process(element.clauses, **kw)})"


@compiles(folded, "postgresql")
def _compile_postgresql(element, compiler, **kw):
    argument = compiler.process(element.clauses, **kw)
    source = compiler.render_literal_value(PG_SOURCE, String())
    target = compiler.render_literal_value(PG_TARGET, String())
    return f"translate({argument}, {source}, {target})"


def register_sqlite(dbapi_connection) -> None:
    dbapi_connection.create_function(
        SQLITE_FUNCTION, 1, lambda value: fold(value), deterministic=True
    )
