-- Message actions (issue 24): edit, delete, reply, react, mention, and search.

-- An edited message says when; a deleted one keeps its place (id, sender, time) and loses its
-- text, which `message_versions` keeps for admins. `change_seq`: the room-change feed entry of its
-- newest change (edit, deletion, removal, reaction), the order a reconnecting client catches up in.
ALTER TABLE messages ADD COLUMN edited_at TEXT;
ALTER TABLE messages ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1));
ALTER TABLE messages ADD COLUMN reply_to INTEGER REFERENCES messages (id);
-- The usernames it mentions, space-separated, in the order written.
ALTER TABLE messages ADD COLUMN mentions TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN change_seq INTEGER NOT NULL DEFAULT 0;
-- What search reads (server/src/search): the text with case and accents folded, and its words
-- shorter than a trigram (CJK characters one word each) space-separated. NULL: not indexed yet; the store indexes such
-- rows (every message older than this migration) when it opens. Empty once deleted or removed.
ALTER TABLE messages ADD COLUMN search_text TEXT;
ALTER TABLE messages ADD COLUMN search_words TEXT;
CREATE INDEX messages_changed ON messages (change_seq) WHERE change_seq > 0;
CREATE INDEX messages_unindexed ON messages (id) WHERE search_text IS NULL;

-- Every version of an edited or deleted message: the original (copied at its first change), each
-- edit's new text, and a deletion (with the text it took away). Never deleted.
CREATE TABLE message_versions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id  INTEGER NOT NULL REFERENCES messages (id),
    kind        TEXT    NOT NULL CHECK (kind IN ('original', 'edit', 'delete')),
    content     TEXT    NOT NULL,
    user_id     INTEGER NOT NULL REFERENCES users (id),
    created_at  TEXT    NOT NULL
);
CREATE INDEX message_versions_message ON message_versions (message_id, id);

-- One row per person and emoji on a message; `id` orders first uses.
CREATE TABLE message_reactions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id  INTEGER NOT NULL REFERENCES messages (id),
    emoji       TEXT    NOT NULL,
    user_id     INTEGER NOT NULL REFERENCES users (id),
    UNIQUE (message_id, emoji, user_id)
);

-- Who a message mentions: what a room's `mentions` count reads.
CREATE TABLE message_mentions (
    user_id     INTEGER NOT NULL REFERENCES users (id),
    room_id     INTEGER NOT NULL REFERENCES rooms (id),
    message_id  INTEGER NOT NULL REFERENCES messages (id),
    PRIMARY KEY (user_id, room_id, message_id)
) WITHOUT ROWID;
CREATE INDEX message_mentions_message ON message_mentions (message_id);

-- Search: a trigram index (any part of a word, any script) and a word index (the words shorter
-- than a trigram: short words, CJK characters), both over `messages` (external content) and kept
-- in step by triggers in the transaction that writes the message. Neither keeps positions
-- (`detail = none`, a fraction of the cost of writing a message): a term is looked up as all of
-- its trigrams (or words), and the folded text itself says whether it holds the term.
CREATE VIRTUAL TABLE message_trigrams USING fts5 (
    search_text, content = 'messages', content_rowid = 'id', tokenize = 'trigram case_sensitive 1',
    detail = none, columnsize = 0
);
CREATE VIRTUAL TABLE message_words USING fts5 (
    search_words, content = 'messages', content_rowid = 'id', tokenize = 'ascii', detail = none, columnsize = 0
);
-- New messages, and older ones indexed for the first time, are indexed by the store, one
-- statement per index for a whole batch, in the batch's transaction (a trigger per row costs
-- several times more). Changes to an indexed message (an edit, a deletion, a removal) go through
-- this trigger; every update of `search_text` sets `search_words` with it.
CREATE TRIGGER messages_search_update AFTER UPDATE OF search_text ON messages
WHEN old.search_text IS NOT NULL BEGIN
    INSERT INTO message_trigrams (message_trigrams, rowid, search_text) VALUES ('delete', old.id, old.search_text);
    INSERT INTO message_words (message_words, rowid, search_words)
        SELECT 'delete', old.id, old.search_words WHERE old.search_words != '';
    INSERT INTO message_trigrams (rowid, search_text) SELECT new.id, new.search_text WHERE new.search_text IS NOT NULL;
    INSERT INTO message_words (rowid, search_words) SELECT new.id, new.search_words WHERE new.search_words != '';
END;

-- The room-change feed gains the message changes (room_id: the room, user_id: who, other_id: the
-- message) and `detail` (a reaction's emoji). SQLite cannot change a CHECK constraint: the table
-- is rebuilt, numbering included.
CREATE TABLE room_changes_new (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    kind      TEXT    NOT NULL CHECK (kind IN
                ('created', 'dm', 'room', 'joined', 'left', 'removed', 'invited', 'ignored', 'unignored',
                 'message_removed', 'message_edited', 'message_deleted', 'reaction_added', 'reaction_removed')),
    room_id   INTEGER,
    user_id   INTEGER,
    other_id  INTEGER,
    detail    TEXT
);
INSERT INTO room_changes_new (seq, kind, room_id, user_id, other_id)
    SELECT seq, kind, room_id, user_id, other_id FROM room_changes;
DELETE FROM sqlite_sequence WHERE name = 'room_changes_new';
INSERT INTO sqlite_sequence (name, seq) SELECT 'room_changes_new', seq FROM sqlite_sequence WHERE name = 'room_changes';
DROP TABLE room_changes;
ALTER TABLE room_changes_new RENAME TO room_changes;
