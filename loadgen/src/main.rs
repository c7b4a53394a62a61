//! `loadgen`: the ChatterBox load generator and benchmark reporter.
//!
//! It speaks only the public contract (`docs/api.md`, `docs/protocol.md`): it registers and logs
//! in a few accounts over REST, opens WebSocket connections with `?token=`, sends `message`
//! frames and reads what the server broadcasts (and uploads and downloads files). Scenarios:
//! `fanout`, `rooms`, `ingest`, `idle`, `history`, `search`, `actions`, `files`, `login`, `storm`
//! (see `USAGE`), plus `rss` (the server's memory now) and `report` (writes the results section
//! of `docs/performance.md` from the JSON lines the scenarios emit).
//!
//! Safety rails: loopback addresses only; every loop is bounded in count and time, so the tool
//! always stops by itself; it raises its own open-files limit to the hard limit and spreads
//! connections over several 127.0.0.x source addresses so large N does not exhaust one address's
//! ephemeral ports.

mod accounts;
mod args;
mod conn;
mod http;
mod procfs;
mod report;
mod scenario;
mod stats;
mod ws;

use anyhow::{bail, Result};
use args::Args;
use scenario::{actions, fanout, files, history, idle, ingest, login, rooms, search, storm, Common};

const USAGE: &str = "\
loadgen: load generator for ChatterBox (public HTTP + WebSocket protocol, loopback only)

usage: loadgen COMMAND [--option value]...

