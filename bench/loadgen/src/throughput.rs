//! Throughput: C clients in one room, every one sending in a closed loop and receiving everyone
//! else's messages. A sender may have at most `window` messages in flight: a message leaves the
//! window once (on average) every other client has received it.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::sync::{Notify, Semaphore};

use crate::conn::{self, end_label, Proto, Stamp, Step, Target};
use crate::stats::{self, CpuMark, CpuUse, LatencySummary, ServerProc};

#[derive(Debug, Clone)]
pub struct ThroughputArgs {
    pub target: Target,
    pub server: ServerProc,
    pub clients: usize,
    pub window: u64,
    pub warmup: Duration,
    pub secs: Duration,
    pub drain: Duration,
    pub connect_concurrency: usize,
    pub connect_timeout: Duration,
}

#[derive(Debug, Serialize)]
pub struct ThroughputReport {
    pub proto: Proto,
    pub clients: usize,
    pub window: u64,
    pub measured_s: f64,
    /// Messages sent per second in the measured interval.
    pub sends_per_s: f64,
    /// Messages received per second, summed over all clients (a send reaches clients - 1).
    pub deliveries_per_s: f64,
    pub server_cpu_s_per_million: Option<f64>,
    pub cpu: CpuUse,
    /// Send-to-receive time of the deliveries in the measured interval.
    pub latency: LatencySummary,
    pub sent_total: u64,
    pub delivered_total: u64,
    /// Deliveries still missing when the drain after the last send ran out.
    pub lost: u64,
    /// Times a sender waited over a second for its window to open.
    pub stalls: u64,
    /// Copies of its own message a client got back (the typed protocol echoes to the sender).
    pub self_echo: u64,
    pub disconnects: BTreeMap<String, u64>,
}

struct Shared {
    others: u64,
    window: u64,
    sent: Vec<Cell<u64>>,
    delivered_from: Vec<Cell<u64>>,
    /// Since when each sender has waited for its window to open.
    waiting: Vec<Cell<Option<Instant>>>,
    wake: Vec<Notify>,
    total: Cell<u64>,
    hist: RefCell<Histogram<u64>>,
    measuring: Cell<bool>,
    go: Notify,
    stop: Cell<bool>,
    stalls: Cell<u64>,
    self_echo: Cell<u64>,
    disconnects: RefCell<BTreeMap<String, u64>>,
}

impl Shared {
    fn window_open(&self, i: usize) -> bool {
        self.sent[i].get() * self.others < self.delivered_from[i].get() + self.window * self.others
    }
}

/// Counts a delivery (a text received at `now`).
fn on_text(sh: &Shared, i: usize, text: &[u8], now: u64) {
    let Some(st) = conn::find_stamp(text) else {
        return;
    };
    let from = st.sender as usize;
    if from == i {
        sh.self_echo.set(sh.self_echo.get() + 1);
        return;
    }
    let Some(d) = sh.delivered_from.get(from) else {
        return;
    };
    d.set(d.get() + 1);
    sh.total.set(sh.total.get() + 1);
    if sh.measuring.get() {
        sh.hist
            .borrow_mut()
            .saturating_record(now.saturating_sub(st.t).max(1));
    }
    if sh.waiting[from].get().is_some() && sh.window_open(from) {
        sh.waiting[from].set(None);
        sh.wake[from].notify_one();
    }
}

/// One client, one task: it sends while its window is open and reads otherwise (no split
/// stream: a shared lock and a waker swap on every poll cost the load generator more than the
/// reading itself).
async fn client(sh: Rc<Shared>, args: Rc<ThroughputArgs>, i: usize, ws: conn::Ws) {
    let go = sh.go.notified();
    tokio::pin!(go);
    let mut started = false;
    let mut seq = 0u64;
    let end = loop {
        let sending = started && !sh.stop.get();
        if sending && sh.window_open(i) {
            sh.waiting[i].set(None);
            // Everything the window allows now goes out in one write.
            let mut failed = None;
            while sh.window_open(i) {
                let msg = conn::outgoing(
                    args.target.proto,
                    Stamp {
                        t: conn::now_ns(),
                        phase: 0,
                        sender: i as u32,
                        seq,
                    },
                );
                if let Err(e) = ws.write(msg) {
                    failed = Some(format!("send failed: {e}"));
                    break;
                }
                seq += 1;
                sh.sent[i].set(seq);
            }
            if let Some(end) = failed {
                break end;
            }
            match tokio::time::timeout(Duration::from_secs(2), ws.flush()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => break format!("send failed: {e}"),
                Err(_) => break "send stalled for 2 s".to_owned(),
            }
            continue;
        }
        if sending && sh.waiting[i].get().is_none() {
            sh.waiting[i].set(Some(Instant::now()));
        }
        tokio::select! {
            biased;
            ready = ws.ready() => {
                if let Err(e) = ready {
                    break format!("io error: {:?}", e.kind());
                }
                // One clock read for everything that is here now.
                let now = conn::now_ns();
                let mut end = None;
                for _ in 0..256 {
                    match ws.try_step(|t| on_text(&sh, i, t, now)) {
                        Step::Text => {}
                        Step::Pending => break,
                        Step::Other(next) => {
                            end = end_label(next);
                            if end.is_some() {
                                break;
                            }
                        }
                    }
                }
                if let Some(end) = end {
                    break end;
                }
            }
            _ = &mut go, if !started => started = true,
            _ = sh.wake[i].notified(), if sending => {}
        }
    };
    sh.waiting[i].set(None);
    *sh.disconnects.borrow_mut().entry(end).or_default() += 1;
}

