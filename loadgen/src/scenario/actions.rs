//! `actions`: how fast an edit and a reaction reach every member, next to a new message. N
//! listeners in `general` (the first is also the actor); for each of R rounds the actor sends a
//! message over its socket, then edits it (`PATCH /messages/{id}`), then reacts to it
//! (`PUT /messages/{id}/reactions/👍`), each step waiting until every listener has its frame
//! (`message`, `edited`, `reaction`). Latency is from just before the actor sends (the frame, or
//! the request) to each listener having the frame.

use super::Common;
use crate::args::Args;
use crate::conn::{connect_retrying, Writer};
use crate::http::send;
use crate::stats::{round3, Histogram};
use crate::ws::{self, Frame};
use anyhow::{bail, ensure, Context, Result};
use futures::StreamExt;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

#[derive(Clone, Debug)]
pub struct Params {
    pub listeners: usize,
    pub rounds: usize,
}

impl Params {
    pub fn from_args(args: &Args) -> Result<Self> {
        let params = Self { listeners: args.get("listeners", 1000)?, rounds: args.get("rounds", 20)? };
        ensure!((1..=20_000).contains(&params.listeners), "--listeners must be 1..=20000");
        ensure!((1..=25).contains(&params.rounds), "--rounds must be 1..=25 (the reaction budget's burst)");
        Ok(params)
    }
}

/// What listeners saw: for each (frame type, key) the arrival times, one per listener.
#[derive(Default)]
struct Seen {
    arrivals: Mutex<HashMap<(String, String), Vec<Instant>>>,
}

impl Seen {
    /// Records a text frame: `message` keyed by its `client_id` (its id is kept too), `edited`
    /// and `reaction` by the message id.
    fn record(&self, text: &str, ids: &Mutex<HashMap<String, i64>>) {
        let now = Instant::now();
        let Ok(frame) = serde_json::from_str::<Value>(text) else { return };
        let key = match frame["type"].as_str() {
            Some("message") => match frame["client_id"].as_str() {
                Some(client_id) => {
                    if let Some(id) = frame["id"].as_i64() {
                        ids.lock().unwrap().insert(client_id.to_owned(), id);
                    }
                    ("message", client_id.to_owned())
                }
                None => return,
            },
            Some("edited") => ("edited", frame["message"]["id"].to_string()),
            Some("reaction") => ("reaction", frame["id"].to_string()),
            _ => return,
        };
        self.arrivals.lock().unwrap().entry((key.0.to_owned(), key.1)).or_default().push(now);
    }

    fn count(&self, kind: &str, key: &str) -> usize {
        self.arrivals.lock().unwrap().get(&(kind.to_owned(), key.to_owned())).map_or(0, Vec::len)
    }

