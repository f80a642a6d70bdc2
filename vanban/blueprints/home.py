"""The landing page: the user's to-do list (việc cần làm)."""

from flask import Blueprint
from flask_login import login_required

from vanban.blueprints.listing import list_response

bp = Blueprint("home", __name__)


@bp.get("/")
@login_required
def index():
    """List the documents waiting for the current user's action."""
    return list_response("todo", "Việc cần làm", "home.index")
