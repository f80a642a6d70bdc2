"""Incoming documents: the electronic inbox and the clerk's and officer's actions."""

from flask import Blueprint
from flask_login import current_user, login_required

from vanban import forms
from vanban.blueprints.actions import ForwardForm, load_document, perform
from vanban.blueprints.listing import list_response
from vanban.extensions import db
from vanban.services import incoming

bp = Blueprint("inbox", __name__, url_prefix="/inbox")


@bp.get("/")
@login_required
def index():
    """List the incoming documents the user may read."""
    return list_response("incoming", "Văn bản đến", "inbox.index")


@bp.post("/<int:document_id>/return")
@login_required
def return_to_sender(document_id: int):
    """Return a received document to its sender with a reason."""
    document = load_document(document_id, for_update=True)
    form = forms.ReasonForm()
    return perform(
        document,
        "return",
        form,
        lambda: incoming.return_to_sender(
            db.session, current_user, document, form.reason.data
        ),
        "Đã trả lại văn bản cho nơi gửi.",
    )


@bp.post("/<int:document_id>/forward")
@login_required
def forward(document_id: int):
    """Forward a registered document to the advisory unit or one advisor."""
    document = load_document(document_id, for_update=True)
    form = ForwardForm()

    def act():
        advisor_id = int(form.advisor.data) if form.advisor.data else None
        incoming.forward_to_advisor(
            db.session, current_user, document, form.note.data, advisor_id
        )

    return perform(
        document, "forward", form, act, "Đã chuyển văn bản cho bộ phận tham mưu."
    )


@bp.post("/<int:document_id>/start")
@login_required
def start(document_id: int):
    """Mark that the assigned officer started handling the document."""
    document = load_document(document_id, for_update=True)
    return perform(
        document,
        "start",
        forms.EmptyForm(),
        lambda: incoming.start(db.session, current_user, document),
        "Đã nhận xử lý văn bản.",
    )


@bp.post("/<int:document_id>/finish")
@login_required
def finish(document_id: int):
    """End handling without a reply document."""
    document = load_document(document_id, for_update=True)
    form = forms.FinishForm()
    return perform(
        document,
        "finish",
        form,
        lambda: incoming.finish(db.session, current_user, document, form.note.data),
        "Đã kết thúc xử lý văn bản.",
    )
