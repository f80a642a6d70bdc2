"""Text normalisation: NFC at the edge, folding for search."""

import unicodedata

import pytest

from vanban.services.text import (
    first_control_character,
    fold,
    nfc,
    one_line,
    shorten,
    upper_vi,
)

# "Quyết định" typed on a keyboard that sends decomposed (NFD) characters.
NFD_DECISION = unicodedata.normalize("NFD", "Quyết định")
LATIN_ETH = "\u00d0"  # Ð, looks like Đ
VIETNAMESE_D = "\u0110"  # Đ


def test_nfc_composes_decomposed_input():
    assert NFD_DECISION != "Quyết định"
    assert nfc(NFD_DECISION) == "Quyết định"
    assert unicodedata.is_normalized("NFC", nfc(NFD_DECISION))


def test_nfc_keeps_composed_input():
    assert nfc("Phường Ba Đình") == "Phường Ba Đình"


def test_nfc_maps_eth_to_vietnamese_d():
    assert nfc(f"{LATIN_ETH}ống Đa") == f"{VIETNAMESE_D}ống Đa"
    assert nfc("\u00f0ường") == "\u0111ường"


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Trích\x00 yếu", "Trích yếu"),
        ("Số\x07 05", "Số 05"),
        ("\x1b[31mKhẩn", "[31mKhẩn"),
        ("Dòng 1\x7f", "Dòng 1"),
        ("Chỉ\u0085 thị", "Chỉ thị"),
    ],
)
def test_nfc_removes_control_characters(raw, expected):
    assert nfc(raw) == expected


def test_nfc_keeps_newline_and_tab():
    assert nfc("Dòng 1\nDòng 2\tcột") == "Dòng 1\nDòng 2\tcột"


def test_nfc_strips_surrounding_whitespace():
    assert nfc("  Công văn \n") == "Công văn"


@pytest.mark.parametrize("empty", [None, ""])
def test_nfc_of_nothing_is_empty(empty):
    assert nfc(empty) == ""


def test_fold_matches_upper_and_lower_case():
    assert fold("QUYẾT ĐỊNH") == "quyet dinh"
    assert fold("quyết định") == "quyet dinh"
    assert fold("QUYẾT ĐỊNH") == fold("quyet dinh")


def test_fold_treats_nfd_like_nfc():
    assert fold(NFD_DECISION) == fold("Quyết định")
    assert fold(NFD_DECISION) == "quyet dinh"


@pytest.mark.parametrize("letter", [VIETNAMESE_D, "\u0111", LATIN_ETH, "\u00f0"])
def test_fold_turns_every_d_letter_into_d(letter):
    assert fold(letter) == "d"


def test_fold_removes_control_characters():
    assert fold("Ba\x00 Đình\x07") == "ba dinh"


def test_fold_of_none_is_empty():
    assert fold(None) == ""


def test_upper_vi_keeps_diacritics():
    assert upper_vi("Phường Ba Đình") == "PHƯỜNG BA ĐÌNH"
    assert upper_vi(unicodedata.normalize("NFD", "hỏa tốc")) == "HỎA TỐC"


@pytest.mark.parametrize(
    ("value", "index"),
    [
        ("Phường Ba Đình", None),
        ("Phường\u00a0Ba Đình", None),
        ("a\tb", 1),
        ("ab\n", 2),
        ("\u200bab", 0),
        ("a\u00adb", 1),
        ("a\u2029b", 1),
    ],
    ids=["plain", "no-break-space", "tab", "newline", "zwsp", "soft-hyphen", "para"],
)
def test_first_control_character(value, index):
    assert first_control_character(value) == index


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("UBND\tPhường\nMới", "UBND Phường Mới"),
        ("  Phường \r\n\x0b Mới ", "Phường Mới"),
        ("Phường\u200bẨn", "PhườngẨn"),
        ("Phường\u2028Mới", "Phường Mới"),
        ("\t\n", ""),
    ],
)
def test_one_line(value, expected):
    assert one_line(value) == expected


def test_shorten_keeps_text_that_fits():
    assert shorten("Không có văn bản", 16) == "Không có văn bản"


def test_shorten_cuts_at_word_break():
    text = " ".join(["từ"] * 200)

    shortened = shorten(text, 300)

    assert len(shortened) <= 300
    assert shortened.endswith("từ…")
    assert text.startswith(shortened[:-1])


def test_shorten_cuts_long_word():
    shortened = shorten("a" * 1000, 300)

    assert shortened == "a" * 299 + "…"
