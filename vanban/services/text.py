"""Text normalisation for everything that enters the system."""

import unicodedata

# Look-alike letters pasted from other systems, mapped to the Vietnamese letter.
_LOOKALIKES = {0x00D0: "\u0110", 0x00F0: "\u0111"}


class _Table(dict):
    """A str.translate table that works out each character once, on first use."""

    def __init__(self, rule, fixed: dict):
        super().__init__(fixed)
        self._rule = rule

    def __missing__(self, code: int):
        value = self._rule(chr(code))
        self[code] = value
        return value


# Control characters out, except newline and tab; look-alike letters mapped.
_CLEAN = _Table(
    lambda ch: None if unicodedata.category(ch) == "Cc" else ch,
    {ord("\n"): "\n", ord("\t"): "\t", **_LOOKALIKES},
)
# Combining marks out, and đ to d, in decomposed text.
_PLAIN = _Table(
    lambda ch: None if unicodedata.category(ch) == "Mn" else ch,
    {0x0111: "d"},
)


def nfc(value: str | None) -> str:
    """Return the text in NFC without NUL or other control characters, stripped."""
    if not value:
        return ""
    # Control characters go first: removing one after normalising could leave a
    # base letter and a combining mark side by side, which is no longer NFC.
    return unicodedata.normalize("NFC", value.translate(_CLEAN)).strip()


def fold(value: str | None) -> str:
    """Fold case and diacritics, with đ to d, for matching Vietnamese text."""
    decomposed = unicodedata.normalize("NFD", nfc(value).casefold())
    return decomposed.translate(_PLAIN)


def upper_vi(value: str) -> str:
    return nfc(value).upper()
