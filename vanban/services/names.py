"""Duplicate checks for the names of organisations, departments, types, registers."""

import unicodedata
from collections.abc import Iterable

from vanban.services.text import nfc


def name_key(value: str | None) -> str:
    """Return the form two names share when they are the same name.

    The text is NFKC, so full-width letters read as ordinary ones, with runs
    of whitespace made one space, and case-folded. Diacritics count, so
    "Phường Hà" and "Phường Hạ" stay different names.
    """
    return " ".join(unicodedata.normalize("NFKC", nfc(value)).split()).casefold()


def find_same(rows: Iterable, value: str, *, attribute: str = "name", excluding=None):
    """Return the first row whose `attribute` is the same name as `value`, or None.

    `excluding` is the row being edited, which may keep its own name. An empty
    `value` matches nothing.
    """
    expected = name_key(value)
    if not expected:
        return None
    for row in rows:
        if excluding is not None and row.id == excluding.id:
            continue
        if name_key(getattr(row, attribute)) == expected:
            return row
    return None
