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


# Unicode categories that have no place in a one-line name: control characters
# (tab and newline among them), format characters (zero-width space, direction
# marks, soft hyphen) and the line and paragraph separators.
_NOT_IN_NAMES = frozenset({"Cc", "Cf", "Zl", "Zp"})


def first_control_character(value: str) -> int | None:
    """Return the index of the first character that a one-line name may not contain.

    Those are the characters of the categories Cc, Cf, Zl and Zp. Ordinary
    and no-break spaces are allowed. Return None when there is none.
    """
    for index, character in enumerate(value):
        if unicodedata.category(character) in _NOT_IN_NAMES:
            return index
    return None


def one_line(value: str) -> str:
    """Return the text as one line of visible characters, for names from elsewhere.

    Control characters and line or paragraph separators become spaces, and
    format characters, which are invisible, are dropped. Runs of whitespace
    become one space, and the ends are stripped.
    """
    characters = []
    for character in value:
        category = unicodedata.category(character)
        if category == "Cf":
            continue
        characters.append(" " if category in _NOT_IN_NAMES else character)
    return " ".join("".join(characters).split())


def shorten(value: str, width: int) -> str:
    """Return the text cut to at most `width` characters at a word break, with "…".

    Text that fits is returned as it is. A single word longer than half the
    width is cut inside the word.
    """
    if len(value) <= width:
        return value
    cut = value[: width - 1]
    space = cut.rfind(" ")
    if space > width // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:") + "…"


def fold(value: str | None) -> str:
    """Fold case and diacritics, with đ to d, for matching Vietnamese text."""
    decomposed = unicodedata.normalize("NFD", nfc(value).casefold())
    return decomposed.translate(_PLAIN)


def upper_vi(value: str) -> str:
    return nfc(value).upper()
