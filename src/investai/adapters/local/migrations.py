"""Schema of the embedded database, as numbered migrations. Never edit an applied migration: add one.

Tables mirror the DynamoDB design: ideas keyed ``(id, timestamp)`` with one row per revision and
indexes (by user, status, date) over the latest revision only, like sparse GSIs. Profiles keep their latest
in ``user_profiles`` and every revision in ``profile_revisions`` keyed ``(user_id, timestamp)``; the profiles
present when that table arrived start their history at the migration's time.
"""

from __future__ import annotations

from investai.adapters.local.sqlite import Migration

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "initial schema",
        """
        CREATE TABLE idea_revisions (
            id TEXT NOT NULL,
            timestamp INTEGER NOT NULL,
            version INTEGER NOT NULL,
            user_id TEXT NOT NULL,
            organisation_id TEXT NOT NULL,
            status TEXT NOT NULL,
            date TEXT NOT NULL,
            is_latest INTEGER NOT NULL CHECK (is_latest IN (0, 1)),
            body TEXT NOT NULL,
            PRIMARY KEY (id, timestamp),
            UNIQUE (id, version)
        );
        CREATE INDEX ideas_by_user ON idea_revisions (user_id, timestamp) WHERE is_latest = 1;
        CREATE INDEX ideas_by_status ON idea_revisions (organisation_id, status, timestamp) WHERE is_latest = 1;
        CREATE INDEX ideas_by_date ON idea_revisions (organisation_id, date, timestamp) WHERE is_latest = 1;

        CREATE TABLE users (
            id TEXT PRIMARY KEY,
            email TEXT NOT NULL UNIQUE COLLATE NOCASE,
            organisation_id TEXT NOT NULL,
            body TEXT NOT NULL
        );
        CREATE INDEX users_by_organisation ON users (organisation_id, email);

        CREATE TABLE user_profiles (
            user_id TEXT PRIMARY KEY,
            body BLOB NOT NULL
        );

        CREATE TABLE documents (
            id TEXT PRIMARY KEY,
            owner_id TEXT NOT NULL,
            organisation_id TEXT NOT NULL,
            updated_at INTEGER NOT NULL,
            body TEXT NOT NULL
        );
        CREATE INDEX documents_by_owner ON documents (owner_id, updated_at);
        CREATE INDEX documents_by_organisation ON documents (organisation_id, updated_at);

        CREATE TABLE feedback (
            id TEXT PRIMARY KEY,
            idea_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            body TEXT NOT NULL
        );
        CREATE INDEX feedback_by_idea ON feedback (idea_id, created_at);
        CREATE INDEX feedback_by_user ON feedback (user_id, created_at);

        CREATE TABLE jobs (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            status TEXT NOT NULL,
            idempotency_key TEXT,
            available_at INTEGER NOT NULL,
            lease_expires_at INTEGER,
            lease_token TEXT,
            attempts INTEGER NOT NULL,
            max_attempts INTEGER NOT NULL,
            created_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL,
            body TEXT NOT NULL
        );
        CREATE UNIQUE INDEX jobs_idempotency ON jobs (kind, idempotency_key) WHERE idempotency_key IS NOT NULL;
        CREATE INDEX jobs_ready ON jobs (status, available_at, created_at);
        CREATE INDEX jobs_leases ON jobs (status, lease_expires_at);
        CREATE INDEX jobs_expiry ON jobs (expires_at);
        """,
    ),
    Migration(
        2,
        "identity and audit",
        """
        CREATE TABLE token_families (
            id TEXT PRIMARY KEY,
            user_id TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL,
            revoked_at INTEGER,
            revoked_reason TEXT
        );
        CREATE INDEX token_families_by_user ON token_families (user_id, revoked_at);

        CREATE TABLE refresh_tokens (
            token_hash TEXT PRIMARY KEY,
            family_id TEXT NOT NULL REFERENCES token_families (id) ON DELETE CASCADE,
            issued_at INTEGER NOT NULL,
            used_at INTEGER
        );
        CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family_id);

        CREATE TABLE single_use_keys (
            key TEXT PRIMARY KEY,
            expires_at INTEGER NOT NULL
        );

        CREATE TABLE user_secrets (
            user_id TEXT PRIMARY KEY,
            body BLOB NOT NULL
        );

        CREATE TABLE audit_events (
            seq INTEGER PRIMARY KEY,
            at INTEGER NOT NULL,
            actor_id TEXT,
            organisation_id TEXT,
            action TEXT NOT NULL,
            body TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        );
        CREATE INDEX audit_by_organisation ON audit_events (organisation_id, seq);
        CREATE INDEX audit_by_actor ON audit_events (actor_id, seq);
        CREATE INDEX audit_by_action ON audit_events (action, seq);
        CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
        BEGIN
            SELECT RAISE(ABORT, 'the audit log is append-only');
        END;
        CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
        BEGIN
            SELECT RAISE(ABORT, 'the audit log is append-only');
        END;
        """,
    ),
    Migration(
        3,
        "sessions remember how they were authenticated",
        """
        ALTER TABLE token_families ADD COLUMN amr TEXT NOT NULL DEFAULT '["pwd"]';
        ALTER TABLE token_families ADD COLUMN auth_time INTEGER;
        """,
    ),
    Migration(
        4,
        "job priorities; idea-generation requests and their agent messages",
        """
        ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX jobs_ready_by_priority ON jobs (status, priority DESC, available_at, created_at);

        CREATE TABLE idea_requests (
            id TEXT PRIMARY KEY,
            owner_id TEXT NOT NULL,
            organisation_id TEXT NOT NULL,
            status TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            cancel_requested INTEGER NOT NULL DEFAULT 0,
            body TEXT NOT NULL
        );
        CREATE INDEX idea_requests_by_owner ON idea_requests (owner_id, created_at);
        CREATE INDEX idea_requests_by_organisation ON idea_requests (organisation_id, created_at);

        CREATE TABLE agent_messages (
            request_id TEXT NOT NULL REFERENCES idea_requests (id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            created_at INTEGER NOT NULL,
            body TEXT NOT NULL,
            PRIMARY KEY (request_id, seq)
        );
        """,
    ),
    Migration(
        5,
        "point-in-time reads: profile revisions; idea revisions by organisation and time",
        """
        CREATE TABLE profile_revisions (
            user_id TEXT NOT NULL,
            timestamp INTEGER NOT NULL,
            body BLOB NOT NULL,
            PRIMARY KEY (user_id, timestamp)
        );
        CREATE INDEX profile_revisions_by_time ON profile_revisions (timestamp);
        INSERT INTO profile_revisions (user_id, timestamp, body)
            SELECT user_id, CAST(strftime('%s', 'now') AS INTEGER) * 1000, body FROM user_profiles;

        CREATE INDEX ideas_by_organisation_all_revisions ON idea_revisions (organisation_id, timestamp);
        """,
    ),
    Migration(
        6,
        "model usage ledger: recorded batches, month-to-date counters, budget overrides",
        """
        CREATE TABLE usage_batches (
            batch_key TEXT PRIMARY KEY,
            recorded_at INTEGER NOT NULL,
            body TEXT NOT NULL
        );

        CREATE TABLE usage_counters (
            month TEXT NOT NULL,
            organisation_id TEXT NOT NULL,
            dimension TEXT NOT NULL,
            name TEXT NOT NULL,
            calls INTEGER NOT NULL DEFAULT 0,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cost_nanos INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (month, organisation_id, dimension, name)
        );

        CREATE TABLE budget_overrides (
            organisation_id TEXT NOT NULL,
            scope TEXT NOT NULL,
            subject_id TEXT NOT NULL,
            body TEXT NOT NULL,
            PRIMARY KEY (organisation_id, scope, subject_id)
        );
        """,
    ),
)
