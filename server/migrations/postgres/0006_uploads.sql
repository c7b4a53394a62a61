-- Files and images (issue 25): see the SQLite migration 0009 for what each column is for.
CREATE TABLE uploads (
    id            TEXT        PRIMARY KEY,
    uploader_id   BIGINT      NOT NULL REFERENCES users (id),
    name          TEXT        NOT NULL,
    size          BIGINT      NOT NULL,
    content_type  TEXT        NOT NULL,
    width         INTEGER,
    height        INTEGER,
    thumbnail_type TEXT,
    created_at    TEXT        NOT NULL,
    message_id    BIGINT      REFERENCES messages (id),
    room_id       BIGINT      REFERENCES rooms (id),
    claim         TEXT,
    claimed_at    TEXT
);
CREATE INDEX uploads_uploader ON uploads (uploader_id, created_at);
CREATE INDEX uploads_unposted ON uploads (created_at) WHERE message_id IS NULL;
CREATE INDEX uploads_message ON uploads (message_id) WHERE message_id IS NOT NULL;
CREATE INDEX uploads_claim ON uploads (claim) WHERE claim IS NOT NULL;

ALTER TABLE messages ADD COLUMN attachments TEXT;
