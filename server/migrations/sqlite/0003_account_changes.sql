-- Live authority: every change to what a user's sessions may do (a block or unblock, a revoked
-- token version, a role change) is appended here by a trigger, whoever makes it: an admin route,
-- the three-strike rule, or `server admin ...` run from another process. Every server follows
-- this table and closes the affected sockets (docs/security.md, "Live authority").

CREATE TABLE account_changes (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id  INTEGER NOT NULL
);

CREATE TRIGGER users_authority_changed
AFTER UPDATE OF is_blocked, token_version, is_admin ON users
WHEN OLD.is_blocked IS NOT NEW.is_blocked
  OR OLD.token_version IS NOT NEW.token_version
  OR OLD.is_admin IS NOT NEW.is_admin
BEGIN
    INSERT INTO account_changes (user_id) VALUES (NEW.id);
END;
