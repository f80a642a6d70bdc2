"""The document page's action forms, shared by the blueprints that act on it."""

import logging
from collections import Counter
from collections.abc import Callable

from flask import abort, flash, make_response, redirect, url_for
from flask_login import current_user
from sqlalchemy import select
from wtforms import SelectField
from wtforms.validators import Optional

from vanban import forms
from vanban.extensions import db
from vanban.models import (
    Department,
    Document,
    Organisation,
    User,
    UserRole,
)
from vanban.services import (
    ServiceError,
    deadlines,
    documents,
    drafts,
    outbox,
    permissions,
    trial,
    workflow,
)
from vanban.services.doctypes import ROLE_LABELS
from vanban.web import render, wants_fragment

logger = logging.getLogger(__name__)


class ForwardForm(forms.NoteForm):
    # Empty for the whole advisory unit. A named advisor becomes the holder, so
    # they may read the document even when it is secret and they lack clearance.
    advisor = SelectField("Người tham mưu", validators=[Optional()], default="")


# Form class posted by each action.
ACTION_FORMS = {
    "register": forms.EmptyForm,
    "return": forms.ReasonForm,
    "forward": ForwardForm,
    "propose": forms.ProposeForm,
    "instruct": forms.InstructForm,
    "assign": forms.AssignForm,
    "start": forms.EmptyForm,
    "finish": forms.FinishForm,
    "draft_reply": forms.DraftForm,
    "revise": forms.ReviseForm,
    "submit": forms.CommentForm,
    "head_return": forms.RequiredCommentForm,
    "initial": forms.InitialForm,
    "format_pass": forms.FormatCheckForm,
    "approve": forms.CommentForm,
    "leader_return": forms.RequiredCommentForm,
    "issue": forms.IssueForm,
}
ACTION_ENDPOINTS = {
    "register": "registers.register_incoming",
    "return": "inbox.return_to_sender",
    "forward": "inbox.forward",
    "propose": "annotation.propose",
    "instruct": "annotation.instruct",
    "assign": "annotation.assign",
    "start": "inbox.start",
    "finish": "inbox.finish",
    "draft_reply": "approval.reply",
    "revise": "approval.revise",
    "submit": "approval.submit",
    "head_return": "approval.head_return",
    "initial": "approval.initial",
    "format_pass": "approval.format_check",
    "approve": "approval.approve",
    "leader_return": "approval.leader_return",
    "issue": "registers.issue",
}
# Actions that send the document back or away get a warning colour.
RETURN_ACTIONS = {"return", "head_return", "leader_return"}
# format_return shares the format checklist form with format_pass.
HIDDEN_ACTIONS = {"format_return"}


def load_document(document_id: int, *, for_update: bool = False) -> Document:
    """Load a document the current user may read, or abort with 404 or 403.

    A secret document hidden from the user gets 404, like a missing one.
    """
    document = db.session.get(Document, document_id, with_for_update=for_update)
    if document is None:
        abort(404)
    if not permissions.can_view(db.session, current_user, document):
        logger.warning("document %s hidden from user %s", document_id, current_user.id)
        abort(permissions.rejection_status(db.session, current_user, document))
    return document


def _departments(organisation_id: int) -> list[Department]:
    return list(
        db.session.scalars(
            select(Department)
            .where(Department.organisation_id == organisation_id, Department.active)
            .order_by(Department.id)
        )
    )


def _users_with_role(
    organisation_id: int, role: str, department_id: int | None = None
) -> list[User]:
    query = (
        select(User)
        .join(UserRole)
        .where(
            User.organisation_id == organisation_id,
            User.active,
            UserRole.role == role,
        )
        .order_by(User.full_name)
    )
    if department_id is not None:
        query = query.where(User.department_id == department_id)
    return list(db.session.scalars(query))


def _recipient_choices(document: Document) -> list[tuple[int, str]]:
    organisations = db.session.scalars(
        select(Organisation)
        .where(Organisation.active, Organisation.id != document.organisation_id)
        .order_by(Organisation.kind, Organisation.name)
    )
    return [(o.id, o.name) for o in organisations]


def default_recipients(document: Document) -> list[int]:
    """Suggest the replied-to document's sender and, in the trial, the city units."""
    chosen = []
    if document.reply_to and document.reply_to.sender_organisation_id:
        chosen.append(document.reply_to.sender_organisation_id)
    if document.organisation.kind == "ward" and trial.is_active(db.session):
        city_units = db.session.scalars(
            select(Organisation.id).where(
                Organisation.kind.in_(("city", "center")), Organisation.active
            )
        )
        chosen.extend(i for i in city_units if i not in chosen)
    return chosen


def prepare_form(name: str, document: Document, form=None):
    """Build (or complete a submitted) form for an action with its choices."""
    if form is None:
        form = ACTION_FORMS[name](formdata=None)
        if name == "issue":
            form.subject.data = document.subject
            form.recipients.data = default_recipients(document)
            if trial.applies(
                db.session,
                document.organisation,
                [db.session.get(Organisation, i) for i in form.recipients.data],
            ):
                if not trial.subject_matches(document.subject, document.organisation):
                    # The rule requires a prefix only, so the drafted subject follows.
                    required = trial.required_subject(document.organisation)
                    form.subject.data = f"{required} - {document.subject}"
        elif name == "revise":
            form.subject.data = document.subject
            form.body_text.data = document.body_text
        elif name == "draft_reply":
            form.subject.data = f"V/v trả lời văn bản số {document.number_and_notation}"
        elif name in ("instruct", "assign"):
            form.deadline.data = deadlines.suggested_deadline(db.session, document)
    org_id = document.organisation_id
    if name == "instruct":
        departments = _departments(org_id)
        form.lead.choices = (
            [("", "— Chọn —")]
            + [(f"d{d.id}", f"Phòng: {d.name}") for d in departments]
            + [
                (f"u{u.id}", f"Chuyên viên: {u.full_name}")
                for u in _users_with_role(org_id, "officer")
            ]
        )
        form.support.choices = [(d.id, d.name) for d in departments]
        form.info.choices = [(d.id, d.name) for d in departments]
    elif name == "forward":
        form.advisor.choices = [("", "— Cả bộ phận tham mưu —")] + [
            (str(u.id), u.full_name) for u in _users_with_role(org_id, "advisor")
        ]
    elif name == "assign":
        form.officer.choices = [
            (u.id, u.full_name)
            for u in _users_with_role(org_id, "officer", document.department_id)
        ]
    elif name == "issue":
        choices = _recipient_choices(document)
        form.recipients.choices = choices
        form.info.choices = choices
    return form


