//! Fan-out pacing: waves share socket writes only while the CPU is busy.
//!
//! Every commit the writer broadcasts is a *wave*: one write to each open connection, whatever
//! the number of messages in it (a connection writes all the frames waiting for it at once).
//! A write costs the same few microseconds of kernel time for one frame or for ten, so when the
//! machine cannot afford a wave per commit, it is cheaper to let commits share waves.
//!
//! A quiet server sends every commit at once: nothing is held while the process uses less than
//! [`Pacing::busy_share`] of the CPU it can get. The [`Pressure`] gauge reads the process's CPU
//! time and the machine's idle time every [`WINDOW`]. While the machine has room to spare (it was
//! idle at least [`CONTENDED_IDLE`] of its cores' time), the process can get its cores, and the
//! share is of them: pacing would only add latency. On a machine that other processes, or other
//! guests of the host, keep full, the process can get only what it used plus what nobody used,
//! and the share is of that: a server at 84 % of one core of two on a full machine has all it can
//! get, and paces. The gauge engages the [`Budget`] when the share is reached; it lets go only when
//! the CPU the fan-out *would* use unpaced (what it used, plus the writes it saved at the measured
//! cost of a write) falls below [`RELEASE`] of the share, so pacing does not switch off merely
//! because it worked.
//!
//! While engaged, the budget charges each wave `connections / writes_per_sec` seconds and lets a
//! wave go only while the charges run at most [`BURST`] ahead of the clock (a GCRA, i.e. a token
//! bucket holding `BURST` worth of writes). Waves are then spaced evenly and messages that arrive
//! meanwhile join the next one: latency grows by at most one wave interval (capped at
//! [`MAX_WAVE_INTERVAL`]) while CPU per delivery falls.

use std::time::{Duration, Instant};

/// How far ahead of the clock the charges may run: bursts of waves this long are never delayed.
pub const BURST: Duration = Duration::from_millis(250);
/// The longest a single wave is charged, so latency stays bounded with very many connections.
pub const MAX_WAVE_INTERVAL: Duration = Duration::from_millis(100);
/// How often the CPU is read: how fast pacing engages when a load arrives.
pub const WINDOW: Duration = Duration::from_millis(100);
/// Pacing lets go when the unpaced estimate falls below this fraction of the busy share.
pub const RELEASE: f64 = 0.8;
/// The machine counts as full (contended) while it was idle less than this share of its cores'
/// time: only then is the process's share taken of what it could get rather than of its cores.
pub const CONTENDED_IDLE: f64 = 0.1;

/// The pacing settings.
#[derive(Debug, Clone, Copy)]
pub struct Pacing {
    /// Socket writes per second while the CPU is busy; 0: never pace.
    pub writes_per_sec: u32,
    /// The share of the CPU the process can get (0.0..=1.0) at which the CPU counts as busy;
    /// 0.0: always.
    pub busy_share: f64,
    /// The cores the process may use.
    pub cores: usize,
}

/// Cumulative CPU figures, read by the writer when the gauge asks for them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Reading {
    /// The whole process's CPU time (user + system) so far.
    pub process_cpu: Duration,
    /// Time the fan-out has spent writing waves into sockets so far.
    pub writing: Duration,
    /// Time the machine's CPUs have been idle so far, summed over them (`None`: unknown; the
    /// process then counts as having its cores to itself).
    pub idle: Option<Duration>,
}

/// Decides how long stored messages wait before they go out as a wave.
#[derive(Debug)]
pub struct WavePacer {
    budget: Option<Budget>,
    pressure: Pressure,
}

impl WavePacer {
    /// A pacer with `settings`, starting its first window at `now` with `reading`.
    pub fn new(settings: Pacing, now: Instant, reading: Reading) -> Self {
        let budget = (settings.writes_per_sec > 0).then(|| Budget::new(settings.writes_per_sec));
        Self { budget, pressure: Pressure::new(settings, now, reading) }
    }

