"""Deadline reminders: once the working day before, once on the day, and by e-mail."""

import socketserver
import threading
from datetime import date, timedelta
from email import message_from_bytes
from email.policy import default as default_policy

import pytest
from sqlalchemy import func, select

from vanban.jobs import send_deadline_reminders
from vanban.models import Notification
from vanban.models.calendar import DeadlineReminder
from vanban.services import reminders
from vanban.services.calendar import WorkCalendar
from vanban.services.clock import local_today

from ..roster import document_in_state, load_ward
from ..scenario import fresh

OFFICER_EMAIL = "chuyenvien@example.invalid"


class SmtpHandler(socketserver.StreamRequestHandler):
    """Just enough of SMTP (RFC 5321) to accept messages from smtplib."""

    def reply(self, line: str) -> None:
        self.wfile.write(f"{line}\r\n".encode())

    def handle(self):
        self.reply("220 127.0.0.1 test SMTP")
        recipients = []
        while True:
            line = self.rfile.readline()
            if not line:
                return
            command = line.decode("ascii", "replace").strip()
            verb = command.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self.reply("250 127.0.0.1")
            elif verb == "MAIL":
                recipients = []
                self.reply("250 OK")
            elif verb == "RCPT":
                recipients.append(command.split(":", 1)[1].strip(" <>"))
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                data = bytearray()
                while True:
                    chunk = self.rfile.readline()
                    if chunk in (b".\r\n", b".\n", b""):
                        break
                    if chunk.startswith(b".."):
                        chunk = chunk[1:]
                    data.extend(chunk)
                self.server.messages.append((recipients, bytes(data)))
                self.reply("250 OK queued")
            elif verb == "QUIT":
                self.reply("221 Bye")
                return
            else:
                self.reply("250 OK")


class SmtpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), SmtpHandler)
        self.messages: list[tuple[list[str], bytes]] = []


@pytest.fixture
def smtp_server():
    server = SmtpServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def ward(session):
    return load_ward(session)


def add_due_document(ward, session, due, state="with_officer", **fields):
    document = document_in_state(
        ward,
        session,
        "incoming",
        state,
        subject="Báo cáo tình hình thử nghiệm",
        due_date=due,
        **fields,
    )
    session.add(document)
    session.commit()
    return document


def notifications_of(session, user) -> list[Notification]:
    return list(
        session.scalars(
            select(Notification)
            .where(Notification.user_id == user.id, Notification.kind == "deadline")
            .order_by(Notification.id)
        )
    )


def test_day_before_reminder_once(session, ward):
    calendar = WorkCalendar.load(session, ward.organisation.id)
    due = calendar.add_working_days(local_today() + timedelta(days=30), 1)
    day_before = calendar.previous_working_day(due)
    document = add_due_document(ward, session, due)
    officer = ward.users["officer"]

    two_before = calendar.previous_working_day(day_before)
    assert reminders.send_due_reminders(session, two_before) == 0
    assert reminders.send_due_reminders(session, day_before) == 1
    session.commit()
    assert reminders.send_due_reminders(session, day_before) == 0
    # Days off between the two days send nothing again.
    assert reminders.send_due_reminders(session, due - timedelta(days=1)) == 0
    session.commit()

    sent = notifications_of(session, officer)
    assert len(sent) == 1
    assert "đến hạn xử lý vào ngày" in sent[0].text
    assert sent[0].document_id == document.id
    kinds = session.scalars(select(DeadlineReminder.kind)).all()
    assert kinds == ["day_before"]


def test_due_day_reminder_once(session, ward):
    due = local_today() + timedelta(days=30)
    document = add_due_document(ward, session, due)
    officer = ward.users["officer"]

    assert reminders.send_due_reminders(session, due) == 1
    session.commit()
    assert reminders.send_due_reminders(session, due) == 0
    session.commit()
    # After the deadline, overdue documents get no deadline reminder.
    assert reminders.send_due_reminders(session, due + timedelta(days=1)) == 0

    sent = notifications_of(session, officer)
    assert len(sent) == 1
    assert sent[0].text.startswith("Hôm nay")
    reminder = session.scalar(select(DeadlineReminder))
    assert (reminder.kind, reminder.document_id) == ("due_day", document.id)


