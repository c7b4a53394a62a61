//! What the node counts for `GET /metrics` (Prometheus text format; docs/deployment.md,
//! "Metrics"): open sockets, messages accepted and refused (by reason), the writer's commits
//! (latency, batch size), delivery (latency, batch size), moderation outcomes, throttle refusals
//! and, on a cluster, bus lag and gap reads.
//!
//! One registry for the process, in a static: the engine and the use cases record with a call
//! (an atomic add, or a histogram bucket), per message or per batch, never per delivered frame
//! (docs/performance.md, "Metrics", measures what it costs). Recorded and served only when the
//! operator asks for metrics (`CHATTERBOX_METRICS_TOKEN` or `CHATTERBOX_METRICS_ADDR`); the door
//! is `http::metrics`.

use prometheus::{Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::LazyLock;
use std::time::Duration;

/// Every metric of the node.
pub struct Metrics {
    registry: Registry,
    open_sockets: IntGauge,
    messages_accepted: IntCounter,
    messages_refused: IntCounterVec,
    commit_seconds: Histogram,
    commit_messages: Histogram,
    delivery_seconds: Histogram,
    delivery_messages: Histogram,
    /// `moderation_outcomes_total`, one counter per outcome resolved once (no label lookup per
    /// message): passed, warned, blocked, flagged, held.
    moderation: [IntCounter; 5],
    throttled: IntCounterVec,
    bus_lag_seconds: Histogram,
    gap_reads: IntCounter,
    gap_messages: IntCounter,
}

/// Latency buckets, in seconds: 100 µs to 5 s.
const LATENCY_BUCKETS: &[f64] =
    &[0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];
/// Batch-size buckets, in messages: 1 to the writer's largest batch (1024).
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0];

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// Whether anything is recorded: only once the operator has asked for metrics ([`enable`]).
static ENABLED: AtomicBool = AtomicBool::new(false);

/// Starts recording (a node with `CHATTERBOX_METRICS_TOKEN` or `CHATTERBOX_METRICS_ADDR`); until
/// then every recording call returns at once, so a node without metrics pays one load each.
pub fn enable() {
    LazyLock::force(&METRICS);
    ENABLED.store(true, Ordering::Relaxed);
}

fn on() -> Option<&'static Metrics> {
    ENABLED.load(Ordering::Relaxed).then(|| &*METRICS)
}

impl Metrics {
    fn new() -> Self {
        let registry = Registry::new_custom(Some("chatterbox".into()), None).expect("a valid prefix");
        let histogram = |name: &str, help: &str, buckets: &[f64]| {
            let metric = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.to_vec())).expect("valid");
            registry.register(Box::new(metric.clone())).expect("registered once");
            metric
        };
        let counter = |name: &str, help: &str| {
            let metric = IntCounter::new(name, help).expect("valid");
            registry.register(Box::new(metric.clone())).expect("registered once");
            metric
        };
        let counters = |name: &str, help: &str, label: &str| {
            let metric = IntCounterVec::new(Opts::new(name, help), &[label]).expect("valid");
            registry.register(Box::new(metric.clone())).expect("registered once");
            metric
        };
        let open_sockets = IntGauge::new("open_sockets", "WebSocket connections open on this node").expect("valid");
        registry.register(Box::new(open_sockets.clone())).expect("registered once");
        Self {
            open_sockets,
            messages_accepted: counter("messages_accepted_total", "Messages stored by this node's writer"),
            messages_refused: counters(
                "messages_refused_total",
                "Messages refused with an error frame, by reason",
                "reason",
            ),
            commit_seconds: histogram(
                "store_commit_seconds",
                "Time to commit one batch of messages to the database",
                LATENCY_BUCKETS,
            ),
            commit_messages: histogram("commit_batch_messages", "Messages per commit", BATCH_BUCKETS),
            delivery_seconds: histogram(
                "delivery_latency_seconds",
                "From a message reaching the writer to its frames being handed to every socket (the oldest of each release)",
                LATENCY_BUCKETS,
            ),
            delivery_messages: histogram("delivery_batch_messages", "Messages per release to the sockets", BATCH_BUCKETS),
            moderation: {
                let outcomes = counters(
                    "moderation_outcomes_total",
                    "Moderation decisions on messages: passed, warned, blocked, flagged, held",
                    "outcome",
                );
                MODERATION_OUTCOMES.map(|outcome| outcomes.with_label_values(&[outcome.name()]))
            },
            throttled: counters("throttle_refusals_total", "Requests refused by a throttle, by throttle", "throttle"),
            bus_lag_seconds: histogram(
                "bus_lag_seconds",
                "From another node publishing an event to this node receiving it (clocks of both nodes)",
                LATENCY_BUCKETS,
            ),
            gap_reads: counter("gap_reads_total", "Gaps in the id order filled from the database"),
            gap_messages: counter("gap_read_messages_total", "Messages read from the database to fill gaps"),
            registry,
        }
    }
}