    /// Waits until `n` listeners have the frame, then records each one's latency from `start`
    /// into `each` and the last one's into `all`.
    async fn wait_all(
        &self,
        kind: &str,
        key: &str,
        n: usize,
        start: Instant,
        each: &Histogram,
        all: &Histogram,
    ) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.count(kind, key) < n {
            if Instant::now() > deadline {
                bail!("{kind} {key}: {} of {n} listeners within 20 s", self.count(kind, key));
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        let arrivals =
            self.arrivals.lock().unwrap().get(&(kind.to_owned(), key.to_owned())).cloned().unwrap_or_default();
        for at in &arrivals {
            each.record(at.duration_since(start).as_nanos() as u64);
        }
        if let Some(last) = arrivals.iter().max() {
            all.record(last.duration_since(start).as_nanos() as u64);
        }
        Ok(())
    }
}

/// Reads a listener's frames until its socket ends, recording them and answering pings.
async fn listen(mut reader: ws::Reader, writer: Writer, seen: Arc<Seen>, ids: Arc<Mutex<HashMap<String, i64>>>) {
    loop {
        let mut ping = None;
        let mut closed = false;
        let result = reader
            .next_frames(|frame| match frame {
                Frame::Text(bytes) => {
                    if let Ok(text) = std::str::from_utf8(bytes) {
                        seen.record(text, &ids);
                    }
                }
                Frame::Ping(payload) => ping = Some(payload.to_vec()),
                Frame::Close(_) => closed = true,
                Frame::Binary | Frame::Pong => {}
            })
            .await;
        if closed || !matches!(result, Ok(true)) {
            return;
        }
        if let Some(payload) = ping {
            if ws::write_pong(&mut *writer.lock().await, &payload).await.is_err() {
                return;
            }
        }
    }
}

/// `loadgen actions`.
pub async fn run(common: &Common, params: Params) -> Result<Value> {
    let accounts = common.accounts(common.users).await?;
    let seen = Arc::new(Seen::default());
    let ids = Arc::new(Mutex::new(HashMap::new()));
    let started = Instant::now();
    let mut opened = futures::stream::iter(0..params.listeners)
        .map(|i| {
            let token = accounts.token(i).to_owned();
            async move { (i, connect_retrying(&common.target, i, &token, 64 * 1024).await) }
        })
        .buffer_unordered(common.connect_concurrency);
    let mut actor: Option<Writer> = None;
    let mut tasks = Vec::new();
    while let Some((i, client)) = opened.next().await {
        let client = client.with_context(|| format!("listener {i}"))?;
        if i == 0 {
            actor = Some(client.writer.clone());
        }
        tasks.push(tokio::spawn(listen(client.reader, client.writer, seen.clone(), ids.clone())));
    }
    let actor = actor.context("no actor connection")?;
    eprintln!("  {} listeners connected in {:.1} s", params.listeners, started.elapsed().as_secs_f64());
    tokio::time::sleep(Duration::from_secs(1)).await;

    let kinds = ["message", "edited", "reaction"];
    let each: Vec<Histogram> = kinds.iter().map(|_| Histogram::default()).collect();
    let all: Vec<Histogram> = kinds.iter().map(|_| Histogram::default()).collect();
    let token = accounts.token(0).to_owned();
    for round in 0..params.rounds {
        let client_id = format!("act-{}-{round}", common.nonce);
        let frame = json!({"type": "message", "content": format!("round {round}"), "client_id": client_id});
        let mut bytes = Vec::new();
        ws::encode_text(&mut bytes, &frame.to_string());
        let start = Instant::now();
        actor.lock().await.write_all(&bytes).await?;
        seen.wait_all("message", &client_id, params.listeners, start, &each[0], &all[0]).await?;
        let id = *ids.lock().unwrap().get(&client_id).context("the message's id")?;

        let start = Instant::now();
        let body = json!({"content": format!("round {round}, edited")});
        let answer =
            send("PATCH", common.addr, &format!("/messages/{id}"), Some(&body), Some(&token), Duration::from_secs(10))
                .await?;
        ensure!(answer.status == 200, "edit: {} {}", answer.status, answer.body);
        seen.wait_all("edited", &id.to_string(), params.listeners, start, &each[1], &all[1]).await?;

        let start = Instant::now();
        let path = format!("/messages/{id}/reactions/%F0%9F%91%8D");
        let answer = send("PUT", common.addr, &path, None, Some(&token), Duration::from_secs(10)).await?;
        ensure!(answer.status == 204, "reaction: {} {}", answer.status, answer.body);
        seen.wait_all("reaction", &id.to_string(), params.listeners, start, &each[2], &all[2]).await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut fields = serde_json::Map::new();
    fields.insert("listeners".into(), json!(params.listeners));
    fields.insert("rounds".into(), json!(params.rounds));
    for ((kind, each), all) in kinds.iter().zip(&each).zip(&all) {
        let (each, all) = (each.snapshot(), all.snapshot());
        eprintln!("  {kind}: each delivery {}; all {} listeners {}", each.describe(), params.listeners, all.describe());
        fields.extend(each.to_json(&format!("{kind}_")));
        fields.extend(all.to_json(&format!("{kind}_all_")));
    }
    fields.insert("total_s".into(), json!(round3(started.elapsed().as_secs_f64())));
    for task in tasks {
        task.abort();
    }
    common.emit("actions", format!("edit and reaction to {} listeners", params.listeners), fields)
}
