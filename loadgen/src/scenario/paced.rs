//! The open-loop engine of `fanout`, `login` and `rooms`. Connections come in delivery groups:
//! every member of a group must receive every message acknowledged by any member of it (a fanout
//! is one group of all its connections; each room of `rooms` is one). Senders send on a fixed
//! schedule (aggregate R msgs/s for T s, evenly spaced, sender k offset by k/R, whatever the
//! server does); then the engine waits, bounded by the drain time, for every acknowledgement and
//! delivery, and counts them: deliveries, lost copies, disorder, drops, latency, CPU.

use super::{close_all, wait_until, Common, Meter};
use crate::conn::{self, send_paced, Conn, ConnState, Pace, SendStats, Writer};
use crate::procfs::Process;
use crate::stats::{round3, whole_or_fraction, Timeline};
use serde_json::{json, Map, Value};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// When and how much the senders send.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    /// Aggregate messages per second over all senders.
    pub rate: f64,
    /// Seconds of sending (at most; `stop` may end it earlier).
    pub duration: f64,
    /// Seconds to wait for the last acknowledgements and deliveries after the last send.
    pub drain: f64,
}

/// A connection that sends: as sender `index` (the number its messages carry, the same as its
/// reader's `Role::sender`), into `room` (`None`: `general`).
pub struct Sender {
    pub index: u64,
    pub room: Option<u64>,
    pub writer: Writer,
}

/// What one member of a delivery group counted: its own messages come back (acknowledged) and
/// the group's messages it received (its own included).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Member {
    pub acked: u64,
    pub received: u64,
}

/// Deliveries over all groups.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Messages acknowledged (each by its sender's own copy).
    pub acked: u64,
    /// Copies due: each acknowledged message once to every member of its group.
    pub expected: u64,
    pub received: u64,
    /// Copies due and not received (a member's surplus does not make up for another's shortfall).
    pub lost: u64,
}

/// Counts the deliveries of `groups`: every member must receive every message acknowledged in
/// its group.
pub fn tally(groups: &[Vec<Member>]) -> Tally {
    let mut tally = Tally::default();
    for group in groups {
        let acked: u64 = group.iter().map(|m| m.acked).sum();
        tally.acked += acked;
        tally.expected += acked * group.len() as u64;
        for member in group {
            tally.received += member.received;
            tally.lost += acked.saturating_sub(member.received);
        }
    }
    tally
}

/// A paced run: everyone connected, senders waiting for `start`.
pub struct Engine {
    schedule: Schedule,
    timeline: Arc<Timeline>,
    conns: Vec<Conn>,
    /// Indices into `conns`, one list per delivery group.
    groups: Vec<Vec<usize>>,
    senders: Vec<Sender>,
    /// Whether the senders send into rooms (then `misrouted` and `other_frames` are reported).
    in_rooms: bool,
    send_stats: Vec<Arc<SendStats>>,
    send_tasks: Vec<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    connect_failures: usize,
    /// Server processes metered besides `--server-pid` (the other nodes of a cluster).
    other_servers: Vec<Process>,
    meter: Option<Meter>,
    started: Option<Instant>,
    /// Frames of other types received before the start.
    other_before: u64,
}

impl Engine {
    /// An engine over `conns` (all reading already, on `timeline`), grouped by `groups`, with
    /// `senders` among them.
    pub fn new(
        schedule: Schedule,
        timeline: Arc<Timeline>,
        conns: Vec<Conn>,
        groups: Vec<Vec<usize>>,
        senders: Vec<Sender>,
        connect_failures: usize,
    ) -> Self {
        let in_rooms = senders.iter().any(|s| s.room.is_some());
        Self {
            schedule,
            timeline,
            conns,
            groups,
            senders,
            in_rooms,
            send_stats: Vec::new(),
            send_tasks: Vec::new(),
            stop: Arc::default(),
            connect_failures,
            other_servers: Vec::new(),
            meter: None,
            started: None,
            other_before: 0,
        }
    }

