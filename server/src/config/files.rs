//! The file settings: where uploads' bytes go, how large one may be, each account's quota, and
//! how long an upload never posted is kept. Flattened into [`super::Config`] (the same file keys
//! and environment variables as every other setting); docs/configuration.md lists them.

use crate::files::storage::{Location, S3Settings};
use app::protocol::{
    DEFAULT_UPLOAD_MAX_BYTES, DEFAULT_UPLOAD_QUOTA_BYTES, UNPOSTED_UPLOAD_TTL_SECS, UPLOADS_BURST, UPLOADS_PER_SEC,
};
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilesConfig {
    /// `CHATTERBOX_FILES_URL`: `file:///DIR` (a local directory) or `s3://BUCKET[/PREFIX]`
    /// (with the S3 settings below). Unset: the directory `DB-files` beside a SQLite database
    /// file (`chatterbox-files` in the working directory with PostgreSQL). Several nodes need S3.
    pub files_url: Option<String>,
    /// `CHATTERBOX_FILES_SHARED` (`true` or `false`, the default): the local directory is one
    /// every node of a cluster mounts (NFS, or nodes on one machine). Without it, nodes of a
    /// cluster (`CHATTERBOX_REDIS_URL`) refuse to start on a local directory.
    pub files_shared: bool,
    /// `CHATTERBOX_UPLOAD_MAX_BYTES`: the largest file accepted (default 25 MiB); past it 413.
    pub upload_max_bytes: u64,
    /// `CHATTERBOX_UPLOAD_QUOTA_BYTES`: the bytes one account may have stored, posted or not
    /// (default 1 GiB); an upload past it gets 413.
    pub upload_quota_bytes: u64,
    /// `CHATTERBOX_UNPOSTED_UPLOAD_TTL_SECS`: how long an upload never posted is kept (24 h).
    pub unposted_upload_ttl_secs: u64,
    /// `CHATTERBOX_FILES_SWEEP_SECS`: how often expired uploads, and the files of deleted or
    /// removed messages, are deleted (60 s).
    pub files_sweep_secs: u64,
    /// `CHATTERBOX_UPLOAD_TIMEOUT_SECS`: how long one upload request may take (600 s).
    pub upload_timeout_secs: u64,
    /// `CHATTERBOX_IMAGE_WORKERS`: images decoded at once (0, the default: half the cores, at
    /// least one); more wait their turn.
    pub image_workers: usize,
    /// `CHATTERBOX_UPLOADS_BURST`, `CHATTERBOX_UPLOADS_PER_SEC`: uploads per account, a burst
    /// then a steady rate; past it 429.
    pub uploads_burst: u32,
    pub uploads_per_sec: f64,
    /// `AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` (the secret
    /// from the environment only).
    pub s3_endpoint: Option<String>,
    pub s3_region: Option<String>,
    pub s3_access_key_id: Option<String>,
    #[serde(skip)]
    pub s3_secret_access_key: Option<String>,
}

impl Default for FilesConfig {
    fn default() -> Self {
        Self {
            files_url: None,
            files_shared: false,
            upload_max_bytes: DEFAULT_UPLOAD_MAX_BYTES,
            upload_quota_bytes: DEFAULT_UPLOAD_QUOTA_BYTES,
            unposted_upload_ttl_secs: UNPOSTED_UPLOAD_TTL_SECS,
            files_sweep_secs: 60,
            upload_timeout_secs: 600,
            image_workers: 0,
            uploads_burst: UPLOADS_BURST,
            uploads_per_sec: UPLOADS_PER_SEC,
            s3_endpoint: None,
            s3_region: None,
            s3_access_key_id: None,
            s3_secret_access_key: None,
        }
    }
}

