//! CSV downloads: RFC 4180 quoting by the csv crate, no spreadsheet formula injection (see
//! [`safe_cell`]), and exports that cannot starve the site:
//!
//! - rows are read by keyset pages (`WHERE id > ? ORDER BY id LIMIT n`), each page one short
//!   query on the read pool: no connection and no read transaction is held between pages, so
//!   login, `/me` and history always find a reader, and WAL checkpoints can run;
//! - a producer task encodes the pages into chunks and feeds them to the response through a
//!   small bounded channel; when the client does not take a chunk within the write timeout
//!   (`write_timeout_secs`) the producer gives up and the body ends with an error, so the
//!   connection is aborted (never a truncated file that looks complete);
//! - at most `max_exports` downloads stream at once (the permit belongs to the producer task);
//!   one more is refused with 429 and `Retry-After`.

use crate::services::Services;
use crate::store::StoreError;
use app::error::ApiError;
use app::models::{AdminMessage, PublicUser};
use axum::body::{Body, Bytes};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, OwnedSemaphorePermit};

/// Rows read by one page query.
const PAGE_ROWS: i64 = 256;
/// Encoded bytes gathered before a chunk is handed to the response.
const CHUNK_BYTES: usize = 64 * 1024;
/// Chunks that may wait between the producer and the response body.
const CHANNEL_CHUNKS: usize = 2;
/// `Retry-After` of a download refused because `max_exports` are already streaming.
const EXPORTS_RETRY_AFTER_SECS: u64 = 5;

/// Neutralises a cell a spreadsheet would read as a formula: one that starts with tab or
/// carriage return, or whose first non-blank character (after any Unicode whitespace, newlines
/// and invisible format characters such as U+3000 or a byte-order mark) is `=`, `+`, `-`, `@` or
/// their full-width forms `＝ ＋ － ＠`. Such a cell gets a leading `'`.
pub fn safe_cell(value: &str) -> std::borrow::Cow<'_, str> {
    if value.starts_with(['\t', '\r']) {
        return format!("'{value}").into();
    }
    let blank = |c: char| c.is_whitespace() || matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}');
    match value.trim_start_matches(blank).chars().next() {
        Some('=' | '+' | '-' | '@' | '＝' | '＋' | '－' | '＠') => format!("'{value}").into(),
        _ => value.into(),
    }
}

/// A CSV record: one row's cells.
pub trait CsvRow: Keyed {
    const HEADER: &'static [&'static str];
    fn cells(&self) -> Vec<String>;
}

impl CsvRow for PublicUser {
    const HEADER: &'static [&'static str] =
        &["id", "username", "email", "is_admin", "is_blocked", "warning_count", "created_at"];
    fn cells(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.username.clone(),
            self.email.clone(),
            self.is_admin.to_string(),
            self.is_blocked.to_string(),
            self.warning_count.to_string(),
            self.created_at.clone(),
        ]
    }
}

impl Keyed for PublicUser {
    fn key(&self) -> i64 {
        self.id
    }
}

impl CsvRow for AdminMessage {
    const HEADER: &'static [&'static str] = &[
        "id",
        "sender_id",
        "username",
        "content",
        "timestamp",
        "room",
        "room_id",
        "room_kind",
        "removed",
        "edited_at",
        "deleted",
        "attachments",
    ];
    fn cells(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.sender_id.to_string(),
            self.username.clone(),
            self.content.clone(),
            self.timestamp.clone(),
            self.room.clone(),
            self.room_id.to_string(),
            self.room_kind.as_str().to_owned(),
            self.removed.to_string(),
            self.edited_at.clone().unwrap_or_default(),
            self.deleted.to_string(),
            // Each file as `name (url)`, separated by `; `.
            self.attachments.iter().map(|file| format!("{} ({})", file.name, file.url)).collect::<Vec<_>>().join("; "),
        ]
    }
}

impl Keyed for AdminMessage {
    fn key(&self) -> i64 {
        self.id
    }
}

fn encode_records(records: impl Iterator<Item = Vec<String>>) -> Bytes {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for record in records {
        let safe: Vec<_> = record.iter().map(|cell| safe_cell(cell)).collect();
        // Writing to a Vec cannot fail.
        let _ = writer.write_record(safe.iter().map(|c| c.as_ref()));
    }
    Bytes::from(writer.into_inner().unwrap_or_default())
}

