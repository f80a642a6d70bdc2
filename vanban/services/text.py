"""Text normalisation for everything that enters the system."""

import unicodedata

# Look-alike letters pasted from other systems, mapped to the Vietnamese letter.
_LOOKALIKES = str.maketrans({"\u00d0": "\u0110", "\u00f0": "\u0111"})


def nfc(value: str | None) -> str:
    """Return the text in NFC without NUL or other control characters, stripped."""
    if not value:
        return ""
    # Control characters go first: removing one after normalising could leave a
    # base letter and a combining mark side by side, which is no longer NFC.
    kept = "".join(
        ch for ch in value if ch in "\n\t" or unicodedata.category(ch) != "Cc"
    )
    return unicodedata.normalize("NFC", kept.translate(_LOOKALIKES)).strip()


def fold(value: str | None) -> str:
    """Fold case and diacritics, with đ to d, for matching Vietnamese text."""
    decomposed = unicodedata.normalize("NFD", nfc(value).casefold())
    stripped = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
    return stripped.replace("đ", "d")


def upper_vi(value: str) -> str:
    return nfc(value).upper()
