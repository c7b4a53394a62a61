-- Accounts their owners deleted (issue 26; docs/security.md, "Deleting an account"). The row stays,
-- so the messages, logs and audit entries that name it keep their references: its username becomes
-- `deleted user N` at once (a name nobody can register), its email and password are replaced, and
-- the username it had stays taken (`retired_username`) until `username_free_at`.
ALTER TABLE users ADD COLUMN deleted_at TEXT;
ALTER TABLE users ADD COLUMN retired_username TEXT COLLATE NOCASE;
ALTER TABLE users ADD COLUMN username_free_at TEXT;
CREATE INDEX users_retired_username ON users (retired_username) WHERE retired_username IS NOT NULL;
