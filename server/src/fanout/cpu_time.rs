//! What tells the fan-out's pacer whether the CPU is busy: the process's CPU time (user + system,
//! every thread; `getrusage` on Unix) and the machine's idle time (`/proc/stat` on Linux). The
//! process can use what it used plus what nobody used: on a machine that other processes (or
//! other guests of the host, as steal) keep busy, that is less than its cores. Without a
//! reading of the process's CPU, pacing only engages when it is set to engage always
//! (`fanout_pacing_cpu_percent = 0`); without the idle time, the process is taken to have its
//! cores to itself.

use std::time::Duration;

/// CPU time the whole process has used so far.
#[cfg(unix)]
pub fn process_cpu_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `usage` is a valid, writable rusage; RUSAGE_SELF is always a valid target.
    let status = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    if status != 0 {
        return Duration::ZERO;
    }
    // SAFETY: getrusage returned 0, so it filled the struct (zeroed before, in any case).
    let usage = unsafe { usage.assume_init() };
    let of = |time: libc::timeval| {
        Duration::from_secs(time.tv_sec.max(0) as u64) + Duration::from_micros(time.tv_usec.max(0) as u64)
    };
    of(usage.ru_utime) + of(usage.ru_stime)
}

/// No reading on this platform.
#[cfg(not(unix))]
pub fn process_cpu_time() -> Duration {
    Duration::ZERO
}

/// Time the machine's CPUs have been idle so far, summed over them (`idle` + `iowait` of the
/// `cpu` line of `/proc/stat`: time any process could have had); `None` where it cannot be read.
pub fn machine_idle_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    parse_idle(&stat).map(|ticks| Duration::from_secs_f64(ticks as f64 / ticks_per_second()))
}

/// `idle` + `iowait` (the 4th and 5th values) of the `cpu` line, in clock ticks.
fn parse_idle(stat: &str) -> Option<u64> {
    let line = stat.lines().find(|line| line.starts_with("cpu "))?;
    let mut values = line.split_whitespace().skip(4).map(|value| value.parse::<u64>().ok());
    Some(values.next()?? + values.next()??)
}

/// The kernel's clock ticks per second (`USER_HZ`), the unit of `/proc/stat`.
fn ticks_per_second() -> f64 {
    #[cfg(unix)]
    {
        // SAFETY: sysconf has no preconditions.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        if ticks > 0 {
            return ticks as f64;
        }
    }
    100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_is_idle_plus_iowait_of_the_cpu_line() {
        let stat = "cpu  10 1 5 100 4 0 2 7 0 0\ncpu0 1 2 3 4 5 6 7 8\n";
        assert_eq!(parse_idle(stat), Some(104));
        assert_eq!(parse_idle("cpu0 1 2 3 4 5\n"), None);
        assert_eq!(parse_idle("cpu  1 2 3\n"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_machine_idle_time_is_read() {
        assert!(machine_idle_time().is_some());
    }

    #[cfg(unix)]
    #[test]
    fn cpu_time_grows_with_work() {
        let before = process_cpu_time();
        let started = std::time::Instant::now();
        let mut x = 0u64;
        while started.elapsed() < Duration::from_millis(50) {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        let used = process_cpu_time() - before;
        assert!(used >= Duration::from_millis(20), "50 ms of spinning read as {used:?}");
    }
}
