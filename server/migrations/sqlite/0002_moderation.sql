-- Moderation log (every violation, for admins) and the admin audit log.

CREATE TABLE moderation_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     INTEGER NOT NULL REFERENCES users (id),
    created_at  TEXT    NOT NULL,
    -- The listed word or phrase that matched.
    rule        TEXT    NOT NULL,
    -- The original text of the refused message.
    content     TEXT    NOT NULL,
    -- The user's warning count after this violation, and whether it blocked the account.
    warning_count INTEGER NOT NULL,
    blocked     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX moderation_log_user ON moderation_log (user_id);

CREATE TABLE audit_log (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    admin_id        INTEGER NOT NULL REFERENCES users (id),
    action          TEXT    NOT NULL,
    target_user_id  INTEGER REFERENCES users (id),
    created_at      TEXT    NOT NULL
);
