"""Proposals, instructions (bút phê) and assignments on incoming documents."""

from flask import Blueprint, url_for
from flask_login import current_user, login_required

from vanban import forms
from vanban.blueprints.actions import load_document, perform
from vanban.extensions import db
from vanban.services import deadlines, incoming

bp = Blueprint("annotation", __name__, url_prefix="/annotation")


@bp.post("/<int:document_id>/propose")
@login_required
def propose(document_id: int):
    """Send the advisor's handling proposal to the chairman."""
    document = load_document(document_id, for_update=True)
    form = forms.ProposeForm()

    def act():
        incoming.propose(db.session, current_user, document, form.text.data)
        # An advisor named at the forward held the document until now.
        document.holder_id = None

    # An uncleared advisor reads a secret document only while holding it, so
    # after proposing they return to the list instead of a 404.
    loses_access = document.secrecy > 0 and not current_user.secret_clearance
    return perform(
        document,
        "propose",
        form,
        act,
        "Đã trình đề xuất xử lý lên lãnh đạo.",
        redirect_to=url_for("inbox.index") if loses_access else None,
    )


def _lead(value: str) -> tuple[int | None, int | None]:
    """Split the lead choice "d<id>" (department) or "u<id>" (officer)."""
    kind, number = value[:1], value[1:]
    if not number.isdigit():
        return None, None
    return (int(number), None) if kind == "d" else (None, int(number))


@bp.post("/<int:document_id>/instruct")
@login_required
def instruct(document_id: int):
    """Record the leader's instruction and assignment."""
    document = load_document(document_id, for_update=True)
    form = forms.InstructForm()

    def act():
        department_id, user_id = _lead(form.lead.data or "")
        incoming.instruct(
            db.session,
            current_user,
            document,
            text=form.text.data,
            lead_department_id=department_id,
            lead_user_id=user_id,
            support_department_ids=tuple(form.support.data or ()),
            info_department_ids=tuple(form.info.data or ()),
            deadline=deadlines.deadline_or_default(
                db.session, document, form.deadline.data
            ),
        )

    return perform(document, "instruct", form, act, "Đã bút phê và phân công xử lý.")


@bp.post("/<int:document_id>/assign")
@login_required
def assign(document_id: int):
    """Record the department head's instruction and assign an officer."""
    document = load_document(document_id, for_update=True)
    form = forms.AssignForm()
    return perform(
        document,
        "assign",
        form,
        lambda: incoming.assign_officer(
            db.session,
            current_user,
            document,
            officer_id=form.officer.data,
            text=form.text.data,
            deadline=deadlines.deadline_or_default(
                db.session, document, form.deadline.data
            ),
        ),
        "Đã giao chuyên viên xử lý.",
    )
