"""Drafts and their review: submit, initials, format check, approval."""

from flask import Blueprint
from flask_login import current_user, login_required

from vanban import forms
from vanban.blueprints.actions import load_document, perform
from vanban.blueprints.uploads import stored_uploads
from vanban.extensions import db
from vanban.services import drafts

bp = Blueprint("approval", __name__, url_prefix="/approval")


@bp.post("/<int:document_id>/reply")
@login_required
def reply(document_id: int):
    """Start a reply draft to an incoming document."""
    document = load_document(document_id, for_update=True)
    form = forms.DraftForm()
    return perform(
        document,
        "draft_reply",
        form,
        lambda: drafts.create_draft(
            db.session,
            current_user,
            type_name=form.type_name.data,
            subject=form.subject.data,
            body_text=form.body_text.data,
            files=stored_uploads(),
            reply_to=document,
        ),
        "Đã tạo dự thảo văn bản trả lời.",
    )


@bp.post("/<int:document_id>/revise")
@login_required
def revise(document_id: int):
    """Save a new version of a draft."""
    document = load_document(document_id, for_update=True)
    form = forms.ReviseForm()
    return perform(
        document,
        "revise",
        form,
        lambda: drafts.revise(
            db.session,
            current_user,
            document,
            subject=form.subject.data,
            body_text=form.body_text.data,
            note=form.note.data,
            files=stored_uploads(),
        ),
        "Đã lưu phiên bản dự thảo mới.",
    )


@bp.post("/<int:document_id>/submit")
@login_required
def submit(document_id: int):
    """Submit a draft to the department head."""
    document = load_document(document_id, for_update=True)
    form = forms.CommentForm()
    return perform(
        document,
        "submit",
        form,
        lambda: drafts.submit(db.session, current_user, document, form.comment.data),
        "Đã trình dự thảo lên lãnh đạo phòng.",
    )


@bp.post("/<int:document_id>/head-return")
@login_required
def head_return(document_id: int):
    """Return a draft from the department head to its author."""
    document = load_document(document_id, for_update=True)
    form = forms.RequiredCommentForm()
    return perform(
        document,
        "head_return",
        form,
        lambda: drafts.head_return(
            db.session, current_user, document, form.comment.data
        ),
        "Đã trả lại dự thảo cho chuyên viên.",
    )


@bp.post("/<int:document_id>/initial")
@login_required
def initial(document_id: int):
    """Initial (ký nháy) a draft and send it on."""
    document = load_document(document_id, for_update=True)
    form = forms.InitialForm()
    return perform(
        document,
        "initial",
        form,
        lambda: drafts.initial(
            db.session,
            current_user,
            document,
            send_to=form.send_to.data,
            comment=form.comment.data,
        ),
        "Đã ký nháy và trình dự thảo.",
    )


@bp.post("/<int:document_id>/format-check")
@login_required
def format_check(document_id: int):
    """Record the format checklist and pass or return the draft."""
    document = load_document(document_id, for_update=True)
    form = forms.FormatCheckForm()
    passed = form.decision.data != "return"
    return perform(
        # Passing and returning share one form and the same permission.
        document,
        "format_pass",
        form,
        lambda: drafts.check_format(
            db.session,
            current_user,
            document,
            ticked=set(form.checklist.data or []),
            passed=passed,
            comment=form.comment.data,
        ),
        "Đã ghi kết quả kiểm tra thể thức.",
    )


@bp.post("/<int:document_id>/approve")
@login_required
def approve(document_id: int):
    """Approve a draft for issue."""
    document = load_document(document_id, for_update=True)
    form = forms.CommentForm()
    return perform(
        document,
        "approve",
        form,
        lambda: drafts.approve(db.session, current_user, document, form.comment.data),
        "Đã phê duyệt dự thảo.",
    )


@bp.post("/<int:document_id>/leader-return")
@login_required
def leader_return(document_id: int):
    """Return a draft from the leader to its author."""
    document = load_document(document_id, for_update=True)
    form = forms.RequiredCommentForm()
    return perform(
        document,
        "leader_return",
        form,
        lambda: drafts.leader_return(
            db.session, current_user, document, form.comment.data
        ),
        "Đã trả lại dự thảo.",
    )
