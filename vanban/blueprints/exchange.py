"""Document exchange pages: what left and reached the organisation, and hub settings.

Clerks and admins see their own organisation's outbox and received documents,
send a failed message again, send a new copy to a recipient that rejected one,
and run the hub connector now. Admins also edit
the connector settings (hub URL, token, poll interval) and test them.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    request,
    url_for,
)
from flask_login import current_user, login_required
from sqlalchemy import func, literal_column, select, union_all
from sqlalchemy.orm import selectinload
from wtforms import BooleanField, IntegerField, PasswordField, StringField
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    ValidationError,
)

from vanban.exchange import claims, connector, deliveries
from vanban.exchange.connection import (
    MAX_HUB_URL_LENGTH,
    MAX_POLL_SECONDS,
    MAX_TOKEN_LENGTH,
    MIN_POLL_SECONDS,
    check_hub_url,
    describe_problem,
)
from vanban.extensions import db
from vanban.forms import REQUIRED, BaseForm, EmptyForm
from vanban.models import (
    ConnectorSettings,
    Document,
    Organisation,
    OutboxMessage,
    ReceivedPackage,
    Recipient,
)
from vanban.services import Conflict, ServiceError, audit, outbox, permissions
from vanban.services.clock import now
from vanban.web import render, wants_fragment

logger = logging.getLogger(__name__)
bp = Blueprint("exchange", __name__, url_prefix="/exchange")

# Filter values of the list, as they appear in the query string.
KINDS = {"sent": "Gửi đi", "received": "Nhận về"}
STATES = {
    "pending": "Đang chờ gửi",
    "sent": "Đã gửi",
    "retrying": "Đang thử lại",
    "failed": "Gửi thất bại",
    # Not an outbox state: sent, then rejected by the recipient (DeliveryReport).
    "rejected": "Nơi nhận từ chối",
}
# States that "Gửi lại" applies to.
RESENDABLE_STATES = ("failed", "retrying")


def can_view_exchange(user) -> bool:
    """Tell whether a user may see the exchange page of their organisation."""
    return bool(user.is_authenticated and user.has_role("clerk", "admin"))


# base.html shows the menu link only when this returns True for the current user.
bp.add_app_template_global(can_view_exchange, "can_view_exchange")
# exchange/_transport.html shows the recipient's rejection with these.
bp.add_app_template_global(deliveries.current_report, "current_delivery_report")
bp.add_app_template_global(deliveries.short_reason, "short_reason")


def can_send_copy(message: OutboxMessage) -> bool:
    """Tell whether the current user may send a new copy of the rejected row."""
    if not deliveries.can_send_copy(db.session, message):
        return False
    document = db.session.get(Document, message.document_id)
    return permissions.can_view(db.session, current_user, document)


def newer_copy(message: OutboxMessage) -> OutboxMessage | None:
    """Return the copy sent again after a rejected row, for its row on the page."""
    return deliveries.newer_copy(db.session, message)


# exchange/_entry.html offers "Gửi lại" for a rejected row with the first and
# shows what became of the new copy with the second.
bp.add_app_template_global(can_send_copy, "can_send_copy")
bp.add_app_template_global(newer_copy, "newer_copy")


def connector_claim(settings: ConnectorSettings) -> claims.Claim | None:
    """Return the connector run's claim in force on the settings, for the pages."""
    return claims.current_claim(settings, now())


bp.add_app_template_global(connector_claim, "connector_claim")


