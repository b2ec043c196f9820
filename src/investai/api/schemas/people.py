"""Responses that name the users they mention: documents (owner, uploader of each version) and audit records
(actor, and the user a record is about). Each keeps the id and adds the name beside it, resolved for the caller
(:class:`~investai.services.queries.UserNames`): a user of the caller's organisation by display name (or e-mail),
an account that no longer exists as its id marked ``(deleted user)``."""

from __future__ import annotations

from pydantic import Field

from investai.domain.audit import AuditEvent
from investai.domain.documents import Document, DocumentVersion
from investai.services.queries import UserNames

NAME = "display name (or e-mail) of the user; '<id> (deleted user)' for an account that no longer exists"


class DocumentVersionPublic(DocumentVersion):
    uploaded_by_name: str = Field(description=f"who uploaded the version: {NAME}")

    @classmethod
    def of(cls, version: DocumentVersion, names: UserNames) -> DocumentVersionPublic:
        return cls.model_validate({**version.model_dump(), "uploaded_by_name": names.name(version.uploaded_by)})


class DocumentPublic(Document):
    owner_name: str = Field(description=f"the document's owner: {NAME}")
    versions: list[DocumentVersionPublic] = Field(min_length=1)  # type: ignore[assignment]  # each named

    @classmethod
    def of(cls, document: Document, names: UserNames) -> DocumentPublic:
        versions = [DocumentVersionPublic.of(version, names) for version in document.versions]
        data = {**document.model_dump(), "owner_name": names.name(document.owner_id), "versions": versions}
        return cls.model_validate(data)


class AuditEventPublic(AuditEvent):
    actor_name: str | None = Field(default=None, description=f"who acted: {NAME}; null without an actor")
    resource_name: str | None = Field(
        default=None, description=f"for a record about a user (resource_type user): {NAME}; null otherwise"
    )

    @classmethod
    def of(cls, event: AuditEvent, names: UserNames) -> AuditEventPublic:
        about_user = event.resource_type == "user" and event.resource_id
        return cls.model_validate(
            {
                **event.model_dump(),
                "actor_name": names.name(event.actor_id) if event.actor_id else None,
                "resource_name": names.name(event.resource_id) if about_user and event.resource_id else None,
            }
        )
