-- Sessions ended by a logout (docs/security.md, "Sessions"). A token names its session (`sid`,
-- kept across renewals); a session listed here is refused on every door, and its open sockets are
-- closed on every server: the trigger feeds the revocation to `account_changes`, which every
-- server follows. A row is kept until no token of the session can still be valid (`expires_at`,
-- Unix seconds, compared like a token's `exp`); then the servers prune it, so the table holds only
-- sessions that could still be used.

CREATE TABLE revoked_sessions (
    session_id  TEXT   PRIMARY KEY,
    user_id     BIGINT NOT NULL REFERENCES users (id),
    expires_at  BIGINT NOT NULL
);
CREATE INDEX revoked_sessions_expiry ON revoked_sessions (expires_at);

-- Numbers the change from the `account_changes` counter, whose lock it holds to the commit (so
-- the feed stays gapless and visible in commit order). Unlike `users_authority_changed` it takes
-- no `messages` lock: a revocation refuses no message at commit (its sockets close within a
-- second), and a transaction that takes only the last lock of the order cannot close a cycle.
-- The foreign key's KEY SHARE on the user's row does not conflict with the NO KEY UPDATE of a
-- block or a role change.
CREATE FUNCTION revoked_sessions_feed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    next_seq BIGINT;
BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'account_changes' RETURNING value INTO next_seq;
    INSERT INTO account_changes (seq, user_id) VALUES (next_seq, NEW.user_id);
    RETURN NULL;
END;
$$;
CREATE TRIGGER revoked_sessions_feed AFTER INSERT ON revoked_sessions
    FOR EACH ROW EXECUTE FUNCTION revoked_sessions_feed();
