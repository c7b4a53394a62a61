//! Finding PostgreSQL's programs, and running `psql`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::process::{find_on_path, is_executable};

const MISSING: &str = "PostgreSQL not found: run scripts/install-tools.sh --test";

/// The programs of one PostgreSQL installation.
#[derive(Debug)]
pub(crate) struct PgBinaries {
    pub(crate) initdb: PathBuf,
    pub(crate) postgres: PathBuf,
    psql: PathBuf,
}

impl PgBinaries {
    /// From `CHATTERBOX_PG_BIN`, else the newest `/usr/lib/postgresql/*/bin` (Debian), else `PATH`.
    pub(crate) fn find() -> PgBinaries {
        let dir = bin_dir();
        let program = |name: &str| {
            let path = dir.join(name);
            assert!(
                is_executable(&path),
                "{MISSING} ({} is missing; CHATTERBOX_PG_BIN, if set, must name a bin directory)",
                path.display()
            );
            path
        };
        PgBinaries { initdb: program("initdb"), postgres: program("postgres"), psql: program("psql") }
    }

    /// Runs `sql` with `psql -Atc` as the `postgres` superuser on `127.0.0.1:port`; returns its output
    /// without the last newline, or why it failed.
    pub(crate) fn psql(&self, port: u16, database: &str, sql: &str) -> Result<String, String> {
        let output = Command::new(&self.psql)
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-U", "postgres"])
            .args(["-p", &port.to_string(), "-d", database, "-c", sql])
            .env("PGCONNECT_TIMEOUT", "5")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.psql.display()))?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).trim_end_matches('\n').to_owned())
        } else {
            Err(format!("psql exited with {}: {}", output.status, String::from_utf8_lossy(&output.stderr).trim_end()))
        }
    }
}

fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CHATTERBOX_PG_BIN") {
        return PathBuf::from(dir);
    }
    newest_debian_bin_dir()
        .or_else(|| find_on_path("initdb").and_then(|initdb| initdb.parent().map(Path::to_path_buf)))
        .unwrap_or_else(|| panic!("{MISSING} (or set CHATTERBOX_PG_BIN to the bin directory holding initdb)"))
}

/// The `bin` directory of the highest major version in `/usr/lib/postgresql` that has `initdb`.
fn newest_debian_bin_dir() -> Option<PathBuf> {
    std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            is_executable(&bin.join("initdb")).then_some((version, bin))
        })
        .max_by_key(|(version, _)| *version)
        .map(|(_, bin)| bin)
}