class SettingsForm(BaseForm):
    hub_url = StringField(
        "Địa chỉ API của trục liên thông",
        validators=[DataRequired(REQUIRED), Length(max=MAX_HUB_URL_LENGTH)],
        render_kw={
            "placeholder": "https://truc.example.invalid/api/edoc/v1",
            "autocomplete": "off",
        },
    )
    # Never filled from the stored settings: the page shows the masked token.
    token = PasswordField(
        "Mã truy cập (token)",
        validators=[Length(max=MAX_TOKEN_LENGTH)],
        render_kw={"autocomplete": "new-password"},
    )
    poll_interval_seconds = IntegerField(
        "Chu kỳ hỏi trục (giây)",
        default=60,
        validators=[
            InputRequired(REQUIRED),
            NumberRange(
                min=MIN_POLL_SECONDS,
                max=MAX_POLL_SECONDS,
                message=(
                    f"Chu kỳ hỏi trục phải từ {MIN_POLL_SECONDS} đến "
                    f"{MAX_POLL_SECONDS} giây."
                ),
            ),
        ],
        render_kw={
            "type": "number",
            "min": MIN_POLL_SECONDS,
            "max": MAX_POLL_SECONDS,
            "step": 1,
        },
    )
    enabled = BooleanField("Bật kết nối trục liên thông", default=True)

    def validate_hub_url(self, field):
        try:
            field.data = check_hub_url(field.data or "")
        except ServiceError as error:
            raise ValidationError(error.message) from error


@dataclass
class Entry:
    """One row of the list: an outbox message sent or a document received."""

    kind: str
    at: datetime
    message: OutboxMessage | None = None
    document: Document | None = None
    # The recipient of a sent message.
    recipient: Organisation | None = None
    # The hub's message id of a received package; None when delivered here.
    package_message_id: str | None = None
    # The recipient's row of a sent document, with the status it reported.
    recipient_row: Recipient | None = None


@dataclass
class EntryPage:
    """One page of the list, with the filters applied and the outbox counts."""

    entries: list[Entry]
    total: int
    page: int
    pages: int
    kind: str = ""
    state: str = ""
    counts: dict[str, int] = field(default_factory=dict)


# List


@bp.get("/")
@login_required
def index():
    """List what the organisation sent and received, with the connector's state."""
    _check_clerk()
    organisation_id = current_user.organisation_id

    kind = request.args.get("kind", "")
    state = request.args.get("state", "")
    page = list_entries(
        organisation_id,
        kind if kind in KINDS else "",
        state if state in STATES else "",
        _page_number(request.args.get("page", "1")),
    )
    return render(
        "exchange/index.html",
        "exchange/_entries.html",
        page=page,
        kinds=KINDS,
        states=STATES,
        settings=_settings_of(organisation_id),
    )


def _page_number(value: str) -> int:
    # isdecimal, unlike isdigit, rejects '²', which int() cannot read.
    return int(value) if value.isdecimal() and len(value) <= 9 else 1


def outbox_counts(organisation_id: int) -> dict[str, int]:
    """Count the organisation's outbox rows by state, and the rejected ones."""
    session = db.session
    counts = dict(
        session.execute(
            select(OutboxMessage.state, func.count())
            .where(OutboxMessage.sender_organisation_id == organisation_id)
            .group_by(OutboxMessage.state)
        ).all()
    )
    rejected = session.scalar(
        deliveries.only_rejected(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.sender_organisation_id == organisation_id)
        )
    )
    if rejected:
        counts["rejected"] = rejected
    return counts


def _row_response(
    message: OutboxMessage, others: list[OutboxMessage] = (), **context
) -> Response:
    """Render a changed outbox row for htmx.

    The `others` rows, which the same action changed, and the counts follow
    out of band.
    """
    # The filter the page shows comes from its URL, which htmx sends along.
    page_url = request.headers.get("HX-Current-URL", "")
    active_state = parse_qs(urlsplit(page_url).query).get("state", [""])[0]
    return render(
        "exchange/_row_update.html",
        entry=_sent_entry(message),
        others=[_sent_entry(other) for other in others],
        counts=outbox_counts(message.sender_organisation_id),
        active_state=active_state,
        states=STATES,
        **context,
    )


