-- Sessions ended by a logout (docs/security.md, "Sessions"). A token names its session (`sid`,
-- kept across renewals); a session listed here is refused on every door, and its open sockets are
-- closed: the trigger feeds the revocation to `account_changes`, which every server follows.
-- A row is kept until no token of the session can still be valid (`expires_at`, Unix seconds,
-- compared like a token's `exp`); then the servers prune it, so the table holds only sessions
-- that could still be used.

CREATE TABLE revoked_sessions (
    session_id  TEXT    PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users (id),
    expires_at  INTEGER NOT NULL
);
CREATE INDEX revoked_sessions_expiry ON revoked_sessions (expires_at);

CREATE TRIGGER revoked_sessions_feed
AFTER INSERT ON revoked_sessions
BEGIN
    INSERT INTO account_changes (user_id) VALUES (NEW.user_id);
END;
