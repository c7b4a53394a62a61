-- Conversations under abuse, and delivery that follows the database (issue 22). As SQLite's
-- migration 0006, with the feed numbered from a counter row (gapless, visible in commit order,
-- whichever node wrote the entry).

-- The room-change feed: every change to a conversation, to who is in it and to who ignores whom,
-- in commit order. The store writes an entry in the transaction of each change, after taking the
-- `messages` counter's lock and then the `room_changes` counter's (lock order: a row, `messages`,
-- `account_changes`, `room_changes`), so a change and a message batch are always ordered: a batch
-- records the newest entry committed before it, and a node applies the feed up to there before it
-- delivers the batch. Kinds and columns: see SQLite's 0006.
INSERT INTO counters (name, value) VALUES ('room_changes', 0);

CREATE TABLE room_changes (
    seq       BIGINT PRIMARY KEY,
    kind      TEXT   NOT NULL CHECK (kind IN
                ('created', 'dm', 'room', 'joined', 'left', 'removed', 'invited', 'ignored', 'unignored')),
    room_id   BIGINT,
    user_id   BIGINT,
    other_id  BIGINT
);

-- An admin's archive sticks: the owner cannot bring the room back; an admin can.
ALTER TABLE rooms ADD COLUMN archived_by_admin BOOLEAN NOT NULL DEFAULT FALSE;

-- An admin's removal sticks until an admin lifts it.
CREATE TABLE room_bans (
    room_id     BIGINT NOT NULL REFERENCES rooms (id),
    user_id     BIGINT NOT NULL REFERENCES users (id),
    admin_id    BIGINT NOT NULL REFERENCES users (id),
    created_at  TEXT   NOT NULL,
    PRIMARY KEY (room_id, user_id)
);

-- Invitations to private rooms waiting for an answer (when invitations need accepting).
CREATE TABLE room_invitations (
    room_id     BIGINT NOT NULL REFERENCES rooms (id),
    user_id     BIGINT NOT NULL REFERENCES users (id),
    inviter_id  BIGINT NOT NULL REFERENCES users (id),
    created_at  TEXT   NOT NULL,
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX room_invitations_user ON room_invitations (user_id);

-- The rooms an account created, whether or not it is still in them (the cap on owned rooms).
CREATE INDEX rooms_owner ON rooms (owner_id);

-- Names are unique among public rooms (and `general`) only: a private room's name is its
-- members' business, and a 409 must not reveal that one exists.
DROP INDEX rooms_name_key;
CREATE UNIQUE INDEX rooms_name_key ON rooms (lower(name)) WHERE kind = 'public';
