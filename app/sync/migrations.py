"""Versioned schema of the local cache. Append a migration; never edit a released one.

``PRAGMA user_version`` holds the version reached. Each step runs in the same transaction as
the version bump, so a crash mid-migration leaves the previous version intact.
"""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: documents as last seen (local view), the outbox, the pull cursor.
    """
    CREATE TABLE documents (
        id TEXT PRIMARY KEY,
        type TEXT NOT NULL,
        fields TEXT NOT NULL,            -- JSON: what the user sees (local edits included)
        rev INTEGER NOT NULL DEFAULT 0,  -- hub revision the local view is based on (0 = new)
        deleted INTEGER NOT NULL DEFAULT 0,
        facility_id TEXT,
        patient_id TEXT,
        consultation_id TEXT,
        updated_at TEXT NOT NULL,
        updated_by TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX documents_type ON documents(type);
    CREATE INDEX documents_patient ON documents(patient_id);
    CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        change_id TEXT NOT NULL UNIQUE,
        doc_id TEXT NOT NULL,
        change TEXT NOT NULL,            -- JSON of app.protocol.sync.Change
        created_at TEXT NOT NULL
    );
    CREATE INDEX outbox_doc ON outbox(doc_id);
    CREATE TABLE sync_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # 2: the hub's last known version of each document and its conflict (three-way views),
    #    attempts (a sent change is frozen: its change_id may already be stored on the hub),
    #    per-document sync errors, rejected changes kept for the user.
    """
    ALTER TABLE documents ADD COLUMN hub_rev INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE documents ADD COLUMN hub_fields TEXT;
    ALTER TABLE documents ADD COLUMN hub_deleted INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE documents ADD COLUMN conflict TEXT;
    ALTER TABLE documents ADD COLUMN sync_error TEXT;
    ALTER TABLE outbox ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE outbox ADD COLUMN last_error TEXT;
    UPDATE documents SET hub_rev = rev, hub_fields = fields, hub_deleted = deleted
        WHERE rev > 0 AND id NOT IN (SELECT doc_id FROM outbox);
    CREATE TABLE rejected (
        change_id TEXT PRIMARY KEY,
        doc_id TEXT NOT NULL,
        change TEXT NOT NULL,
        reason TEXT NOT NULL,
        message TEXT NOT NULL,
        at TEXT NOT NULL
    );
    """,
    # 3: blobs: what the store holds, what must go up, tus progress, LRU bookkeeping.
    """
    CREATE TABLE blobs (
        sha256 TEXT PRIMARY KEY,
        size INTEGER NOT NULL,
        media_type TEXT NOT NULL DEFAULT 'application/octet-stream',
        state TEXT NOT NULL,             -- upload_pending | uploaded | remote | cached
        present INTEGER NOT NULL DEFAULT 0,
        upload_url TEXT,
        uploaded_bytes INTEGER NOT NULL DEFAULT 0,
        priority INTEGER NOT NULL DEFAULT 0,
        last_access REAL NOT NULL DEFAULT 0,
        error TEXT
    );
    CREATE INDEX blobs_state ON blobs(state);
    """,
]

LATEST = len(MIGRATIONS)
