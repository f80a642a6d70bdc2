"""Document exchange: edXML packages (QCVN 102:2016/BTTTT) for the city hub."""

from vanban.exchange.edxml import (
    build_edoc,
    build_status,
    parse_edoc,
    parse_package,
    parse_status,
)
from vanban.exchange.packages import (
    Attachment,
    Business,
    EdocPackage,
    EdxmlError,
    Organisation,
    Receiver,
    ResponseFor,
    SignerInfo,
    StaffInfo,
    StatusPackage,
    TraceHeader,
    standard_document_id,
)
from vanban.exchange.zipped import ZipLimits

__all__ = [
    "Attachment",
    "Business",
    "EdocPackage",
    "EdxmlError",
    "Organisation",
    "Receiver",
    "ResponseFor",
    "SignerInfo",
    "StaffInfo",
    "StatusPackage",
    "TraceHeader",
    "ZipLimits",
    "build_edoc",
    "build_status",
    "parse_edoc",
    "parse_package",
    "parse_status",
    "standard_document_id",
]