    /// How long the next wave must wait at `now`: zero unless the CPU is busy and the budget
    /// is spent.
    pub fn delay(&self, now: Instant) -> Duration {
        match &self.budget {
            Some(budget) if self.pressure.busy => budget.delay(now),
            _ => Duration::ZERO,
        }
    }

    /// Whether the gauge wants a new [`Reading`] at `now` (its window is over).
    pub fn wants_reading(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.pressure.window.started) >= WINDOW
    }

    /// Ends the gauge's window with `reading`: pacing engages or lets go.
    pub fn observe(&mut self, now: Instant, reading: Reading) {
        let was_busy = self.pressure.busy;
        self.pressure.observe(now, reading);
        if self.pressure.busy && !was_busy {
            if let Some(budget) = &mut self.budget {
                // No debt from the quiet time: the first busy waves go at once.
                budget.paid_until = None;
            }
        }
    }

    /// Records a wave sent at `now` to `connections` sockets, carrying `commits` commits (each
    /// would have been a wave of its own unpaced).
    pub fn charge(&mut self, connections: usize, commits: usize, now: Instant) {
        self.pressure.window.written += connections as u64;
        self.pressure.window.requested += (connections as u64).saturating_mul(commits.max(1) as u64);
        if let Some(budget) = self.budget.as_mut().filter(|_| self.pressure.busy) {
            budget.charge(connections, now);
        }
    }

    /// Whether pacing is engaged (the CPU is busy).
    pub fn engaged(&self) -> bool {
        self.pressure.busy && self.budget.is_some()
    }
}

/// The busy-CPU gauge: one window of readings at a time.
#[derive(Debug)]
pub struct Pressure {
    /// Busy at or above this share of the cores; below `busy_share * RELEASE` to let go.
    busy_share: f64,
    cores: f64,
    busy: bool,
    window: Window,
}

#[derive(Debug)]
struct Window {
    started: Instant,
    at_start: Reading,
    /// Socket writes the waves of this window would have cost had every commit been its own.
    requested: u64,
    /// Socket writes the waves of this window cost.
    written: u64,
}

impl Pressure {
    fn new(settings: Pacing, now: Instant, reading: Reading) -> Self {
        let busy_share = settings.busy_share.clamp(0.0, 1.0);
        Self {
            busy_share,
            cores: settings.cores.max(1) as f64,
            busy: busy_share == 0.0,
            window: Window { started: now, at_start: reading, requested: 0, written: 0 },
        }
    }

    fn observe(&mut self, now: Instant, reading: Reading) {
        let wall = now.saturating_duration_since(self.window.started).as_secs_f64();
        if wall > 0.0 && self.busy_share > 0.0 {
            let used = reading.process_cpu.saturating_sub(self.window.at_start.process_cpu).as_secs_f64();
            let writing = reading.writing.saturating_sub(self.window.at_start.writing).as_secs_f64();
            let per_write = if self.window.written > 0 { writing / self.window.written as f64 } else { 0.0 };
            let saved = self.window.requested.saturating_sub(self.window.written) as f64;
            // What the process could have had: its cores while the machine has room to spare;
            // on a full machine, what it used plus what nobody used.
            let cores = wall * self.cores;
            let available = match (reading.idle, self.window.at_start.idle) {
                (Some(idle), Some(before)) => {
                    let idle = idle.saturating_sub(before).as_secs_f64();
                    if idle < CONTENDED_IDLE * cores {
                        (used + idle).min(cores)
                    } else {
                        cores
                    }
                }
                _ => cores,
            };
            let wanted = used + saved * per_write;
            let unpaced = if wanted > 0.0 { wanted / available.max(f64::EPSILON) } else { 0.0 };
            let threshold = if self.busy { self.busy_share * RELEASE } else { self.busy_share };
            self.busy = unpaced >= threshold;
        }
        self.window = Window { started: now, at_start: reading, requested: 0, written: 0 };
    }
}

