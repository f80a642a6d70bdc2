"""Database models; importing this package registers every table."""

from vanban.models.documents import Attachment, Document, Recipient, RecipientStatus
from vanban.models.exchange import ConnectorSettings, ReceivedPackage
from vanban.models.hub import HubDelivery, HubMessage, HubOrganisation
from vanban.models.organisations import Department, Organisation
from vanban.models.registers import NumberSeries, SeriesCounter
from vanban.models.system import AuditEvent, OutboxMessage, Setting
from vanban.models.users import ROLES, User, UserRole
from vanban.models.workflow import Assignment, DraftVersion, Instruction, ReviewStep

__all__ = [
    "ROLES",
    "Assignment",
    "Attachment",
    "AuditEvent",
    "ConnectorSettings",
    "Department",
    "Document",
    "DraftVersion",
    "HubDelivery",
    "HubMessage",
    "HubOrganisation",
    "Instruction",
    "NumberSeries",
    "Organisation",
    "OutboxMessage",
    "ReceivedPackage",
    "Recipient",
    "RecipientStatus",
    "ReviewStep",
    "SeriesCounter",
    "Setting",
    "User",
    "UserRole",
]
