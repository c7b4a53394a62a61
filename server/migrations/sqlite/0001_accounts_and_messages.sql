-- ChatterBox schema v1: accounts, chat messages, and persisted settings (e.g. the generated JWT secret).
-- Timestamps are RFC 3339 UTC text with millisecond precision, so they sort lexically.

CREATE TABLE users (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    username       TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    email          TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    password_hash  TEXT    NOT NULL,
    is_admin       INTEGER NOT NULL DEFAULT 0 CHECK (is_admin IN (0, 1)),
    is_blocked     INTEGER NOT NULL DEFAULT 0 CHECK (is_blocked IN (0, 1)),
    warning_count  INTEGER NOT NULL DEFAULT 0,
    -- Bumped on block: every token carries the version it was issued under, so blocking revokes
    -- all earlier tokens for good (an unblocked user logs in again).
    token_version  INTEGER NOT NULL DEFAULT 0,
    created_at     TEXT    NOT NULL
);

CREATE TABLE messages (
    -- AUTOINCREMENT: ids are never reused, so `since=ID` catch-up stays exact.
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    sender_id   INTEGER NOT NULL REFERENCES users (id),
    room        TEXT    NOT NULL DEFAULT 'general',
    content     TEXT    NOT NULL,
    -- Optional client-chosen id: the same client_id from the same sender is stored once.
    client_id   TEXT,
    created_at  TEXT    NOT NULL
);

CREATE UNIQUE INDEX messages_sender_client_id ON messages (sender_id, client_id)
    WHERE client_id IS NOT NULL;
CREATE INDEX messages_sender ON messages (sender_id);

CREATE TABLE settings (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