def _sent_entry(message: OutboxMessage) -> Entry:
    recipient_row = None
    if message.kind == "document":
        recipient_row = db.session.scalar(
            select(Recipient).where(
                Recipient.document_id == message.document_id,
                Recipient.organisation_id == message.recipient_organisation_id,
            )
        )
    return Entry(
        "sent",
        message.created_at,
        message=message,
        document=db.session.get(Document, message.document_id),
        recipient=db.session.get(Organisation, message.recipient_organisation_id),
        recipient_row=recipient_row,
    )


def list_entries(organisation_id: int, kind: str, state: str, page: int) -> EntryPage:
    """Return one page of the organisation's sent messages and received documents.

    A state filter keeps sent messages only, because the states are those of
    the outbox and received documents have none.
    """
    session = db.session
    sent = select(
        OutboxMessage.created_at.label("at"),
        literal_column("'sent'").label("kind"),
        OutboxMessage.id.label("id"),
    ).where(OutboxMessage.sender_organisation_id == organisation_id)
    if state == "rejected":
        sent = deliveries.only_rejected(sent)
    elif state:
        sent = sent.where(OutboxMessage.state == state)
    received = select(
        func.coalesce(Document.received_at, Document.created_at).label("at"),
        literal_column("'received'").label("kind"),
        Document.id.label("id"),
    ).where(
        Document.organisation_id == organisation_id,
        Document.direction == "incoming",
        Document.sender_organisation_id.is_not(None),
    )
    parts = []
    if kind in ("", "sent"):
        parts.append(sent)
    if kind in ("", "received") and not state:
        parts.append(received)

    counts = outbox_counts(organisation_id)
    if not parts:
        return EntryPage([], 0, 1, 1, kind, state, counts)
    rows = union_all(*parts).subquery()
    total = session.scalar(select(func.count()).select_from(rows)) or 0
    page_size = current_app.config["PAGE_SIZE"]
    pages = max(1, -(-total // page_size))
    page = min(max(page, 1), pages)
    keys = session.execute(
        select(rows.c.at, rows.c.kind, rows.c.id)
        .order_by(rows.c.at.desc(), rows.c.kind, rows.c.id.desc())
        .offset((page - 1) * page_size)
        .limit(page_size)
    ).all()
    return EntryPage(
        _load_entries(keys), total, page, pages, kind, state, counts=counts
    )


def _load_entries(keys) -> list[Entry]:
    """Load the messages and documents of one page, in the page's order."""
    session = db.session
    message_ids = [row.id for row in keys if row.kind == "sent"]
    received_ids = [row.id for row in keys if row.kind == "received"]
    messages = {
        message.id: message
        for message in session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.id.in_(message_ids))
            .options(selectinload(OutboxMessage.delivery_report))
        )
    }
    document_ids = set(received_ids)
    document_ids.update(message.document_id for message in messages.values())
    documents = {
        document.id: document
        for document in session.scalars(
            select(Document)
            .where(Document.id.in_(document_ids))
            .options(selectinload(Document.sender_organisation))
        )
    }
    organisation_ids = {m.recipient_organisation_id for m in messages.values()}
    organisations = {
        organisation.id: organisation
        for organisation in session.scalars(
            select(Organisation).where(Organisation.id.in_(organisation_ids))
        )
    }
    packages = dict(
        session.execute(
            select(ReceivedPackage.document_id, ReceivedPackage.message_id).where(
                ReceivedPackage.document_id.in_(received_ids)
            )
        ).all()
    )
    sent_document_ids = {
        m.document_id for m in messages.values() if m.kind == "document"
    }
    recipient_rows = {
        (recipient.document_id, recipient.organisation_id): recipient
        for recipient in session.scalars(
            select(Recipient).where(
                Recipient.document_id.in_(sent_document_ids),
                Recipient.organisation_id.in_(organisation_ids),
            )
        )
    }

    entries = []
    for row in keys:
        if row.kind == "sent":
            message = messages[row.id]
            entries.append(
                Entry(
                    "sent",
                    row.at,
                    message=message,
                    document=documents[message.document_id],
                    recipient=organisations[message.recipient_organisation_id],
                    recipient_row=recipient_rows.get(
                        (message.document_id, message.recipient_organisation_id)
                    )
                    if message.kind == "document"
                    else None,
                )
            )
        else:
            document = documents[row.id]
            entries.append(
                Entry(
                    "received",
                    row.at,
                    document=document,
                    package_message_id=packages.get(document.id),
                )
            )
    return entries


