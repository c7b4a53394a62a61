-- Conversations under abuse, and delivery that follows the database (issue 22).

-- The room-change feed: every change to a conversation, to who is in it and to who ignores whom,
-- in commit order (one writer: AUTOINCREMENT numbers are gapless and commit-ordered). The store
-- writes an entry in the transaction of each change; the node follows the feed and changes its
-- in-memory directory (who gets which message) and tells the people concerned only from it.
--   kind       room_id  user_id          other_id
--   created    room     owner            -
--   dm         room     lower user id    higher user id
--   room       room     -                -            (renamed, new topic, archived or back)
--   joined     room     the member       -            (joined, added, or accepted an invitation)
--   left       room     the member       -
--   removed    room     the member       -            (by the owner or an admin)
--   invited    room     the invitee      the inviter  (an invitation waiting for an answer)
--   ignored    -        the one ignoring the ignored
--   unignored  -        the one ignoring the ignored
CREATE TABLE room_changes (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    kind      TEXT    NOT NULL CHECK (kind IN
                ('created', 'dm', 'room', 'joined', 'left', 'removed', 'invited', 'ignored', 'unignored')),
    room_id   INTEGER,
    user_id   INTEGER,
    other_id  INTEGER
);

-- An admin's archive sticks: the owner cannot bring the room back; an admin can.
ALTER TABLE rooms ADD COLUMN archived_by_admin INTEGER NOT NULL DEFAULT 0 CHECK (archived_by_admin IN (0, 1));

-- An admin's removal sticks: the person cannot join, be added or be invited again until an admin
-- lifts it.
CREATE TABLE room_bans (
    room_id     INTEGER NOT NULL REFERENCES rooms (id),
    user_id     INTEGER NOT NULL REFERENCES users (id),
    admin_id    INTEGER NOT NULL REFERENCES users (id),
    created_at  TEXT    NOT NULL,
    PRIMARY KEY (room_id, user_id)
) WITHOUT ROWID;

-- Invitations to private rooms waiting for an answer (when invitations need accepting).
CREATE TABLE room_invitations (
    room_id     INTEGER NOT NULL REFERENCES rooms (id),
    user_id     INTEGER NOT NULL REFERENCES users (id),
    inviter_id  INTEGER NOT NULL REFERENCES users (id),
    created_at  TEXT    NOT NULL,
    PRIMARY KEY (room_id, user_id)
) WITHOUT ROWID;
CREATE INDEX room_invitations_user ON room_invitations (user_id);

-- The rooms an account created, whether or not it is still in them (the cap on owned rooms).
CREATE INDEX rooms_owner ON rooms (owner_id);

-- Names are unique among public rooms (and `general`) only: a private room's name is its
-- members' business, and a 409 must not reveal that one exists.
DROP INDEX rooms_name;
CREATE UNIQUE INDEX rooms_name ON rooms (name) WHERE kind = 'public';
