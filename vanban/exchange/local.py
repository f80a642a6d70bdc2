"""Exchange between organisations of this installation without an HTTP connector.

Every document and status still leaves as an edXML package. In an
installation that serves the hub (HUB_ENABLED), `LocalHub` answers the
connector's calls with the hub's service functions in the same database
session, with the same package bytes the HTTP API would carry, so the
connector's own push and poll steps run unchanged and the package is kept in
the hub's store. An installation without a hub of its own hands the same
bytes straight to the recipient's intake (`deliver_direct`), in the
transaction that marks the message sent.

A message goes this way only to an organisation hosted here, or, through
this installation's hub, to one in the hub's directory, whose own
installation collects it there. A message to any other organisation waits,
pending with the reason for the clerk, until its sender's connector is
enabled, because only the sender's hub can reach that organisation.
"""

import logging

from flask import current_app
from sqlalchemy import or_, select

from vanban.exchange import connector, deliveries, hub, mapping
from vanban.exchange.edxml import parse_package
from vanban.exchange.packages import EdxmlError
from vanban.models import Organisation, OutboxMessage, User
from vanban.models.hub import HubDelivery, HubOrganisation
from vanban.services import ServiceError
from vanban.services.clock import now

logger = logging.getLogger(__name__)

# Push and poll rounds per call: a document, its status 01, and a spare.
MAX_ROUNDS = 4
# Shown to the clerk, after a "Chưa gửi" badge, on a message that waits for
# its sender's connector.
WAITING_REASON = (
    "Đơn vị nhận không thuộc hệ thống này nên chỉ nhận được qua trục liên thông, "
    "mà kết nối trục liên thông của đơn vị gửi đang tắt hoặc chưa được cấu hình. "
    "Tin sẽ tự gửi qua trục khi quản trị của đơn vị bật kết nối tại trang Cấu hình "
    "kết nối trục."
)
WAITING_ERROR = (
    "recipient is not hosted in this installation and the sender has no enabled "
    "hub connector; the message waits for the connector"
)


class LocalHub:
    """The calls of `connector.HubClient`, served by this installation's own hub."""

    # The calls use the run's own session, so they run one at a time on its thread.
    parallel_calls = 1

    def __init__(self, session, organ_id: str):
        self.session = session
        self.organ_id = organ_id

    def close(self) -> None:
        """Nothing to close: the calls use the caller's session."""

    def send(self, kind: str, body: bytes) -> dict:
        max_bytes = int(
            current_app.config.get(
                "HUB_MAX_PACKAGE_BYTES", hub.DEFAULT_MAX_PACKAGE_BYTES
            )
        )
        _, payload = self._call(
            hub.send, kind, body, max_bytes=max_bytes, caller="POST /messages"
        )
        return payload

    def pending(self, kind: str, limit: int) -> list[dict]:
        return self._call(hub.list_pending, kind, limit, caller="GET /messages")

    def fetch(self, message_id: str) -> bytes:
        return self._call(hub.fetch, message_id, caller="GET /messages/{id}")

    def ack(self, message_id: str, result: str, reason: str = "") -> None:
        self._call(hub.ack, message_id, result, reason or None, caller="POST .../ack")

    def deliveries(self, message_id: str) -> list[dict]:
        return self._call(hub.deliveries, message_id, caller="GET .../deliveries")

    def organizations(self) -> list[dict]:
        return hub.directory(self.session)

    def _call(self, function, *args, caller: str, **kwargs):
        """Call a hub function as this organisation; map its errors to the client's."""
        organisation = hub.find_organisation(self.session, self.organ_id)
        if organisation is None:
            raise connector.HubError(
                f"{caller}: {self.organ_id} is not in this installation's hub",
                403,
                "unknown_sender",
                f"Đơn vị {self.organ_id} chưa có trong danh bạ trục liên thông.",
            )
        if not organisation.active:
            raise connector.HubError(
                f"{caller}: {self.organ_id} is deactivated in this installation's hub",
                403,
                "unknown_sender",
                f"Đơn vị {self.organ_id} đã ngừng kết nối với trục liên thông. "
                "Quản trị trục cần cho kết nối lại trên trang Trục liên thông.",
            )
        try:
            return function(self.session, organisation, *args, **kwargs)
        except hub.HubError as exc:
            message = f"{caller} returned {exc.status} {exc.code}: {exc.detail}"
            if exc.status >= 500:
                raise connector.HubUnavailable(
                    message, status=exc.status, detail=exc.detail
                ) from exc
            raise connector.HubError(
                message, exc.status, exc.code, exc.detail, tuple(exc.recipients)
            ) from exc


