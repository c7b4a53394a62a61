//! `rooms`: many small public rooms at once. M rooms of K members, one account per connection
//! (membership is per account): accounts are registered and logged in a bounded number at a time;
//! the first member of each room creates it (`POST /rooms`, a name unique to the run), the others
//! join it (`POST /rooms/{id}/join`); then every member connects. Every connection is a sender
//! and a listener: each sends its share of the aggregate R msgs/s into its own room, on the
//! fanout's open-loop schedule and message format, and reads what its room broadcasts.
//!
//! Measured as the fanout is, with each room a delivery group: latency from every receiving
//! connection (senders' own copies included), lost copies (every acknowledged message must reach
//! every member of its room; plus unacknowledged and refused messages), disorder, drops, server
//! CPU per delivery. A message of another conversation arriving at a connection is `misrouted`.

use super::fanout::{summarize, READ_BUFFER};
use super::paced::{Engine, Schedule, Sender};
use super::{open_conns, Common, Plan};
use crate::accounts::Accounts;
use crate::args::Args;
use crate::conn::Role;
use crate::http;
use crate::stats::{now_ns, round3, whole_or_fraction};
use anyhow::{bail, ensure, Context, Result};
use futures::{StreamExt, TryStreamExt};
use serde_json::{json, Value};
use std::future::Future;
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct Params {
    pub rooms: usize,
    /// Members of each room, each on its own account and connection.
    pub room_size: usize,
    /// Aggregate messages per second over all connections.
    pub rate: f64,
    pub duration: f64,
    pub drain: f64,
    /// Accounts registered and logged in at once, and rooms created and joined at once.
    pub setup_concurrency: usize,
    /// Seconds the accounts, then the rooms, may take to set up, each.
    pub setup_limit: f64,
}

impl Params {
    pub fn from_args(args: &Args) -> Result<Self> {
        let params = Self {
            rooms: args.get("rooms", 100)?,
            room_size: args.get("room-size", 10)?,
            rate: args.get("rate", 1000.0)?,
            duration: args.get("duration", 20.0)?,
            drain: args.get("drain", 10.0)?,
            setup_concurrency: args.get("setup-concurrency", 16)?,
            setup_limit: args.get("setup-limit", 300.0)?,
        };
        ensure!((1..=1000).contains(&params.rooms), "--rooms must be 1..=1000");
        ensure!((1..=1000).contains(&params.room_size), "--room-size must be 1..=1000");
        ensure!(params.connections() <= 19_000, "--rooms x --room-size must be at most 19000");
        ensure!(params.rate > 0.0 && params.rate <= 100_000.0, "--rate must be in (0, 100000]");
        ensure!(params.duration > 0.0 && params.duration <= 3600.0, "--duration must be in (0, 3600]");
        ensure!((0.0..=300.0).contains(&params.drain), "--drain must be in 0..=300");
        ensure!((1..=256).contains(&params.setup_concurrency), "--setup-concurrency must be 1..=256");
        ensure!(params.setup_limit > 0.0 && params.setup_limit <= 3600.0, "--setup-limit must be in (0, 3600]");
        Ok(params)
    }

    pub fn connections(&self) -> usize {
        self.rooms * self.room_size
    }

    /// The room of connection (and account) `index`; its first member creates it.
    fn room_of(&self, index: usize) -> usize {
        index / self.room_size
    }

    fn label(&self) -> String {
        format!("rooms {}x{} at {} msgs/s", self.rooms, self.room_size, whole_or_fraction(self.rate))
    }
}

/// Each REST call of the set-up gives up after this long.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Every member arriving is a `presence` frame to everyone online (all share `general`): the
/// run starts once no such frame has come for `SETTLE_QUIET` (waiting at most `SETTLE_LIMIT`).
const SETTLE_QUIET: Duration = Duration::from_millis(500);
const SETTLE_LIMIT: Duration = Duration::from_secs(10);

/// `loadgen rooms`.
pub async fn run(common: &Common, params: Params) -> Result<Value> {
    let limit = Duration::from_secs_f64(params.setup_limit);
    let started = Instant::now();
    let accounts = within(limit, "registering and logging in the accounts", async {
        common.accounts_with(params.connections(), params.setup_concurrency).await
    })
    .await?;
    let accounts_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let room_ids = within(limit, "creating and joining the rooms", make_rooms(common, &accounts, &params)).await?;
    let rooms_s = started.elapsed().as_secs_f64();
    eprintln!("  {} rooms of {} created and joined in {rooms_s:.1} s", params.rooms, params.room_size);

    let started = Instant::now();
    let (mut engine, connected) = connect(common, &accounts, &room_ids, &params).await?;
    let connect_s = started.elapsed().as_secs_f64();
    if !engine.settle(SETTLE_QUIET, SETTLE_LIMIT).await {
        eprintln!("  still receiving presence frames after {} s; starting anyway", SETTLE_LIMIT.as_secs());
    }
    eprintln!("  {} connections each sending {} msgs/s for {} s", connected, rate_each(&params), params.duration);
    engine.start(common);
    let mut fields = engine.finish().await;
    fields.insert("rooms".into(), json!(params.rooms));
    fields.insert("room_size".into(), json!(params.room_size));
    fields.insert("connections".into(), json!(connected));
    fields.insert("senders".into(), json!(connected));
    fields.insert("accounts_s".into(), json!(round3(accounts_s)));
    fields.insert("rooms_s".into(), json!(round3(rooms_s)));
    fields.insert("connect_s".into(), json!(round3(connect_s)));
    if let Some(rss) = common.server_rss_kib() {
        fields.insert("server_rss_kib".into(), json!(rss));
    }
    summarize(&fields);
    let get = |k: &str| fields.get(k).cloned().unwrap_or(Value::Null);
    eprintln!(
        "  misrouted {}; frames of other types {} ({} during the run)",
        get("misrouted"),
        get("other_frames"),
        get("other_frames_in_run")
    );
    common.emit("rooms", params.label(), fields)
}

