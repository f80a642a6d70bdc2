"""The zip wrapper around each edXML attachment: pack one file, unpack with limits."""

import hashlib
import io
import struct
import uuid
import zipfile
import zlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath

from vanban.exchange.packages import EdxmlError

MIB = 1024 * 1024
_LOCAL_HEADER = b"PK\x03\x04"
_END_RECORD = b"PK\x05\x06"
_END_RECORD_FORMAT = "<4s4H2LH"
_END_RECORD_SIZE = struct.calcsize(_END_RECORD_FORMAT)
_MAX_ARCHIVE_COMMENT = 0xFFFF
_READ_CHUNK = MIB
# Room for one central directory record: 46 fixed bytes plus the entry's name,
# extra field and comment, which stay far below 2 KiB in real archives.
_CENTRAL_RECORD_ALLOWANCE = 2048
_ELEMENT = "AttachmentEncoded/Attachment"
# `pack` deflates a file only when samples of it compress, because most
# attachments (PDFs with compressed streams, scans, DOCX, images) are
# compressed already, and deflating 1 MiB of such data takes tens of
# milliseconds of CPU to save nothing.
_SAMPLE_SIZE = 16 * 1024
_SAMPLE_COUNT = 3
# Deflated samples at most this share of their size mean the file compresses.
_COMPRESSIBLE_RATIO = 0.9


@dataclass(frozen=True)
class ZipLimits:
    """Limits on the attachments of one package, checked while unpacking them."""

    # Bytes of all attachments of one package together, once unpacked.
    max_total_size: int = 50 * MIB
    # Entries in the zip archive of one attachment.
    max_entries: int = 20
    # Uncompressed size divided by compressed size, for each entry.
    max_ratio: int = 100
    # Entries up to this size skip the ratio check, because a small file of
    # repeated bytes compresses past any ratio and still cannot exhaust memory.
    ratio_check_min_size: int = 1 * MIB


@dataclass(frozen=True)
class Unpacked:
    data: bytes
    # Name of the zip entry the data came from, or None for a payload kept as is.
    entry_name: str | None = None


def is_zip(payload: bytes) -> bool:
    """Tell whether the bytes start like a zip archive (an empty one included)."""
    return payload.startswith(_LOCAL_HEADER) or payload.startswith(_END_RECORD)


