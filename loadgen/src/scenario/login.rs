//! `login`: a fanout runs quietly for Q seconds, then B logins are fired at once (bcrypt at the
//! server's cost, 12 by default) while it goes on; the fanout continues A seconds after the last
//! login answered. Compares the p99 latency of messages sent during the burst with that of the
//! quiet phase (without its first second, which warms up).

use super::fanout::{self, Fanout};
use super::Common;
use crate::accounts;
use crate::args::Args;
use crate::stats::round3;
use crate::stats::Histogram;
use anyhow::{ensure, Result};
use futures::future::join_all;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct Params {
    pub fanout: fanout::Params,
    /// Seconds of quiet fanout before the burst.
    pub quiet: f64,
    /// Logins fired at once.
    pub burst: usize,
    /// Seconds of fanout after the last login answered.
    pub after: f64,
    /// Seconds the burst may take at most.
    pub burst_limit: f64,
}

impl Params {
    pub fn from_args(args: &Args) -> Result<Self> {
        let quiet: f64 = args.get("quiet", 10.0)?;
        let after: f64 = args.get("after", 3.0)?;
        let burst_limit: f64 = args.get("burst-limit", 90.0)?;
        let fanout = fanout::Params {
            listeners: args.get("listeners", 1000)?,
            senders: args.get("senders", 4)?,
            rate: args.get("rate", 20.0)?,
            duration: quiet + burst_limit + after,
            drain: args.get("drain", 10.0)?,
            second: None,
        };
        fanout.check()?;
        let params = Self { fanout, quiet, burst: args.get("burst", 50)?, after, burst_limit };
        ensure!(params.quiet >= 2.0 && params.quiet <= 600.0, "--quiet must be in 2..=600");
        ensure!((1..=1000).contains(&params.burst), "--burst must be 1..=1000");
        ensure!((0.0..=600.0).contains(&params.after), "--after must be in 0..=600");
        Ok(params)
    }
}

/// `loadgen login`.
pub async fn run(common: &Common, params: Params) -> Result<Value> {
    let accounts = common.accounts(common.users.max(params.fanout.senders)).await?;
    let mut fanout = Fanout::setup(common, &accounts, params.fanout.clone()).await?;
    eprintln!("  {}; quiet {} s, then {} logins at once", params.fanout.label(), params.quiet, params.burst);
    fanout.start(common);
    let start = fanout.started().expect("started");
    tokio::time::sleep_until((start + Duration::from_secs_f64(params.quiet)).into()).await;

    let burst_started = Instant::now();
    let logins = (0..params.burst).map(|i| accounts::login(common.addr, &accounts.names[i % accounts.names.len()]));
    let results = tokio::time::timeout(Duration::from_secs_f64(params.burst_limit), join_all(logins)).await;
    let burst_seconds = burst_started.elapsed().as_secs_f64();
    let login_times = Histogram::default();
    let mut failed = params.burst;
    if let Ok(results) = results {
        failed = results.iter().filter(|r| r.is_err()).count();
        for (_, took) in results.into_iter().flatten() {
            login_times.record(took.as_nanos() as u64);
        }
    }
    tokio::time::sleep(Duration::from_secs_f64(params.after)).await;
    fanout.stop();

    // Whole seconds of send time: quiet = [1, Q) (the first second warms up), burst = [Q, end of
    // the burst rounded up).
    let quiet_end = params.quiet.floor() as usize;
    let burst_end = (params.quiet + burst_seconds).ceil() as usize;
    let quiet = fanout.timeline().window(1, quiet_end);
    let during = fanout.timeline().window(quiet_end, burst_end);
    let mut fields = fanout.finish().await?;
    fanout::summarize(&fields);
    let ratio = during.quantile(0.99) as f64 / quiet.quantile(0.99).max(1) as f64;
    eprintln!("  quiet: {}\n  burst: {}\n  burst/quiet p99 = {ratio:.2}", quiet.describe(), during.describe());
    eprintln!(
        "  {} logins in {burst_seconds:.2} s ({failed} failed): {}",
        params.burst,
        login_times.snapshot().describe()
    );
    fields.extend(quiet.to_json("quiet_"));
    fields.extend(during.to_json("burst_"));
    fields.extend(login_times.snapshot().to_json("login_"));
    fields.insert("burst_p99_ratio".into(), json!(round3(ratio)));
    fields.insert("logins".into(), json!(params.burst));
    fields.insert("login_failures".into(), json!(failed));
    fields.insert("burst_s".into(), json!(round3(burst_seconds)));
    let label = format!("login burst {} during {}", params.burst, params.fanout.label());
    common.emit("login", label, fields)
}
