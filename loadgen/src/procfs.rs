//! What the load generator reads from the kernel: a process's CPU time (`/proc/PID/stat`, user +
//! system, all threads) and resident memory (`VmRSS` of `/proc/PID/status`), and its own
//! open-files limit, which it raises to the hard limit so it can hold many sockets.

use anyhow::{bail, ensure, Context, Result};

/// A process to observe: the server (by pid) or the load generator itself.
#[derive(Clone, Copy, Debug)]
pub enum Process {
    Pid(u32),
    Myself,
}

impl Process {
    fn dir(self) -> String {
        match self {
            Process::Pid(pid) => format!("/proc/{pid}"),
            Process::Myself => "/proc/self".into(),
        }
    }

    /// User + system CPU seconds consumed so far by every thread of the process.
    pub fn cpu_seconds(self) -> Result<f64> {
        let path = format!("{}/stat", self.dir());
        let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        parse_cpu_ticks(&stat).map(|ticks| ticks as f64 / clock_ticks_per_second())
    }

    /// Seconds the process's threads have waited for a CPU while runnable (run-queue delay),
    /// summed over its threads now alive (`/proc/PID/task/*/schedstat`, second field, ns).
    pub fn run_delay_seconds(self) -> Result<f64> {
        let dir = format!("{}/task", self.dir());
        let mut nanos = 0u64;
        for task in std::fs::read_dir(&dir).with_context(|| format!("reading {dir}"))? {
            let path = task?.path().join("schedstat");
            // A thread may end between the listing and the read.
            if let Ok(text) = std::fs::read_to_string(&path) {
                nanos += parse_run_delay(&text).with_context(|| format!("unexpected {}", path.display()))?;
            }
        }
        Ok(nanos as f64 / 1e9)
    }

    /// Resident set size in KiB.
    pub fn rss_kib(self) -> Result<u64> {
        let path = format!("{}/status", self.dir());
        let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        parse_status_kib(&status, "VmRSS:").with_context(|| format!("no VmRSS in {path}"))
    }

    /// Resident memory split into anonymous pages (heap, stacks: the process's own memory) and
    /// file pages (the executable's and libraries' code and data, shared with the page cache),
    /// in KiB (`RssAnon`, `RssFile` of `/proc/PID/status`).
    pub fn rss_split_kib(self) -> Result<(u64, u64)> {
        let path = format!("{}/status", self.dir());
        let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        let field = |name| parse_status_kib(&status, name).with_context(|| format!("no {name} in {path}"));
        Ok((field("RssAnon:")?, field("RssFile:")?))
    }
}

/// CPU time of the whole machine so far, in clock ticks summed over every CPU (`/proc/stat`).
#[derive(Clone, Copy, Debug, Default)]
pub struct MachineTimes {
    pub total: u64,
    pub idle: u64,
    /// Time the hypervisor ran something else while this virtual machine wanted to run.
    pub steal: u64,
}

impl MachineTimes {
    pub fn now() -> Result<Self> {
        let stat = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
        parse_machine_times(&stat)
    }
}

/// The `cpu` line of `/proc/stat`: user nice system idle iowait irq softirq steal guest guest_nice
/// (guest time is already counted in user).
fn parse_machine_times(stat: &str) -> Result<MachineTimes> {
    let line = stat.lines().find(|l| l.starts_with("cpu ")).context("no cpu line in /proc/stat")?;
    let values: Vec<u64> = line.split_whitespace().skip(1).map(|v| v.parse().unwrap_or(0)).collect();
    ensure!(values.len() >= 8, "short cpu line in /proc/stat");
    Ok(MachineTimes { total: values[..8].iter().sum(), idle: values[3] + values[4], steal: values[7] })
}

/// utime + stime (fields 14 and 15) of a `/proc/PID/stat` line. The command name (field 2) may
/// contain spaces and parentheses, so fields are counted after its closing parenthesis.
fn parse_cpu_ticks(stat: &str) -> Result<u64> {
    let Some(after_name) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
        bail!("unexpected /proc stat format");
    };
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // fields[0] is field 3 (state), so utime (14) is fields[11] and stime (15) fields[12].
    let field = |i: usize| -> Result<u64> {
        fields.get(i).context("short /proc stat")?.parse::<u64>().context("bad /proc stat field")
    };
    Ok(field(11)? + field(12)?)
}

/// The run-queue delay (second field, in ns) of a `schedstat` line.
fn parse_run_delay(schedstat: &str) -> Option<u64> {
    schedstat.split_whitespace().nth(1)?.parse().ok()
}

fn parse_status_kib(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; returns the soft limit now in force.
pub fn raise_open_files_limit() -> libc::rlim_t {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `limit` is a valid, writable rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return 0;
    }
    if limit.rlim_cur < limit.rlim_max {
        let wanted = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
        // SAFETY: `wanted` is a valid rlimit; raising the soft limit up to the hard one is allowed.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) } == 0 {
            return wanted.rlim_cur;
        }
    }
    limit.rlim_cur
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_command_names() {
        let stat = "123 (my (odd) name) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 4 0";
        assert_eq!(parse_cpu_ticks(stat).unwrap(), 300);
    }

    #[test]
    fn parses_machine_times() {
        let t = parse_machine_times("cpu  10 1 5 100 4 0 2 7 0 0\ncpu0 1 2 3 4 5 6 7 8\n").unwrap();
        assert_eq!((t.total, t.idle, t.steal), (129, 104, 7));
        assert!(MachineTimes::now().unwrap().total > 0);
    }

    #[test]
    fn parses_run_delay() {
        assert_eq!(parse_run_delay("1234 5678 9\n"), Some(5678));
        assert_eq!(parse_run_delay("1234\n"), None);
        assert!(Process::Myself.run_delay_seconds().unwrap() >= 0.0);
    }

    #[test]
    fn reads_own_process() {
        assert!(Process::Myself.rss_kib().unwrap() > 0);
        assert!(Process::Myself.cpu_seconds().unwrap() >= 0.0);
        assert_eq!(parse_status_kib("VmRSS:\t  1234 kB\n", "VmRSS:"), Some(1234));
    }
}