/// Messages per second each connection sends.
fn rate_each(params: &Params) -> f64 {
    round3(params.rate / params.connections() as f64)
}

/// `work`, or an error saying what did not finish within `limit`.
async fn within<T>(limit: Duration, what: &str, work: impl Future<Output = Result<T>>) -> Result<T> {
    match tokio::time::timeout(limit, work).await {
        Ok(result) => result.with_context(|| what.to_string()),
        Err(_) => bail!("{what} took longer than {} s (--setup-limit)", limit.as_secs_f64()),
    }
}

/// Creates every room (its first member's account) and has its other members join it,
/// `setup_concurrency` rooms at a time; returns the room ids in room order.
async fn make_rooms(common: &Common, accounts: &Accounts, params: &Params) -> Result<Vec<u64>> {
    futures::stream::iter(0..params.rooms)
        .map(|room| async move {
            let first = room * params.room_size;
            let name = format!("{}r{room}", common.prefix);
            let id = create_room(common, &accounts.tokens[first], &name).await?;
            for member in first + 1..first + params.room_size {
                join_room(common, &accounts.tokens[member], id).await.with_context(|| format!("room {name}"))?;
            }
            Ok::<_, anyhow::Error>(id)
        })
        .buffered(params.setup_concurrency)
        .try_collect()
        .await
}

/// `POST /rooms` (public): the new room's id.
async fn create_room(common: &Common, token: &str, name: &str) -> Result<u64> {
    let body = json!({"name": name, "kind": "public", "topic": "loadgen rooms scenario"});
    let response = http::post(common.addr, "/rooms", Some(&body), Some(token), CALL_TIMEOUT).await?;
    match response.status {
        201 => {}
        409 => bail!("POST /rooms {name}: 409, the name is taken (a run with the same --prefix?)"),
        status => bail!("POST /rooms {name}: {status} {}", response.body),
    }
    response.json()?["id"].as_u64().with_context(|| format!("POST /rooms {name}: no numeric id in the answer"))
}

/// `POST /rooms/{id}/join`.
async fn join_room(common: &Common, token: &str, id: u64) -> Result<()> {
    let path = format!("/rooms/{id}/join");
    let response = http::post(common.addr, &path, None, Some(token), CALL_TIMEOUT).await?;
    match response.status {
        200 => Ok(()),
        status => bail!("POST {path}: {status} {}", response.body),
    }
}

/// Opens every member's connection (each in its room, each a sender) and groups them by room.
/// Returns the engine, ready to start, and how many connections opened.
async fn connect(common: &Common, accounts: &Accounts, room_ids: &[u64], params: &Params) -> Result<(Engine, usize)> {
    ensure!(accounts.tokens.len() >= params.connections(), "need one account per connection");
    ensure!(room_ids.len() == params.rooms, "need one id per room");
    let schedule = Schedule { rate: params.rate, duration: params.duration, drain: params.drain };
    let timeline = Engine::timeline_for(&schedule, now_ns());
    let plans = (0..params.connections()).map(|index| {
        let room = Some(room_ids[params.room_of(index)]);
        let role = Role { sender: Some(index as u64), window: None, room };
        Plan { index, target: &common.target, token: &accounts.tokens[index], role }
    });
    let (opened, failed) = open_conns(common, plans.collect(), READ_BUFFER, &timeline).await;
    ensure!(!opened.is_empty(), "no connection could open");
    let mut groups = vec![Vec::new(); params.rooms];
    let mut conns = Vec::with_capacity(opened.len());
    let mut senders = Vec::with_capacity(opened.len());
    for (position, o) in opened.into_iter().enumerate() {
        let room = params.room_of(o.index);
        groups[room].push(position);
        senders.push(Sender { index: o.index as u64, room: Some(room_ids[room]), writer: o.writer });
        conns.push(o.conn);
    }
    let connected = conns.len();
    Ok((Engine::new(schedule, timeline, conns, groups, senders, failed), connected))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_fill_rooms_in_order() {
        let args = Args::parse(["rooms", "--rooms", "3", "--room-size", "4"].map(String::from)).unwrap();
        let params = Params::from_args(&args).unwrap();
        args.finish().unwrap();
        assert_eq!(params.connections(), 12);
        let rooms: Vec<usize> = (0..12).map(|i| params.room_of(i)).collect();
        assert_eq!(rooms, [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);
        assert_eq!(rate_each(&params), round3(1000.0 / 12.0));
    }

    #[test]
    fn refuses_bad_sizes() {
        let bad: [&[&str]; 4] = [
            &["--rooms", "0"],
            &["--room-size", "0"],
            &["--rooms", "1000", "--room-size", "20"],
            &["--setup-concurrency", "0"],
        ];
        for options in bad {
            let argv = std::iter::once("rooms").chain(options.iter().copied()).map(String::from);
            assert!(Params::from_args(&Args::parse(argv).unwrap()).is_err(), "{options:?}");
        }
    }
}
