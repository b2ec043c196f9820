"""The kinds of the recurring jobs, by name: what a schedule enqueues and a handler runs. Kept apart from the
handlers (which import the services) so that enqueueing a scheduled job loads nothing of the data stack: the
scheduler Lambda ships without pandas, numpy or pyarrow."""

from __future__ import annotations

PURGE_EXPIRED = "maintenance.purge_expired"
DOCUMENT_LIFECYCLE = "documents.lifecycle"
MARKET_RETENTION = "market.retention"
MARKET_REFRESH = "market.refresh"
MARKET_COMPACTION = "market.compact"
EXPIRE_IDEAS = "ideas.expire"
BACKUP = "backup.create"
REDELIVER_JOBS = "jobs.redeliver"
ROTATE_KEYS = "keys.rotate"
