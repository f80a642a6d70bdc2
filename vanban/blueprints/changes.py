"""Revoke, update or replace an issued outgoing document at its recipients."""

import logging

from flask import Blueprint, g, redirect, url_for
from flask_login import current_user, login_required
from wtforms import DateField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from vanban.blueprints.actions import (
    commit_and_deliver,
    document_response,
    load_document,
)
from vanban.extensions import db
from vanban.forms import REQUIRED, BaseForm
from vanban.services import ServiceError, changes

logger = logging.getLogger(__name__)
bp = Blueprint("changes", __name__, url_prefix="/changes")

REASON = [DataRequired(REQUIRED), Length(max=changes.MAX_REASON_LENGTH)]


class RevokeForm(BaseForm):
    reason = TextAreaField("Lý do thu hồi", validators=REASON)


class UpdateForm(BaseForm):
    subject = StringField(
        "Trích yếu", validators=[DataRequired(REQUIRED), Length(max=500)]
    )
    description = TextAreaField("Tóm tắt", validators=[Optional(), Length(max=4000)])
    due_date = DateField("Hạn trả lời", validators=[Optional()])
    reason = TextAreaField("Lý do cập nhật", validators=REASON)


class ReplaceForm(BaseForm):
    replacement = StringField(
        "Số, ký hiệu văn bản thay thế (đã phát hành)",
        validators=[DataRequired(REQUIRED), Length(max=100)],
    )
    reason = TextAreaField("Lý do thay thế", validators=REASON)


FORMS = {"revoke": RevokeForm, "update": UpdateForm, "replace": ReplaceForm}


def change_forms(document) -> dict:
    """Return the three forms for the document page, keeping a failed one as typed."""
    failed = getattr(g, "failed_change", {})
    forms = {}
    for name, form_class in FORMS.items():
        if name in failed:
            forms[name] = failed[name]
        elif name == "update":
            forms[name] = form_class(prefix=name, formdata=None, obj=document)
        else:
            forms[name] = form_class(prefix=name, formdata=None)
    return forms


bp.add_app_template_global(changes.can_change, "can_change_issued")
bp.add_app_template_global(change_forms, "change_forms")


@bp.post("/<int:document_id>/revoke")
@login_required
def revoke(document_id: int):
    """Revoke an issued document at every recipient (thu hồi)."""
    return _act(
        document_id,
        "revoke",
        lambda document, form: changes.revoke(
            db.session, current_user, document, form.reason.data
        ),
    )


@bp.post("/<int:document_id>/update")
@login_required
def update(document_id: int):
    """Send changed metadata of an issued document to every recipient."""
    return _act(
        document_id,
        "update",
        lambda document, form: changes.update(
            db.session,
            current_user,
            document,
            form.reason.data,
            subject=form.subject.data,
            description=form.description.data or "",
            due_date=form.due_date.data,
        ),
    )


@bp.post("/<int:document_id>/replace")
@login_required
def replace(document_id: int):
    """Replace an issued document by another document issued here."""
    return _act(
        document_id,
        "replace",
        lambda document, form: changes.replace(
            db.session,
            current_user,
            document,
            form.reason.data,
            form.replacement.data,
        ),
    )


def _act(document_id: int, name: str, action):
    """Load, check the form, act, then commit and deliver, or show the errors."""
    document = load_document(document_id, for_update=True)
    refused = changes.refusal(current_user, document)
    if refused is not None:
        raise refused

    form = FORMS[name](prefix=name)
    if form.validate():
        try:
            action(document, form)
        except ServiceError as exc:
            db.session.rollback()
            document = load_document(document_id)
            target = getattr(form, exc.field or "reason", form.reason)
            target.errors = [*target.errors, exc.message]
        else:
            commit_and_deliver()
            logger.info(
                "document %s: %s sent by user %s", document_id, name, current_user.id
            )
            return redirect(url_for("documents.show", document_id=document_id), 303)
    g.failed_change = {name: form}
    return document_response(document, status=422)