/// Counts the senders that have waited over a second for their window, once per second each.
async fn watch_stalls(sh: Rc<Shared>) {
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = Instant::now();
        for w in &sh.waiting {
            if let Some(since) = w.get() {
                if now.duration_since(since) >= Duration::from_secs(1) {
                    sh.stalls.set(sh.stalls.get() + 1);
                    w.set(Some(now));
                }
            }
        }
    }
}

pub async fn run(args: ThroughputArgs) -> Result<ThroughputReport> {
    let n = args.clients;
    if n < 2 {
        bail!("throughput needs at least 2 clients");
    }
    let args = Rc::new(args);
    let sh = Rc::new(Shared {
        others: (n - 1) as u64,
        window: args.window.max(1),
        sent: (0..n).map(|_| Cell::new(0)).collect(),
        delivered_from: (0..n).map(|_| Cell::new(0)).collect(),
        waiting: (0..n).map(|_| Cell::new(None)).collect(),
        wake: (0..n).map(|_| Notify::new()).collect(),
        total: Cell::new(0),
        hist: RefCell::new(stats::new_histogram()),
        measuring: Cell::new(false),
        go: Notify::new(),
        stop: Cell::new(false),
        stalls: Cell::new(0),
        self_echo: Cell::new(0),
        disconnects: RefCell::new(BTreeMap::new()),
    });

    let sem = Rc::new(Semaphore::new(args.connect_concurrency.max(1)));
    let mut pending = Vec::new();
    for i in 0..n {
        let (args, sem) = (args.clone(), sem.clone());
        pending.push(tokio::task::spawn_local(async move {
            let _permit = sem.acquire().await;
            conn::connect_timeout(args.target, i, &format!("c{i}"), None, args.connect_timeout)
                .await
        }));
    }
    let mut conns = Vec::new();
    for (i, p) in pending.into_iter().enumerate() {
        match p.await {
            Ok(Ok(ws)) => conns.push(ws),
            Ok(Err(e)) => bail!("client {i} could not connect: {e:#}"),
            Err(e) => bail!("client {i} task failed: {e}"),
        }
    }
    for (i, ws) in conns.into_iter().enumerate() {
        tokio::task::spawn_local(client(sh.clone(), args.clone(), i, ws));
    }
    tokio::task::spawn_local(watch_stalls(sh.clone()));
    // Let every client task reach its start line, then start them together.
    tokio::time::sleep(Duration::from_millis(200)).await;
    sh.go.notify_waiters();

    tokio::time::sleep(args.warmup).await;
    let sent_sum = |sh: &Shared| sh.sent.iter().map(Cell::get).sum::<u64>();
    let (d0, s0) = (sh.total.get(), sent_sum(&sh));
    let mark = CpuMark::now(&args.server);
    sh.measuring.set(true);
    tokio::time::sleep(args.secs).await;
    sh.measuring.set(false);
    let cpu = mark.since(&args.server);
    let (d1, s1) = (sh.total.get(), sent_sum(&sh));
    sh.stop.set(true);

    let t_drain = Instant::now();
    let expected = |sh: &Shared| sent_sum(sh) * sh.others;
    while t_drain.elapsed() < args.drain && sh.total.get() < expected(&sh) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let deliveries = d1 - d0;
    let per_s = deliveries as f64 / cpu.wall_s;
    let report = ThroughputReport {
        proto: args.target.proto,
        clients: n,
        window: sh.window,
        measured_s: cpu.wall_s,
        sends_per_s: (s1 - s0) as f64 / cpu.wall_s,
        deliveries_per_s: per_s,
        server_cpu_s_per_million: cpu
            .server_cpu_s
            .filter(|_| deliveries > 0)
            .map(|c| c * 1e6 / deliveries as f64),
        cpu,
        latency: stats::summarize(&sh.hist.borrow()),
        sent_total: sent_sum(&sh),
        delivered_total: sh.total.get(),
        lost: expected(&sh).saturating_sub(sh.total.get()),
        stalls: sh.stalls.get(),
        self_echo: sh.self_echo.get(),
        disconnects: sh.disconnects.borrow().clone(),
    };
    Ok(report)
}
