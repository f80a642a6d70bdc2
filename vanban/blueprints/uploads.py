"""Turning uploaded files from a request into stored files."""

from flask import request

from vanban.services import ServiceError, files
from vanban.services.files import StoredFile


def stored_uploads(field: str = "files") -> list[StoredFile]:
    """Store every non-empty file of the field; errors name the file and the field."""
    stored = []
    for upload in request.files.getlist(field):
        if not upload or not upload.filename:
            continue
        try:
            stored.append(files.store(upload.stream, upload.filename))
        except ServiceError as error:
            name = files.clean_name(upload.filename)
            raise ServiceError(f"{name}: {error.message}", field=field) from error
    return stored
