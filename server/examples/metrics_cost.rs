//! What recording metrics costs, per call and per chat message: the calls the message path makes
//! (`message_accepted` and `moderation` per message; `commit` and `delivered` at most once per
//! message, once per batch in fact), each timed over millions of calls on this machine. Run by
//! `scripts/bench.sh` (8.) beside the fan-out with metrics on and off, whose noise is larger than
//! the cost itself.
//!
//!   cargo run --release -p server --example metrics_cost [-- --json FILE]

use server::metrics::{self, Moderated};
use std::hint::black_box;
use std::time::{Duration, Instant};

const CALLS: u32 = 5_000_000;

/// Nanoseconds per call of `record`, the best of three rounds.
fn ns_per_call(mut record: impl FnMut()) -> f64 {
    (0..3)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..CALLS {
                record();
            }
            started.elapsed().as_nanos() as f64 / f64::from(CALLS)
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let json = std::env::args().skip_while(|arg| arg != "--json").nth(1);
    metrics::enable();
    let took = Duration::from_micros(700);
    let accepted = ns_per_call(|| metrics::message_accepted(black_box(1)));
    let moderation = ns_per_call(|| metrics::moderation(black_box(Moderated::Passed)));
    let commit = ns_per_call(|| metrics::commit(black_box(took), black_box(16)));
    let delivered = ns_per_call(|| metrics::delivered(black_box(Some(took)), black_box(16)));
    let per_message = accepted + moderation + commit + delivered;
    println!("message_accepted {accepted:.1} ns, moderation {moderation:.1} ns, commit {commit:.1} ns, delivered {delivered:.1} ns");
    println!("at most {per_message:.1} ns per message (one commit and one release each, the worst case)");
    if let Some(path) = json {
        let line = serde_json::json!({
            "scenario": "metrics_cost",
            "label": "metrics-cost",
            "accepted_ns": accepted,
            "moderation_ns": moderation,
            "commit_ns": commit,
            "delivered_ns": delivered,
            "ns_per_message": per_message,
        });
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).expect("results file");
        use std::io::Write;
        writeln!(file, "{line}").expect("results written");
    }
}
