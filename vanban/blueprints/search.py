"""Document search: the top bar's box and the advanced form."""

import click
from flask import Blueprint, current_app, request
from flask_login import current_user, login_required
from wtforms import DateField, SelectField, StringField
from wtforms.validators import Length, Optional

from vanban import click_vi
from vanban.extensions import db
from vanban.forms import BaseForm
from vanban.services import doctypes, lists, search
from vanban.services.doctypes import URGENCY_LABELS
from vanban.web import render

bp = Blueprint("search", __name__, url_prefix="/search")
# Flask registers this group as `flask search`.
bp.cli = click_vi.AppGroup(help="Quản lý chỉ mục tìm kiếm văn bản.")

ALL = ("", "Tất cả")
MAX_CHARS = 200


def _text_field(label: str) -> StringField:
    return StringField(label, validators=[Optional(), Length(max=MAX_CHARS)])


def _date_field(label: str) -> DateField:
    return DateField(label, validators=[Optional()], render_kw={"type": "date"})


class SearchForm(BaseForm):
    """The search box and the advanced fields, read from the query string."""

    q = _text_field("Từ khóa")
    number = _text_field("Số, ký hiệu")
    subject = _text_field("Trích yếu")
    organ = _text_field("Cơ quan ban hành")
    signer = _text_field("Người ký")
    content = _text_field("Nội dung văn bản, tệp đính kèm")
    date_from = _date_field("Ngày ban hành từ")
    date_to = _date_field("Đến ngày")
    type_name = SelectField("Loại văn bản", choices=[ALL], default="")
    urgency = SelectField(
        "Độ khẩn",
        choices=[ALL]
        + [(str(level), label) for level, label in URGENCY_LABELS.items()],
        default="",
    )
    state = SelectField("Trạng thái", choices=[ALL], default="")
    direction = SelectField(
        "Văn bản",
        choices=[ALL, ("incoming", "Văn bản đến"), ("outgoing", "Văn bản đi")],
        default="",
    )
    sort = SelectField(
        "Sắp xếp",
        choices=[
            ("relevance", "Phù hợp nhất"),
            ("newest", "Mới nhất"),
            ("oldest", "Cũ nhất"),
        ],
        default="relevance",
    )

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        start, end = self.date_from.data, self.date_to.data
        if start and end and start > end:
            self.date_to.errors = [
                *self.date_to.errors,
                "Ngày kết thúc phải sau hoặc trùng ngày bắt đầu.",
            ]
            valid = False
        return valid

    def criteria(self) -> search.Criteria:
        urgency = self.urgency.data
        return search.Criteria(
            q=self.q.data or "",
            number=self.number.data or "",
            subject=self.subject.data or "",
            organ=self.organ.data or "",
            signer=self.signer.data or "",
            content=self.content.data or "",
            date_from=self.date_from.data,
            date_to=self.date_to.data,
            type_name=self.type_name.data or "",
            urgency=int(urgency) if urgency else None,
            state=self.state.data or "",
            direction=self.direction.data or "",
            sort=self.sort.data or "relevance",
        )


def _page_number() -> int:
    page = request.args.get("page", "1")
    # isdecimal, unlike isdigit, rejects '²', which int() cannot read.
    return int(page) if page.isdecimal() and len(page) <= 9 else 1


@bp.get("/")
@login_required
def index():
    """Search the documents the user may read, as a page or an htmx fragment."""
    form = SearchForm(formdata=request.args)
    form.type_name.choices = [ALL, *doctypes.ALL_TYPE_CHOICES]
    form.state.choices = [ALL, *lists.states_for("all").items()]

    if not form.validate():
        return _respond(form, None, status=400)

    criteria = form.criteria()
    results = None
    if not criteria.is_empty():
        results = search.search(
            db.session,
            current_user,
            criteria,
            _page_number(),
            current_app.config["PAGE_SIZE"],
        )
    return _respond(form, results)


def _respond(form: SearchForm, results, status: int = 200):
    # The pager replaces only the results, and the form's submit replaces both.
    target = request.htmx.target if request.htmx else None
    fragment = "search/_results.html" if target == "search-results" else None
    return render(
        "search/index.html",
        fragment or "search/_search.html",
        status=status,
        title="Tra cứu văn bản",
        form=form,
        results=results,
        states=lists.states_for("all"),
        advanced=_advanced_used(form),
    )


def _advanced_used(form: SearchForm) -> bool:
    """Tell whether any field besides the keyword box has a value or an error."""
    return any(
        (f.data not in (None, "") or f.errors)
        for f in form
        if f.name not in ("q", "sort")
    )


@bp.cli.command(
    "reindex",
    help="Dựng lại chỉ mục tìm kiếm, đọc thêm nội dung các tệp đính kèm PDF và "
    "DOCX chưa đọc.",
)
def reindex_command():
    count = search.reindex_all(db.session)
    click.echo(f"Đã lập chỉ mục {count} văn bản.")