/// Reads one page: rows with a key above the first argument, at most the second argument.
pub type PageReader<T> = Box<dyn FnMut(i64, i64) -> BoxFuture<'static, Result<Vec<T>, StoreError>> + Send>;

/// A streamed CSV attachment of every row `next_page` yields, or 429 when `max_exports`
/// downloads are already streaming.
pub fn csv_download<T, F>(services: &Services, filename: &str, next_page: F) -> Response
where
    T: CsvRow + Send + 'static,
    F: FnMut(i64, i64) -> BoxFuture<'static, Result<Vec<T>, StoreError>> + Send + 'static,
{
    let header = encode_records(std::iter::once(T::HEADER.iter().map(|h| h.to_string()).collect()));
    let encoding = Encoding { start: header, rows: Box::new(csv_chunks::<T>), end: Bytes::new() };
    download(services, "text/csv; charset=utf-8", filename, encoding, Box::new(next_page))
}

/// A streamed JSON attachment: `prefix` (an object opened, its other members written, ending
/// with `"NAME":[`), every item `next_page` yields, then `]}`.
pub fn json_download<T, F>(services: &Services, filename: &str, prefix: String, next_page: F) -> Response
where
    T: serde::Serialize + Keyed + Send + 'static,
    F: FnMut(i64, i64) -> BoxFuture<'static, Result<Vec<T>, StoreError>> + Send + 'static,
{
    let mut first = true;
    let rows = move |rows: Vec<T>| {
        let mut bytes = Vec::new();
        for row in rows {
            if !std::mem::take(&mut first) {
                bytes.push(b',');
            }
            // Serialising plain data to a Vec cannot fail.
            let _ = serde_json::to_writer(&mut bytes, &row);
        }
        vec![Bytes::from(bytes)]
    };
    let encoding = Encoding { start: Bytes::from(prefix), rows: Box::new(rows), end: Bytes::from_static(b"]}") };
    download(services, "application/json", filename, encoding, Box::new(next_page))
}

/// A row's keyset cursor: the id the next page starts after.
pub trait Keyed {
    fn key(&self) -> i64;
}

impl Keyed for app::models::ChatMessage {
    fn key(&self) -> i64 {
        self.id
    }
}

/// How a download's rows become its bytes: what comes first, each page's chunks, what ends it.
struct Encoding<T> {
    start: Bytes,
    rows: Box<dyn FnMut(Vec<T>) -> Vec<Bytes> + Send>,
    end: Bytes,
}

/// A page of CSV rows in chunks of about [`CHUNK_BYTES`].
fn csv_chunks<T: CsvRow>(rows: Vec<T>) -> Vec<Bytes> {
    let (mut chunks, mut records, mut pending) = (Vec::new(), Vec::new(), 0usize);
    for row in rows {
        let cells = row.cells();
        pending += cells.iter().map(|c| c.len() + 3).sum::<usize>();
        records.push(cells);
        if pending >= CHUNK_BYTES {
            chunks.push(encode_records(records.drain(..)));
            pending = 0;
        }
    }
    if !records.is_empty() {
        chunks.push(encode_records(records.into_iter()));
    }
    chunks
}

/// A streamed attachment, or 429 when `max_exports` downloads are already streaming.
fn download<T: Keyed + Send + 'static>(
    services: &Services,
    content_type: &str,
    filename: &str,
    encoding: Encoding<T>,
    next_page: PageReader<T>,
) -> Response {
    let Some(permit) = services.export_permit() else {
        tracing::info!("export refused: too many exports streaming");
        return ApiError::RateLimited { retry_after: EXPORTS_RETRY_AFTER_SECS }.into_response();
    };
    let write_timeout = Duration::from_secs(services.config().write_timeout_secs.max(1));
    let (chunks, body) = mpsc::channel::<Bytes>(CHANNEL_CHUNKS);
    let finished = Arc::new(AtomicBool::new(false));
    tokio::spawn(produce(permit, chunks, finished.clone(), write_timeout, encoding, next_page));
    (
        [
            (CONTENT_TYPE, content_type.to_string()),
            (CONTENT_DISPOSITION, format!("attachment; filename=\"{filename}\"")),
        ],
        Body::from_stream(body_stream(body, finished)),
    )
        .into_response()
}

