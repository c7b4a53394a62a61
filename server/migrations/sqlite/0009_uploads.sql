-- Files and images (issue 25). An upload is stored (its bytes in the file store, its facts here)
-- before it is posted; a message frame naming it claims it, and the message's INSERT links it, in
-- the message's transaction. Who may read it follows from that link: its uploader, and the
-- members of the conversation it was posted in while the message stands.
CREATE TABLE uploads (
    -- Random (128 bits, hex): unguessable, and the key of its bytes in the file store.
    id            TEXT    PRIMARY KEY,
    uploader_id   INTEGER NOT NULL REFERENCES users (id),
    name          TEXT    NOT NULL,
    size          INTEGER NOT NULL,
    content_type  TEXT    NOT NULL,
    width         INTEGER,
    height        INTEGER,
    -- Images only: the thumbnail's type (`image/jpeg`, or `image/png` for an image with alpha).
    thumbnail_type TEXT,
    created_at    TEXT    NOT NULL,
    -- Set by the INSERT of the message that posted it.
    message_id    INTEGER REFERENCES messages (id),
    room_id       INTEGER REFERENCES rooms (id),
    -- A message frame naming it holds it until its message is stored (or the claim is stale).
    claim         TEXT,
    claimed_at    TEXT
);
CREATE INDEX uploads_uploader ON uploads (uploader_id, created_at);
CREATE INDEX uploads_unposted ON uploads (created_at) WHERE message_id IS NULL;
CREATE INDEX uploads_message ON uploads (message_id) WHERE message_id IS NOT NULL;
CREATE INDEX uploads_claim ON uploads (claim) WHERE claim IS NOT NULL;

-- A message's files as every reader shows them: the JSON of its `attachments` (NULL: none),
-- written with the message, so reading a page costs no other query.
ALTER TABLE messages ADD COLUMN attachments TEXT;