def _separate_field_ids(action_forms: dict) -> None:
    """Prefix with the action name the id of each field whose name another action
    form on the page also uses, so that every label points into its own form."""
    names = Counter(field.name for form in action_forms.values() for field in form)
    for action, form in action_forms.items():
        for field in form:
            if names[field.name] > 1:
                field.id = f"{action}-{field.name}"
                field.label.field_id = field.id


def document_context(
    document: Document, *, failed: str | None = None, failed_form=None
) -> dict:
    """Collect what the document page shows, with forms for the allowed actions."""
    session = db.session
    allowed = [
        t
        for t in workflow.allowed_actions(current_user, document)
        if t.name not in HIDDEN_ACTIONS
    ]
    action_forms = {}
    for transition in allowed:
        if transition.name == failed:
            action_forms[transition.name] = failed_form
        else:
            action_forms[transition.name] = prepare_form(transition.name, document)
    _separate_field_ids(action_forms)
    return {
        "document": document,
        "state_label": workflow.state_label(document),
        "actions": allowed,
        "action_forms": action_forms,
        "failed_action": failed,
        "attachments": documents.current_attachments(session, document),
        "versions": documents.versions(session, document),
        "all_attachments": document.attachments,
        "instructions": documents.instructions(session, document),
        "assignments": documents.assignments(session, document),
        "reviews": documents.reviews(session, document),
        "timeline": documents.timeline(session, document),
        "replies": documents.replies(session, document),
        "checklist": drafts.FORMAT_CHECKLIST,
        "trial_subject": trial.required_subject(document.organisation),
        "trial_rule_applies": document.organisation.kind == "ward"
        and trial.is_active(session),
        "role_labels": ROLE_LABELS,
        "action_endpoints": ACTION_ENDPOINTS,
        "return_actions": RETURN_ACTIONS,
        "action_labels": workflow.ACTION_LABELS,
        "final_statuses": ("02", "06"),
    }


def document_response(document: Document, status: int = 200, **kwargs):
    return render(
        "documents/page.html",
        "documents/_document.html",
        status=status,
        **document_context(document, **kwargs),
    )


# Shown when the action is saved but what it queued has not reached the hub.
WAITING_FOR_HUB = (
    "Văn bản đã được lưu, nhưng trục liên thông chưa trả lời nên chưa gửi đi "
    "được. Hệ thống sẽ tự gửi khi trục trả lời. Xem tình trạng ở trang Liên thông."
)
SENT_LATER = (
    "Văn bản đã được lưu và sẽ được gửi tới trục liên thông ở lần đồng bộ kế "
    "tiếp. Xem tình trạng ở trang Liên thông."
)


def commit_and_deliver() -> None:
    """Commit the action, then deliver what it queued in the outbox.

    Only the acting user's organisation pushes to its hub here, with short
    timeouts. Other organisations' messages and every poll are left to the
    scheduled job.
    """
    db.session.commit()
    organisation_id = current_user.organisation_id
    try:
        delivery = outbox.deliver_own(db.session, organisation_id)
        db.session.commit()
    except Exception:
        # The scheduled job retries; the user's action itself is already saved.
        db.session.rollback()
        logger.exception(
            "outbox delivery for organisation %s after commit failed", organisation_id
        )
        flash(SENT_LATER, "info")
        return
    if delivery.hub_silent:
        flash(WAITING_FOR_HUB, "info")
    elif delivery.busy:
        flash(SENT_LATER, "info")


def perform(
    document: Document,
    name: str,
    form,
    act: Callable[[], object],
    success: str,
    redirect_to: str | None = None,
):
    """Check, validate, act and respond for one action on a document."""
    workflow.require(current_user, document, name)
    prepare_form(name, document, form)
    if not form.validate():
        db.session.rollback()
        return document_response(document, 422, failed=name, failed_form=form)
    try:
        result = act()
        workflow.require_secret_reader(db.session, document, name)
    except ServiceError as error:
        if error.status_code != 422:
            raise
        db.session.rollback()
        field = getattr(form, error.field, None) if error.field else None
        if field is not None:
            field.errors = [*field.errors, error.message]
        else:
            form.form_errors.append(error.message)
        document = db.session.get(Document, document.id)
        return document_response(
            document, 422, failed=name, failed_form=prepare_form(name, document, form)
        )
    commit_and_deliver()
    flash(success, "success")
    target = redirect_to or url_for("documents.show", document_id=document.id)
    if isinstance(result, Document):
        target = url_for("documents.show", document_id=result.id)
    if wants_fragment():
        if redirect_to or isinstance(result, Document):
            # A 3xx would be followed inside the XHR; HX-Redirect loads the page.
            response = make_response("", 200)
            response.headers["HX-Redirect"] = target
            return response
        return document_response(db.session.get(Document, document.id))
    return redirect(target, 303)
