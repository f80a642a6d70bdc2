"""Document types and their abbreviations, editable by the city's admin."""

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from vanban.extensions import db


class DocumentType(db.Model):
    """A document type (tên loại) of ND30 Phụ lục III and its abbreviation."""

    __tablename__ = "document_types"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    # Empty for công văn, which carries no type abbreviation.
    abbreviation: Mapped[str] = mapped_column(String(20), default="")
    position: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)