commands:
  fanout   N listeners + S senders at an aggregate R msgs/s for T s: deliveries/s, latency
           p50/p99/p99.9/max (send time carried in each message), lost deliveries, dropped
           connections, server CPU per delivery
             --listeners N (100)  --senders S (4)  --rate R (20)  --duration T (20)  --drain S (10)
           on two nodes of a cluster: listeners alternate between --addr and --addr2 (half on
           each), senders too (the first on --addr2); accounts are made on --addr; server CPU
           is the sum of both nodes' (give both pids or neither)
             --addr2 HOST:PORT (loopback only)  --server-pid2 PID
  rooms    M public rooms of K members, one account and connection each (the first member
           creates the room, the others join it); every connection sends its share of an
           aggregate R msgs/s into its room for T s and reads: as fanout, each room counted on
           its own (every member must get every message of its room), plus messages of another
           room (misrouted); accounts and rooms are set up C at a time, each within L s
             --rooms M (100)  --room-size K (10)  --rate R (1000)  --duration T (20)  --drain S (10)
             --setup-concurrency C (16)  --setup-limit L (300)
  ingest   S senders as fast as acknowledgements allow, W messages in flight each:
           persisted (acknowledged) msgs/s
             --senders S (4)  --window W (256)  --duration T (10)  --drain S (10)
  idle     hold N connections: how many stay open, server RSS per connection (needs --server-pid)
             --connections N (1000)  --hold S (25)
  history  K sequential connects, each timed until the history frame is complete
             --samples K (1000)  --warmup K (20)
  actions  N listeners in general; R rounds of a message, its edit and a reaction to it, each
           waited for at every listener: delivery latency of each (per delivery, and to all)
             --listeners N (1000)  --rounds R (20, at most 25)
  search   K searches one after the other (GET /search), alternating one word and operators
           (a phrase, from:, in:, before:/after:), over a seeded database: latency of each kind
             --samples K (1000)  --warmup K (20)  --from USERNAME (seed)
  files    file uploads and downloads (issue 25), one account: N uploads of an M MiB file at once
           (server RSS read every 10 ms: peak growth per upload, needs --server-pid); K of them
           one after the other, each after writing M MiB into --files-dir as the server's local
           store does (staging file, 1 MiB writes, rename, no fsync): upload vs disk MiB/s; K
           uploads of a 12-megapixel JPEG (4000x3000, quality 90) against as many random bytes:
           the server's image processing; C clients on keep-alive connections downloading a
           file R times each: MiB/s and server CPU per MiB
             --concurrent N (4)  --upload-mib M (25)  --samples K (5)  --clients C (100)
             --downloads R (20)  --download-kib S (1024)  --files-dir DIR (system temp dir:
             give the server's files directory, or one on the same file system)
  login    a fanout with a burst of logins after a quiet phase: fanout p99 burst vs quiet
             --listeners N (1000)  --senders S (4)  --rate R (20)  --quiet S (10)
             --burst B (50)  --after S (3)  --burst-limit S (90)  --drain S (10)
  storm    catch-up storm: seed S large messages within the flood limit, then A accounts x K
           sockets each ask for /ws?since=0 and never read: handshakes accepted and refused
           (429/503), server RSS before, at its peak, held and after closing (needs --server-pid)
             --accounts A (50)  --sockets-per-account K (20)  --seed S (2000)
             --message-chars C (4000, about 7.5 KB)  --seeders N (20)  --seed-rate R (4.5/s)
             --seed-burst B (9)  --hold S (10)  --settle S (5)
  rss      print the server's resident memory (needs --server-pid)
  report   write the results section of a performance document from result lines
             --results FILE (JSON lines)  --out FILE  [--machine FILE (markdown, embedded as is)]

options of every scenario:
  --addr HOST:PORT        server address, loopback only (127.0.0.1:3000)
  --server-pid PID        the server process, for its CPU time (/proc/PID/stat) and RSS
                          (/proc/PID/status)
  --users K               accounts to register and log in, shared round-robin by the
                          connections (8; at least one per sender; rooms: one per
                          connection, whatever K)
  --prefix TEXT           username prefix (default: unique per run)
  --source-ips K          spread connections over 127.0.0.1..=127.0.0.K (N/4000 + 1)
  --connect-concurrency K WebSocket handshakes in flight at once (64)
  --threads K             load generator worker threads (2)
  --frame-work-us U       simulated client work per frame received, in microseconds (0): a
                          client that parses each frame spends several, and on a shared machine
                          that CPU is not the server's
  --label TEXT            name of the result (the report matches targets by label)
  --json FILE             also append the result line to FILE

Each scenario prints progress to stderr and one JSON result line to stdout. The server's flood
control is per account: raise CHATTERBOX_FLOOD_BURST / CHATTERBOX_FLOOD_PER_SEC for fanout and
ingest runs (and CHATTERBOX_UPLOADS_BURST / CHATTERBOX_UPLOADS_PER_SEC for files runs).
scripts/bench.sh runs the standard set against a release build.
";

fn main() {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(error) => {
            eprintln!("error: {error:#}\n\n{USAGE}");
            std::process::exit(2);
        }
    };
    if args.help || args.command.is_empty() {
        print!("{USAGE}");
        std::process::exit(if args.help { 0 } else { 2 });
    }
    if let Err(error) = run(&args) {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}

/// A scenario with its parameters, validated before any work starts.
enum Job {
    Fanout(fanout::Params),
    Rooms(rooms::Params),
    Ingest(ingest::Params),
    Idle(idle::Params),
    History(history::Params),
    Search(search::Params),
    Actions(actions::Params),
    Files(files::Params),
    Login(login::Params),
    Storm(storm::Params),
    Rss,
}

fn run(args: &Args) -> Result<()> {
    if args.command == "report" {
        let params = report::Params::from_args(args)?;
        args.finish()?;
        return report::run(&params);
    }
    let (job, connections) = parse_job(args)?;
    let common = Common::from_args(args, connections)?;
    let threads: usize = args.get("threads", 2)?;
    args.finish()?;
    let limit = procfs::raise_open_files_limit();
    if connections + 100 > limit as usize {
        bail!("{connections} connections need more open files than the limit of {limit}");
    }
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(threads.clamp(1, 64)).enable_all().build()?;
    eprintln!("loadgen {} against {}", args.command, common.addr);
    runtime.block_on(async {
        match job {
            Job::Fanout(params) => fanout::run(&common, params).await,
            Job::Rooms(params) => rooms::run(&common, params).await,
            Job::Ingest(params) => ingest::run(&common, params).await,
            Job::Idle(params) => idle::run(&common, params).await,
            Job::History(params) => history::run(&common, params).await,
            Job::Search(params) => search::run(&common, params).await,
            Job::Actions(params) => actions::run(&common, params).await,
            Job::Files(params) => files::run(&common, params).await,
            Job::Login(params) => login::run(&common, params).await,
            Job::Storm(params) => storm::run(&common, params).await,
            Job::Rss => rss(&common),
        }
    })?;
    // Do not wait for aborted connection tasks or blocking threads.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    Ok(())
}

/// The job named by the command, and how many connections it opens at most.
fn parse_job(args: &Args) -> Result<(Job, usize)> {
    Ok(match args.command.as_str() {
        "fanout" => {
            let p = fanout::Params::from_args(args)?;
            let n = p.listeners + p.senders;
            (Job::Fanout(p), n)
        }
        "rooms" => {
            let p = rooms::Params::from_args(args)?;
            let n = p.connections();
            (Job::Rooms(p), n)
        }
        "ingest" => {
            let p = ingest::Params::from_args(args)?;
            let n = p.senders;
            (Job::Ingest(p), n)
        }
        "idle" => {
            let p = idle::Params::from_args(args)?;
            let n = p.connections;
            (Job::Idle(p), n)
        }
        "history" => (Job::History(history::Params::from_args(args)?), 1),
        "search" => (Job::Search(search::Params::from_args(args)?), 1),
        "actions" => {
            let p = actions::Params::from_args(args)?;
            let n = p.listeners;
            (Job::Actions(p), n)
        }
        "files" => {
            let p = files::Params::from_args(args)?;
            let n = p.connections();
            (Job::Files(p), n)
        }
        "login" => {
            let p = login::Params::from_args(args)?;
            let n = p.fanout.listeners + p.fanout.senders + p.burst;
            (Job::Login(p), n)
        }
        "storm" => {
            let p = storm::Params::from_args(args)?;
            let n = p.connections();
            (Job::Storm(p), n)
        }
        "rss" => (Job::Rss, 0),
        other => bail!("unknown command {other:?} (see --help)"),
    })
}

/// `loadgen rss`: the server's resident memory now.
fn rss(common: &Common) -> Result<serde_json::Value> {
    let Some(kib) = common.server_rss_kib() else { bail!("rss needs --server-pid of a running server") };
    eprintln!("  server RSS {kib} KiB ({:.1} MiB)", kib as f64 / 1024.0);
    let mut fields = serde_json::Map::new();
    fields.insert("server_rss_kib".into(), kib.into());
    if let Some((anon, file)) = common.server.and_then(|server| server.rss_split_kib().ok()) {
        eprintln!("  of which anonymous {anon} KiB, file pages {file} KiB");
        fields.insert("server_rss_anon_kib".into(), anon.into());
        fields.insert("server_rss_file_kib".into(), file.into());
    }
    common.emit("rss", "server RSS".into(), fields)
}
