//! Reconnect storm: N clients connected and in the room, then the server is restarted under
//! them (SIGTERM here; `run.sh` starts it again on the same port and data, and writes the new
//! pid to `--pid-file`). Every client reconnects with one policy, whatever the server:
//! exponential backoff from 100 ms with full jitter, capped at 5 s. Measured: the time from the
//! stop until every client is back, and the restarted server's CPU until then.
//!
//! With the typed protocol, a sender posts a burst right before the stop and waits for its acks
//! (an ack follows the store's fsync). Each client rejoins with `after` = the last id it saw, and
//! the ids it got over the whole run (live, and in `joined`/`history` pages) are checked against
//! the acked ones: none missing, none twice. Other protocols keep nothing across a restart, so
//! they are measured for reconnection only.

mod client;
mod ids;

use std::cell::{Cell, RefCell};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use serde_json::{json, Value};
use tokio::sync::Semaphore;

use crate::conn::Proto;
use crate::stats::{self, ServerProc};

/// First backoff bound, and the cap.
const BACKOFF_BASE: Duration = Duration::from_millis(100);
const BACKOFF_CAP: Duration = Duration::from_secs(5);

#[derive(Debug, clap::Args)]
pub struct StormArgs {
    #[arg(long, default_value_t = 10_000)]
    pub clients: usize,
    /// Messages the sender posts right before the restart (typed protocol only).
    #[arg(long, default_value_t = 20)]
    pub burst: usize,
    /// Where the restarted server's pid appears (written by whoever restarts it).
    #[arg(long)]
    pub pid_file: PathBuf,
    /// Seconds the clients may take to come back before the scenario gives up on them.
    #[arg(long, default_value_t = 60.0)]
    pub max_secs: f64,
    /// Seconds to wait after everyone is back, for resumed pages still on their way.
    #[arg(long, default_value_t = 1.0)]
    pub settle: f64,
}

pub use crate::scenario::Common;

/// What the clients share with the scenario.
#[derive(Default)]
pub(crate) struct Shared {
    pub connected: Cell<usize>,
    pub failed: Cell<usize>,
    /// Set when the server is stopped: a connection that ends before is an early drop.
    pub stopped: Cell<bool>,
    pub early_drops: Cell<usize>,
    pub back: Cell<usize>,
    pub last_back: Cell<Option<Instant>>,
    pub attempts: Cell<u64>,
    pub failed_attempts: Cell<u64>,
    pub max_attempts: Cell<u32>,
    pub gave_up: Cell<usize>,
    pub first_error: RefCell<Option<String>>,
    /// Per client: every message id received, in order (typed protocol).
    pub seen: RefCell<Vec<Vec<u64>>>,
    /// Ids that came in the pages of the resumes, all clients together.
    pub resumed: Cell<u64>,
}

impl Shared {
    pub fn note_error(&self, e: String) {
        self.first_error.borrow_mut().get_or_insert(e);
    }
}

/// The delay before reconnect attempt `attempt` (0-based): uniform in [0, min(cap, base × 2^n)).
pub(crate) fn backoff(attempt: u32, rng: &mut u64) -> Duration {
    let bound = BACKOFF_BASE
        .saturating_mul(1u32 << attempt.min(16))
        .min(BACKOFF_CAP);
    // xorshift64: a fixed seed per client, so runs are alike.
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    let nanos = u64::try_from(bound.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(*rng % nanos.max(1))
}

pub async fn run(args: StormArgs, common: Common) -> Result<Value> {
    let typed = common.target.proto == Proto::Typed;
    let sh = Rc::new(Shared::default());
    sh.seen.replace(vec![Vec::new(); args.clients]);
    let common = Rc::new(common);
    let sem = Rc::new(Semaphore::new(common.connect_concurrency.max(1)));
    let t_connect = Instant::now();
    for slot in 0..args.clients {
        let c = client::Client {
            sh: sh.clone(),
            common: common.clone(),
            slot,
            sem: sem.clone(),
        };
        tokio::task::spawn_local(c.run(args.max_secs));
    }
    let limit = t_connect + common.connect_phase_max;
    while sh.connected.get() + sh.failed.get() < args.clients && Instant::now() < limit {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if sh.connected.get() < args.clients {
        bail!(
            "{} of {} clients connected ({})",
            sh.connected.get(),
            args.clients,
            sh.first_error.borrow().clone().unwrap_or_default()
        );
    }
    let connect_s = t_connect.elapsed().as_secs_f64();
    // Joins make side traffic (presence); let it pass before the burst.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let acked = if typed {
        ids::burst(&common, args.clients, args.burst).await?
    } else {
        Vec::new()
    };

    let Some(old_pid) = common.server.pid else {
        bail!("the storm needs --server-pid");
    };
    let _ = std::fs::remove_file(&args.pid_file);
    sh.stopped.set(true);
    let t_stop = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(old_pid)?),
        nix::sys::signal::Signal::SIGTERM,
    )?;
    let give_up = t_stop + Duration::from_secs_f64(args.max_secs);
    let (new_server, up_s) = loop {
        if let Some(pid) = read_pid(&args.pid_file).filter(|&p| p != old_pid) {
            break (
                ServerProc { pid: Some(pid) },
                t_stop.elapsed().as_secs_f64(),
            );
        }
        if Instant::now() > give_up {
            bail!("the server was not restarted within {} s", args.max_secs);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let self_cpu0 = stats::self_cpu();
    while sh.back.get() + sh.gave_up.get() < args.clients && Instant::now() < give_up {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let server_cpu_s = new_server.cpu_secs();
    let loadgen_cpu_s = (stats::self_cpu() - self_cpu0).as_secs_f64();
    let all_back_s = sh.last_back.get().map(|t| (t - t_stop).as_secs_f64());
    tokio::time::sleep(Duration::from_secs_f64(args.settle)).await;

    let mut report = json!({
        "proto": common.target.proto,
        "clients": args.clients,
        "connect_s": connect_s,
        "early_drops": sh.early_drops.get(),
        "server_up_s": up_s,
        "back": sh.back.get(),
        "gave_up": sh.gave_up.get(),
        "all_back_s": all_back_s,
        "attempts": sh.attempts.get(),
        "failed_attempts": sh.failed_attempts.get(),
        "max_attempts_one_client": sh.max_attempts.get(),
        "server_cpu_s": server_cpu_s,
        "server_rss_kib": new_server.rss_kib(),
        "loadgen_cpu_s": loadgen_cpu_s,
        "first_error": sh.first_error.borrow().clone(),
        "resume_checked": typed,
    });
    if typed {
        report["resume"] = ids::check(&sh.seen.borrow(), &acked, sh.resumed.get());
    }
    Ok(json!({"scenario": "storm", "report": report}))
}

fn read_pid(path: &std::path::Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}
