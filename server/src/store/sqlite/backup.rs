//! Online backups of an SQLite database, and restoring one (`server admin backup|restore`):
//!
//! - a backup is `VACUUM INTO` a file beside the target, which reads one consistent snapshot
//!   (a read transaction: the server keeps serving and writing meanwhile, in WAL mode), then
//!   `PRAGMA integrity_check` on the copy, then a rename to the target: a file at the target is
//!   always a whole, checked backup;
//! - a server holds [`ServerLock`] on the database for as long as it runs; restoring takes the
//!   same lock, so it refuses while a server holds the database (and no server starts while it
//!   restores). The database it replaces is kept beside it (`FILE.before-restore`).

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, Row};
use std::path::{Path, PathBuf};
use std::str::FromStr;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("not an SQLite database URL")]
    NotSqlite,
    #[error("{0} exists already: choose a new file")]
    Exists(PathBuf),
    #[error("{0} does not exist")]
    Missing(PathBuf),
    #[error("a server is running on this database: stop it first")]
    ServerRunning,
    #[error("the copy failed its integrity check: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The file an `sqlite://` URL names.
pub fn database_file(url: &str) -> Result<PathBuf, BackupError> {
    let options = SqliteConnectOptions::from_str(url).map_err(|_| BackupError::NotSqlite)?;
    Ok(options.get_filename().to_path_buf())
}

/// An exclusive lock on `FILE.lock`, held by a running server (and by a restore).
pub struct ServerLock {
    _file: std::fs::File,
}

impl ServerLock {
    /// Takes the lock of the database `url` names; `ServerRunning` when someone holds it.
    pub fn take(url: &str) -> Result<Self, BackupError> {
        let mut path = database_file(url)?.into_os_string();
        path.push(".lock");
        let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Self { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(BackupError::ServerRunning),
            Err(std::fs::TryLockError::Error(error)) => Err(error.into()),
        }
    }
}

/// What a checked backup holds.
#[derive(Debug)]
pub struct Copied {
    pub messages: i64,
    pub newest_message_id: i64,
}

/// Copies the database `url` names into `target` (a new file), consistently, while a server may
/// be writing to it; the copy is checked before it takes its name.
pub async fn backup(url: &str, target: &Path) -> Result<Copied, BackupError> {
    if target.exists() {
        return Err(BackupError::Exists(target.to_owned()));
    }
    let source = database_file(url)?;
    if !source.is_file() {
        return Err(BackupError::Missing(source));
    }
    let mut partial = target.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let _ = std::fs::remove_file(&partial);
    let mut connection = SqliteConnectOptions::new()
        .filename(&source)
        .busy_timeout(std::time::Duration::from_secs(30))
        .connect()
        .await?;
    sqlx::query("VACUUM INTO ?1").bind(partial.to_string_lossy().as_ref()).execute(&mut connection).await?;
    connection.close().await?;
    let copied = match check(&partial).await {
        Ok(copied) => copied,
        Err(error) => {
            let _ = std::fs::remove_file(&partial);
            return Err(error);
        }
    };
    std::fs::rename(&partial, target)?;
    Ok(copied)
}

/// Opens `file` read-only and runs `PRAGMA integrity_check` on it.
pub async fn check(file: &Path) -> Result<Copied, BackupError> {
    let mut connection = SqliteConnectOptions::new().filename(file).read_only(true).connect().await?;
    let verdict: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_all(&mut connection)
        .await
        .unwrap_or_else(|e| vec![e.to_string()]);
    if verdict != ["ok"] {
        return Err(BackupError::Corrupt(verdict.join("; ")));
    }
    let row = sqlx::query("SELECT COUNT(*) AS n, COALESCE(MAX(id), 0) AS newest FROM messages")
        .fetch_one(&mut connection)
        .await?;
    let copied = Copied { messages: row.try_get("n")?, newest_message_id: row.try_get("newest")? };
    connection.close().await?;
    Ok(copied)
}

/// Replaces the database `url` names with the backup `source` (checked first), unless a server
/// holds it; the database replaced is kept as `FILE.before-restore` (with its `-wal`).
pub async fn restore(url: &str, source: &Path) -> Result<Copied, BackupError> {
    let _lock = ServerLock::take(url)?;
    if !source.is_file() {
        return Err(BackupError::Missing(source.to_owned()));
    }
    let copied = check(source).await?;
    let target = database_file(url)?;
    let with = |suffix: &str| {
        let mut name = target.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    let incoming = with(".restoring");
    std::fs::copy(source, &incoming)?;
    std::fs::File::open(&incoming)?.sync_all()?;
    if target.exists() {
        std::fs::rename(&target, with(".before-restore"))?;
    }
    for suffix in ["-wal", "-shm"] {
        if with(suffix).exists() {
            std::fs::rename(with(suffix), with(&format!(".before-restore{suffix}")))?;
        }
    }
    std::fs::rename(&incoming, &target)?;
    Ok(copied)
}