def _settings_of(organisation_id: int) -> ConnectorSettings | None:
    return db.session.scalar(
        select(ConnectorSettings).where(
            ConnectorSettings.organisation_id == organisation_id
        )
    )


# Actions


@bp.post("/<int:message_id>/resend")
@login_required
def resend(message_id: int):
    """Queue a failed or retrying outbox message to be sent at the next run."""
    message = _own_message(message_id, other_organisation_status=403)
    if message.exchange_id is not None:
        # Requeued, a copy would go out as the document's own package, which
        # the hub takes for a resend of the rejected one and does not deliver.
        return _send_copy(message)
    if message.state not in RESENDABLE_STATES:
        logger.warning(
            "outbox message %s not requeued for user %s: state is %s",
            message_id,
            current_user.id,
            message.state,
        )
        raise Conflict(
            "Chỉ gửi lại được tin đang thử lại hoặc gửi thất bại. Hãy tải lại trang."
        )

    previous_states = requeue(message)
    # NOTE: the row names the document in its detail only. Linked to the
    # document, it would show in the document's timeline, and the timeline has
    # no Vietnamese label for this action (workflow.ACTION_LABELS).
    audit.record(
        db.session,
        "outbox_requeued",
        user=current_user,
        organisation_id=message.sender_organisation_id,
        document_id=message.document_id,
        previous_states=previous_states,
    )
    db.session.commit()
    logger.info(
        "outbox messages %s requeued by user %s",
        sorted(previous_states),
        current_user.id,
    )

    if wants_fragment():
        others = [
            db.session.get(OutboxMessage, int(row_id))
            for row_id in previous_states
            if int(row_id) != message.id
        ]
        return _row_response(message, others, requeued=True)
    flash(_requeued_message(len(previous_states)), "success")
    return redirect(url_for("exchange.index"), 303)


def requeue(message: OutboxMessage) -> dict[str, str]:
    """Set a message, and the rows that travel in its package, back to pending.

    The connector posts one package per document for all its recipients, and
    the hub's response settles every recipient's row, so the failed and
    retrying rows of the same document are queued with the message. The
    attempt count starts again, so that the message gets the full series of
    retries before it fails. Return the previous state of each row by its id.
    """
    rows = [message]
    if message.kind == "document":
        rows = list(
            db.session.scalars(
                select(OutboxMessage)
                .where(
                    OutboxMessage.kind == "document",
                    OutboxMessage.document_id == message.document_id,
                    OutboxMessage.sender_organisation_id
                    == message.sender_organisation_id,
                    OutboxMessage.state.in_(RESENDABLE_STATES),
                    # Copies sent again after a rejection travel on their own.
                    OutboxMessage.exchange_id.is_(None),
                )
                .order_by(OutboxMessage.id)
                .with_for_update()
            )
        )
    previous_states = {}
    current = now()
    for row in rows:
        # JSON object keys are strings, so the audit detail keeps them as such.
        previous_states[str(row.id)] = row.state
        # A status that shares its second with another got 409 from the hub.
        outbox.restamp_status(db.session, row)
        row.state = "pending"
        row.next_attempt_at = current
        row.attempts = 0
        row.error_detail = ""
    return previous_states


