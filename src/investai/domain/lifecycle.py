"""Idea status lifecycle: draft -> in_review -> approved / rejected -> expired / archived."""

from __future__ import annotations

from enum import StrEnum


class IdeaStatus(StrEnum):
    DRAFT = "draft"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    ARCHIVED = "archived"


ALLOWED_TRANSITIONS: dict[IdeaStatus, frozenset[IdeaStatus]] = {
    IdeaStatus.DRAFT: frozenset({IdeaStatus.IN_REVIEW, IdeaStatus.ARCHIVED}),
    IdeaStatus.IN_REVIEW: frozenset({IdeaStatus.APPROVED, IdeaStatus.REJECTED, IdeaStatus.DRAFT}),
    IdeaStatus.APPROVED: frozenset({IdeaStatus.EXPIRED, IdeaStatus.ARCHIVED}),
    IdeaStatus.REJECTED: frozenset({IdeaStatus.EXPIRED, IdeaStatus.ARCHIVED}),
    IdeaStatus.EXPIRED: frozenset({IdeaStatus.ARCHIVED}),
    IdeaStatus.ARCHIVED: frozenset(),
}


def can_transition(current: IdeaStatus, target: IdeaStatus) -> bool:
    """Whether the lifecycle graph has an edge from ``current`` to ``target``."""
    return target in ALLOWED_TRANSITIONS[current]