def hosted_organisations(session) -> list[Organisation]:
    """Return the organisations of this installation: those with active accounts.

    Organisations learned from packages or the hub's directory have no users
    here, and one that moved to an installation of its own has its accounts
    here switched off; their deliveries wait at the hub for their own
    installation.
    """
    query = (
        select(Organisation)
        .where(Organisation.id.in_(_hosted_ids()))
        .order_by(Organisation.id)
    )
    return list(session.scalars(query))


def _hosted_ids():
    """Select the ids of the organisations hosted here (see hosted_organisations)."""
    return select(User.organisation_id).where(User.active)


def _reachable_recipient(through_hub: bool):
    """Return the condition on OutboxMessage that its recipient can be reached here.

    That is a hosted organisation, and, through this installation's hub, an
    active organisation of the hub's directory too.
    """
    hosted = OutboxMessage.recipient_organisation_id.in_(_hosted_ids())
    if not through_hub:
        return hosted
    listed = select(Organisation.id).where(
        Organisation.code.in_(
            select(HubOrganisation.organ_id).where(HubOrganisation.active)
        )
    )
    return or_(hosted, OutboxMessage.recipient_organisation_id.in_(listed))


def hold_unreachable(session, senders, reachable) -> int:
    """Mark the unsent messages of `senders` to unreachable recipients as waiting.

    They stay pending, due at once, with WAITING_REASON for the clerk, so
    the connector's push takes them as soon as their sender's connector is
    enabled. `senders` and `reachable` are conditions on OutboxMessage.
    Commit, and return how many messages began to wait.
    """
    query = _unsent(senders).where(
        ~reachable,
        or_(
            OutboxMessage.state != "pending",
            OutboxMessage.next_attempt_at.is_not(None),
            OutboxMessage.error_detail != WAITING_REASON,
        ),
    )
    messages = list(session.scalars(query.with_for_update(skip_locked=True)))
    for message in messages:
        message.state = "pending"
        message.next_attempt_at = None
        message.error_detail = WAITING_REASON
        message.last_error = WAITING_ERROR
    session.commit()
    if messages:
        logger.info(
            "outbox messages %s wait for their sender's hub connector: no other "
            "route reaches their recipients",
            [message.id for message in messages],
        )
    return len(messages)


def _unsent(senders):
    """Select the messages of `senders` that wait to be sent, oldest first."""
    return (
        select(OutboxMessage)
        .where(
            OutboxMessage.sent_at.is_(None),
            OutboxMessage.state.in_(("pending", "retrying")),
            senders,
        )
        .order_by(OutboxMessage.id)
    )


def deliver(session, connected: set[int]) -> connector.SyncReport:
    """Move the messages of hosted organisations without a connector."""
    if current_app.config.get("HUB_ENABLED"):
        return deliver_through_hub(session, connected)
    return deliver_direct(session, connected)


def deliver_direct(session, connected: set[int]) -> connector.SyncReport:
    """Build each message's package and hand its bytes to the recipient's intake.

    Only messages to hosted organisations move; the others wait for their
    sender's connector (hold_unreachable). A message that cannot be built or
    taken in is marked failed with the reason for the clerk, like a package
    the hub rejects.
    """
    report = connector.SyncReport()
    senders = OutboxMessage.sender_organisation_id.not_in(connected)
    reachable = _reachable_recipient(through_hub=False)
    hold_unreachable(session, senders, reachable)
    while True:
        query = (
            _unsent(senders)
            .where(reachable)
            .limit(50)
            # A web request delivering what it queued may run at the same time.
            .with_for_update(skip_locked=True)
        )
        batch = list(session.scalars(query))
        if not batch:
            break
        for message in batch:
            _hand_over(session, message, report)
        session.commit()
    return report


def _hand_over(session, message: OutboxMessage, report: connector.SyncReport) -> None:
    """Deliver one message by its package bytes, or mark it failed with the reason."""
    message.attempts += 1
    recipient = session.get(Organisation, message.recipient_organisation_id)
    try:
        with session.begin_nested():
            body = connector.build_package(session, message.kind, message.id)
            package = parse_package(body)
            if message.kind == "document":
                mapping.receive_document(
                    session, recipient, package, f"local-{message.id}"
                )
            elif mapping.apply_status(session, recipient, package).recipient is None:
                report.statuses_unknown += 1
    except (EdxmlError, mapping.IntakeError) as exc:
        reason = getattr(exc, "user_message", None) or getattr(exc, "reason", "")
        logger.warning("outbox message %s not delivered: %s", message.id, exc)
        message.state = "failed"
        message.last_error = str(exc)[:2000]
        message.error_detail = reason[:2000]
        report.failed += 1
        return
    message.state = "sent"
    message.sent_at = now()
    report.sent += 1


