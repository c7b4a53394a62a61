//! Latency recording: a process-wide monotonic clock, lock-free log-linear histograms, and a
//! timeline of histograms indexed by the second a message was *sent* (so a scenario can compare
//! the latency of messages sent in different phases, e.g. before and during a login burst).
//!
//! The histogram keeps 64 linear sub-buckets per power of two: every recorded value is known to
//! within 1/64 (1.6 %), and quantiles are reported as the upper edge of their bucket, never lower
//! than the truth.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::OnceLock;
use std::time::Instant;

static BASE: OnceLock<Instant> = OnceLock::new();

/// Nanoseconds on the load generator's monotonic clock (0 = first use in this process). Every
/// message carries this value as its send time; receivers subtract it from their own reading.
pub fn now_ns() -> u64 {
    BASE.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

const SUB_BITS: u32 = 6;
const SUB: usize = 1 << SUB_BITS;
/// Values below `SUB` are exact; then 64 sub-buckets for each of the 58 remaining octaves.
const BUCKETS: usize = (64 - SUB_BITS as usize + 1) * SUB;

fn bucket_of(value: u64) -> usize {
    if value < SUB as u64 {
        return value as usize;
    }
    let msb = 63 - value.leading_zeros();
    let shift = msb - SUB_BITS;
    let sub = ((value >> shift) as usize) - SUB;
    (shift as usize + 1) * SUB + sub
}

/// The largest value that falls in bucket `index`.
fn upper_edge(index: usize) -> u64 {
    if index < SUB {
        return index as u64;
    }
    let shift = (index / SUB - 1) as u32;
    let lower = ((SUB + index % SUB) as u64) << shift;
    lower + ((1u64 << shift) - 1)
}

/// A histogram many tasks record into at once (relaxed atomic increments).
pub struct Histogram {
    counts: Box<[AtomicU64]>,
    max: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self { counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(), max: AtomicU64::new(0) }
    }
}

impl Histogram {
    pub fn record(&self, value: u64) {
        self.counts[bucket_of(value)].fetch_add(1, Relaxed);
        // `fetch_max` always writes the cache line, which both worker threads share; the
        // maximum rarely changes, so read first.
        if value > self.max.load(Relaxed) {
            self.max.fetch_max(value, Relaxed);
        }
    }

    /// Adds this histogram's current counts to `snapshot`.
    pub fn add_to(&self, snapshot: &mut Snapshot) {
        for (sum, count) in snapshot.counts.iter_mut().zip(self.counts.iter()) {
            let count = count.load(Relaxed);
            *sum += count;
            snapshot.total += count;
        }
        snapshot.max = snapshot.max.max(self.max.load(Relaxed));
    }

    pub fn snapshot(&self) -> Snapshot {
        let mut snapshot = Snapshot::default();
        self.add_to(&mut snapshot);
        snapshot
    }
}

/// A plain copy of one or more histograms, for reading quantiles.
#[derive(Clone)]
pub struct Snapshot {
    counts: Vec<u64>,
    total: u64,
    max: u64,
}

impl Default for Snapshot {
    fn default() -> Self {
        Self { counts: vec![0; BUCKETS], total: 0, max: 0 }
    }
}

impl Snapshot {
    pub fn count(&self) -> u64 {
        self.total
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    /// The value at quantile `q` (0..=1): the upper edge of its bucket, capped at the maximum.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (index, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return upper_edge(index).min(self.max);
            }
        }
        self.max
    }

    /// p50/p99/p99.9/max in milliseconds, as JSON fields with a common prefix.
    pub fn to_json(&self, prefix: &str) -> serde_json::Map<String, serde_json::Value> {
        let mut map = serde_json::Map::new();
        let ms = |ns: u64| serde_json::json!(round3(ns as f64 / 1e6));
        map.insert(format!("{prefix}samples"), self.total.into());
        map.insert(format!("{prefix}p50_ms"), ms(self.quantile(0.50)));
        map.insert(format!("{prefix}p99_ms"), ms(self.quantile(0.99)));
        map.insert(format!("{prefix}p999_ms"), ms(self.quantile(0.999)));
        map.insert(format!("{prefix}max_ms"), ms(self.max));
        map
    }

    /// One human-readable line: `p50 .. p99 .. p99.9 .. max .. ms (n samples)`.
    pub fn describe(&self) -> String {
        let ms = |ns: u64| ns as f64 / 1e6;
        format!(
            "p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms ({} samples)",
            ms(self.quantile(0.5)),
            ms(self.quantile(0.99)),
            ms(self.quantile(0.999)),
            ms(self.max()),
            self.count()
        )
    }
}

