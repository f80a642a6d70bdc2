"""Attachment storage: content-addressed files with types decided from content."""

import hashlib
import io
import logging
import os
import tempfile
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import filetype
from flask import current_app

from vanban.services import ServiceError
from vanban.services.text import nfc

logger = logging.getLogger(__name__)

# File types a ward office exchanges. Other content is rejected, whatever its name.
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ALLOWED_TYPES = {
    "application/pdf": "PDF",
    DOCX: "DOCX",
    XLSX: "XLSX",
    "application/msword": "DOC",
    "application/vnd.ms-excel": "XLS",
    "application/vnd.oasis.opendocument.text": "ODT",
    "image/png": "PNG",
    "image/jpeg": "JPEG",
    "image/tiff": "TIFF",
}
ALLOWED_LABEL = ", ".join(sorted(set(ALLOWED_TYPES.values())))
MAX_NAME_BYTES = 255
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class StoredFile:
    sha256: str
    size: int
    content_type: str
    original_name: str


def size_label(size: int) -> str:
    """Write a byte count as MB, or KB below one MB, the way users read sizes."""
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):g} MB"
    return f"{max(size // 1024, 1)} KB"


def upload_help() -> str:
    limit = size_label(current_app.config["MAX_UPLOAD_BYTES"])
    return f"Tối đa {limit} mỗi tệp. Nhận các định dạng: {ALLOWED_LABEL}."


def content_disposition(kind: str, name: str) -> str:
    """Build a Content-Disposition header with a readable ASCII fallback name.

    Browsers that read RFC 6266 take the UTF-8 `filename*`; the fallback keeps
    Vietnamese letters as their base letter (Đ as D) instead of dropping them.
    """
    decomposed = unicodedata.normalize("NFD", name.replace("Đ", "D").replace("đ", "d"))
    fallback = "".join(
        ch if ch.isascii() and ch.isprintable() and ch not in '"\\' else "_"
        for ch in decomposed
        if unicodedata.category(ch) != "Mn"
    )
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def files_dir() -> Path:
    path = Path(current_app.instance_path) / "files"
    path.mkdir(parents=True, exist_ok=True)
    return path


def path_for(sha256: str) -> Path:
    if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
        raise ValueError("not a SHA-256 hex digest")
    return files_dir() / sha256


def clean_name(name: str | None) -> str:
    """Keep a display name: NFC, no path parts or control characters, ≤255 bytes."""
    name = nfc(name).replace("\\", "/").rsplit("/", 1)[-1].strip(". ")
    if not name:
        name = "tep-dinh-kem"
    stem, dot, ext = name.rpartition(".")
    if not dot or len(ext.encode()) > 16:
        stem, ext = name, ""
    suffix = f".{ext}" if ext else ""
    budget = MAX_NAME_BYTES - len(suffix.encode())
    encoded = stem.encode()[:budget]
    stem = encoded.decode("utf-8", errors="ignore")
    return stem + suffix


def _detect_zip_office(path: Path) -> str | None:
    """Tell DOCX, XLSX and ODT apart from a plain ZIP by their member names."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist()[:2000])
            if "mimetype" in names:
                mimetype = archive.read("mimetype")[:100].decode("ascii", "ignore")
                if mimetype == "application/vnd.oasis.opendocument.text":
                    return mimetype
    except (zipfile.BadZipFile, OSError, ValueError):
        return None
    if "[Content_Types].xml" in names:
        if any(n.startswith("word/") for n in names):
            return DOCX
        if any(n.startswith("xl/") for n in names):
            return XLSX
    return None


def detect_type(path: Path) -> str | None:
    """Return the MIME type read from the file's bytes, or None when unknown."""
    with open(path, "rb") as handle:
        head = handle.read(8192)
    if head.startswith(b"PK\x03\x04"):
        return _detect_zip_office(path)
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        # An OLE2 container: Word or Excel 97-2003; both are accepted as DOC/XLS.
        return (
            "application/msword"
            if b"W\x00o\x00r\x00d" in head
            else "application/vnd.ms-excel"
        )
    kind = filetype.guess(head)
    return kind.mime if kind else None


def store_bytes(data: bytes, original_name: str | None) -> StoredFile:
    """Save bytes received whole, such as an edXML attachment, as `store` does."""
    return store(io.BytesIO(data), original_name)


def store(stream, original_name: str | None) -> StoredFile:
    """Save an upload under its SHA-256; raise ServiceError for a bad file."""
    limit = current_app.config["MAX_UPLOAD_BYTES"]
    directory = files_dir()
    digest = hashlib.sha256()
    size = 0
    handle, temp_name = tempfile.mkstemp(dir=directory, prefix=".upload-")
    temp_path = Path(temp_name)
    try:
        with os.fdopen(handle, "wb") as out:
            while chunk := stream.read(_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise ServiceError(
                        f"Tệp vượt quá dung lượng cho phép ({size_label(limit)})."
                    )
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise ServiceError("Tệp rỗng, vui lòng chọn lại tệp.")
        content_type = detect_type(temp_path)
        if content_type not in ALLOWED_TYPES:
            raise ServiceError(
                f"Định dạng tệp không được chấp nhận. Chỉ nhận: {ALLOWED_LABEL}."
            )
        sha256 = digest.hexdigest()
        final = directory / sha256
        if final.exists():
            temp_path.unlink()
        else:
            os.replace(temp_path, final)
    finally:
        if temp_path.exists():
            temp_path.unlink()
    logger.info("file %s stored, %d bytes, %s", sha256[:12], size, content_type)
    return StoredFile(sha256, size, content_type, clean_name(original_name))


def extension_for(content_type: str) -> str:
    return ALLOWED_TYPES.get(content_type, "").lower()
