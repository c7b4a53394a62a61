//! Fan-out pacing: a budget of socket writes per second for the live feed.
//!
//! Every commit the writer broadcasts is a *wave*: one write to each open connection, whatever
//! the number of messages in it (a connection writes all the frames waiting for it at once).
//! A write costs the same few microseconds of kernel time for one frame or for ten, so when
//! messages come faster than the machine can afford a wave each, it is cheaper to let them share
//! waves. The pacer charges each wave `connections / writes_per_sec` seconds and lets a wave go
//! only while the charges run at most [`BURST`] ahead of the clock (a GCRA, i.e. a token bucket
//! holding `BURST` worth of writes). Below the budget it never delays anything; above it, waves
//! are spaced evenly and messages that arrive meanwhile join the next one, so latency grows by at
//! most one wave interval (capped at [`MAX_WAVE_INTERVAL`]) while CPU per delivery falls.

use std::time::{Duration, Instant};

/// How far ahead of the clock the charges may run: bursts of waves this long are never delayed.
pub const BURST: Duration = Duration::from_millis(250);
/// The longest a single wave is charged, so latency stays bounded with very many connections.
pub const MAX_WAVE_INTERVAL: Duration = Duration::from_millis(100);

#[derive(Debug)]
pub struct WavePacer {
    /// Charge per connection written to; `None`: pacing is off.
    per_write: Option<Duration>,
    /// Theoretical arrival time: when the charges so far are paid off.
    paid_until: Option<Instant>,
}

impl WavePacer {
    /// A pacer allowing `writes_per_sec` socket writes per second (0: no pacing).
    pub fn new(writes_per_sec: u32) -> Self {
        let per_write = (writes_per_sec > 0).then(|| Duration::from_secs(1) / writes_per_sec);
        Self { per_write, paid_until: None }
    }

    /// How long the next wave must wait at `now` (zero while within budget).
    pub fn delay(&self, now: Instant) -> Duration {
        // Never charged (or pacing off: `charge` then records nothing): no wait.
        let Some(paid_until) = self.paid_until else { return Duration::ZERO };
        paid_until.checked_sub(BURST).map_or(Duration::ZERO, |allowed| allowed.saturating_duration_since(now))
    }

    /// Charges a wave sent at `now` to `connections` sockets.
    pub fn charge(&mut self, connections: usize, now: Instant) {
        let Some(per_write) = self.per_write else { return };
        let connections = u32::try_from(connections).unwrap_or(u32::MAX);
        let cost = per_write.saturating_mul(connections).min(MAX_WAVE_INTERVAL);
        let start = self.paid_until.map_or(now, |paid_until| paid_until.max(now));
        self.paid_until = Some(start + cost);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn under_budget_never_waits() {
        // 1000 connections, one wave every 50 ms: 20,000 writes/s against 40,000.
        let mut pacer = WavePacer::new(40_000);
        let start = Instant::now();
        for wave in 0..100 {
            let now = start + 50 * MS * wave;
            assert_eq!(pacer.delay(now), Duration::ZERO, "wave {wave}");
            pacer.charge(1000, now);
        }
    }

    #[test]
    fn a_burst_within_the_allowance_is_not_delayed() {
        let mut pacer = WavePacer::new(40_000);
        let now = Instant::now();
        // 25 ms per wave of 1000: the charges may run 250 ms ahead, so eleven back-to-back
        // waves go at once (the eleventh starts with ten paid ahead) and the twelfth waits.
        for wave in 0..11 {
            assert_eq!(pacer.delay(now), Duration::ZERO, "wave {wave}");
            pacer.charge(1000, now);
        }
        assert_eq!(pacer.delay(now), 25 * MS);
    }

    #[test]
    fn over_budget_waves_are_spaced_by_their_cost() {
        let mut pacer = WavePacer::new(40_000);
        let mut now = Instant::now();
        for _ in 0..11 {
            pacer.charge(1000, now);
        }
        // From now on a wave of 1000 may go every 25 ms.
        for _ in 0..20 {
            let wait = pacer.delay(now);
            assert_eq!(wait, 25 * MS);
            now += wait;
            assert_eq!(pacer.delay(now), Duration::ZERO);
            pacer.charge(1000, now);
        }
    }

    #[test]
    fn small_audiences_cost_little() {
        // Four connections: 0.1 ms per wave, 2,501 waves before the allowance is used up.
        let mut pacer = WavePacer::new(40_000);
        let now = Instant::now();
        for _ in 0..2501 {
            assert_eq!(pacer.delay(now), Duration::ZERO);
            pacer.charge(4, now);
        }
        assert!(pacer.delay(now) > Duration::ZERO);
    }

    #[test]
    fn one_wave_is_charged_at_most_the_cap() {
        let mut pacer = WavePacer::new(1);
        let now = Instant::now();
        for _ in 0..3 {
            pacer.charge(1_000_000, now);
        }
        assert_eq!(pacer.delay(now), 3 * MAX_WAVE_INTERVAL - BURST);
    }

    #[test]
    fn zero_turns_pacing_off() {
        let mut pacer = WavePacer::new(0);
        let now = Instant::now();
        for _ in 0..1000 {
            pacer.charge(1_000_000, now);
            assert_eq!(pacer.delay(now), Duration::ZERO);
        }
    }

    #[test]
    fn idle_time_restores_the_allowance() {
        let mut pacer = WavePacer::new(40_000);
        let now = Instant::now();
        for _ in 0..20 {
            pacer.charge(1000, now);
        }
        assert!(pacer.delay(now) > Duration::ZERO);
        assert_eq!(pacer.delay(now + Duration::from_secs(1)), Duration::ZERO);
    }
}
