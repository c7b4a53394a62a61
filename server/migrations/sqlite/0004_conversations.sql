-- Conversations: public rooms, private rooms and direct messages. `general` (id 1) is the public
-- room every account is in from its registration on (a trigger adds the membership). Messages
-- gain the room they were posted in; ids stay global, so `since=ID` covers every conversation.

CREATE TABLE rooms (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT    NOT NULL CHECK (kind IN ('public', 'private', 'dm')),
    -- NULL for a DM (its name is the other person's, per viewer).
    name        TEXT    COLLATE NOCASE,
    topic       TEXT    NOT NULL DEFAULT '',
    owner_id    INTEGER REFERENCES users (id),
    -- A DM's two people, the lower id first: one DM per pair.
    dm_low      INTEGER REFERENCES users (id),
    dm_high     INTEGER REFERENCES users (id),
    archived    INTEGER NOT NULL DEFAULT 0 CHECK (archived IN (0, 1)),
    created_at  TEXT    NOT NULL,
    CHECK ((kind = 'dm') = (name IS NULL)),
    CHECK ((kind = 'dm') = (dm_low IS NOT NULL AND dm_high IS NOT NULL AND dm_low < dm_high))
);
CREATE UNIQUE INDEX rooms_name ON rooms (name) WHERE name IS NOT NULL;
CREATE UNIQUE INDEX rooms_dm_pair ON rooms (dm_low, dm_high) WHERE kind = 'dm';

INSERT INTO rooms (id, kind, name, topic, created_at)
VALUES (1, 'public', 'general', '', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));

CREATE TABLE room_members (
    room_id       INTEGER NOT NULL REFERENCES rooms (id),
    user_id       INTEGER NOT NULL REFERENCES users (id),
    -- The member's read marker: messages above it are unread.
    last_read_id  INTEGER NOT NULL DEFAULT 0,
    joined_at     TEXT    NOT NULL,
    PRIMARY KEY (room_id, user_id)
) WITHOUT ROWID;
CREATE INDEX room_members_user ON room_members (user_id);

-- Existing accounts are in `general`, with what was posted before this upgrade read.
INSERT INTO room_members (room_id, user_id, last_read_id, joined_at)
SELECT 1, id, COALESCE((SELECT MAX(id) FROM messages), 0), created_at FROM users;

CREATE TRIGGER users_join_general
AFTER INSERT ON users
BEGIN
    INSERT INTO room_members (room_id, user_id, last_read_id, joined_at) VALUES (1, NEW.id, 0, NEW.created_at);
END;

-- A column added to a table with rows cannot reference another table in SQLite; the message
-- INSERT checks the room (and the sender's membership) itself.
ALTER TABLE messages ADD COLUMN room_id INTEGER NOT NULL DEFAULT 1;
-- Covers a room's pages and its unread count (which skips the reader's own messages).
CREATE INDEX messages_room ON messages (room_id, id, sender_id);

-- One-way ignores: `user_id` does not see `ignored_id`'s messages, and `ignored_id` cannot open
-- or write to a DM with `user_id`.
CREATE TABLE ignores (
    user_id     INTEGER NOT NULL REFERENCES users (id),
    ignored_id  INTEGER NOT NULL REFERENCES users (id),
    PRIMARY KEY (user_id, ignored_id)
) WITHOUT ROWID;
CREATE INDEX ignores_ignored ON ignores (ignored_id);

-- Admin actions on rooms are audited with the room they touched.
ALTER TABLE audit_log ADD COLUMN room_id INTEGER;
