"""Database models; importing this package registers every table."""

from vanban.models.calendar import CalendarChange, DeadlineReminder, DeadlineRule
from vanban.models.doctypes import DocumentType
from vanban.models.documents import Attachment, Document, Recipient, RecipientStatus
from vanban.models.exchange import (
    ConnectorSettings,
    DeliveryReport,
    ReceivedPackage,
)
from vanban.models.hub import HubDelivery, HubMessage, HubOrganisation
from vanban.models.notifications import Notification
from vanban.models.organisations import Department, Organisation
from vanban.models.registers import (
    NumberSeries,
    RegisterClosure,
    SeriesCounter,
    VoidedNumber,
)
from vanban.models.search import AttachmentText, DocumentSearch
from vanban.models.system import AuditEvent, OutboxMessage, Setting
from vanban.models.trial import TrialWard
from vanban.models.users import ROLES, User, UserRole
from vanban.models.workflow import Assignment, DraftVersion, Instruction, ReviewStep

__all__ = [
    "ROLES",
    "Assignment",
    "Attachment",
    "AttachmentText",
    "AuditEvent",
    "CalendarChange",
    "ConnectorSettings",
    "DeadlineReminder",
    "DeadlineRule",
    "DeliveryReport",
    "Department",
    "Document",
    "DocumentSearch",
    "DocumentType",
    "DraftVersion",
    "HubDelivery",
    "HubMessage",
    "HubOrganisation",
    "Instruction",
    "Notification",
    "NumberSeries",
    "Organisation",
    "OutboxMessage",
    "ReceivedPackage",
    "Recipient",
    "RegisterClosure",
    "RecipientStatus",
    "ReviewStep",
    "SeriesCounter",
    "Setting",
    "TrialWard",
    "User",
    "UserRole",
    "VoidedNumber",
]
