"""The builder's and parser's fast paths for large attachments keep every byte."""

import base64
import io
import random
import zipfile

import pytest
from lxml import etree

from vanban.exchange import Attachment, EdxmlError, build_edoc, parse_edoc
from vanban.exchange.zipped import compresses

from .test_edxml import NOW, NS, a_package

MIB = 1024 * 1024


def zip_entries(data: bytes) -> list[zipfile.ZipInfo]:
    """Return the zip entry of each attachment of a built package, in order."""
    root = etree.fromstring(data, etree.XMLParser(huge_tree=True))
    entries = []
    for element in root.iterfind(".//e:ContentTransferEncoded", NS):
        with zipfile.ZipFile(io.BytesIO(base64.b64decode(element.text))) as archive:
            (entry,) = archive.infolist()
            entries.append(entry)
    return entries


def test_zip_method_follows_content():
    scanned = random.Random(1).randbytes(MIB)
    words = random.Random(4).choices(
        [b"van", b"ban", b"so", b"ngay", b"UBND"], k=300_000
    )
    text = b"%PDF-1.4\n" + b" ".join(words)
    small = b"%PDF-1.4 small"
    attachments = [
        Attachment("Bản scan.pdf", "application/pdf", scanned),
        Attachment("Công văn.pdf", "application/pdf", text),
        Attachment("Phụ lục.pdf", "application/pdf", small),
    ]

    data = build_edoc(a_package(attachments=attachments), now=NOW)

    methods = [entry.compress_type for entry in zip_entries(data)]
    assert methods == [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_DEFLATED]
    assert b"vanban-attachment-" not in data
    parsed = parse_edoc(data)
    assert [a.data for a in parsed.attachments] == [scanned, text, small]
    assert [a.name for a in parsed.attachments] == [a.name for a in attachments]


def test_samples_find_compressible_middle():
    # Incompressible at the start, repetitive in the middle and at the end.
    data = random.Random(2).randbytes(MIB) + b"\x00" * (4 * MIB)

    assert compresses(data)
    assert not compresses(random.Random(3).randbytes(MIB))


def rewrapped(data: bytes, width: int, separator: str, indent: str) -> bytes:
    """Return the package with its base64 text cut into lines, as other writers do."""
    root = etree.fromstring(data)
    (element,) = root.iterfind(".//e:ContentTransferEncoded", NS)
    text = element.text
    lines = [text[i : i + width] for i in range(0, len(text), width)]
    element.text = separator + separator.join(indent + line for line in lines)
    element.text += separator
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


@pytest.mark.parametrize(
    "width, separator, indent", [(76, "\r\n", ""), (64, "\n", "      "), (1, "\n", "")]
)
def test_wrapped_base64_decoded(width, separator, indent):
    original = random.Random(width).randbytes(200_000)
    package = a_package(attachments=[Attachment("a.pdf", "application/pdf", original)])
    data = rewrapped(build_edoc(package, now=NOW), width, separator, indent)

    parsed = parse_edoc(data)

    assert parsed.attachments[0].data == original


@pytest.mark.parametrize("bad", ["QUJD\nRA=!", "QUJD\n\u00a0RA==x", "QUJDRA==QUJD"])
def test_base64_with_junk_after_line_breaks_rejected(bad):
    root = etree.fromstring(build_edoc(a_package(), now=NOW))
    (element,) = root.iterfind(".//e:ContentTransferEncoded", NS)
    element.text = bad

    with pytest.raises(EdxmlError) as caught:
        parse_edoc(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))

    assert caught.value.element == "ContentTransferEncoded"
