//! CSV downloads, streamed from the database row by row (bounded memory for any size), RFC 4180
//! quoting by the csv crate, and no spreadsheet formula injection: a cell starting with `=`,
//! `+`, `-`, `@`, tab or carriage return is prefixed with `'`.

use crate::store::StoreError;
use app::models::{AdminMessage, PublicUser};
use axum::body::{Body, Bytes};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use futures::stream::BoxStream;
use futures::StreamExt;

/// Rows per chunk written to the response.
const ROWS_PER_CHUNK: usize = 256;

/// Neutralises a cell a spreadsheet would read as a formula.
pub fn safe_cell(value: &str) -> std::borrow::Cow<'_, str> {
    match value.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{value}").into(),
        _ => value.into(),
    }
}

/// A CSV record: one row's cells.
pub trait CsvRow {
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

impl CsvRow for AdminMessage {
    const HEADER: &'static [&'static str] = &["id", "sender_id", "username", "content", "timestamp", "room"];
    fn cells(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.sender_id.to_string(),
            self.username.clone(),
            self.content.clone(),
            self.timestamp.clone(),
            self.room.clone(),
        ]
    }
}

/// Encodes `rows` into CSV bytes (header first), in chunks.
pub fn csv_body<T: CsvRow + Send + 'static>(
    rows: BoxStream<'static, Result<T, StoreError>>,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send {
    let header = encode_records(std::iter::once(T::HEADER.iter().map(|h| h.to_string()).collect()));
    let chunks = rows.ready_chunks(ROWS_PER_CHUNK).map(|chunk| {
        let mut records = Vec::with_capacity(chunk.len());
        for row in chunk {
            match row {
                Ok(row) => records.push(row.cells()),
                Err(error) => {
                    tracing::error!(%error, "CSV export failed");
                    return Err(std::io::Error::other("export failed"));
                }
            }
        }
        Ok(encode_records(records.into_iter()))
    });
    futures::stream::once(async move { Ok(header) }).chain(chunks)
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

/// A streamed CSV attachment response.
pub fn csv_response<T: CsvRow + Send + 'static>(
    filename: &str,
    rows: BoxStream<'static, Result<T, StoreError>>,
) -> Response {
    (
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (CONTENT_DISPOSITION, format!("attachment; filename=\"{filename}\"")),
        ],
        Body::from_stream(csv_body(rows)),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralised() {
        for (raw, safe) in [("=1+1", "'=1+1"), ("+x", "'+x"), ("-2", "'-2"), ("@SUM", "'@SUM"), ("\tx", "'\tx"), ("\rx", "'\rx")] {
            assert_eq!(safe_cell(raw), safe);
        }
        for plain in ["hello", "a=b", "", "1-2", "'quoted"] {
            assert_eq!(safe_cell(plain), plain);
        }
    }

    #[test]
    fn quoting_follows_rfc_4180() {
        let bytes = encode_records(std::iter::once(vec!["a,b".into(), "say \"hi\"".into(), "two\nlines".into(), "ünï".into()]));
        assert_eq!(std::str::from_utf8(&bytes).unwrap(), "\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",ünï\n");
    }
}