/// The response body: the producer's chunks, then the end of the body if the producer finished,
/// or an error (the connection is aborted) if it gave up or failed.
fn body_stream(
    chunks: mpsc::Receiver<Bytes>,
    finished: Arc<AtomicBool>,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send {
    futures::stream::unfold(Some((chunks, finished)), |state| async move {
        let (mut chunks, finished) = state?;
        match chunks.recv().await {
            Some(bytes) => Some((Ok(bytes), Some((chunks, finished)))),
            None if finished.load(Ordering::Acquire) => None,
            None => Some((Err(std::io::Error::other("export aborted")), None)),
        }
    })
}

/// Reads the pages, encodes them and hands the chunks to the body, holding the export permit
/// until it returns. Gives up when the client takes no chunk within `write_timeout`.
async fn produce<T: Keyed + Send + 'static>(
    permit: OwnedSemaphorePermit,
    chunks: mpsc::Sender<Bytes>,
    finished: Arc<AtomicBool>,
    write_timeout: Duration,
    mut encoding: Encoding<T>,
    mut next_page: PageReader<T>,
) {
    let _permit = permit;
    let send = |bytes: Bytes| {
        let chunks = &chunks;
        async move {
            match tokio::time::timeout(write_timeout, chunks.send(bytes)).await {
                Ok(Ok(())) => true,
                Ok(Err(_)) => {
                    tracing::debug!("export: the client went away");
                    false
                }
                Err(_) => {
                    tracing::warn!("export abandoned: the client took no data within the write timeout");
                    false
                }
            }
        }
    };
    if !send(std::mem::take(&mut encoding.start)).await {
        return;
    }
    let mut after = i64::MIN;
    loop {
        let rows = match next_page(after, PAGE_ROWS).await {
            Ok(rows) => rows,
            Err(error) => {
                tracing::error!(%error, "export failed");
                return;
            }
        };
        let Some(last) = rows.last() else { break };
        after = last.key();
        let last_page = (rows.len() as i64) < PAGE_ROWS;
        for chunk in (encoding.rows)(rows) {
            if !chunk.is_empty() && !send(chunk).await {
                return;
            }
        }
        if last_page {
            break;
        }
    }
    if !encoding.end.is_empty() && !send(std::mem::take(&mut encoding.end)).await {
        return;
    }
    finished.store(true, Ordering::Release);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralised() {
        for (raw, safe) in
            [("=1+1", "'=1+1"), ("+x", "'+x"), ("-2", "'-2"), ("@SUM", "'@SUM"), ("\tx", "'\tx"), ("\rx", "'\rx")]
        {
            assert_eq!(safe_cell(raw), safe);
        }
        for plain in ["hello", "a=b", "", "1-2", "'quoted"] {
            assert_eq!(safe_cell(plain), plain);
        }
    }

    #[test]
    fn formulas_behind_blanks_and_full_width_forms_are_neutralised() {
        for raw in [
            " =1+1",
            "   +x",
            "\n=cmd",
            "\r\n-2",
            "\u{3000}=A1",
            "\u{00A0}@SUM(A1)",
            "\u{FEFF}=1",
            "\u{200B} \n=1",
            "＝1+1",
            "＋x",
            "－2",
            "＠SUM",
            " \u{3000}\n＝A1",
        ] {
            assert_eq!(safe_cell(raw), format!("'{raw}"), "{raw:?}");
        }
        for plain in [" hello", "\nline", "\u{3000}text", "a＝b", "   ", "\n", "1 = 1", " 'quoted"] {
            assert_eq!(safe_cell(plain), plain, "{plain:?}");
        }
    }

    #[test]
    fn quoting_follows_rfc_4180() {
        let bytes =
            encode_records(std::iter::once(vec!["a,b".into(), "say \"hi\"".into(), "two\nlines".into(), "ünï".into()]));
        assert_eq!(std::str::from_utf8(&bytes).unwrap(), "\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",ünï\n");
    }
}
