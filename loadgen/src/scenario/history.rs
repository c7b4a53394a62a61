//! `history`: connects K times, one after the other, and measures the time from starting the TCP
//! connect to having the whole `history` frame (the newest 50 messages). Meant to run against a
//! database already holding many messages (`scripts/bench.sh` seeds 1M); the first few samples
//! warm the server's caches and are not counted.

use super::{Common, Meter};
use crate::args::Args;
use crate::conn::connect;
use crate::stats::{round3, Histogram};
use crate::ws::Frame;
use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct Params {
    pub samples: usize,
    pub warmup: usize,
}

impl Params {
    pub fn from_args(args: &Args) -> Result<Self> {
        let params = Self { samples: args.get("samples", 1000)?, warmup: args.get("warmup", 20)? };
        ensure!((1..=100_000).contains(&params.samples), "--samples must be 1..=100000");
        ensure!(params.warmup <= 10_000, "--warmup must be at most 10000");
        Ok(params)
    }
}

/// What one connect + history took and carried.
struct Sample {
    took: Duration,
    messages: usize,
    bytes: usize,
}

/// `loadgen history`.
pub async fn run(common: &Common, params: Params) -> Result<Value> {
    let accounts = common.accounts(1).await?;
    let histogram = Histogram::default();
    let mut first: Option<Sample> = None;
    let started = Instant::now();
    let mut meter = None;
    for i in 0..params.warmup + params.samples {
        if i == params.warmup {
            meter = Some(Meter::start(common.server));
        }
        let sample =
            connect_and_read_history(common, i, accounts.token(0)).await.with_context(|| format!("sample {i}"))?;
        if i >= params.warmup {
            histogram.record(sample.took.as_nanos() as u64);
        }
        first.get_or_insert(sample);
    }
    let first = first.context("no sample")?;
    let snapshot = histogram.snapshot();
    eprintln!("  connect + history ({} messages, {} bytes): {}", first.messages, first.bytes, snapshot.describe());
    let mut fields = snapshot.to_json("");
    fields.insert("history_messages".into(), json!(first.messages));
    fields.insert("history_bytes".into(), json!(first.bytes));
    fields.insert("warmup".into(), json!(params.warmup));
    if let Some(meter) = meter {
        fields.extend(meter.fields(params.samples as u64, "connect"));
    }
    fields.insert("total_s".into(), json!(round3(started.elapsed().as_secs_f64())));
    if let Some(rss) = common.server_rss_kib() {
        fields.insert("server_rss_kib".into(), json!(rss));
    }
    common.emit("history", "connect + history".into(), fields)
}

async fn connect_and_read_history(common: &Common, i: usize, token: &str) -> Result<Sample> {
    let started = Instant::now();
    let mut client = connect(&common.target, i, token, 64 * 1024).await?;
    let mut first: Option<Result<String>> = None;
    let read = client.reader.next_frames(|frame| {
        first.get_or_insert_with(|| match frame {
            Frame::Text(bytes) => Ok(String::from_utf8_lossy(bytes).into_owned()),
            other => Err(anyhow::anyhow!("expected the history frame, got {other:?}")),
        });
    });
    let open = tokio::time::timeout(Duration::from_secs(10), read).await.context("no history within 10 s")??;
    let took = started.elapsed();
    let text = match first {
        Some(result) => result?,
        None => bail!("connection closed before the history frame (open: {open})"),
    };
    let value: Value = serde_json::from_str(&text).context("history frame is not JSON")?;
    ensure!(value["type"] == "history", "first frame is not history: {}", value["type"]);
    let messages = value["messages"].as_array().map(Vec::len).unwrap_or(0);
    Ok(Sample { took, messages, bytes: text.len() })
}
