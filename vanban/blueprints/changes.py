"""Revoke, update or replace an issued outgoing document at its recipients."""

import logging

from flask import Blueprint, g, redirect, url_for
from flask_login import current_user, login_required
from wtforms import DateField, RadioField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from vanban.blueprints.actions import (
    commit_and_deliver,
    document_response,
    load_document,
)
from vanban.exchange import deliveries
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


def _optional_id(value) -> int | None:
    """Read a picked document id; anything else counts as no pick."""
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdecimal() and len(value) <= 18:
        return int(value)
    return None


class ReplaceForm(BaseForm):
    replacement = StringField(
        "Số, ký hiệu văn bản thay thế (đã phát hành)",
        validators=[DataRequired(REQUIRED), Length(max=100)],
    )
    # Shown only when several issued documents have the typed number.
    replacement_id = RadioField(
        "Chọn văn bản thay thế",
        coerce=_optional_id,
        choices=[],
        validate_choice=False,
        validators=[Optional()],
    )
    reason = TextAreaField("Lý do thay thế", validators=REASON)


# Help text under a change form's field, by form and field name.
HELP = {
    ("replace", "replacement"): (
        "Nhập số, ký hiệu như 02/UBND-VP. Nếu có nhiều văn bản cùng số (sổ văn "
        "bản mật, năm khác), trang sẽ hỏi chọn một. Văn bản thay thế được gửi "
        "tới mọi nơi nhận của văn bản bị thay thế, nên văn bản mật chỉ thay thế "
        "được khi các nơi này đều đã là nơi nhận của nó. Không dùng văn bản đã "
        "thu hồi hoặc đã bị thay thế."
    ),
}


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
bp.add_app_template_global(HELP, "change_help")
bp.add_app_template_global(deliveries.PACKAGE_LABELS, "package_labels")


@bp.app_template_global()
def delivery_table(document) -> deliveries.DeliveryTable:
    """Return the packages about the document by recipient, for its page."""
    return deliveries.delivery_table(db.session, document)


@bp.app_template_global()
def package_replaces(message):
    """Return the document a replacement package replaces, for the exchange page."""
    return deliveries.replaced_document(db.session, message)


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
            form.replacement_id.data,
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
            if isinstance(exc, changes.AmbiguousReplacement):
                form.replacement_id.choices = exc.choices
        else:
            commit_and_deliver()
            logger.info(
                "document %s: %s sent by user %s", document_id, name, current_user.id
            )
            return redirect(url_for("documents.show", document_id=document_id), 303)
    if name == "replace" and not form.replacement_id.choices:
        # Keep the pick list when another field failed, so the pick survives.
        form.replacement_id.choices = changes.replacement_choices(
            db.session, current_user, document, form.replacement.data or ""
        )
    g.failed_change = {name: form}
    return document_response(document, status=422)
