//! The account PostgreSQL runs as. PostgreSQL refuses to run as root, so root (CI, containers) hands
//! the server's directories to the `postgres` user and runs `initdb` and `postgres` as that user; anyone
//! else runs them as themself.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

#[derive(Clone, Copy, Debug)]
pub(crate) enum Account {
    /// The user running the tests (not root).
    Current,
    /// The `postgres` user, when the tests run as root.
    Postgres { uid: u32, gid: u32 },
}

impl Account {
    pub(crate) fn detect() -> Account {
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            return Account::Current;
        }
        let (uid, gid) = postgres_user().unwrap_or_else(|| {
            panic!(
                "the tests run as root, which PostgreSQL refuses, and there is no `postgres` user to run it as: \
                 run scripts/install-tools.sh --test (installing PostgreSQL creates that user)"
            )
        });
        Account::Postgres { uid, gid }
    }

    pub(crate) fn is_root(self) -> bool {
        matches!(self, Account::Postgres { .. })
    }

    /// Makes `path` the account's (as root; nothing to do otherwise).
    pub(crate) fn take_over(self, path: &Path) {
        if let Account::Postgres { uid, gid } = self {
            std::os::unix::fs::chown(path, Some(uid), Some(gid))
                .unwrap_or_else(|e| panic!("cannot chown {} to the postgres user: {e}", path.display()));
        }
    }

    /// Makes `command` run as the account.
    pub(crate) fn apply(self, command: &mut Command) {
        if let Account::Postgres { uid, gid } = self {
            command.uid(uid).gid(gid);
        }
    }
}

/// The uid and gid of the `postgres` user, if there is one.
fn postgres_user() -> Option<(u32, u32)> {
    // SAFETY: the name is a NUL-terminated C string. getpwnam returns null or a pointer to a static record
    // that stays valid until the next getpwnam/getpwuid call; both fields are copied out at once. This runs
    // once per process, inside the `postgres()` initialisation.
    unsafe {
        let entry = libc::getpwnam(c"postgres".as_ptr());
        (!entry.is_null()).then(|| ((*entry).pw_uid, (*entry).pw_gid))
    }
}