    /// Waits until no frame of another type than `message` has arrived for `quiet` (the
    /// `presence` frames of a crowd connecting), at most `limit`; returns whether it went quiet.
    pub async fn settle(&self, quiet: Duration, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let mut last = (self.total(|s| &s.other), Instant::now());
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let now = self.total(|s| &s.other);
            if now != last.0 {
                last = (now, Instant::now());
            } else if last.1.elapsed() >= quiet {
                return true;
            }
        }
        false
    }

    /// Also meters `servers` (the other nodes of a cluster): the server CPU figures become the
    /// sum over every node.
    pub fn meter_also(&mut self, servers: impl IntoIterator<Item = Process>) {
        self.other_servers.extend(servers);
    }

    /// A timeline covering the sending and the drain (and two seconds of slack).
    pub fn timeline_for(schedule: &Schedule, start_ns: u64) -> Arc<Timeline> {
        let seconds = (schedule.duration + schedule.drain).ceil() as usize + 2;
        Arc::new(Timeline::new(start_ns, seconds))
    }

    /// Starts the senders; second 0 of the timeline is now.
    pub fn start(&mut self, common: &Common) {
        let start = Instant::now() + Duration::from_millis(5);
        self.timeline.set_start(crate::stats::now_ns() + 5_000_000);
        self.meter = Some(Meter::start(common.server.into_iter().chain(self.other_servers.iter().copied())));
        self.started = Some(start);
        self.other_before = self.total(|s| &s.other);
        let senders = self.senders.len().max(1) as f64;
        let count = (self.schedule.rate * self.schedule.duration / senders).round().max(1.0) as u64;
        let period = Duration::from_secs_f64(senders / self.schedule.rate);
        for (position, sender) in self.senders.drain(..).enumerate() {
            let pace = Pace {
                index: sender.index,
                room: sender.room,
                start,
                offset: Duration::from_secs_f64(position as f64 / self.schedule.rate),
                period,
                max_count: count,
            };
            let stats = Arc::new(SendStats::default());
            self.send_stats.push(stats.clone());
            let task = send_paced(sender.writer, pace, common.nonce.clone(), self.stop.clone(), stats);
            self.send_tasks.push(tokio::spawn(task));
        }
    }

    /// Ends sending early (the next scheduled message is not sent).
    pub fn stop(&self) {
        self.stop.store(true, Relaxed);
    }

    pub fn started(&self) -> Option<Instant> {
        self.started
    }

    pub fn timeline(&self) -> &Timeline {
        &self.timeline
    }

    /// Waits for the senders, then for every acknowledgement and delivery (each wait bounded by
    /// the drain time), closes every connection and returns the result fields.
    pub async fn finish(mut self) -> Map<String, Value> {
        let limit = Duration::from_secs_f64(self.schedule.duration + 10.0);
        for task in self.send_tasks.drain(..) {
            let _ = tokio::time::timeout(limit, task).await;
        }
        let send_seconds = self.started.map(|s| s.elapsed().as_secs_f64()).unwrap_or(0.0);
        let sent: u64 = self.send_stats.iter().map(|s| s.sent.load(Relaxed)).sum();
        let drain = Duration::from_secs_f64(self.schedule.drain);
        let answered = || self.total(|s| &s.acked) + self.total(|s| &s.refused) >= sent;
        wait_until(drain, answered).await;
        wait_until(drain, || tally(&self.members()).lost == 0).await;
        let meter = self.meter.take().unwrap_or_else(|| Meter::start(None));
        let result = self.result(sent, send_seconds, &meter);
        close_all(&self.conns);
        result
    }

    /// What each member of each group has counted so far.
    fn members(&self) -> Vec<Vec<Member>> {
        let member = |&i: &usize| {
            let state = &self.conns[i].state;
            Member { acked: state.acked.load(Relaxed), received: state.received.load(Relaxed) }
        };
        self.groups.iter().map(|group| group.iter().map(member).collect()).collect()
    }

    fn total(&self, counter: impl Fn(&ConnState) -> &AtomicU64) -> u64 {
        conn::total(&self.conns, counter)
    }

    fn result(&self, sent: u64, send_seconds: f64, meter: &Meter) -> Map<String, Value> {
        let tally = tally(&self.members());
        let refused = self.total(|s| &s.refused);
        let ended = conn::ended(&self.conns);
        let max_lag = self.send_stats.iter().map(|s| s.max_lag_ns.load(Relaxed)).max().unwrap_or(0);
        let mut map = Map::new();
        map.insert("rate".into(), whole_or_fraction(self.schedule.rate));
        map.insert("duration_s".into(), json!(round3(send_seconds)));
        map.insert("sent".into(), json!(sent));
        map.insert("acked".into(), json!(tally.acked));
        map.insert("refused".into(), json!(refused));
        map.insert("unacked".into(), json!(sent.saturating_sub(tally.acked + refused)));
        map.insert("deliveries".into(), json!(tally.received));
        map.insert("expected_deliveries".into(), json!(tally.expected));
        map.insert("lost".into(), json!(tally.lost));
        map.insert("disorder".into(), json!(self.total(|s| &s.disorder)));
        if self.in_rooms {
            map.insert("misrouted".into(), json!(self.total(|s| &s.misrouted)));
            let other = self.total(|s| &s.other);
            map.insert("other_frames".into(), json!(other));
            map.insert("other_frames_in_run".into(), json!(other.saturating_sub(self.other_before)));
        }
        map.insert("connect_failures".into(), json!(self.connect_failures));
        map.insert("dropped".into(), json!(ended.len()));
        map.insert("drop_codes".into(), json!(ended.iter().take(10).collect::<Vec<_>>()));
        let per_second = (tally.received as f64 / send_seconds.max(1e-9)).round() as u64;
        map.insert("deliveries_per_s".into(), json!(per_second));
        map.insert("max_send_lag_ms".into(), json!(round3(max_lag as f64 / 1e6)));
        // Where a stall shows: the second of send time with the worst p99.
        if let Some((second, p99)) = self.timeline.slowest_second() {
            map.insert("slowest_second".into(), json!(second));
            map.insert("slowest_second_p99_ms".into(), json!(round3(p99 as f64 / 1e6)));
        }
        map.extend(self.timeline.all().to_json(""));
        map.extend(meter.fields(tally.received, "delivery"));
        map
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(acked: u64, received: u64) -> Member {
        Member { acked, received }
    }

    #[test]
    fn one_group_is_a_fanout() {
        // Two senders (5 and 3 acknowledged) and two listeners, one of them 2 copies short.
        let fanout = vec![vec![m(5, 8), m(3, 8), m(0, 8), m(0, 6)]];
        assert_eq!(tally(&fanout), Tally { acked: 8, expected: 32, received: 30, lost: 2 });
    }

    #[test]
    fn rooms_are_counted_apart() {
        // Room A: 3 members, 4 messages acknowledged, everyone has them. Room B: 2 members, 2
        // acknowledged; one member got 3 (a duplicate), the other 1: the surplus does not cover
        // the loss.
        let rooms = vec![vec![m(2, 4), m(1, 4), m(1, 4)], vec![m(1, 3), m(1, 1)]];
        assert_eq!(tally(&rooms), Tally { acked: 6, expected: 16, received: 16, lost: 1 });
    }

    #[test]
    fn nothing_acknowledged_nothing_due() {
        assert_eq!(tally(&[vec![m(0, 0); 10], vec![]]), Tally::default());
        assert_eq!(tally(&[]), Tally::default());
    }
}
