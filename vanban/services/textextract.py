"""Text of PDF and DOCX attachments for the search index, read within fixed limits.

Files come from outside (uploads, other installations), so every read is
bounded: pages read, characters kept, declared decompressed size of a DOCX and
wall time. A file that breaks a limit or fails to parse is indexed without its
text, and only its hash and the error class are logged.
"""

import logging
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from vanban.services.files import DOCX
from vanban.services.text import nfc

logger = logging.getLogger(__name__)

PDF = "application/pdf"


@dataclass(frozen=True)
class Limits:
    """Bounds on one extraction."""

    max_pages: int = 200
    max_chars: int = 200_000
    # Sum of the uncompressed sizes a DOCX declares for its members. zipfile
    # stops reading a member at its declared size, so this bounds the bytes
    # inflated whatever the archive claims.
    max_unzipped_bytes: int = 50 * 1024 * 1024
    max_members: int = 2000
    max_seconds: float = 10.0


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class Extracted:
    text: str
    # One of models.search.EXTRACTION_STATUSES.
    status: str


class LimitExceeded(Exception):
    """A file is larger or slower to read than the limits allow."""


def extract(
    path: Path, content_type: str, limits: Limits = DEFAULT_LIMITS
) -> Extracted:
    """Read the text of a stored PDF or DOCX, with status "failed" for a bad file."""
    readers = {PDF: _pdf_text, DOCX: _docx_text}
    reader = readers.get(content_type)
    if reader is None:
        return Extracted("", "unsupported")
    deadline = time.monotonic() + limits.max_seconds
    try:
        text, truncated = reader(path, limits, deadline)
    except LimitExceeded as error:
        logger.warning("text of file %s not indexed: %s", path.name[:12], error)
        return Extracted("", "failed")
    except Exception as error:  # noqa: BLE001 (any parser error means no text)
        logger.warning(
            "text of file %s not indexed: %s", path.name[:12], type(error).__name__
        )
        return Extracted("", "failed")
    text = nfc(text)[: limits.max_chars]
    if not text:
        return Extracted("", "empty")
    return Extracted(text, "truncated" if truncated else "ok")


def _check_time(deadline: float) -> None:
    if time.monotonic() > deadline:
        raise LimitExceeded("time limit reached")


def _pdf_text(path: Path, limits: Limits, deadline: float) -> tuple[str, bool]:
    from pypdf import PdfReader

    reader = PdfReader(path)
    if reader.is_encrypted:
        raise LimitExceeded("encrypted PDF")
    parts: list[str] = []
    size = 0
    truncated = len(reader.pages) > limits.max_pages
    for index, page in enumerate(reader.pages):
        if index >= limits.max_pages:
            break
        _check_time(deadline)
        # NOTE: the time limit is checked between pages, so one page's content
        # stream is read whole; pypdf caps each decompressed stream (75 MB).
        part = page.extract_text() or ""
        parts.append(part)
        size += len(part)
        if size >= limits.max_chars:
            truncated = True
            break
    return "\n".join(parts), truncated


def _docx_text(path: Path, limits: Limits, deadline: float) -> tuple[str, bool]:
    from docx import Document

    with zipfile.ZipFile(path) as archive:
        members = archive.infolist()
        if len(members) > limits.max_members:
            raise LimitExceeded(f"{len(members)} members in the archive")
        declared = sum(member.file_size for member in members)
        if declared > limits.max_unzipped_bytes:
            raise LimitExceeded(f"{declared} bytes once unzipped")

    document = Document(str(path))
    parts: list[str] = []
    size = 0
    for paragraph in _paragraphs(document):
        _check_time(deadline)
        parts.append(paragraph)
        size += len(paragraph) + 1
        if size >= limits.max_chars:
            return "\n".join(parts), True
    return "\n".join(parts), False


def _paragraphs(document):
    """Yield the text of body paragraphs, then of table cells."""
    for paragraph in document.paragraphs:
        yield paragraph.text
    for table in document.tables:
        for row in table.rows:
            for cell in row.cells:
                yield cell.text
