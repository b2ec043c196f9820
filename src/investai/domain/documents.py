"""Proprietary documents: metadata, status, ownership, visibility and versions."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, model_validator

from investai.domain.common import DomainModel, Identifier, Tag, UtcDatetime


class DocumentType(StrEnum):
    PDF = "pdf"
    CSV = "csv"
    XLSX = "xlsx"
    JSON = "json"


class DocumentStatus(StrEnum):
    UPLOADED = "uploaded"
    PROCESSING = "processing"
    INDEXED = "indexed"
    FAILED = "failed"


class Confidentiality(StrEnum):
    PUBLIC = "public"
    PRIVATE = "private"
    RESTRICTED = "restricted"


class Visibility(StrEnum):
    PRIVATE = "private"
    ORGANISATION = "organisation"
    ROLES = "roles"
    USERS = "users"


class DocumentVersion(DomainModel):
    version: int = Field(ge=1)
    object_key: str = Field(min_length=1, max_length=1024)
    object_version: str = Field(min_length=1, max_length=64)
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    filename: str = Field(min_length=1, max_length=255)
    uploaded_at: UtcDatetime
    uploaded_by: Identifier


class Document(DomainModel):
    id: Identifier
    owner_id: Identifier
    organisation_id: Identifier
    title: str = Field(min_length=1, max_length=255)
    doc_type: DocumentType
    status: DocumentStatus = DocumentStatus.UPLOADED
    status_reason: str | None = Field(default=None, max_length=2000)
    source: str | None = Field(default=None, max_length=255)
    confidentiality: Confidentiality = Confidentiality.PRIVATE
    visibility: Visibility = Visibility.PRIVATE
    allowed_roles: list[str] = Field(default_factory=list, max_length=10)
    allowed_users: list[Identifier] = Field(default_factory=list, max_length=500)
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    versions: list[DocumentVersion] = Field(min_length=1)
    current_version: int = Field(ge=1)
    created_at: UtcDatetime
    updated_at: UtcDatetime

    @model_validator(mode="after")
    def _consistent(self) -> Document:
        numbers = [version.version for version in self.versions]
        if numbers != sorted(set(numbers)):
            raise ValueError("document versions must be unique and ascending")
        if self.current_version not in numbers:
            raise ValueError("current_version must name an existing version")
        return self

    @property
    def current(self) -> DocumentVersion:
        return next(version for version in self.versions if version.version == self.current_version)