def _requeued_message(count: int) -> str:
    if count > 1:
        return (
            f"Đã đưa {count} tin (cùng một văn bản) vào hàng đợi gửi lại. Hệ thống "
            "gửi ở lần đồng bộ kế tiếp; bấm “Đồng bộ ngay” để gửi luôn."
        )
    return (
        "Đã đưa tin vào hàng đợi gửi lại. Hệ thống gửi ở lần đồng bộ kế tiếp; "
        "bấm “Đồng bộ ngay” để gửi luôn."
    )


@bp.post("/<int:message_id>/resend-copy")
@login_required
def resend_copy(message_id: int):
    """Send a new copy of a rejected document to the one recipient that rejected it."""
    message = _own_message(message_id, other_organisation_status=404)
    # The copy carries the document, so only a user who may read it sends it.
    document = db.session.get(Document, message.document_id)
    if not permissions.can_view(db.session, current_user, document):
        abort(permissions.rejection_status(db.session, current_user, document))

    return _send_copy(message)


def _own_message(message_id: int, other_organisation_status: int) -> OutboxMessage:
    """Load and lock an outbox row of the user's organisation for a clerk or admin.

    A missing row gets 404, a user who is not a clerk or admin 403, and a row
    of another organisation `other_organisation_status`.
    """
    message = db.session.get(OutboxMessage, message_id, with_for_update=True)
    if message is None:
        abort(404)
    _check_clerk()
    if message.sender_organisation_id != current_user.organisation_id:
        logger.warning(
            "outbox message %s hidden from user %s: other organisation",
            message_id,
            current_user.id,
        )
        abort(other_organisation_status)
    return message


def _send_copy(message: OutboxMessage):
    """Make a copy of a rejected row, or take a copy not yet sent, and push it."""
    session = db.session
    if message.exchange_id is not None and message.state in RESENDABLE_STATES:
        # A copy the hub never took: the same copy is pushed again.
        copy = message
    else:
        # A rejected row, a rejected copy included, gets a new copy.
        copy = outbox.resend_rejected(session, message)
    # NOTE: the row names the document in its detail only, as for
    # "outbox_requeued": the timeline has no Vietnamese label for this action.
    recipient = session.get(Organisation, message.recipient_organisation_id)
    audit.record(
        session,
        "outbox_copy_sent",
        user=current_user,
        organisation_id=message.sender_organisation_id,
        document_id=message.document_id,
        outbox_message_id=message.id,
        copy_message_id=copy.id,
        exchange_id=copy.exchange_id,
        # Shown on the audit page, which lists the values after an action.
        after={"recipient": recipient.name, "exchange_id": copy.exchange_id},
    )
    message_id, copy_id = message.id, copy.id
    organisation_id = message.sender_organisation_id
    session.commit()

    sent = outbox.send_copy(session, copy_id)
    if sent:
        # Moves the copy at once to a recipient hosted here without a connector.
        outbox.deliver_own(session, organisation_id)
    logger.info(
        "outbox copy %s of outbox message %s %s by user %s",
        copy_id,
        message_id,
        "sent" if sent else "not sent",
        current_user.id,
    )

    message = session.get(OutboxMessage, message_id)
    copy = session.get(OutboxMessage, copy_id)
    text = _copy_result_message(copy)
    if wants_fragment():
        return _row_response(message, copy_result=text)
    flash(text, "success" if copy.state == "sent" else "error")
    return redirect(url_for("exchange.index"), 303)


def _copy_result_message(copy: OutboxMessage) -> str:
    """Describe in Vietnamese what became of a copy sent again."""
    recipient = db.session.get(Organisation, copy.recipient_organisation_id)
    if copy.state == "sent":
        return (
            "Đã gửi bản mới của văn bản lên trục liên thông, chỉ cho "
            f"{recipient.name}. Trục coi gói tin cùng mã văn bản là gửi trùng và "
            "không chuyển lại, nên bản mới mang mã văn bản liên thông riêng "
            f"{copy.exchange_id}. Nơi nhận nhận bản này khi hệ thống của họ đồng bộ "
            "với trục; tình trạng nhận hiện trên dòng của bản mới."
        )
    return (
        f"Chưa gửi được bản mới cho {recipient.name}: {copy.error_detail} Bản mới "
        "nằm ở đầu danh sách; bấm “Gửi lại” trên dòng đó để thử lại."
    )


