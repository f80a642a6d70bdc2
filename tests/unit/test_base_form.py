"""BaseForm shows an unreadable value's parse error, and none for an empty one."""

from werkzeug.datastructures import MultiDict
from wtforms import DateField, IntegerField, StringField
from wtforms.validators import DataRequired, NumberRange, Optional

from vanban.forms import BaseForm


class DueForm(BaseForm):
    class Meta:
        csrf = False

    subject = StringField("Trích yếu", validators=[DataRequired("Bắt buộc.")])
    due_date = DateField("Hạn trả lời", validators=[Optional()])
    copies = IntegerField("Số bản", validators=[Optional(), NumberRange(1, 10)])


def validated(app, data: dict) -> DueForm:
    with app.test_request_context():
        form = DueForm(formdata=MultiDict(data))
        form.validate()
        return form


def test_empty_optional_date_has_no_error(app):
    form = validated(app, {"subject": "", "due_date": "", "copies": ""})

    assert form.subject.errors
    assert form.due_date.errors == []
    assert form.copies.errors == []


def test_unreadable_date_shows_parse_error(app):
    form = validated(app, {"subject": "x", "due_date": "31/02/2026"})

    assert form.due_date.errors == ["Ngày không hợp lệ. Hãy chọn một ngày có thật."]


def test_unreadable_number_shows_only_parse_error(app):
    form = validated(app, {"subject": "x", "copies": "abc"})

    assert len(form.copies.errors) == 1
