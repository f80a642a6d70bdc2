"""The document page, its fragments, file downloads, and new documents."""

import logging

from flask import Blueprint, abort, flash, redirect, request, send_file, url_for
from flask_login import current_user, login_required

from vanban import forms
from vanban.blueprints.actions import (
    commit_and_deliver,
    document_context,
    document_response,
    load_document,
)
from vanban.blueprints.uploads import stored_uploads
from vanban.extensions import db
from vanban.models import Attachment
from vanban.services import ServiceError, drafts, files, permissions
from vanban.web import render

logger = logging.getLogger(__name__)
bp = Blueprint("documents", __name__, url_prefix="/documents")


def conceals_secret(document) -> bool:
    """Tell whether the current user must not see this secret document's subject."""
    return permissions.conceals(db.session, current_user, document)


# The document_link and subject_text macros of _macros.html call this.
bp.add_app_template_global(conceals_secret, "conceals_secret")


@bp.get("/<int:document_id>")
@login_required
def show(document_id: int):
    """Show a document: metadata, files, actions, recipients and timeline."""
    document = load_document(document_id)
    return document_response(document)


@bp.get("/<int:document_id>/recipients")
@login_required
def recipients(document_id: int):
    """Return the per-recipient status table, polled by the sender's page."""
    document = load_document(document_id)
    return render(
        "documents/page.html",
        "documents/_recipients.html",
        **document_context(document),
    )


@bp.get("/attachments/<int:attachment_id>")
@login_required
def download(attachment_id: int):
    """Send an attachment under its original name, after a permission check."""
    attachment = db.session.get(Attachment, attachment_id)
    if attachment is None:
        abort(404)
    load_document(attachment.document_id)
    path = files.path_for(attachment.sha256)
    if not path.exists():
        logger.error("file of attachment %s missing from storage", attachment.id)
        abort(404)
    inline = request.args.get("inline") == "1" and (
        attachment.content_type == "application/pdf"
    )
    response = send_file(
        path,
        mimetype=attachment.content_type,
        as_attachment=not inline,
        download_name=attachment.original_name,
        conditional=True,
        etag=attachment.sha256,
    )
    response.headers["Content-Disposition"] = files.content_disposition(
        "inline" if inline else "attachment", attachment.original_name
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _new_document(form, template: str, create):
    """Validate, create and redirect, keeping the form as typed on errors."""
    status = 200
    if request.method == "POST":
        if form.validate():
            try:
                document = create()
            except ServiceError as error:
                if error.status_code != 422:
                    raise
                db.session.rollback()
                field = getattr(form, error.field or "", None)
                if field is not None:
                    field.errors = [*field.errors, error.message]
                else:
                    form.form_errors.append(error.message)
                status = 422
            else:
                commit_and_deliver()
                flash("Đã lưu văn bản.", "success")
                return redirect(url_for("documents.show", document_id=document.id), 303)
        else:
            status = 422
    return render(
        template,
        "documents/_new_form.html",
        status=status,
        form=form,
        template_kind=template,
    )


@bp.route("/new", methods=["GET", "POST"])
@login_required
def compose():
    """Let a clerk enter a signed document to number and issue."""
    if not current_user.has_role("clerk"):
        abort(403)
    form = forms.ComposeForm()
    return _new_document(
        form,
        "documents/compose.html",
        lambda: drafts.compose(
            db.session,
            current_user,
            type_name=form.type_name.data,
            subject=form.subject.data,
            description=form.description.data,
            signer_name=form.signer_name.data,
            signer_position=form.signer_position.data,
            urgency=form.urgency.data,
            secrecy=form.secrecy.data,
            due_date=form.due_date.data,
            files=stored_uploads(),
        ),
    )


@bp.route("/new-draft", methods=["GET", "POST"])
@login_required
def new_draft():
    """Let an officer start a draft on their own initiative."""
    if not current_user.has_role("officer"):
        abort(403)
    form = forms.DraftForm()
    return _new_document(
        form,
        "documents/new_draft.html",
        lambda: drafts.create_draft(
            db.session,
            current_user,
            type_name=form.type_name.data,
            subject=form.subject.data,
            body_text=form.body_text.data,
            files=stored_uploads(),
        ),
    )