impl std::fmt::Debug for FilesConfig {
    /// Every setting, the S3 secret redacted.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FilesConfig")
            .field("files_url", &self.files_url)
            .field("files_shared", &self.files_shared)
            .field("upload_max_bytes", &self.upload_max_bytes)
            .field("upload_quota_bytes", &self.upload_quota_bytes)
            .field("unposted_upload_ttl_secs", &self.unposted_upload_ttl_secs)
            .field("files_sweep_secs", &self.files_sweep_secs)
            .field("upload_timeout_secs", &self.upload_timeout_secs)
            .field("image_workers", &self.image_workers)
            .field("uploads_burst", &self.uploads_burst)
            .field("uploads_per_sec", &self.uploads_per_sec)
            .field("s3_endpoint", &self.s3_endpoint)
            .field("s3_region", &self.s3_region)
            .field("s3_access_key_id", &self.s3_access_key_id)
            .field("s3_secret_access_key", &self.s3_secret_access_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl FilesConfig {
    /// Where the bytes go, for a server whose database is `database_url`.
    pub fn location(&self, database_url: &str) -> Result<Location, String> {
        let url = match &self.files_url {
            Some(url) => url.clone(),
            None => return Ok(Location::Local(default_dir(database_url))),
        };
        if let Some(path) = url.strip_prefix("file://") {
            if path.is_empty() {
                return Err(format!("CHATTERBOX_FILES_URL has no directory: {url:?}"));
            }
            return Ok(Location::Local(PathBuf::from(path)));
        }
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(format!("CHATTERBOX_FILES_URL names no bucket: {url:?}"));
            }
            let s3 = S3Settings {
                endpoint: self.s3_endpoint.clone(),
                region: self.s3_region.clone(),
                access_key_id: self.s3_access_key_id.clone(),
                secret_access_key: self.s3_secret_access_key.clone(),
            };
            return Ok(Location::S3 { bucket: bucket.into(), prefix: prefix.into(), s3 });
        }
        Err(format!("CHATTERBOX_FILES_URL must be file:///DIR or s3://BUCKET: {url:?}"))
    }

    /// Images decoded at once.
    pub fn effective_image_workers(&self) -> usize {
        match self.image_workers {
            0 => (std::thread::available_parallelism().map_or(1, |n| n.get()) / 2).max(1),
            n => n,
        }
    }

    pub(super) fn validate(&self) -> Result<(), &'static str> {
        if self.upload_max_bytes == 0 {
            return Err("upload_max_bytes");
        }
        if self.upload_timeout_secs == 0 || self.files_sweep_secs == 0 {
            return Err("upload_timeout_secs/files_sweep_secs");
        }
        if self.uploads_burst == 0 || self.uploads_per_sec.is_nan() || self.uploads_per_sec <= 0.0 {
            return Err("uploads_burst/uploads_per_sec");
        }
        Ok(())
    }
}

/// `FILE-files` beside a SQLite database file; `chatterbox-files` otherwise.
fn default_dir(database_url: &str) -> PathBuf {
    let file = database_url.strip_prefix("sqlite://").or_else(|| database_url.strip_prefix("sqlite:"));
    match file.map(|f| f.split('?').next().unwrap_or(f)).filter(|f| !f.is_empty() && *f != ":memory:") {
        Some(file) => {
            let path = Path::new(file);
            let name =
                path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "chatterbox".into());
            path.with_file_name(format!("{name}-files"))
        }
        None => PathBuf::from("chatterbox-files"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_live_beside_the_database_unless_told() {
        let config = FilesConfig::default();
        let Location::Local(dir) = config.location("sqlite:///var/lib/chat/chat.db").unwrap() else { panic!() };
        assert_eq!(dir, PathBuf::from("/var/lib/chat/chat-files"));
        let Location::Local(dir) = config.location("sqlite://chatterbox.db?mode=rwc").unwrap() else { panic!() };
        assert_eq!(dir, PathBuf::from("chatterbox-files"));
        let Location::Local(dir) = config.location("postgres://u@h/db").unwrap() else { panic!() };
        assert_eq!(dir, PathBuf::from("chatterbox-files"));
    }

    #[test]
    fn urls_name_a_directory_or_a_bucket() {
        let mut config = FilesConfig { files_url: Some("s3://uploads/chat".into()), ..FilesConfig::default() };
        let Location::S3 { bucket, prefix, .. } = config.location("sqlite://x.db").unwrap() else { panic!() };
        assert_eq!((bucket.as_str(), prefix.as_str()), ("uploads", "chat"));
        config.files_url = Some("file:///srv/files".into());
        assert!(matches!(config.location("").unwrap(), Location::Local(dir) if dir == Path::new("/srv/files")));
        for bad in ["s3://", "file://", "ftp://x"] {
            config.files_url = Some(bad.into());
            assert!(config.location("").is_err(), "{bad}");
        }
    }
}
