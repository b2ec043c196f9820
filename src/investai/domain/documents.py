"""Proprietary documents: metadata, status, ownership, visibility and versions."""

from __future__ import annotations

import unicodedata
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Annotated, Any, Protocol
from urllib.parse import unquote

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from investai.domain.common import DomainModel, Identifier, Tag, UtcDatetime
from investai.domain.errors import ValidationFailed
from investai.domain.roles import Role


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


EARLIEST_PUBLICATION = datetime(1900, 1, 1, tzinfo=UTC)
"""No document in the knowledge base is dated before this."""
PUBLICATION_SKEW = timedelta(days=1)
"""How far past the current time a publication date may lie: a date given without a time means the start of
that day in UTC, which east of UTC can still be tomorrow for the server."""


def publication_moment(value: object) -> object:
    """A publication date as an aware UTC datetime: ``YYYY-MM-DD`` (or a ``date``) is the start of that day in
    UTC, an ISO 8601 datetime without a zone is read as UTC. Anything else is left for the type check."""
    if isinstance(value, str):
        text = value.strip()
        try:
            value = datetime.fromisoformat(text)
        except ValueError as exc:
            raise ValueError("a publication date is YYYY-MM-DD or an ISO 8601 date and time") from exc
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime.combine(value, time.min, tzinfo=UTC)
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _not_too_early(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    if moment < EARLIEST_PUBLICATION:
        raise ValueError("a publication date may not be before 1900")
    return moment


PublishedAt = Annotated[datetime, BeforeValidator(publication_moment), AfterValidator(_not_too_early)]
"""When a document version was published: the date point-in-time research dates its content by."""


def check_publication(published_at: datetime, *, now: datetime) -> datetime:
    """``published_at`` unless it lies in the future (beyond :data:`PUBLICATION_SKEW`); ``ValidationFailed``
    then."""
    if published_at > now + PUBLICATION_SKEW:
        raise ValidationFailed(f"the publication date {published_at.date().isoformat()} is in the future")
    return published_at


class DocumentVersion(DomainModel):
    version: int = Field(ge=1)
    object_key: str = Field(min_length=1, max_length=1024)
    object_version: str = Field(min_length=1, max_length=64)
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    filename: str = Field(min_length=1, max_length=255)
    uploaded_at: UtcDatetime
    uploaded_by: Identifier
    published_at: PublishedAt = Field(
        description="when the content was published (the uploader's date; the upload time unless given): "
        "knowledge-base date filters and point-in-time research date the version by it"
    )

    @model_validator(mode="before")
    @classmethod
    def _published_defaults_to_upload(cls, data: Any) -> Any:
        """A version stored before versions had a publication date (or made without one) counts as published
        when it was uploaded."""
        if isinstance(data, dict) and data.get("published_at") is None and "uploaded_at" in data:
            return {**data, "published_at": data["uploaded_at"]}
        return data


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
    deleted_at: UtcDatetime | None = Field(default=None, description="set by delete; a restore clears it")

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

    def readable_by(self, *, user_id: str, organisation_id: str, role: str) -> bool:
        """The sharing rule every read applies (:func:`shared_with`; chunks in the knowledge base carry the
        same fields and go through the same rule)."""
        return shared_with(self, user_id=user_id, organisation_id=organisation_id, role=role)


class Shareable(Protocol):
    """What the sharing rule reads: a document, or a chunk of one."""

    @property
    def owner_id(self) -> str: ...
    @property
    def organisation_id(self) -> str: ...
    @property
    def visibility(self) -> Visibility: ...
    @property
    def allowed_roles(self) -> list[str]: ...
    @property
    def allowed_users(self) -> list[str]: ...


def shared_with(item: Shareable, *, user_id: str, organisation_id: str, role: str) -> bool:
    """Same organisation, and the reader's own, or shared with the organisation, the reader's role or the
    reader by name. Anything else is invisible (and answers 404)."""
    if organisation_id != item.organisation_id:
        return False
    if user_id == item.owner_id or item.visibility is Visibility.ORGANISATION:
        return True
    if item.visibility is Visibility.ROLES:
        return role in item.allowed_roles
    if item.visibility is Visibility.USERS:
        return user_id in item.allowed_users
    return False


# Access tokens: the sharing rule as set membership. An item lists the tokens that let a reader see it and a
# reader holds three; the item is visible exactly when the two sets meet, which an index with one label-list
# lookup answers as fast as an equality test. The separator "/" cannot occur in an identifier or a role, so no
# two (organisation, user) pairs make the same token.


def access_tokens(item: Shareable) -> list[str]:
    """The tokens any one of which lets a reader see ``item``: :func:`shared_with` as data."""
    organisation = item.organisation_id
    tokens = {f"user/{organisation}/{item.owner_id}"}
    if item.visibility is Visibility.ORGANISATION:
        tokens.add(f"organisation/{organisation}")
    elif item.visibility is Visibility.ROLES:
        tokens.update(f"role/{organisation}/{role}" for role in item.allowed_roles)
    elif item.visibility is Visibility.USERS:
        tokens.update(f"user/{organisation}/{user}" for user in item.allowed_users)
    return sorted(tokens)


def reader_tokens(*, user_id: str, organisation_id: str, role: str) -> list[str]:
    """The tokens a reader holds: ``shared_with(item, ...)`` is true exactly when they meet
    ``access_tokens(item)``."""
    return [f"user/{organisation_id}/{user_id}", f"organisation/{organisation_id}", f"role/{organisation_id}/{role}"]


_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
"""Controls (C0 and C1), format characters (bidirectional embeddings, overrides and isolates U+202A-U+202E
and U+2066-U+2069, marks U+200E/U+200F, zero-width characters U+200B-U+200D, the byte-order mark U+FEFF...),
surrogates and line or paragraph separators: characters that are invisible or reorder what is shown, so
``evil\\u202egpj.csv`` would display as ``evilcsv.jpg``."""


def _hidden_character(text: str) -> str | None:
    return next((char for char in text if unicodedata.category(char) in _HIDDEN_CATEGORIES), None)


def shown_filename(name: str) -> str:
    """``name`` for a terminal or a log line: every hidden character written as its ``\\u`` escape."""
    return "".join(f"\\u{ord(char):04x}" if unicodedata.category(char) in _HIDDEN_CATEGORIES else char for char in name)


def safe_filename(name: str) -> str:
    """The uploaded file's name, kept only as a label (storage keys never use it) and the default title.
    Names that try to walk directories or carry control or invisible formatting characters (which can make a
    name display as something else) are refused rather than silently rewritten, so what is stored and shown
    is exactly what the uploader's file is called."""
    if not name or not name.strip():
        raise ValidationFailed("the file needs a name")
    if len(name) > 255:
        raise ValidationFailed("file names are limited to 255 characters")
    # clients percent-encode what they may not send raw; bytes that are not UTF-8 decode to surrogates
    for form in (name, unquote(name, errors="surrogateescape")):
        hidden = _hidden_character(form)
        if hidden is not None:
            raise ValidationFailed(
                f"file names may not contain control characters or invisible formatting characters"
                f" (U+{ord(hidden):04X}); rename the file"
            )
        if "/" in form or "\\" in form or form.strip() in {".", ".."} or form.startswith(".."):
            raise ValidationFailed("file names may not contain path separators or '..'")
    return name.strip()


class DocumentMetadata(DomainModel):
    """What the uploader says about a document (type is never taken from here: it comes from the content)."""

    title: str | None = Field(default=None, min_length=1, max_length=255)
    source: str | None = Field(default=None, max_length=255)
    confidentiality: Confidentiality = Confidentiality.PRIVATE
    visibility: Visibility = Visibility.PRIVATE
    allowed_roles: list[Role] = Field(default_factory=list, max_length=10)
    allowed_users: list[Identifier] = Field(default_factory=list, max_length=500)
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    published_at: PublishedAt | None = Field(
        default=None,
        description="publication date of the (current) version, YYYY-MM-DD or an ISO 8601 date and time (UTC "
        "when no zone is given). On upload, absent means the upload time; on a change, absent keeps the date",
    )

    @model_validator(mode="after")
    def _allow_lists_match_visibility(self) -> DocumentMetadata:
        if self.visibility is Visibility.ROLES and not self.allowed_roles:
            raise ValueError("visibility 'roles' needs at least one allowed role")
        if self.visibility is Visibility.USERS and not self.allowed_users:
            raise ValueError("visibility 'users' needs at least one allowed user")
        return self