/// A message stored by this node's writer.
pub fn message_accepted(count: usize) {
    if let Some(m) = on() {
        m.messages_accepted.inc_by(count as u64);
    }
}

/// A message refused with an error frame; `reason` is one of a fixed set (never user text).
pub fn message_refused(reason: &'static str) {
    if let Some(m) = on() {
        m.messages_refused.with_label_values(&[reason]).inc();
    }
}

/// One commit of `messages` that took `took`.
pub fn commit(took: Duration, messages: usize) {
    if let Some(m) = on() {
        m.commit_seconds.observe(took.as_secs_f64());
        m.commit_messages.observe(messages as f64);
    }
}

/// One release of `messages` to the sockets, the oldest of them waiting `waited` since it
/// reached the writer (`None`: they came from other nodes).
pub fn delivered(waited: Option<Duration>, messages: usize) {
    if let Some(m) = on() {
        if let Some(waited) = waited {
            m.delivery_seconds.observe(waited.as_secs_f64());
        }
        m.delivery_messages.observe(messages as f64);
    }
}

/// What moderation decided about a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moderated {
    Passed,
    Warned,
    Blocked,
    Flagged,
    Held,
}

const MODERATION_OUTCOMES: [Moderated; 5] =
    [Moderated::Passed, Moderated::Warned, Moderated::Blocked, Moderated::Flagged, Moderated::Held];

impl Moderated {
    fn name(self) -> &'static str {
        match self {
            Moderated::Passed => "passed",
            Moderated::Warned => "warned",
            Moderated::Blocked => "blocked",
            Moderated::Flagged => "flagged",
            Moderated::Held => "held",
        }
    }
}

/// A moderation decision about a message.
pub fn moderation(outcome: Moderated) {
    if let Some(m) = on() {
        m.moderation[outcome as usize].inc();
    }
}

/// A request refused by the throttle `name` (its bucket's name: `login_ip`, `flood`, ...).
pub fn throttled(name: &'static str) {
    if let Some(m) = on() {
        m.throttled.with_label_values(&[name]).inc();
    }
}

/// An event from another node, published `lag` ago.
pub fn bus_lag(lag: Duration) {
    if let Some(m) = on() {
        m.bus_lag_seconds.observe(lag.as_secs_f64());
    }
}

/// A gap filled from the database with `messages` read.
pub fn gap_read(messages: usize) {
    if let Some(m) = on() {
        m.gap_reads.inc();
        m.gap_messages.inc_by(messages as u64);
    }
}

/// Every metric in the Prometheus text format, with `open_sockets` as of now.
pub fn render(open_sockets: usize) -> String {
    METRICS.open_sockets.set(i64::try_from(open_sockets).unwrap_or(i64::MAX));
    let mut text = Vec::new();
    if let Err(error) = TextEncoder::new().encode(&METRICS.registry.gather(), &mut text) {
        tracing::error!(%error, "metrics could not be encoded");
    }
    String::from_utf8(text).unwrap_or_default()
}

/// The content type of [`render`]'s text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_values_show_in_the_text_format() {
        enable();
        message_refused("flood");
        commit(Duration::from_millis(3), 17);
        let text = render(42);
        assert!(text.contains("chatterbox_open_sockets 42"), "{text}");
        assert!(text.contains("chatterbox_messages_refused_total{reason=\"flood\"}"), "{text}");
        assert!(text.contains("chatterbox_store_commit_seconds_bucket{le=\"0.005\"}"), "{text}");
        assert!(text.contains("# TYPE chatterbox_commit_batch_messages histogram"), "{text}");
    }
}