def test_new_deadline_reminded_again(session, ward):
    due = local_today() + timedelta(days=30)
    document = add_due_document(ward, session, due)
    assert reminders.send_due_reminders(session, due) == 1
    session.commit()
    # The leader moves the deadline: the new date gets its own reminders.
    later = due + timedelta(days=7)
    document.due_date = later
    session.commit()
    assert reminders.send_due_reminders(session, later) == 1


def test_reminder_across_tet(session, ward):
    # Due Monday 23 Feb 2026, after Tết: the day before is Friday 13 Feb.
    add_due_document(ward, session, date(2026, 2, 23))
    assert reminders.send_due_reminders(session, date(2026, 2, 12)) == 0
    assert reminders.send_due_reminders(session, date(2026, 2, 13)) == 1
    session.commit()
    assert reminders.send_due_reminders(session, date(2026, 2, 16)) == 0


def test_closed_document_gets_no_reminder(session, ward):
    due = local_today() + timedelta(days=30)
    add_due_document(ward, session, due, state="done")
    assert reminders.send_due_reminders(session, due) == 0


def test_head_reminded_while_department_assigns(session, ward):
    due = local_today() + timedelta(days=30)
    add_due_document(ward, session, due, state="with_head", holder_id=None)
    assert reminders.send_due_reminders(session, due) == 1
    session.commit()
    assert len(notifications_of(session, ward.users["head"])) == 1
    assert notifications_of(session, ward.users["officer"]) == []


def test_email_through_loopback_smtp(session, ward, smtp_server):
    officer = ward.users["officer"]
    officer.email = OFFICER_EMAIL
    due = local_today() + timedelta(days=30)
    add_due_document(ward, session, due)
    settings = reminders.SmtpSettings(
        host="127.0.0.1", port=smtp_server.server_address[1], timeout=5
    )

    assert reminders.send_due_reminders(session, due) == 1
    session.commit()
    assert reminders.email_pending_reminders(session, settings) == 1
    session.commit()
    assert reminders.email_pending_reminders(session, settings) == 0

    assert len(smtp_server.messages) == 1
    recipients, raw = smtp_server.messages[0]
    assert recipients == [OFFICER_EMAIL]
    message = message_from_bytes(raw, policy=default_policy)
    assert message["To"] == OFFICER_EMAIL
    assert "đến hạn" in message["Subject"]
    assert "Báo cáo tình hình thử nghiệm" in message.get_content()


def test_email_failure_retried_later(session, ward, smtp_server):
    ward.users["officer"].email = OFFICER_EMAIL
    due = local_today() + timedelta(days=30)
    add_due_document(ward, session, due)
    reminders.send_due_reminders(session, due)
    session.commit()
    # Nothing listens on the closed server's port, so the first send fails.
    port = smtp_server.server_address[1]
    smtp_server.shutdown()
    smtp_server.server_close()
    closed = reminders.SmtpSettings(host="127.0.0.1", port=port, timeout=2)
    assert reminders.email_pending_reminders(session, closed) == 0
    session.commit()
    retry = SmtpServer()
    thread = threading.Thread(target=retry.serve_forever, daemon=True)
    thread.start()
    try:
        working = reminders.SmtpSettings(
            host="127.0.0.1", port=retry.server_address[1], timeout=5
        )
        assert reminders.email_pending_reminders(session, working) == 1
        assert len(retry.messages) == 1
    finally:
        retry.shutdown()
        retry.server_close()


def test_no_smtp_host_sends_no_email():
    assert reminders.SmtpSettings.from_config({"SMTP_HOST": ""}) is None
    settings = reminders.SmtpSettings.from_config(
        {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": "2525"}
    )
    assert settings.port == 2525


def test_job_sends_reminder_and_email_once(app, session, ward, smtp_server):
    ward.users["officer"].email = OFFICER_EMAIL
    document = add_due_document(ward, session, local_today())
    app.config.update(
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=smtp_server.server_address[1],
        REMINDER_START_HOUR=0,
    )

    assert send_deadline_reminders(app) == 1
    assert send_deadline_reminders(app) == 0
    fresh()
    count = session.scalar(
        select(func.count()).where(
            Notification.document_id == document.id, Notification.kind == "deadline"
        )
    )
    assert count == 1
    assert len(smtp_server.messages) == 1


def test_job_waits_for_start_hour(app, session, ward):
    add_due_document(ward, session, local_today())
    app.config["REMINDER_START_HOUR"] = 24
    assert send_deadline_reminders(app) == 0
