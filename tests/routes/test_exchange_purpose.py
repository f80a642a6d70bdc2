"""Purpose per recipient: for action (để xử lý) or for information (để biết)."""

from sqlalchemy import select

from vanban.exchange import build_edoc, parse_edoc
from vanban.exchange.mapping import RECEIVER_TYPES, document_package, purpose_for
from vanban.extensions import db
from vanban.models import Document

from ..scenario import org, reload
from .test_connector import city_issues

SUBJECT = "Thông báo lịch tiếp công dân"


def _issue_to_two_wards(login_as) -> tuple[int, dict[str, Document]]:
    """The city clerk issues one document to Ba Đình for action, Ngọc Hà to inform."""
    outgoing_id = city_issues(
        login_as, SUBJECT, recipients=("Ba Đình",), info=("Ngọc Hà",)
    )
    copies = {
        purpose: db.session.scalar(
            select(Document).where(
                Document.source_document_id == outgoing_id,
                Document.organisation_id == org(ward).id,
            )
        )
        for purpose, ward in (("action", "Ba Đình"), ("info", "Ngọc Hà"))
    }
    return outgoing_id, copies


def test_purpose_round_trip(login_as):
    outgoing_id, _ = _issue_to_two_wards(login_as)
    outgoing = reload(outgoing_id)

    package = parse_edoc(build_edoc(document_package(db.session, outgoing)))

    receivers = {r.organ_id: r.receiver_type for r in package.business.receivers}
    assert receivers == {
        org("Ba Đình").code: RECEIVER_TYPES["action"],
        org("Ngọc Hà").code: RECEIVER_TYPES["info"],
    }
    assert purpose_for(package, org("Ba Đình").code) == "action"
    assert purpose_for(package, org("Ngọc Hà").code) == "info"
    # A recipient the package does not list is sent the document for action.
    assert purpose_for(package, "000.99.99.H01") == "action"


def test_info_purpose_shown(login_as):
    _, copies = _issue_to_two_wards(login_as)
    assert copies["action"].purpose == "action"
    assert copies["info"].purpose == "info"

    informed = login_as("ngocha.vanthu")
    page = informed.get(f"/documents/{copies['info'].id}").get_data(as_text=True)
    assert "Mục đích gửi" in page
    assert "Để biết" in page
    inbox = informed.get("/inbox/", htmx=True).get_data(as_text=True)
    assert SUBJECT in inbox
    assert "Để biết" in inbox

    acting = login_as("badinh.vanthu")
    page = acting.get(f"/documents/{copies['action'].id}").get_data(as_text=True)
    assert "Để xử lý" in page
    assert "Để biết" not in acting.get("/inbox/").get_data(as_text=True)