def deliver_through_hub(session, connected: set[int]) -> connector.SyncReport:
    """Move the messages of hosted organisations without a connector via the hub.

    Each round pushes their outbox to the hub store and takes in what waits
    there for them. Intake queues statuses (01), which go out in the next
    round, so rounds go on until one moves nothing. Messages to recipients
    neither hosted here nor in the hub's directory wait (hold_unreachable).
    """
    total = connector.SyncReport()
    config = connector.ConnectorConfig.from_app()
    reachable = _reachable_recipient(through_hub=True)
    for _ in range(MAX_ROUNDS):
        local = [
            organisation
            for organisation in hosted_organisations(session)
            if organisation.id not in connected
        ]
        hold_unreachable(
            session,
            OutboxMessage.sender_organisation_id.in_([o.id for o in local]),
            reachable,
        )
        report = connector.SyncReport()
        for organisation in local:
            if _has_messages(session, organisation.id, reachable):
                _register(session, organisation)
                run = _run(session, organisation, config, report)
                run.recipient_filter = reachable
                connector._run_step(run, connector.push)
        for organisation in local:
            if _has_deliveries(session, organisation.code):
                run = _run(session, organisation, config, report)
                connector._run_step(run, connector.poll_documents)
                connector._run_step(run, connector.poll_statuses)
        total.add(report)
        if not report.moved:
            break
    _check_deliveries(session, connected, config, total)
    if total.moved or total.errors:
        logger.info(
            "in-installation exchange moved %d messages with %d errors",
            total.moved,
            len(total.errors),
        )
    return total


def _check_deliveries(session, connected: set[int], config, report) -> None:
    """Store the hub's delivery reports for the sent documents of hosted senders."""
    senders = [
        organisation.id
        for organisation in hosted_organisations(session)
        if organisation.id not in connected
    ]
    due = deliveries.organisations_due(session, senders, now())
    for organisation_id in sorted(due):
        organisation = session.get(Organisation, organisation_id)
        run = _run(session, organisation, config, report)
        connector._run_step(run, deliveries.check_deliveries)


def _run(session, organisation, config, report) -> connector._Run:
    run = connector._Run(
        session, organisation, LocalHub(session, organisation.code), config
    )
    run.report = report
    return run


def _has_messages(session, organisation_id: int, reachable) -> bool:
    query = select(OutboxMessage.id).where(
        OutboxMessage.sender_organisation_id == organisation_id,
        OutboxMessage.sent_at.is_(None),
        OutboxMessage.state.in_(("pending", "retrying")),
        reachable,
    )
    return session.scalar(query.limit(1)) is not None


def _has_deliveries(session, organ_id: str) -> bool:
    query = select(HubDelivery.id).where(
        HubDelivery.recipient_organ_id == organ_id, HubDelivery.state == "pending"
    )
    return session.scalar(query.limit(1)) is not None


def _register(session, sender: Organisation) -> None:
    """Add the sender and the hosted recipients of its messages to the directory.

    Their tokens are not kept: inside the installation the hub is called
    directly, and an administrator issues a token when a connector needs one.
    A package goes only to the recipients of the messages it carries, so the
    other recipients of the document need no entry. An organisation hosted
    elsewhere is never added here, because its own installation would never
    collect what waited for it in this hub.
    """
    recipient_ids = select(OutboxMessage.recipient_organisation_id).where(
        OutboxMessage.sender_organisation_id == sender.id,
        OutboxMessage.sent_at.is_(None),
    )
    organisations = [sender] + list(
        session.scalars(
            select(Organisation).where(
                Organisation.id.in_(recipient_ids),
                Organisation.id.in_(_hosted_ids()),
            )
        )
    )
    for organisation in organisations:
        register(session, organisation)
    session.commit()


def register(session, organisation: Organisation) -> None:
    """Add the organisation to this installation's hub directory if it is missing."""
    if hub.find_organisation(session, organisation.code) is not None:
        return
    parent = organisation.parent_id and session.get(
        Organisation, organisation.parent_id
    )
    parent_code = None
    if parent and hub.find_organisation(session, parent.code) is not None:
        parent_code = parent.code
    try:
        hub.add_organisation(session, organisation.code, organisation.name, parent_code)
    except ServiceError as exc:
        # The send then fails with the hub's reason, shown to the clerk.
        logger.warning(
            "organisation %s not added to the hub directory: %s",
            organisation.code,
            exc.message,
        )