pub fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

/// `20` rather than `20.0` for whole numbers (tidier JSON and labels).
pub fn whole_or_fraction(value: f64) -> serde_json::Value {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        serde_json::json!(value as i64)
    } else {
        serde_json::json!(value)
    }
}

/// Latency histograms indexed by the whole second (since the run's start) a message was sent.
pub struct Timeline {
    start_ns: AtomicU64,
    seconds: Vec<Histogram>,
}

impl Timeline {
    /// A timeline starting at `start_ns` (a `now_ns()` reading) covering `seconds` seconds; later
    /// sends land in the last slot.
    pub fn new(start_ns: u64, seconds: usize) -> Self {
        Self {
            start_ns: AtomicU64::new(start_ns),
            seconds: (0..seconds.max(1)).map(|_| Histogram::default()).collect(),
        }
    }

    /// Moves second 0 to `start_ns` (call before the first message is sent).
    pub fn set_start(&self, start_ns: u64) {
        self.start_ns.store(start_ns, Relaxed);
    }

    /// Records the latency of a message sent at `sent_ns` and received at `received_ns`.
    pub fn record(&self, sent_ns: u64, received_ns: u64) {
        let second = (sent_ns.saturating_sub(self.start_ns.load(Relaxed)) / 1_000_000_000) as usize;
        let slot = second.min(self.seconds.len() - 1);
        self.seconds[slot].record(received_ns.saturating_sub(sent_ns));
    }

    /// Every message sent in seconds `from..to` (clamped to the timeline).
    pub fn window(&self, from: usize, to: usize) -> Snapshot {
        let mut snapshot = Snapshot::default();
        let to = to.min(self.seconds.len());
        for histogram in self.seconds.get(from.min(to)..to).unwrap_or(&[]) {
            histogram.add_to(&mut snapshot);
        }
        snapshot
    }

    pub fn all(&self) -> Snapshot {
        self.window(0, self.seconds.len())
    }

    /// The second whose messages had the highest p99, with that p99 (ns); `None` if empty.
    pub fn slowest_second(&self) -> Option<(usize, u64)> {
        (0..self.seconds.len())
            .map(|second| (second, self.seconds[second].snapshot()))
            .filter(|(_, snapshot)| snapshot.count() > 0)
            .map(|(second, snapshot)| (second, snapshot.quantile(0.99)))
            .max_by_key(|&(_, p99)| p99)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_tight() {
        let mut previous = 0;
        for value in 0..20_000u64 {
            let index = bucket_of(value);
            assert!(index >= previous, "{value}");
            previous = index;
        }
        for value in (0..20_000u64).chain((0..64).map(|s| 1u64 << s)).chain([u64::MAX]) {
            let index = bucket_of(value);
            assert!(index < BUCKETS);
            assert!(upper_edge(index) >= value, "{value}");
            assert!(upper_edge(index) - value <= value / 64 + 1, "{value}");
        }
    }

    #[test]
    fn quantiles() {
        let h = Histogram::default();
        for v in 1..=1000u64 {
            h.record(v * 1000);
        }
        let s = h.snapshot();
        assert_eq!(s.count(), 1000);
        let p50 = s.quantile(0.5);
        assert!((500_000..=508_000).contains(&p50), "{p50}");
        assert_eq!(s.quantile(1.0), 1_000_000);
        assert_eq!(s.max(), 1_000_000);
    }

    #[test]
    fn timeline_windows() {
        let t = Timeline::new(1_000, 4);
        t.record(1_000, 2_000);
        t.record(1_000 + 1_500_000_000, 1_000 + 1_500_000_000 + 5_000);
        t.record(1_000 + 9_000_000_000, 1_000 + 9_000_000_000 + 7_000);
        assert_eq!(t.window(0, 1).count(), 1);
        assert_eq!(t.window(1, 2).count(), 1);
        assert_eq!(t.window(3, 4).count(), 1);
        assert_eq!(t.all().count(), 3);
        assert_eq!(t.slowest_second().map(|(second, _)| second), Some(3));
    }
}
