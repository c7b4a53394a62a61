-- Trust and safety, part one: an admin removes a message (issue 23).

-- A removed message keeps its place (id, sender, time) and loses its text: `content` is emptied
-- and `removed` set in the same transaction; the original text is kept for admins only, in
-- `message_removals`.
ALTER TABLE messages ADD COLUMN removed INTEGER NOT NULL DEFAULT 0 CHECK (removed IN (0, 1));

-- Who removed which message, when, why, and what it said (the evidence an admin may need).
CREATE TABLE message_removals (
    message_id  INTEGER PRIMARY KEY REFERENCES messages (id),
    admin_id    INTEGER NOT NULL REFERENCES users (id),
    reason      TEXT    NOT NULL,
    content     TEXT    NOT NULL,
    created_at  TEXT    NOT NULL
);

-- The audit log says why, and which message.
ALTER TABLE audit_log ADD COLUMN reason TEXT;
ALTER TABLE audit_log ADD COLUMN message_id INTEGER;

-- The room-change feed gains `message_removed` (room_id: the room, other_id: the message), so
-- every node tells the members it serves, in order with the other changes. SQLite cannot change
-- a CHECK constraint: the table is rebuilt, numbering included.
CREATE TABLE room_changes_new (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    kind      TEXT    NOT NULL CHECK (kind IN
                ('created', 'dm', 'room', 'joined', 'left', 'removed', 'invited', 'ignored', 'unignored',
                 'message_removed')),
    room_id   INTEGER,
    user_id   INTEGER,
    other_id  INTEGER
);
INSERT INTO room_changes_new (seq, kind, room_id, user_id, other_id)
    SELECT seq, kind, room_id, user_id, other_id FROM room_changes;
-- Keep counting from where the old table was, even when every entry was pruned.
DELETE FROM sqlite_sequence WHERE name = 'room_changes_new';
INSERT INTO sqlite_sequence (name, seq) SELECT 'room_changes_new', seq FROM sqlite_sequence WHERE name = 'room_changes';
DROP TABLE room_changes;
ALTER TABLE room_changes_new RENAME TO room_changes;

-- The conversation a violation happened in (a person's own standing shows it).
ALTER TABLE moderation_log ADD COLUMN room_id INTEGER;

-- The review queue: one item per message that the classifier flagged or held, or that someone
-- reported. A held message is not a message yet (`message_id` NULL): it gets its id, in order
-- with every other message, only when an admin approves it, so a `since` catch-up stays exact.
CREATE TABLE review_items (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id       INTEGER UNIQUE REFERENCES messages (id),
    sender_id        INTEGER NOT NULL REFERENCES users (id),
    room_id          INTEGER NOT NULL REFERENCES rooms (id),
    -- The text as sent: the evidence, kept when the message is removed.
    content          TEXT    NOT NULL,
    client_id        TEXT,
    sent_at          TEXT    NOT NULL,
    from_classifier  INTEGER NOT NULL DEFAULT 0 CHECK (from_classifier IN (0, 1)),
    from_reports     INTEGER NOT NULL DEFAULT 0 CHECK (from_reports IN (0, 1)),
    score            REAL,
    held             INTEGER NOT NULL DEFAULT 0 CHECK (held IN (0, 1)),
    -- The reports' weights summed (a reporter in good standing counts 1).
    report_weight    REAL    NOT NULL DEFAULT 0,
    -- The queue's order, newest first: a new item, or one whose reports reach the front
    -- threshold, takes the next rank.
    rank             INTEGER NOT NULL,
    -- The messages around it when it was queued (JSON), so deleting them destroys no evidence.
    context          TEXT    NOT NULL DEFAULT '[]',
    created_at       TEXT    NOT NULL,
    state            TEXT    NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'approved', 'removed', 'struck')),
    resolved_by      INTEGER REFERENCES users (id),
    resolved_at      TEXT,
    reason           TEXT
);
CREATE INDEX review_items_open ON review_items (state, rank, id);
CREATE INDEX review_items_held ON review_items (sender_id, client_id) WHERE message_id IS NULL;

-- One report per reporter per message.
CREATE TABLE reports (
    message_id   INTEGER NOT NULL REFERENCES messages (id),
    reporter_id  INTEGER NOT NULL REFERENCES users (id),
    reason       TEXT    NOT NULL,
    weight       REAL    NOT NULL,
    created_at   TEXT    NOT NULL,
    PRIMARY KEY (message_id, reporter_id)
) WITHOUT ROWID;

-- When an account's warnings were last reset (an unblock, an accepted appeal): violations before
-- it no longer count (a person's standing shows them as not counted).
ALTER TABLE users ADD COLUMN warnings_reset_at TEXT;
CREATE TRIGGER users_warnings_reset
AFTER UPDATE OF warning_count ON users
WHEN NEW.warning_count = 0 AND OLD.warning_count > 0
BEGIN
    UPDATE users SET warnings_reset_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = NEW.id;
END;

-- Appeals of a block. One per block: `current` marks the appeal of the account's present block;
-- any unblock settles it, so a later block may be appealed anew.
CREATE TABLE appeals (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     INTEGER NOT NULL REFERENCES users (id),
    text        TEXT    NOT NULL,
    state       TEXT    NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'accepted', 'rejected')),
    current     INTEGER NOT NULL DEFAULT 1 CHECK (current IN (0, 1)),
    created_at  TEXT    NOT NULL,
    decided_by  INTEGER REFERENCES users (id),
    decided_at  TEXT,
    reason      TEXT
);
CREATE UNIQUE INDEX appeals_current ON appeals (user_id) WHERE current = 1;
CREATE INDEX appeals_state ON appeals (state, id);
CREATE TRIGGER users_unblocked_settle_appeals
AFTER UPDATE OF is_blocked ON users
WHEN OLD.is_blocked = 1 AND NEW.is_blocked = 0
BEGIN
    UPDATE appeals SET current = 0 WHERE user_id = NEW.id AND current = 1;
END;
