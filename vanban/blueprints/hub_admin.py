"""Hub settings for the city's admins: connected organisations and their tokens.

Registered only when HUB_ENABLED is set. A token appears once, on the page
returned by the POST that issued it, and is stored only as a hash.
"""

import logging

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user, login_required
from wtforms import SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from vanban.exchange import hub
from vanban.extensions import db
from vanban.forms import REQUIRED, BaseForm, EmptyForm
from vanban.models.hub import HubOrganisation
from vanban.services import ServiceError
from vanban.web import error_response, render, wants_fragment

logger = logging.getLogger(__name__)
bp = Blueprint("hub_admin", __name__, url_prefix="/hub")
# base.html shows the menu link only when this returns True for the current user.
bp.add_app_template_global(hub.can_administer, "can_administer_hub")


class OrganisationForm(BaseForm):
    organ_id = StringField(
        "Mã định danh",
        validators=[DataRequired(REQUIRED), Length(max=32)],
        render_kw={"placeholder": "000.00.00.H53", "autocomplete": "off"},
    )
    name = StringField(
        "Tên đơn vị", validators=[DataRequired(REQUIRED), Length(max=255)]
    )
    parent_organ_id = SelectField("Đơn vị cấp trên", choices=[])
    email = StringField("Thư điện tử", validators=[Optional(), Length(max=255)])


@bp.get("/")
@login_required
def index():
    """List the organisations connected to the hub with their message counts."""
    _check_admin()

    return render(
        "hub/index.html",
        "hub/_organisations.html",
        summaries=hub.organisation_summaries(db.session),
    )


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new_organisation():
    """Register an organisation and show its first token once."""
    _check_admin()
    form = OrganisationForm()
    form.parent_organ_id.choices = _parent_choices()

    status = 200
    if request.method == "POST":
        status = 422
        if form.validate():
            try:
                organisation, token = hub.add_organisation(
                    db.session,
                    form.organ_id.data,
                    form.name.data,
                    form.parent_organ_id.data,
                    form.email.data,
                    user=current_user,
                )
            except ServiceError as error:
                db.session.rollback()
                field = getattr(form, error.field or "", None)
                if field is not None:
                    field.errors.append(error.message)
                else:
                    form.form_errors.append(error.message)
            else:
                db.session.commit()
                return _token_page(organisation, token, added=True)
    return render(
        "hub/new.html", "hub/_organisation_form.html", status=status, form=form
    )


@bp.route("/<int:organisation_id>/token", methods=["GET", "POST"])
@login_required
def issue_token(organisation_id: int):
    """Ask for confirmation, then replace the organisation's token with a new one."""
    organisation = _load(organisation_id)
    _check_admin()
    form = EmptyForm()

    if request.method == "POST" and form.validate():
        token = hub.rotate_token(db.session, organisation, user=current_user)
        db.session.commit()
        return _token_page(organisation, token, added=False)
    return render("hub/confirm_token.html", organisation=organisation, form=form)


@bp.post("/<int:organisation_id>/deactivate")
@login_required
def deactivate(organisation_id: int):
    """Stop an organisation from using the hub and from receiving new messages."""
    return _set_active(organisation_id, False)


@bp.post("/<int:organisation_id>/activate")
@login_required
def activate(organisation_id: int):
    """Let a deactivated organisation use the hub again."""
    return _set_active(organisation_id, True)


def _set_active(organisation_id: int, active: bool):
    organisation = _load(organisation_id)
    _check_admin()

    try:
        hub.set_active(db.session, organisation, active, user=current_user)
    except ServiceError as error:
        db.session.rollback()
        return _rejected(error)
    db.session.commit()

    if wants_fragment():
        (summary,) = hub.organisation_summaries(db.session, [organisation])
        return render("hub/_row.html", summary=summary)
    if active:
        flash(f"Đã kích hoạt lại {organisation.organ_id}.", "success")
    else:
        flash(f"Đã ngừng kết nối {organisation.organ_id}.", "success")
    return redirect(url_for("hub_admin.index"), 303)


def _rejected(error: ServiceError):
    """Show why a change was rejected: in #flash for htmx, else on the list page."""
    if wants_fragment():
        return error_response(error.status_code, error.message)
    flash(error.message, "error")
    return render(
        "hub/index.html",
        status=error.status_code,
        summaries=hub.organisation_summaries(db.session),
    )


def _check_admin() -> None:
    if not hub.can_administer(current_user):
        logger.warning(
            "hub settings denied to user %s: not an admin of the city", current_user.id
        )
        abort(403)


def _load(organisation_id: int) -> HubOrganisation:
    organisation = db.session.get(HubOrganisation, organisation_id)
    if organisation is None:
        abort(404)
    return organisation


def _parent_choices() -> list[SelectChoice]:
    choices = [SelectChoice("", "— Không có —")]
    for row in hub.directory(db.session):
        choices.append(
            SelectChoice(row["organ_id"], f"{row['organ_id']} – {row['name']}")
        )
    return choices


def _token_page(organisation: HubOrganisation, token: str, *, added: bool):
    # The API's base URL, for the connector settings of the organisation.
    api_url = url_for("hub_api.organizations", _external=True).removesuffix(
        "/organizations"
    )
    return render(
        "hub/token.html",
        organisation=organisation,
        token=token,
        added=added,
        api_url=api_url,
    )