def pack(name: str, data: bytes, when: datetime) -> bytes:
    """Zip one file as the real packages do: one entry `<uuid>.<ext>`.

    The same file packed at the same time gives the same bytes.

    The entry is deflated when the file compresses, and stored as is when it
    is compressed already. The entry name is ASCII so that every reader
    decodes it the same way. The attachment's real name is written in the
    package itself.
    """
    suffix = PurePosixPath(name).suffix
    if not (suffix[1:].isascii() and suffix[1:].isalnum()):
        suffix = ""
    # Named after the content, so that packing the same file again at the
    # same time gives the same bytes (a retried package must not differ).
    stem = uuid.uuid5(uuid.NAMESPACE_OID, hashlib.sha256(data).hexdigest())
    entry = zipfile.ZipInfo(f"{stem}{suffix}", date_time=when.timetuple()[:6])
    entry.compress_type = (
        zipfile.ZIP_DEFLATED if compresses(data) else zipfile.ZIP_STORED
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(entry, data)
    return buffer.getvalue()


def compresses(data: bytes) -> bool:
    """Tell whether deflating the data would make it noticeably smaller.

    Small files count as compressible, so `pack` always deflates them. Larger
    ones are judged by samples from their start, middle and end, deflated at
    the fastest level.
    """
    if len(data) <= _SAMPLE_SIZE * _SAMPLE_COUNT * 4:
        return True
    view = memoryview(data)
    step = (len(data) - _SAMPLE_SIZE) // (_SAMPLE_COUNT - 1)
    compressor = zlib.compressobj(1)
    deflated = 0
    for index in range(_SAMPLE_COUNT):
        start = index * step
        deflated += len(compressor.compress(view[start : start + _SAMPLE_SIZE]))
    deflated += len(compressor.flush())
    return deflated <= _SAMPLE_SIZE * _SAMPLE_COUNT * _COMPRESSIBLE_RATIO


def unpack(payload: bytes, attachment: str, budget: int, limits: ZipLimits) -> Unpacked:
    """Unpack a zipped attachment, checking the limits before and while reading.

    An archive with one file is the standard wrapper and yields that file. An
    archive with several files is taken to be the attachment itself (a DOCX,
    XLSX or ODT sent without the wrapper) and is returned as received. `budget`
    is the number of bytes the package may still unpack.
    """
    _check_declared_entries(payload, attachment, limits)
    try:
        archive = zipfile.ZipFile(io.BytesIO(payload))
    except (zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise _unreadable(attachment, exc) from exc

    with archive:
        entries = archive.infolist()
        if len(entries) > limits.max_entries:
            raise _too_many_entries(attachment, f"{len(entries)} entries", limits)
        files = [entry for entry in entries if not entry.is_dir()]
        if not files:
            raise EdxmlError(
                f"attachment {attachment!r}: zip archive contains no file",
                f"Tệp đính kèm “{attachment}” là tệp nén rỗng.",
                element=_ELEMENT,
            )
        if sum(entry.file_size for entry in files) > budget:
            raise too_large_error(attachment, limits)
        for entry in files:
            _check_ratio(entry, attachment, limits)

        if len(files) > 1:
            if len(payload) > budget:
                raise too_large_error(attachment, limits)
            return Unpacked(payload)
        entry = files[0]
        data = _read_bounded(archive, entry, attachment, budget, limits)
        return Unpacked(data, entry.filename)


def too_large_error(attachment: str, limits: ZipLimits) -> EdxmlError:
    """Return the error for attachments that exceed the package's size limit."""
    limit_mib = limits.max_total_size / MIB
    return EdxmlError(
        f"attachment {attachment!r}: attachments of the package exceed "
        f"{limits.max_total_size} bytes once unpacked",
        f"Tệp đính kèm “{attachment}” làm tổng dung lượng tệp đính kèm của gói tin "
        f"vượt quá {limit_mib:g} MiB sau khi giải nén.",
        element=_ELEMENT,
    )


def _check_declared_entries(payload: bytes, attachment: str, limits: ZipLimits):
    """Reject an archive whose end record announces too many entries.

    This runs before zipfile lists the central directory, which would otherwise
    build one object per entry however many there are.
    """
    start = max(0, len(payload) - _END_RECORD_SIZE - _MAX_ARCHIVE_COMMENT)
    position = payload.rfind(_END_RECORD, start)
    if position < 0 or len(payload) - position < _END_RECORD_SIZE:
        return  # zipfile reports the archive as unreadable.
    record = struct.unpack_from(_END_RECORD_FORMAT, payload, position)
    entry_count, directory_size = record[4], record[5]
    if entry_count > limits.max_entries:
        raise _too_many_entries(attachment, f"{entry_count} entries", limits)
    if directory_size > limits.max_entries * _CENTRAL_RECORD_ALLOWANCE:
        detail = f"a central directory of {directory_size} bytes"
        raise _too_many_entries(attachment, detail, limits)


def _check_ratio(entry: zipfile.ZipInfo, attachment: str, limits: ZipLimits):
    if entry.file_size <= limits.ratio_check_min_size:
        return
    ratio = entry.file_size / max(entry.compress_size, 1)
    if ratio > limits.max_ratio:
        raise EdxmlError(
            f"attachment {attachment!r}: zip entry {entry.filename!r} has "
            f"compression ratio {ratio:.0f}, more than the limit of {limits.max_ratio}",
            f"Tệp đính kèm “{attachment}” có tỷ lệ nén bất thường, có thể là tệp nén "
            "độc hại, nên gói tin bị từ chối.",
            element=_ELEMENT,
        )


def _read_bounded(
    archive: zipfile.ZipFile,
    entry: zipfile.ZipInfo,
    attachment: str,
    budget: int,
    limits: ZipLimits,
) -> bytes:
    """Read one entry and stop once it exceeds the budget, whatever size it declares."""
    chunks = []
    total = 0
    try:
        with archive.open(entry) as stream:
            while chunk := stream.read(_READ_CHUNK):
                total += len(chunk)
                if total > budget:
                    raise too_large_error(attachment, limits)
                chunks.append(chunk)
    except (
        zipfile.BadZipFile,
        zlib.error,
        EOFError,
        RuntimeError,  # encrypted entry
        NotImplementedError,  # compression method zipfile cannot read
        ValueError,
    ) as exc:
        raise _unreadable(attachment, exc) from exc
    return b"".join(chunks)


def _too_many_entries(attachment: str, found: str, limits: ZipLimits) -> EdxmlError:
    return EdxmlError(
        f"attachment {attachment!r}: zip archive has {found}, more than the limit "
        f"of {limits.max_entries} entries allows",
        f"Tệp đính kèm “{attachment}” là tệp nén chứa quá nhiều tệp (tối đa "
        f"{limits.max_entries} tệp).",
        element=_ELEMENT,
    )


def _unreadable(attachment: str, exc: Exception) -> EdxmlError:
    return EdxmlError(
        f"attachment {attachment!r}: zip archive cannot be read: {exc}",
        f"Tệp đính kèm “{attachment}” là tệp nén bị hỏng hoặc có mật khẩu, không "
        "giải nén được.",
        element=_ELEMENT,
    )
