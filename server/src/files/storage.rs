//! Where files' bytes live: a local directory (the default, beside the database) or an
//! S3-compatible bucket (a cluster's nodes share it), behind one interface over `object_store`.
//! Writes are streamed in parts of bounded size, so memory per upload stays bounded whatever the
//! file's size; reads are streams (from a local file, in large chunks straight off the disk).

use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, GetResultPayload, ObjectStore, WriteMultipart};
use std::ops::Range;
use std::sync::Arc;

/// Bytes per part of a write to a local directory (each part one write to the file).
const LOCAL_PART_BYTES: usize = 1024 * 1024;
/// Bytes per part of a write to S3 (its smallest part but the last is 5 MiB).
const S3_PART_BYTES: usize = 5 * 1024 * 1024;
/// Parts of one write in flight at once.
const PARTS_IN_FLIGHT: usize = 1;
/// Bytes per read of a local file while serving it.
const LOCAL_READ_BYTES: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("file store: {0}")]
    Store(#[from] object_store::Error),
    #[error("file store: {0}")]
    Io(#[from] std::io::Error),
    #[error("file store setting: {0}")]
    Setting(String),
}

impl StorageError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, StorageError::Store(object_store::Error::NotFound { .. }))
    }
}

/// Where the bytes go, as `CHATTERBOX_FILES_URL` and the S3 settings say.
#[derive(Clone)]
pub enum Location {
    /// `file:///path`: a directory (created if missing).
    Local(std::path::PathBuf),
    /// `s3://bucket[/prefix]`, with its endpoint and credentials.
    S3 { bucket: String, prefix: String, s3: S3Settings },
}

/// The usual S3 settings (`AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`); the secret never appears in `Debug` or logs.
#[derive(Clone, Default)]
pub struct S3Settings {
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &self.secret_access_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// A file being written: parts go out as they fill; nothing is visible until [`Writer::finish`].
pub struct Writer {
    upload: WriteMultipart,
    written: u64,
}

impl Writer {
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), StorageError> {
        self.upload.wait_for_capacity(PARTS_IN_FLIGHT).await?;
        self.upload.write(bytes);
        self.written += bytes.len() as u64;
        Ok(())
    }

    pub fn written(&self) -> u64 {
        self.written
    }

    pub async fn finish(self) -> Result<(), StorageError> {
        self.upload.finish().await?;
        Ok(())
    }

    /// Gives up: what was written is discarded.
    pub async fn abort(self) {
        if let Err(error) = self.upload.abort().await {
            tracing::warn!(%error, "aborting a file write failed");
        }
    }
}

/// A file's bytes (or a range of them) and its length in all.
pub struct Download {
    pub body: BoxStream<'static, Result<Bytes, std::io::Error>>,
    /// The bytes served.
    pub range: Range<u64>,
    /// The file's size.
    pub size: u64,
}

/// The file store.
#[derive(Clone)]
pub struct FileStore {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    part_bytes: usize,
    local: bool,
}

impl FileStore {
    pub fn open(location: &Location) -> Result<Self, StorageError> {
        match location {
            Location::Local(dir) => {
                std::fs::create_dir_all(dir)?;
                let store = LocalFileSystem::new_with_prefix(dir)?;
                Ok(Self { store: Arc::new(store), prefix: String::new(), part_bytes: LOCAL_PART_BYTES, local: true })
            }
            Location::S3 { bucket, prefix, s3 } => {
                let mut builder = AmazonS3Builder::new().with_bucket_name(bucket);
                if let Some(endpoint) = &s3.endpoint {
                    builder = builder
                        .with_endpoint(endpoint)
                        .with_allow_http(endpoint.starts_with("http://"))
                        .with_virtual_hosted_style_request(false);
                }
                builder = builder.with_region(s3.region.clone().unwrap_or_else(|| "us-east-1".into()));
                if let (Some(key), Some(secret)) = (&s3.access_key_id, &s3.secret_access_key) {
                    builder = builder.with_access_key_id(key).with_secret_access_key(secret);
                }
                let store = builder.build()?;
                let prefix = prefix.trim_matches('/').to_owned();
                Ok(Self { store: Arc::new(store), prefix, part_bytes: S3_PART_BYTES, local: false })
            }
        }
    }

    /// Whether the bytes are in a local directory (which other nodes cannot read).
    pub fn is_local(&self) -> bool {
        self.local
    }

    /// Where `key` lives: spread over 256 directories by its first two characters.
    fn path(&self, key: &str) -> ObjectPath {
        let spread = key.get(..2).unwrap_or("00");
        if self.prefix.is_empty() {
            ObjectPath::from(format!("{spread}/{key}"))
        } else {
            ObjectPath::from(format!("{}/{spread}/{key}", self.prefix))
        }
    }

    /// Starts writing `key`.
    pub async fn writer(&self, key: &str) -> Result<Writer, StorageError> {
        let upload = self.store.put_multipart(&self.path(key)).await?;
        Ok(Writer { upload: WriteMultipart::new_with_chunk_size(upload, self.part_bytes), written: 0 })
    }

    /// Stores `bytes` under `key` at once (images after their re-encoding, thumbnails).
    pub async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), StorageError> {
        self.store.put(&self.path(key), Bytes::from(bytes).into()).await?;
        Ok(())
    }

    /// `key`'s bytes, all or `range` (clamped to the file; `None` past its end).
    pub async fn get(&self, key: &str, range: Option<Range<u64>>) -> Result<Download, StorageError> {
        let options = GetOptions { range: range.map(GetRange::Bounded), ..GetOptions::default() };
        let result = self.store.get_opts(&self.path(key), options).await?;
        let size = result.meta.size;
        let range = result.range.clone();
        let body = match result.payload {
            GetResultPayload::File(file, _) => local_stream(file, range.clone()),
            GetResultPayload::Stream(stream) => stream.map_err(std::io::Error::other).boxed(),
        };
        Ok(Download { body, range, size })
    }

    /// Deletes `key`; a key already gone is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        match self.store.delete(&self.path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }
}

/// `range` of a local file, read in [`LOCAL_READ_BYTES`] chunks.
fn local_stream(file: std::fs::File, range: Range<u64>) -> BoxStream<'static, Result<Bytes, std::io::Error>> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let opened = async move {
        let mut file = tokio::fs::File::from_std(file);
        file.seek(std::io::SeekFrom::Start(range.start)).await?;
        Ok::<_, std::io::Error>(tokio_util::io::ReaderStream::with_capacity(
            file.take(range.end - range.start),
            LOCAL_READ_BYTES,
        ))
    };
    futures::stream::once(opened).try_flatten().boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_local_store_writes_reads_ranges_and_deletes() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(&Location::Local(dir.path().join("files"))).unwrap();
        let mut writer = store.writer("abcdef").await.unwrap();
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        for chunk in data.chunks(70_000) {
            writer.write(chunk).await.unwrap();
        }
        writer.finish().await.unwrap();
        let whole = store.get("abcdef", None).await.unwrap();
        assert_eq!(whole.size, data.len() as u64);
        let read: Vec<u8> = whole.body.map_ok(|b| b.to_vec()).try_concat().await.unwrap();
        assert_eq!(read, data);
        let part = store.get("abcdef", Some(10..20)).await.unwrap();
        assert_eq!(part.range, 10..20);
        assert_eq!(part.body.map_ok(|b| b.to_vec()).try_concat().await.unwrap(), data[10..20].to_vec());
        store.delete("abcdef").await.unwrap();
        assert!(store.get("abcdef", None).await.err().unwrap().is_not_found());
        store.delete("abcdef").await.unwrap();
    }
}