@bp.post("/sync")
@login_required
def sync():
    """Run the hub connector for the organisation now and report what moved."""
    _check_clerk()
    organisation_id = current_user.organisation_id
    settings = _settings_of(organisation_id)
    if settings is None:
        flash(
            "Đơn vị chưa cấu hình kết nối trục liên thông, nên văn bản chỉ được "
            "chuyển trực tiếp tới các đơn vị trong hệ thống này; những gì gửi cho "
            "đơn vị ngoài hệ thống nằm chờ. Quản trị của đơn vị cấu hình kết nối "
            "tại trang Cấu hình kết nối trục.",
            "info",
        )
        return redirect(url_for("exchange.index"), 303)
    if not settings.enabled:
        flash(
            "Kết nối trục liên thông của đơn vị đang tắt. Quản trị của đơn vị bật "
            "lại tại trang Cấu hình kết nối trục.",
            "info",
        )
        return redirect(url_for("exchange.index"), 303)

    settings_id = settings.id
    # NOTE: the run happens inside this request, so the page waits for it:
    # up to CONNECTOR_RUN_SECONDS plus the time of the calls then in progress.
    report = connector.run_cycle(db.session, settings_id, poll=True)
    audit.record(
        db.session,
        "exchange_synced",
        user=current_user,
        organisation_id=organisation_id,
        skipped=report is None,
        moved=report.moved if report is not None else 0,
        errors=len(report.errors) if report is not None else 0,
    )
    db.session.commit()

    if report is None:
        flash(_busy_message(settings_id), "info")
    elif report.errors:
        flash(
            f"{describe_report(report)} Có {len(report.errors)} lỗi khi đồng bộ, "
            "xem mục “Lỗi gần nhất” bên dưới.",
            "error",
        )
    else:
        flash(describe_report(report), "success")
    return redirect(url_for("exchange.index"), 303)


def _busy_message(settings_id: int) -> str:
    """Log the process that has the organisation's claim; return the clerk's message.

    The host name and process id help the person who runs the servers, so
    they go to the log and not to the clerk.
    """
    settings = db.session.get(ConnectorSettings, settings_id)
    claim = connector_claim(settings) if settings is not None else None
    if claim is not None:
        logger.info(
            "sync of connector settings %s by user %s skipped: process %s on %s "
            "holds the claim since %s, until %s",
            settings_id,
            current_user.id,
            claim.pid,
            claim.host,
            claim.started_at.isoformat() if claim.started_at else "(unknown)",
            claim.until.isoformat(),
        )
    return "Một lần đồng bộ khác đang chạy, hãy thử lại sau ít phút."


def describe_report(report: connector.SyncReport) -> str:
    """Describe in Vietnamese what one connector run moved."""
    return (
        f"Đã đồng bộ với trục liên thông: gửi đi {report.sent}, chờ gửi lại "
        f"{report.retrying}, gửi thất bại {report.failed}; nhận "
        f"{report.documents_received} văn bản (trùng {report.duplicates}), "
        f"{report.statuses_applied} trạng thái xử lý (trùng "
        f"{report.statuses_repeated}); từ chối {report.rejected} gói tin."
    )


# Settings


