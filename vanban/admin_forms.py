"""WTForms classes of the admin settings pages."""

import re

from wtforms import (
    BooleanField,
    DateField,
    PasswordField,
    SelectField,
    StringField,
    ValidationError,
)
from wtforms.validators import DataRequired, Length, Optional, Regexp

from vanban.forms import REQUIRED, BaseForm, CheckboxList
from vanban.models.organisations import ORGANISATION_KINDS
from vanban.models.users import ROLES
from vanban.services.audit_labels import ORGANISATION_KIND_LABELS
from vanban.services.doctypes import ROLE_LABELS

KIND_LABELS = ORGANISATION_KIND_LABELS
# Electronic identifier (mã định danh điện tử) of the shape NNN.NN.NN.ANN.
CODE_PATTERN = re.compile(r"\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2}")
PROVISIONAL_PATTERN = re.compile(r"TAM\.\d{5}")
ABBREVIATION_PATTERN = re.compile(r"[^\W_]+(?:-[^\W_]+)*")
EMAIL_PATTERN = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
USERNAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]*")


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def _abbreviation(form, field):
    if field.data and not ABBREVIATION_PATTERN.fullmatch(field.data):
        raise ValidationError(
            "Chữ viết tắt chỉ gồm chữ cái, chữ số và dấu gạch nối, không có dấu cách."
        )


class OrganisationForm(BaseForm):
    name = StringField(
        "Tên đơn vị",
        filters=[_strip],
        validators=[DataRequired(REQUIRED), Length(max=255)],
    )
    code = StringField(
        "Mã định danh điện tử",
        filters=[_strip],
        validators=[DataRequired(REQUIRED), Length(max=32)],
    )
    abbreviation = StringField(
        "Chữ viết tắt tên cơ quan ban hành",
        filters=[_strip],
        default="UBND",
        validators=[DataRequired(REQUIRED), Length(max=20), _abbreviation],
    )
    kind = SelectField(
        "Loại đơn vị",
        choices=[(kind, KIND_LABELS[kind]) for kind in ORGANISATION_KINDS],
        default="ward",
    )
    unit_code = StringField(
        "Mã đơn vị hành chính",
        filters=[_strip],
        validators=[Optional(), Length(max=10)],
    )
    parent_id = SelectField("Trực thuộc", coerce=int, default=0)

    def validate_code(self, field):
        if not (
            CODE_PATTERN.fullmatch(field.data)
            or PROVISIONAL_PATTERN.fullmatch(field.data)
        ):
            raise ValidationError(
                "Mã định danh có dạng 000.00.00.H01: ba nhóm chữ số và một chữ cái "
                "in hoa kèm hai chữ số, cách nhau bằng dấu chấm."
            )

    def validate_unit_code(self, field):
        if field.data and not re.fullmatch(r"\d{2}|\d{5}", field.data):
            raise ValidationError(
                "Mã đơn vị hành chính gồm 2 chữ số (tỉnh, thành phố) hoặc 5 chữ số "
                "(phường, xã)."
            )

    def values(self) -> dict:
        return {
            "name": self.name.data,
            "code": self.code.data,
            "abbreviation": self.abbreviation.data,
            "kind": self.kind.data,
            "unit_code": self.unit_code.data or None,
            "parent_id": self.parent_id.data or None,
        }


class ImportWardsForm(BaseForm):
    province = SelectField("Tỉnh, thành phố", validate_choice=True)
    parent_id = SelectField("Trực thuộc", coerce=int)
    wards = CheckboxList("Phường, xã", validate_choice=False)


class DepartmentForm(BaseForm):
    name = StringField(
        "Tên phòng ban",
        filters=[_strip],
        validators=[DataRequired(REQUIRED), Length(max=255)],
    )
    abbreviation = StringField(
        "Chữ viết tắt",
        filters=[_strip],
        validators=[DataRequired(REQUIRED), Length(max=20), _abbreviation],
    )

    def values(self) -> dict:
        return {"name": self.name.data, "abbreviation": self.abbreviation.data}


class _UserFields(BaseForm):
    full_name = StringField(
        "Họ và tên",
        filters=[_strip],
        validators=[DataRequired(REQUIRED), Length(max=255)],
    )
    position = StringField(
        "Chức vụ", filters=[_strip], validators=[Optional(), Length(max=255)]
    )
    email = StringField(
        "Thư điện tử",
        filters=[_strip],
        validators=[
            Optional(),
            Length(max=255),
            Regexp(EMAIL_PATTERN, message="Địa chỉ thư điện tử không hợp lệ."),
        ],
    )
    department_id = SelectField("Phòng ban", coerce=int, default=0)
    roles = CheckboxList(
        "Vai trò", choices=[(role, ROLE_LABELS[role]) for role in ROLES]
    )
    secret_clearance = BooleanField("Được xem văn bản mật")

    def values(self) -> dict:
        return {
            "full_name": self.full_name.data,
            "position": self.position.data or "",
            "email": self.email.data or None,
            "department_id": self.department_id.data or None,
            "roles": list(self.roles.data or []),
            "secret_clearance": self.secret_clearance.data,
        }


class NewUserForm(_UserFields):
    username = StringField(
        "Tên đăng nhập",
        filters=[_strip, lambda value: value.lower() if value else value],
        validators=[DataRequired(REQUIRED), Length(max=64)],
    )
    password = PasswordField(
        "Mật khẩu ban đầu", validators=[DataRequired(REQUIRED), Length(max=200)]
    )

    def validate_username(self, field):
        if not USERNAME_PATTERN.fullmatch(field.data):
            raise ValidationError(
                "Tên đăng nhập chỉ gồm chữ thường không dấu, chữ số và các dấu . _ -"
            )

    def values(self) -> dict:
        return {"username": self.username.data, **super().values()}


class EditUserForm(_UserFields):
    active = BooleanField("Đang hoạt động")

    def values(self) -> dict:
        return {**super().values(), "active": self.active.data}


class ResetPasswordForm(BaseForm):
    password = PasswordField(
        "Mật khẩu dùng một lần",
        validators=[DataRequired(REQUIRED), Length(max=200)],
    )


class DocumentTypeForm(BaseForm):
    name = StringField(
        "Tên loại văn bản",
        filters=[_strip],
        validators=[DataRequired(REQUIRED), Length(max=100)],
    )
    abbreviation = StringField(
        "Chữ viết tắt",
        filters=[_strip],
        validators=[Optional(), Length(max=20), _abbreviation],
    )
    active = BooleanField("Đang dùng", default=True)

    def values(self) -> dict:
        return {
            "name": self.name.data,
            "abbreviation": self.abbreviation.data or "",
            "active": self.active.data,
        }


class AuditFilterForm(BaseForm):
    user = StringField("Người thực hiện (tên đăng nhập)", filters=[_strip])
    action = SelectField("Thao tác", validate_choice=False)
    organisation_id = SelectField("Đơn vị", validate_choice=False)
    start = DateField("Từ ngày", validators=[Optional()], render_kw={"type": "date"})
    end = DateField("Đến ngày", validators=[Optional()], render_kw={"type": "date"})

    def validate_end(self, field):
        if field.data and self.start.data and field.data < self.start.data:
            raise ValidationError("Ngày kết thúc phải sau ngày bắt đầu.")
