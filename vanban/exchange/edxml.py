"""Read and write edXML packages (QCVN 102:2016/BTTTT) safely.

The parser reads the packages other implementations write, however messy, and
keeps what it found odd in `warnings`. It rejects only what it cannot read:
malformed XML, a DOCTYPE, a root other than edXML, missing required elements
and attachments that break the zip limits. The builder writes the standard
forms only.
"""

import codecs

from lxml import etree

from vanban.exchange.packages import (
    NAMESPACE,
    ROOT_TAG,
    EdocPackage,
    EdxmlError,
    StatusPackage,
)
from vanban.exchange.reading import child, read_edoc, read_status, require
from vanban.exchange.writing import build_edoc, build_status
from vanban.exchange.zipped import ZipLimits

__all__ = ["build_edoc", "build_status", "parse_edoc", "parse_package", "parse_status"]

_PROLOG_SCAN_SIZE = 64 * 1024


def parse_package(
    data: bytes, limits: ZipLimits | None = None
) -> EdocPackage | StatusPackage:
    """Parse a document or status package. A StatusCode marks a status package.

    Attachments are unzipped within `limits` (default: `ZipLimits()`).
    """
    root = _parse_xml(data)
    envelope = require(root, "edXMLEnvelope")
    header = require(envelope, "edXMLHeader", parent_path="edXMLEnvelope")
    message_header = require(header, "MessageHeader", parent_path="edXMLHeader")

    if child(message_header, "StatusCode") is not None:
        return read_status(message_header)
    return read_edoc(root, envelope, header, limits or ZipLimits())


def parse_edoc(data: bytes, limits: ZipLimits | None = None) -> EdocPackage:
    """Parse a document package and reject a status package."""
    package = parse_package(data, limits)
    if not isinstance(package, EdocPackage):
        raise EdxmlError(
            "expected a document package but found a status package",
            "Gói tin là gói trạng thái, không phải gói văn bản.",
            element="StatusCode",
        )
    return package


def parse_status(data: bytes) -> StatusPackage:
    """Parse a status package and reject a document package."""
    package = parse_package(data)
    if not isinstance(package, StatusPackage):
        raise EdxmlError(
            "expected a status package but found no MessageHeader/StatusCode",
            "Gói tin là gói văn bản, không phải gói trạng thái.",
            element="StatusCode",
        )
    return package


def _parse_xml(data: bytes) -> etree._Element:
    """Parse bytes with DTDs, entities and network access off, rejecting a DOCTYPE."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"edXML packages are parsed from bytes, not {type(data)}")
    data = bytes(data)
    # Rejecting a DOCTYPE before parsing keeps libxml2 from reading the DTD at
    # all. The docinfo check below catches one that the prolog scan misses.
    if _prolog_has_doctype(data):
        raise _doctype_error("<!DOCTYPE ...>")
    # huge_tree lifts libxml2's cap of 10,000,000 characters per text node,
    # which a zipped attachment over about 7.5 MB exceeds in base64. It is
    # safe here because a package with a DOCTYPE never reaches the parser, so
    # nothing can declare entities to expand. Packages from other organisations
    # are size-checked before parsing: the hub rejects a body over
    # HUB_MAX_PACKAGE_BYTES and the connector stops a download over
    # CONNECTOR_MAX_PACKAGE_BYTES.
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=True,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise _syntax_error(exc) from exc

    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise _doctype_error(docinfo.doctype)
    if root.tag != ROOT_TAG:
        raise EdxmlError(
            f"root element is {root.tag!r}, expected edXML in namespace {NAMESPACE}",
            "Gói tin không phải là gói edXML theo QCVN 102:2016/BTTTT.",
            element="edXML",
        )
    return root


def _prolog_has_doctype(data: bytes) -> bool:
    """Scan the XML declaration, PIs and comments before the root for a DOCTYPE.

    The scan covers the first _PROLOG_SCAN_SIZE bytes in UTF-8 or any
    ASCII-compatible encoding, and UTF-16 with a byte order mark.
    """
    head = data[:_PROLOG_SCAN_SIZE]
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        head = head.decode("utf-16", errors="replace").encode("utf-8")
    position = 0
    while (start := head.find(b"<", position)) >= 0:
        if head.startswith(b"<!DOCTYPE", start):
            return True
        if head.startswith(b"<?", start):
            end = head.find(b"?>", start)
        elif head.startswith(b"<!--", start):
            end = head.find(b"-->", start)
        else:
            return False  # The root element starts here, so no DOCTYPE follows.
        if end < 0:
            return False
        position = end + 2
    return False


def _doctype_error(doctype: str) -> EdxmlError:
    # Without a DTD there are no entities to expand or fetch. A DOCTYPE could
    # declare some, so it is rejected even when it declares nothing.
    return EdxmlError(
        f"package has a DOCTYPE ({doctype}), but DTDs and entities are not "
        "allowed in edXML",
        "Gói tin có khai báo DOCTYPE nên bị từ chối vì lý do an toàn.",
        element="DOCTYPE",
    )


def _syntax_error(exc: etree.XMLSyntaxError) -> EdxmlError:
    return EdxmlError(
        f"package is not well-formed XML: {exc}",
        f"Gói tin không phải là XML hợp lệ (lỗi ở dòng {exc.lineno}). Đề nghị "
        "đơn vị gửi kiểm tra và gửi lại.",
    )
