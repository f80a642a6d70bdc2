"""Registers: entering incoming documents (số đến) and numbering outgoing ones."""

from flask import Blueprint
from flask_login import current_user, login_required

from vanban import forms
from vanban.blueprints.actions import load_document, perform
from vanban.blueprints.listing import list_response
from vanban.extensions import db
from vanban.services import drafts, incoming

bp = Blueprint("registers", __name__, url_prefix="/registers")


@bp.get("/outgoing/")
@login_required
def outgoing():
    """List outgoing documents and drafts the user may read."""
    return list_response("outgoing", "Văn bản đi", "registers.outgoing")


@bp.post("/incoming/<int:document_id>")
@login_required
def register_incoming(document_id: int):
    """Enter a received document in the incoming register."""
    document = load_document(document_id, for_update=True)
    return perform(
        document,
        "register",
        forms.EmptyForm(),
        lambda: incoming.register(db.session, current_user, document),
        "Đã vào sổ văn bản đến.",
    )


@bp.post("/outgoing/<int:document_id>/issue")
@login_required
def issue(document_id: int):
    """Number an approved document and send it to its recipients."""
    document = load_document(document_id, for_update=True)
    form = forms.IssueForm()
    return perform(
        document,
        "issue",
        form,
        lambda: drafts.issue(
            db.session,
            current_user,
            document,
            subject=form.subject.data,
            recipient_ids=list(form.recipients.data or []),
            info_ids=list(form.info.data or []),
        ),
        "Đã vào sổ và phát hành văn bản.",
    )
