"""One list view shared by the to-do, incoming and outgoing pages."""

from flask import current_app, request
from flask_login import current_user

from vanban.extensions import db
from vanban.forms import ListFilterForm
from vanban.services import lists
from vanban.web import render, wants_fragment


def _filters_from_request() -> lists.Filters:
    args = request.args
    page = args.get("page", "1")
    return lists.Filters(
        q=args.get("q", "")[:200],
        state=args.get("state", ""),
        urgency=args.get("urgency", ""),
        due=args.get("due", ""),
        sort=args.get("sort", "newest"),
        # isdecimal, unlike isdigit, rejects '²', which int() cannot read.
        page=int(page) if page.isdecimal() and len(page) <= 9 else 1,
    )


def list_response(scope: str, title: str, endpoint: str):
    """Render a document list as a page, or only its results for htmx."""
    filters = _filters_from_request()
    config = current_app.config
    page = lists.list_documents(
        db.session,
        current_user,
        scope,
        filters,
        config["PAGE_SIZE"],
        config["DEADLINE_WARNING_DAYS"],
        # Only the whole page shows the counts by state.
        with_counts=not wants_fragment(),
    )
    form = ListFilterForm(formdata=request.args)
    states = lists.states_for(scope, current_user)
    form.state.choices = [("", "Tất cả")] + list(states.items())
    return render(
        "documents/list.html",
        "documents/_results.html",
        title=title,
        scope=scope,
        endpoint=endpoint,
        page=page,
        form=form,
        states=states,
        deadline_flag=lambda d: lists.deadline_flag(d, config["DEADLINE_WARNING_DAYS"]),
    )