@bp.route("/settings", methods=["GET", "POST"])
@login_required
def settings():
    """Show and save the organisation's hub connection settings."""
    _check_admin()
    organisation = current_user.organisation
    current = _settings_of(organisation.id)
    if request.method == "POST":
        form = SettingsForm()
    elif current is not None:
        form = SettingsForm(
            formdata=None,
            hub_url=current.hub_url,
            poll_interval_seconds=current.poll_interval_seconds,
            enabled=current.enabled,
        )
    else:
        form = SettingsForm(formdata=None)

    status = 200
    if request.method == "POST":
        status = 422
        if form.validate():
            try:
                saved = _save(organisation, current, form)
            except ServiceError as error:
                db.session.rollback()
                # The URL is checked by the form, so what remains is the token.
                form.token.errors.append(error.message)
            else:
                db.session.commit()
                flash("Đã lưu cấu hình kết nối trục liên thông.", "success")
                if saved.enabled:
                    flash("Bấm “Kiểm tra kết nối” để thử đọc danh bạ của trục.", "info")
                return redirect(url_for("exchange.settings"), 303)
    # The typed token is never sent back to the browser.
    form.token.data = ""
    return render(
        "exchange/settings.html",
        "exchange/_settings_form.html",
        status=status,
        form=form,
        organisation=organisation,
        current=current,
        check_form=EmptyForm(),
    )


def _audited_settings(settings: ConnectorSettings) -> dict:
    return {
        "hub_url": settings.hub_url,
        "poll_interval_seconds": settings.poll_interval_seconds,
        "enabled": settings.enabled,
    }


def _save(organisation, current, form: SettingsForm) -> ConnectorSettings:
    token = (form.token.data or "").strip()
    token_changed = bool(token)
    if not token and current is not None:
        token = current.token
    before = _audited_settings(current) if current is not None else None
    saved = connector.save_settings(
        db.session,
        organisation,
        form.hub_url.data,
        token,
        form.poll_interval_seconds.data,
    )
    saved.enabled = bool(form.enabled.data)
    audit.record(
        db.session,
        "connector_settings_saved",
        user=current_user,
        organisation_id=organisation.id,
        hub_url=saved.hub_url,
        poll_interval_seconds=saved.poll_interval_seconds,
        enabled=saved.enabled,
        token_changed=token_changed,
        # Shown on the audit page; the token itself is never recorded.
        before=before,
        after={**_audited_settings(saved), "token_changed": token_changed},
    )
    logger.info(
        "connector settings of organisation %s changed by user %s",
        organisation.id,
        current_user.id,
    )
    return saved


@bp.post("/settings/check")
@login_required
def check_connection():
    """Read the hub's directory with the saved settings and show the result."""
    _check_admin()
    current = _settings_of(current_user.organisation_id)
    if current is None:
        flash(
            "Chưa có cấu hình kết nối. Hãy nhập địa chỉ trục và mã truy cập rồi "
            "bấm Lưu trước khi kiểm tra.",
            "error",
        )
        return redirect(url_for("exchange.settings"), 303)

    settings_id = current.id
    try:
        report = connector.check_connection(db.session, current)
    except (connector.HubError, connector.HubUnavailable) as exc:
        db.session.rollback()
        logger.warning(
            "connection test of organisation %s by user %s failed: %s",
            current_user.organisation_id,
            current_user.id,
            exc,
        )
        stored = db.session.get(ConnectorSettings, settings_id)
        stored.last_error = connector.technical_text(exc)[:2000]
        db.session.commit()
        flash(f"Chưa kết nối được trục liên thông: {describe_problem(exc)}", "error")
    else:
        logger.info(
            "connection test of organisation %s by user %s succeeded",
            current_user.organisation_id,
            current_user.id,
        )
        flash(
            f"Kết nối thành công. Danh bạ trục có {report.directory_entries} đơn "
            f"vị: thêm {report.directory_created}, cập nhật tên "
            f"{report.directory_updated}.",
            "success",
        )
    return redirect(url_for("exchange.settings"), 303)


# Permissions


def _check_clerk() -> None:
    if not can_view_exchange(current_user):
        logger.warning(
            "exchange page denied to user %s: not a clerk or admin", current_user.id
        )
        abort(403)


def _check_admin() -> None:
    if not current_user.has_role("admin"):
        logger.warning(
            "connector settings denied to user %s: not an admin", current_user.id
        )
        abort(403)
