"""WTForms classes; CSRFProtect checks every POST, so forms skip their own token."""

from flask_wtf import FlaskForm
from flask_wtf.file import MultipleFileField
from wtforms import (
    DateField,
    PasswordField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    widgets,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from vanban.services.doctypes import SECRECY_LABELS, TYPE_CHOICES, URGENCY_LABELS
from vanban.services.drafts import FORMAT_CHECKLIST
from vanban.services.text import nfc

REQUIRED = "Trường này là bắt buộc."


# WTForms 3.3 ships no Vietnamese catalogue, so the built-in messages these
# forms can show are translated here. Any other message stays in English.
_INVALID_CHOICE = "Lựa chọn không hợp lệ. Hãy chọn lại trong danh sách."
_MESSAGES = {
    "This field is required.": REQUIRED,
    "Not a valid choice.": _INVALID_CHOICE,
    "Invalid Choice: could not coerce.": _INVALID_CHOICE,
    "Invalid choice(s): one or more data inputs could not be coerced.": (
        _INVALID_CHOICE
    ),
    "'%(value)s' is not a valid choice for this field.": (
        "Lựa chọn không hợp lệ: '%(value)s'. Hãy chọn lại trong danh sách."
    ),
    "'%(value)s' are not valid choices for this field.": (
        "Lựa chọn không hợp lệ: '%(value)s'. Hãy chọn lại trong danh sách."
    ),
    "Not a valid date value.": "Ngày không hợp lệ. Hãy chọn một ngày có thật.",
    "Not a valid integer value.": "Hãy nhập một số nguyên.",
    "Field cannot be longer than %(max)d character.": (
        "Nội dung dài quá %(max)d ký tự, hãy rút gọn."
    ),
    "Field cannot be longer than %(max)d characters.": (
        "Nội dung dài quá %(max)d ký tự, hãy rút gọn."
    ),
    "Field must be at least %(min)d character long.": "Hãy nhập ít nhất %(min)d ký tự.",
    "Field must be at least %(min)d characters long.": (
        "Hãy nhập ít nhất %(min)d ký tự."
    ),
    "Field must be between %(min)d and %(max)d characters long.": (
        "Hãy nhập từ %(min)d đến %(max)d ký tự."
    ),
    "Invalid input.": "Giá trị không hợp lệ.",
}


class _VietnameseMessages:
    """Translations of WTForms' built-in messages, in the shape WTForms expects."""

    def gettext(self, string: str) -> str:
        return _MESSAGES.get(string, string)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self.gettext(singular if n == 1 else plural)


def _nfc_filter(value):
    return nfc(value) if isinstance(value, str) else value


class BaseForm(FlaskForm):
    class Meta:
        csrf = False

        def get_translations(self, form):
            return _VietnameseMessages()

        def bind_field(self, form, unbound_field, options):
            filters = list(unbound_field.kwargs.get("filters", []))
            if issubclass(
                unbound_field.field_class, (StringField, TextAreaField)
            ) and not issubclass(unbound_field.field_class, PasswordField):
                filters.append(_nfc_filter)
            return unbound_field.bind(form=form, filters=filters, **options)

    def validate(self, extra_validators=None) -> bool:
        """Validate, showing only the parse error of a value that could not be read.

        WTForms still runs a field's validators after its value failed to
        parse, so "abc" in a number field also got the range message.
        """
        valid = super().validate(extra_validators)
        for field in self:
            # An empty optional field keeps its parse error in process_errors,
            # but the Optional validator cleared its errors: it stays valid.
            if field.process_errors and field.errors:
                field.errors = list(field.process_errors)
        return valid


class CheckboxList(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


def _date_field(label):
    return DateField(label, validators=[Optional()], render_kw={"type": "date"})


class LoginForm(BaseForm):
    username = StringField(
        "Tên đăng nhập", validators=[DataRequired(REQUIRED), Length(max=64)]
    )
    password = PasswordField("Mật khẩu", validators=[DataRequired(REQUIRED)])


class EmptyForm(BaseForm):
    """A button-only action; the CSRF token travels in the request."""


class ReasonForm(BaseForm):
    reason = TextAreaField(
        "Lý do trả lại", validators=[DataRequired(REQUIRED), Length(max=2000)]
    )


class NoteForm(BaseForm):
    note = TextAreaField("Ghi chú", validators=[Optional(), Length(max=2000)])


class FinishForm(BaseForm):
    note = TextAreaField(
        "Kết quả xử lý", validators=[DataRequired(REQUIRED), Length(max=4000)]
    )


class ProposeForm(BaseForm):
    text = TextAreaField(
        "Nội dung đề xuất", validators=[DataRequired(REQUIRED), Length(max=4000)]
    )


class InstructForm(BaseForm):
    text = TextAreaField(
        "Ý kiến chỉ đạo (bút phê)",
        validators=[DataRequired(REQUIRED), Length(max=4000)],
    )
    lead = SelectField(
        "Chủ trì xử lý", validators=[InputRequired(REQUIRED)], validate_choice=True
    )
    support = CheckboxList("Phối hợp", coerce=int, validators=[Optional()])
    info = CheckboxList("Để biết", coerce=int, validators=[Optional()])
    deadline = _date_field("Hạn xử lý")


class AssignForm(BaseForm):
    officer = SelectField(
        "Chuyên viên xử lý", coerce=int, validators=[InputRequired(REQUIRED)]
    )
    text = TextAreaField("Ý kiến chỉ đạo", validators=[Optional(), Length(max=4000)])
    deadline = _date_field("Hạn xử lý")


class DraftForm(BaseForm):
    type_name = SelectField("Loại văn bản", choices=TYPE_CHOICES, default="Công văn")
    subject = StringField(
        "Trích yếu", validators=[DataRequired(REQUIRED), Length(max=500)]
    )
    body_text = TextAreaField(
        "Nội dung dự thảo", validators=[Optional(), Length(max=100000)]
    )
    files = MultipleFileField("Tệp dự thảo")


class ReviseForm(BaseForm):
    subject = StringField(
        "Trích yếu", validators=[DataRequired(REQUIRED), Length(max=500)]
    )
    body_text = TextAreaField(
        "Nội dung dự thảo", validators=[Optional(), Length(max=100000)]
    )
    note = TextAreaField("Nội dung đã sửa", validators=[Optional(), Length(max=2000)])
    files = MultipleFileField("Tệp dự thảo mới (để trống nếu giữ tệp cũ)")


class CommentForm(BaseForm):
    comment = TextAreaField("Ý kiến", validators=[Optional(), Length(max=4000)])


class RequiredCommentForm(BaseForm):
    comment = TextAreaField(
        "Ý kiến cần sửa", validators=[DataRequired(REQUIRED), Length(max=4000)]
    )


class InitialForm(BaseForm):
    send_to = RadioField(
        "Trình tiếp",
        choices=[
            ("format", "Bộ phận kiểm soát văn bản (kiểm tra thể thức)"),
            ("leader", "Trình thẳng lãnh đạo UBND"),
        ],
        default="format",
        validators=[InputRequired(REQUIRED)],
    )
    comment = TextAreaField("Ý kiến", validators=[Optional(), Length(max=4000)])


class FormatCheckForm(BaseForm):
    checklist = CheckboxList(
        "Danh mục kiểm tra thể thức",
        choices=[(key, label) for key, label, _ in FORMAT_CHECKLIST],
    )
    decision = RadioField(
        "Kết quả",
        choices=[
            ("pass", "Đạt, trình lãnh đạo UBND"),
            ("return", "Chưa đạt, trả lại để sửa"),
        ],
        default="pass",
        validators=[InputRequired(REQUIRED)],
    )
    comment = TextAreaField("Ý kiến", validators=[Optional(), Length(max=4000)])


class IssueForm(BaseForm):
    subject = StringField(
        "Trích yếu", validators=[DataRequired(REQUIRED), Length(max=500)]
    )
    recipients = CheckboxList("Nơi nhận (để xử lý)", coerce=int)
    info = CheckboxList("Nơi nhận để biết", coerce=int)


class ComposeForm(BaseForm):
    type_name = SelectField("Loại văn bản", choices=TYPE_CHOICES, default="Công văn")
    subject = StringField(
        "Trích yếu", validators=[DataRequired(REQUIRED), Length(max=500)]
    )
    description = TextAreaField(
        "Tóm tắt nội dung", validators=[Optional(), Length(max=4000)]
    )
    signer_position = StringField(
        "Chức vụ người ký", validators=[DataRequired(REQUIRED), Length(max=255)]
    )
    signer_name = StringField(
        "Họ tên người ký", validators=[DataRequired(REQUIRED), Length(max=255)]
    )
    urgency = SelectField(
        "Độ khẩn", coerce=int, choices=list(URGENCY_LABELS.items()), default=0
    )
    secrecy = SelectField(
        "Độ mật", coerce=int, choices=list(SECRECY_LABELS.items()), default=0
    )
    due_date = _date_field("Hạn trả lời")
    files = MultipleFileField("Tệp văn bản đã ký và phụ lục")


class ListFilterForm(BaseForm):
    q = StringField("Tìm theo trích yếu, số ký hiệu")
    state = SelectField("Trạng thái", choices=[], validate_choice=False)
    urgency = SelectField(
        "Độ khẩn",
        choices=[("", "Tất cả")] + [(str(k), v) for k, v in URGENCY_LABELS.items()],
        validate_choice=False,
    )
    due = SelectField(
        "Hạn xử lý",
        choices=[("", "Tất cả"), ("soon", "Sắp đến hạn"), ("overdue", "Quá hạn")],
        validate_choice=False,
    )
    sort = SelectField(
        "Sắp xếp",
        choices=[
            ("newest", "Mới nhất"),
            ("oldest", "Cũ nhất"),
            ("due", "Hạn xử lý gần nhất"),
            ("urgency", "Khẩn trước"),
        ],
        default="newest",
        validate_choice=False,
    )