/// The write budget: a GCRA over socket writes.
#[derive(Debug)]
struct Budget {
    /// Charge per connection written to.
    per_write: Duration,
    /// Theoretical arrival time: when the charges so far are paid off.
    paid_until: Option<Instant>,
}

impl Budget {
    fn new(writes_per_sec: u32) -> Self {
        Self { per_write: Duration::from_secs(1) / writes_per_sec.max(1), paid_until: None }
    }

    fn delay(&self, now: Instant) -> Duration {
        let Some(paid_until) = self.paid_until else { return Duration::ZERO };
        paid_until.checked_sub(BURST).map_or(Duration::ZERO, |allowed| allowed.saturating_duration_since(now))
    }

    fn charge(&mut self, connections: usize, now: Instant) {
        let connections = u32::try_from(connections).unwrap_or(u32::MAX);
        let cost = self.per_write.saturating_mul(connections).min(MAX_WAVE_INTERVAL);
        let start = self.paid_until.map_or(now, |paid_until| paid_until.max(now));
        self.paid_until = Some(start + cost);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// A pacer whose CPU always counts as busy (the budget alone decides).
    fn always_busy(writes_per_sec: u32) -> (WavePacer, Instant) {
        let now = Instant::now();
        let settings = Pacing { writes_per_sec, busy_share: 0.0, cores: 2 };
        (WavePacer::new(settings, now, Reading::default()), now)
    }

    /// A pacer busy from half of two cores, and the time its first window starts.
    fn gauged() -> (WavePacer, Instant) {
        let now = Instant::now();
        let settings = Pacing { writes_per_sec: 40_000, busy_share: 0.5, cores: 2 };
        (WavePacer::new(settings, now, Reading::default()), now)
    }

    fn reading(process_ms: u64, writing_ms: u64) -> Reading {
        Reading {
            process_cpu: Duration::from_millis(process_ms),
            writing: Duration::from_millis(writing_ms),
            idle: None,
        }
    }

    /// A reading with the machine's idle time so far.
    fn with_idle(process_ms: u64, writing_ms: u64, idle_ms: u64) -> Reading {
        Reading { idle: Some(Duration::from_millis(idle_ms)), ..reading(process_ms, writing_ms) }
    }

    #[test]
    fn a_process_that_cannot_get_more_is_busy_whatever_its_share_of_the_cores() {
        let now = Instant::now();
        let settings = Pacing { writes_per_sec: 40_000, busy_share: 0.5, cores: 2 };
        let mut pacer = WavePacer::new(settings, now, with_idle(0, 0, 1000));
        // 84 ms of CPU in 100 ms on two cores (42 %), but the machine was never idle: others
        // took the rest, so the process had all it could get.
        pacer.observe(now + 100 * MS, with_idle(84, 40, 1000));
        assert!(pacer.engaged());
        // The same 84 ms with 100 ms of idle CPU left: room to spare, 42 % of the cores.
        let mut pacer = WavePacer::new(settings, now, with_idle(0, 0, 1000));
        pacer.observe(now + 100 * MS, with_idle(84, 40, 1100));
        assert!(!pacer.engaged());
        // 70 ms of CPU while the machine was idle 40 ms of 200 (others use the rest, but there is
        // room): 35 % of the cores, not 64 % of the 110 ms it used and could have had. Pacing
        // would only add latency here (1000 listeners x 100 msgs/s beside its load generator).
        let mut pacer = WavePacer::new(settings, now, with_idle(0, 0, 0));
        pacer.observe(now + 100 * MS, with_idle(70, 30, 40));
        assert!(!pacer.engaged());
        // Idle 15 ms of 200 (under a tenth): a full machine, 70 of the 85 ms it could have had.
        let mut pacer = WavePacer::new(settings, now, with_idle(0, 0, 0));
        pacer.observe(now + 100 * MS, with_idle(70, 30, 15));
        assert!(pacer.engaged());
        // Idle time is capped by the cores: 30 ms of CPU on an idle machine is 15 %.
        let mut pacer = WavePacer::new(settings, now, with_idle(0, 0, 0));
        pacer.observe(now + 100 * MS, with_idle(30, 10, 400));
        assert!(!pacer.engaged());
    }

    #[test]
    fn paced_on_a_full_machine_it_lets_go_once_the_machine_has_room() {
        let now = Instant::now();
        let settings = Pacing { writes_per_sec: 40_000, busy_share: 0.5, cores: 2 };
        let mut pacer = WavePacer::new(settings, now, with_idle(0, 0, 0));
        pacer.observe(now + 100 * MS, with_idle(60, 30, 0));
        assert!(pacer.engaged());
        // Paced, 2 waves carrying 4 commits (2000 writes saved at 5 us: 10 ms); the process used
        // 20 ms and the machine was idle 120 ms: room to spare, 30 ms of 200, 15 %.
        pacer.charge(1000, 2, now + 150 * MS);
        pacer.charge(1000, 2, now + 180 * MS);
        pacer.observe(now + 200 * MS, with_idle(80, 40, 120));
        assert!(!pacer.engaged());
    }

    #[test]
    fn under_budget_never_waits() {
        // 1000 connections, one wave every 50 ms: 20,000 writes/s against 40,000.
        let (mut pacer, start) = always_busy(40_000);
        for wave in 0..100 {
            let now = start + 50 * MS * wave;
            assert_eq!(pacer.delay(now), Duration::ZERO, "wave {wave}");
            pacer.charge(1000, 1, now);
        }
    }

    #[test]
    fn a_burst_within_the_allowance_is_not_delayed() {
        let (mut pacer, now) = always_busy(40_000);
        // 25 ms per wave of 1000: the charges may run 250 ms ahead, so eleven back-to-back
        // waves go at once (the eleventh starts with ten paid ahead) and the twelfth waits.
        for wave in 0..11 {
            assert_eq!(pacer.delay(now), Duration::ZERO, "wave {wave}");
            pacer.charge(1000, 1, now);
        }
        assert_eq!(pacer.delay(now), 25 * MS);
    }

    #[test]
    fn over_budget_waves_are_spaced_by_their_cost() {
        let (mut pacer, mut now) = always_busy(40_000);
        for _ in 0..11 {
            pacer.charge(1000, 1, now);
        }
        // From now on a wave of 1000 may go every 25 ms.
        for _ in 0..20 {
            let wait = pacer.delay(now);
            assert_eq!(wait, 25 * MS);
            now += wait;
            assert_eq!(pacer.delay(now), Duration::ZERO);
            pacer.charge(1000, 1, now);
        }
    }

    #[test]
    fn small_audiences_cost_little() {
        // Four connections: 0.1 ms per wave, 2,501 waves before the allowance is used up.
        let (mut pacer, now) = always_busy(40_000);
        for _ in 0..2501 {
            assert_eq!(pacer.delay(now), Duration::ZERO);
            pacer.charge(4, 1, now);
        }
        assert!(pacer.delay(now) > Duration::ZERO);
    }

    #[test]
    fn one_wave_is_charged_at_most_the_cap() {
        let (mut pacer, now) = always_busy(1);
        for _ in 0..3 {
            pacer.charge(1_000_000, 1, now);
        }
        assert_eq!(pacer.delay(now), 3 * MAX_WAVE_INTERVAL - BURST);
    }

    #[test]
    fn zero_writes_per_sec_turns_pacing_off() {
        let (mut pacer, now) = always_busy(0);
        for _ in 0..1000 {
            pacer.charge(1_000_000, 1, now);
            assert_eq!(pacer.delay(now), Duration::ZERO);
        }
        assert!(!pacer.engaged());
    }

    #[test]
    fn idle_time_restores_the_allowance() {
        let (mut pacer, now) = always_busy(40_000);
        for _ in 0..20 {
            pacer.charge(1000, 1, now);
        }
        assert!(pacer.delay(now) > Duration::ZERO);
        assert_eq!(pacer.delay(now + Duration::from_secs(1)), Duration::ZERO);
    }

    #[test]
    fn a_quiet_process_is_never_paced_however_many_writes() {
        let (mut pacer, start) = gauged();
        // 100 ms in which the process used 60 ms of CPU on two cores (30 %): quiet.
        for wave in 0..10 {
            pacer.charge(1000, 1, start + 10 * MS * wave as u32);
        }
        assert!(pacer.wants_reading(start + 100 * MS));
        pacer.observe(start + 100 * MS, reading(60, 50));
        assert!(!pacer.engaged());
        for _ in 0..100 {
            pacer.charge(1000, 1, start + 100 * MS);
            assert_eq!(pacer.delay(start + 100 * MS), Duration::ZERO);
        }
    }

    #[test]
    fn a_busy_process_is_paced_from_the_next_window() {
        let (mut pacer, start) = gauged();
        assert!(!pacer.wants_reading(start + 99 * MS));
        // 120 ms of CPU in 100 ms on two cores: 60 %, busy.
        pacer.observe(start + 100 * MS, reading(120, 90));
        assert!(pacer.engaged());
        let now = start + 100 * MS;
        // The quiet time left no debt: the allowance is whole.
        for _ in 0..11 {
            assert_eq!(pacer.delay(now), Duration::ZERO);
            pacer.charge(1000, 1, now);
        }
        assert_eq!(pacer.delay(now), 25 * MS);
    }

    #[test]
    fn pacing_holds_while_the_saved_writes_would_make_the_process_busy() {
        let (mut pacer, start) = gauged();
        pacer.observe(start + 100 * MS, reading(150, 120));
        assert!(pacer.engaged());
        // Paced: 4 waves of 1000 carrying 40 commits; the process used 30 ms, 20 of them writing
        // (5 us a write). Unpaced, the 36,000 saved writes would have cost 180 ms more: 105 %.
        for _ in 0..4 {
            pacer.charge(1000, 10, start + 150 * MS);
        }
        pacer.observe(start + 200 * MS, reading(180, 140));
        assert!(pacer.engaged(), "pacing must not switch off merely because it worked");
    }

    #[test]
    fn pacing_lets_go_when_the_load_would_fit_unpaced() {
        let (mut pacer, start) = gauged();
        pacer.observe(start + 100 * MS, reading(150, 120));
        assert!(pacer.engaged());
        // Paced: 2 waves of 1000 carrying 4 commits; 20 ms used, 10 ms writing (5 us a write).
        // Unpaced, 2000 more writes: 10 ms more, 30 ms in 100 ms on two cores = 15 %: quiet.
        pacer.charge(1000, 2, start + 150 * MS);
        pacer.charge(1000, 2, start + 180 * MS);
        pacer.observe(start + 200 * MS, reading(170, 130));
        assert!(!pacer.engaged());
        assert_eq!(pacer.delay(start + 200 * MS), Duration::ZERO);
    }

    #[test]
    fn between_the_two_thresholds_the_state_stays() {
        let (mut pacer, start) = gauged();
        // 45 %: below the busy share, quiet stays quiet.
        pacer.observe(start + 100 * MS, reading(90, 0));
        assert!(!pacer.engaged());
        pacer.observe(start + 200 * MS, reading(200, 0));
        assert!(pacer.engaged());
        // 45 % again: above 80 % of the share (40 %), busy stays busy.
        pacer.observe(start + 300 * MS, reading(290, 0));
        assert!(pacer.engaged());
        pacer.observe(start + 400 * MS, reading(360, 0));
        assert!(!pacer.engaged());
    }
}
