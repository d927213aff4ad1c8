//! Fan-out in one room: N receivers and one sender at a fixed rate, in phases. Serves the
//! fan-out latency scenario (phases at 10 and 100 msg/s), the idle-memory figure (RSS before and
//! after the receivers connect, before anything is sent) and the slow-consumer scenario (a
//! baseline phase, then a phase in which some receivers stop reading).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::Result;
use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::sync::{watch, Semaphore};
use tokio_tungstenite::tungstenite::{self, Message};

use crate::conn::{self, Proto, Stamp, Target};
use crate::stats::{self, CpuMark, CpuUse, LatencySummary, ServerProc};

#[derive(Debug, Clone, Copy, Serialize)]
pub struct PhaseSpec {
    pub rate: u32,
    pub secs: f64,
    /// The slow receivers stop reading for this phase (and are not counted in it).
    pub slow_stopped: bool,
    /// Run like the others, reported apart (`RoomReport::warmup`): the first messages after
    /// the receivers connect are slower for every server (first writes to each socket).
    pub warmup: bool,
}

#[derive(Debug, Clone)]
pub struct RoomArgs {
    pub target: Target,
    pub server: ServerProc,
    pub receivers: usize,
    pub slow: usize,
    pub slow_rcvbuf: Option<u32>,
    pub phases: Vec<PhaseSpec>,
    pub drain: Duration,
    pub resume: Duration,
    pub connect_concurrency: usize,
    pub connect_timeout: Duration,
    pub connect_phase_max: Duration,
    pub settle_max: Duration,
}

#[derive(Debug, Serialize)]
pub struct PhaseReport {
    pub rate: u32,
    pub secs: f64,
    pub slow_stopped: bool,
    /// Receivers each message should reach (those connected and counted in this phase).
    pub receivers: usize,
    pub sent: u64,
    /// The sender could not write for the whole phase (the server stopped reading it).
    pub send_stalled: bool,
    pub expected: u64,
    pub delivered: u64,
    /// Deliveries that had not arrived when the phase's drain time ran out.
    pub lost: u64,
    pub lost_ratio: f64,
    /// Deliveries of this phase that arrived after it was closed (counted as lost).
    pub late: u64,
    /// Over every expected delivery; a lost one counts as (drain end - last send): a lower bound.
    pub latency: LatencySummary,
    /// Over the deliveries that arrived only.
    pub latency_delivered: LatencySummary,
    /// The same deliveries, timed when this process read them instead of when they reached its
    /// sockets (`latency` uses the kernel's receive timestamps): the difference is the load
    /// generator's own backlog.
    pub latency_read: LatencySummary,
    pub deliveries_per_s: f64,
    pub drain_s: f64,
    pub cpu: CpuUse,
}

#[derive(Debug, Serialize)]
pub struct RoomReport {
    pub proto: Proto,
    pub receivers: usize,
    pub slow: usize,
    pub connected: usize,
    pub connect_failed: usize,
    pub first_connect_error: Option<String>,
    pub connect_s: f64,
    /// Time until frames other than benchmark messages (presence, history) stopped arriving.
    pub settle_s: f64,
    pub rss_before_kib: Option<u64>,
    pub rss_idle_kib: Option<u64>,
    /// (RSS with every receiver connected and idle - RSS before) / receivers connected.
    pub idle_bytes_per_conn: Option<f64>,
    /// The warm-up phase, if one was asked for: not part of `phases`.
    pub warmup: Option<PhaseReport>,
    pub phases: Vec<PhaseReport>,
    /// (seconds since the first phase started, server RSS in KiB), every 250 ms.
    pub rss_samples: Vec<(f64, u64)>,
    /// How receivers that were reading lost their connection during the run, by cause.
    pub disconnects: BTreeMap<String, u64>,
    /// What became of the slow receivers once they read again: a close code, an error, or `open`.
    pub slow_fate: BTreeMap<String, u64>,
    /// Messages the slow receivers got in all (while stopped, these waited in buffers).
    pub slow_received: u64,
    pub other_frames: u64,
    /// How the sender's connection ended, if it did during the run.
    pub sender_end: Option<String>,
    /// The first error frames the sender got (typed protocol), verbatim.
    pub sender_errors: Vec<String>,
    /// Acks the sender got (typed protocol; one per message sent is expected).
    pub sender_acks: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlowState {
    Reading,
    Stopped,
    Resumed,
    Done,
}

struct PhaseAcc {
    hist: Histogram<u64>,
    hist_read: Histogram<u64>,
    delivered: u64,
    late: u64,
    closed: bool,
    counts_slow: bool,
}

struct Shared {
    phases: RefCell<Vec<PhaseAcc>>,
    other_frames: Cell<u64>,
    ready_normal: Cell<usize>,
    ready_slow: Cell<usize>,
    failed: Cell<usize>,
    first_error: RefCell<Option<String>>,
    gone_normal: Cell<usize>,
    gone_slow: Cell<usize>,
    connect_open: Cell<bool>,
    disconnects: RefCell<BTreeMap<String, u64>>,
    slow_fate: RefCell<BTreeMap<String, u64>>,
    slow_received: Cell<u64>,
    slow_state: watch::Sender<SlowState>,
}

impl Shared {
    /// One delivery: `arrived` when it reached the socket, `read` when this process read it.
    fn record(&self, st: Stamp, is_slow: bool, arrived: u64, read: u64) {
        let mut phases = self.phases.borrow_mut();
        let Some(acc) = phases.get_mut(st.phase as usize) else {
            self.other_frames.set(self.other_frames.get() + 1);
            return;
        };
        if is_slow && !acc.counts_slow {
            return;
        }
        if acc.closed {
            acc.late += 1;
        } else {
            acc.delivered += 1;
            acc.hist
                .saturating_record(arrived.saturating_sub(st.t).max(1));
            acc.hist_read
                .saturating_record(read.saturating_sub(st.t).max(1));
        }
    }

    fn connect_failed(&self, err: String) {
        self.failed.set(self.failed.get() + 1);
        self.first_error.borrow_mut().get_or_insert(err);
    }
}

fn bump(map: &RefCell<BTreeMap<String, u64>>, key: String) {
    *map.borrow_mut().entry(key).or_default() += 1;
}

/// How a connection ended, as a short label.
pub fn end_label(msg: conn::Next) -> Option<String> {
    match msg {
        Some(Ok(Message::Close(frame))) => Some(conn::close_label(frame.as_ref())),
        Some(Ok(_)) => None,
        Some(Err(tungstenite::Error::Io(e))) => Some(format!("io error: {:?}", e.kind())),
        Some(Err(tungstenite::Error::Protocol(p))) => Some(format!("protocol: {p}")),
        Some(Err(e)) => Some(format!("error: {e}")),
        None => Some("eof".to_owned()),
    }
}

/// Handles one frame of a receiver; `Some(label)` when the connection ended.
fn on_frame(
    sh: &Shared,
    ws: &conn::Ws,
    msg: conn::Next,
    is_slow: bool,
    mine: &mut u64,
) -> Option<String> {
    if let Some(Ok(Message::Text(t))) = &msg {
        on_text(sh, ws, t.as_bytes(), is_slow, mine);
        return None;
    }
    end_label(msg)
}

/// Handles one text of a receiver: a timed delivery, or side traffic (presence, history...).
fn on_text(sh: &Shared, ws: &conn::Ws, text: &[u8], is_slow: bool, mine: &mut u64) {
    match conn::find_stamp(text) {
        Some(st) => {
            *mine += 1;
            sh.record(st, is_slow, ws.arrived_ns(), conn::now_ns());
        }
        None => sh.other_frames.set(sh.other_frames.get() + 1),
    }
}

async fn receiver(
    sh: Rc<Shared>,
    args: Rc<RoomArgs>,
    slot: usize,
    is_slow: bool,
    sem: Rc<Semaphore>,
) {
    let nick = format!("r{slot}");
    let rcvbuf = if is_slow { args.slow_rcvbuf } else { None };
    let connected = {
        let Ok(_permit) = sem.acquire().await else {
            return;
        };
        conn::connect_timeout(args.target, slot, &nick, rcvbuf, args.connect_timeout).await
    };
    let ws = match connected {
        Ok(ws) if sh.connect_open.get() => ws,
        Ok(_) => return, // already counted as failed when the connect phase ended
        Err(e) => {
            if sh.connect_open.get() {
                sh.connect_failed(format!("{e:#}"));
            }
            return;
        }
    };
    let mut mine = 0u64;
    if !is_slow {
        sh.ready_normal.set(sh.ready_normal.get() + 1);
        let end = 'read: loop {
            if let Err(e) = ws.ready().await {
                break format!("io error: {:?}", e.kind());
            }
            loop {
                let step = ws.try_step(|t| on_text(&sh, &ws, t, false, &mut mine));
                match step {
                    conn::Step::Text => {}
                    conn::Step::Pending => break,
                    conn::Step::Other(next) => {
                        if let Some(end) = end_label(next) {
                            break 'read end;
                        }
                    }
                }
            }
        };
        sh.gone_normal.set(sh.gone_normal.get() + 1);
        bump(&sh.disconnects, end);
        return;
    }

    sh.ready_slow.set(sh.ready_slow.get() + 1);
    let mut state = sh.slow_state.subscribe();
    let end = loop {
        let now = *state.borrow_and_update();
        match now {
            SlowState::Done => break "open".to_owned(),
            SlowState::Stopped => {
                // Not polling the socket at all: the server sees a client that stopped reading.
                if state.changed().await.is_err() {
                    break "open".to_owned();
                }
                continue;
            }
            SlowState::Reading | SlowState::Resumed => {}
        }
        tokio::select! {
            biased;
            changed = state.changed() => {
                if changed.is_err() {
                    break "open".to_owned();
                }
                // It may now wait (stopped) while data arrives: read for real next time.
                ws.rearm();
            }
            msg = ws.next() => {
                if let Some(end) = on_frame(&sh, &ws, msg, true, &mut mine) {
                    break end;
                }
            }
        }
    };
    if end != "open" {
        sh.gone_slow.set(sh.gone_slow.get() + 1);
    }
    sh.slow_received.set(sh.slow_received.get() + mine);
    bump(&sh.slow_fate, end);
}

fn ns_to_duration(ns: u64) -> Duration {
    Duration::from_nanos(ns)
}

pub async fn run(args: RoomArgs) -> Result<RoomReport> {
    // One message of about 130 bytes per read here.
    conn::set_read_buffer(4 * 1024);
    let args = Rc::new(args);
    let (slow_tx, _) = watch::channel(SlowState::Reading);
    let sh = Rc::new(Shared {
        phases: RefCell::new(
            args.phases
                .iter()
                .map(|p| PhaseAcc {
                    hist: stats::new_histogram(),
                    hist_read: stats::new_histogram(),
                    delivered: 0,
                    late: 0,
                    closed: false,
                    counts_slow: !p.slow_stopped,
                })
                .collect(),
        ),
        other_frames: Cell::new(0),
        ready_normal: Cell::new(0),
        ready_slow: Cell::new(0),
        failed: Cell::new(0),
        first_error: RefCell::new(None),
        gone_normal: Cell::new(0),
        gone_slow: Cell::new(0),
        connect_open: Cell::new(true),
        disconnects: RefCell::new(BTreeMap::new()),
        slow_fate: RefCell::new(BTreeMap::new()),
        slow_received: Cell::new(0),
        slow_state: slow_tx,
    });

    conn::stamp_arrivals();
    // The sender connects first: its connection doubles as the server's warm-up.
    let t_connect = Instant::now();
    let sender = conn::connect_timeout(
        args.target,
        args.receivers,
        "s0",
        None,
        args.connect_timeout,
    )
    .await?;
    let sender = Rc::new(sender);
    // The sender reads too (acks, presence): a sender that never reads would be a slow consumer.
    let sender_end: Rc<RefCell<Option<String>>> = Rc::new(RefCell::new(None));
    let sender_errors: Rc<RefCell<Vec<String>>> = Rc::new(RefCell::new(Vec::new()));
    let sender_acks = Rc::new(Cell::new(0u64));
    {
        let (sender_end, sender_errors) = (sender_end.clone(), sender_errors.clone());
        let sender_acks = sender_acks.clone();
        let sender_in = sender.clone();
        tokio::task::spawn_local(async move {
            loop {
                let msg = sender_in.next().await;
                if let Some(Ok(Message::Text(t))) = &msg {
                    if t.as_str().contains("\"type\":\"ack\"") {
                        sender_acks.set(sender_acks.get() + 1);
                    }
                    let mut errors = sender_errors.borrow_mut();
                    if errors.len() < 5 && t.as_str().contains("\"type\":\"error\"") {
                        errors.push(t.as_str().chars().take(300).collect());
                    }
                }
                if let Some(end) = end_label(msg) {
                    *sender_end.borrow_mut() = Some(end);
                    break;
                }
            }
        });
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss_before = args.server.rss_kib();

    let sem = Rc::new(Semaphore::new(args.connect_concurrency.max(1)));
    let slow_every = args
        .receivers
        .checked_div(args.slow)
        .map_or(usize::MAX, |n| n.max(1));
    let mut slow_left = args.slow;
    for slot in 0..args.receivers {
        let is_slow = slow_left > 0 && slot % slow_every == slow_every / 2;
        if is_slow {
            slow_left -= 1;
        }
        tokio::task::spawn_local(receiver(
            sh.clone(),
            args.clone(),
            slot,
            is_slow,
            sem.clone(),
        ));
    }
    let connect_deadline = Instant::now() + args.connect_phase_max;
    loop {
        let done = sh.ready_normal.get() + sh.ready_slow.get() + sh.failed.get();
        if done >= args.receivers || Instant::now() >= connect_deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sh.connect_open.set(false);
    let pending = args
        .receivers
        .saturating_sub(sh.ready_normal.get() + sh.ready_slow.get() + sh.failed.get());
    if pending > 0 {
        sh.failed.set(sh.failed.get() + pending);
        sh.first_error.borrow_mut().get_or_insert_with(|| {
            format!(
                "{pending} still connecting after {:?}",
                args.connect_phase_max
            )
        });
    }
    let connect_s = t_connect.elapsed().as_secs_f64();

    // Settle: wait until the joins' side traffic (presence, history: the typed protocol) has
    // stopped arriving and the server has gone idle (it may still be producing that traffic
    // without sending any for a while), then take the idle RSS.
    let t_settle = Instant::now();
    let mut last = sh.other_frames.get();
    let mut quiet_since = Instant::now();
    let mut cpu_at_quiet = args.server.cpu_secs();
    while t_settle.elapsed() < args.settle_max {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = sh.other_frames.get();
        if now != last {
            last = now;
            quiet_since = Instant::now();
            cpu_at_quiet = args.server.cpu_secs();
        } else if quiet_since.elapsed() >= Duration::from_millis(300) {
            let busy = match (cpu_at_quiet, args.server.cpu_secs()) {
                (Some(a), Some(b)) => (b - a) / quiet_since.elapsed().as_secs_f64(),
                _ => 0.0,
            };
            // /proc counts CPU in 10 ms ticks: under a third of a core over 300 ms is idle enough.
            if busy < 0.35 {
                break;
            }
            quiet_since = Instant::now();
            cpu_at_quiet = args.server.cpu_secs();
        }
    }
    let settle_s = t_settle.elapsed().as_secs_f64();
    let rss_idle = args.server.rss_kib();
    let connected = sh.ready_normal.get() + sh.ready_slow.get();
    let idle_bytes_per_conn = match (rss_before, rss_idle) {
        (Some(a), Some(b)) if connected > 0 => {
            Some((b as f64 - a as f64) * 1024.0 / connected as f64)
        }
        _ => None,
    };

    // Server RSS over the whole run, for the slow-consumer scenario's "memory stays flat".
    let samples: Rc<RefCell<Vec<(f64, u64)>>> = Rc::new(RefCell::new(Vec::new()));
    let sampling = Rc::new(Cell::new(true));
    {
        let (samples, sampling, server) = (samples.clone(), sampling.clone(), args.server);
        let t0 = Instant::now();
        tokio::task::spawn_local(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            while sampling.get() {
                tick.tick().await;
                if let Some(rss) = server.rss_kib() {
                    samples.borrow_mut().push((t0.elapsed().as_secs_f64(), rss));
                }
            }
        });
    }

    let mut reports = Vec::new();
    for (pi, spec) in args.phases.iter().enumerate() {
        if spec.slow_stopped {
            sh.slow_state.send_replace(SlowState::Stopped);
        }
        let alive_normal = sh.ready_normal.get() - sh.gone_normal.get();
        let alive_slow = sh.ready_slow.get() - sh.gone_slow.get();
        let per_msg = alive_normal + if spec.slow_stopped { 0 } else { alive_slow };
        let mark = CpuMark::now(&args.server);
        let rate = spec.rate.max(1);
        let n = (f64::from(rate) * spec.secs).round() as u64;
        let period = 1_000_000_000 / u64::from(rate);
        let start = conn::now_ns() + 2_000_000;
        let send_deadline = Instant::now() + Duration::from_secs_f64(spec.secs) + args.drain;
        let mut sent = 0u64;
        let mut stalled = false;
        let mut last_sched = start;
        for i in 0..n {
            let sched = start + i * period;
            let now = conn::now_ns();
            if sched > now {
                tokio::time::sleep(ns_to_duration(sched - now)).await;
            }
            // tokio's timer fires up to ~1 ms late: that is the load generator's error, so an
            // on-time send is stamped with the real send time. A send later than that (the
            // socket was full, or this process was busy) keeps its scheduled time, so the wait
            // counts as latency instead of being hidden (no coordinated omission).
            let now = conn::now_ns();
            let t = if now.saturating_sub(sched) <= 2_000_000 {
                now
            } else {
                sched
            };
            let msg = conn::outgoing(
                args.target.proto,
                Stamp {
                    t,
                    phase: pi as u32,
                    sender: 0,
                    seq: i,
                },
            );
            let left = send_deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, sender.send(msg)).await {
                Ok(Ok(())) => {
                    sent += 1;
                    last_sched = sched;
                }
                _ => {
                    stalled = true;
                    break;
                }
            }
        }
        let expected = sent * per_msg as u64;
        let t_drain = Instant::now();
        let drain_deadline = send_deadline
            .max(t_drain + Duration::from_millis(100))
            .min(t_drain + args.drain);
        while Instant::now() < drain_deadline {
            let delivered = sh.phases.borrow()[pi].delivered;
            if delivered >= expected {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let drain_s = t_drain.elapsed().as_secs_f64();
        let cpu = mark.since(&args.server);
        let closed_at = conn::now_ns();
        let mut phases = sh.phases.borrow_mut();
        let acc = &mut phases[pi];
        acc.closed = true;
        let delivered = acc.delivered;
        let lost = expected.saturating_sub(delivered);
        let mut with_lost = acc.hist.clone();
        if lost > 0 {
            // A lost delivery's latency is at least the time from the last send to the cut-off.
            let _ = with_lost.record_n(closed_at.saturating_sub(last_sched).max(1), lost);
        }
        reports.push(PhaseReport {
            rate,
            secs: spec.secs,
            slow_stopped: spec.slow_stopped,
            receivers: per_msg,
            sent,
            send_stalled: stalled,
            expected,
            delivered,
            lost,
            lost_ratio: if expected > 0 {
                lost as f64 / expected as f64
            } else {
                0.0
            },
            late: 0,
            latency: stats::summarize(&with_lost),
            latency_delivered: stats::summarize(&acc.hist),
            latency_read: stats::summarize(&acc.hist_read),
            deliveries_per_s: if cpu.wall_s > 0.0 {
                delivered as f64 / cpu.wall_s
            } else {
                0.0
            },
            drain_s,
            cpu,
        });
    }

    if sh.ready_slow.get() > 0 {
        // The slow receivers read again: what is waiting for them tells what the server did.
        sh.slow_state.send_replace(SlowState::Resumed);
        tokio::time::sleep(args.resume).await;
        sh.slow_state.send_replace(SlowState::Done);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sampling.set(false);
    let phases = sh.phases.borrow();
    for (r, acc) in reports.iter_mut().zip(phases.iter()) {
        r.late = acc.late;
    }
    let mut warmup = None;
    let mut measured = Vec::new();
    for (r, spec) in reports.into_iter().zip(&args.phases) {
        if spec.warmup {
            warmup = Some(r);
        } else {
            measured.push(r);
        }
    }
    let rss_samples = samples.borrow().clone();
    let report = RoomReport {
        proto: args.target.proto,
        receivers: args.receivers,
        slow: args.slow,
        connected,
        connect_failed: sh.failed.get(),
        first_connect_error: sh.first_error.borrow().clone(),
        connect_s,
        settle_s,
        rss_before_kib: rss_before,
        rss_idle_kib: rss_idle,
        idle_bytes_per_conn,
        warmup,
        phases: measured,
        rss_samples,
        disconnects: sh.disconnects.borrow().clone(),
        slow_fate: sh.slow_fate.borrow().clone(),
        slow_received: sh.slow_received.get(),
        other_frames: sh.other_frames.get(),
        sender_end: sender_end.borrow().clone(),
        sender_errors: sender_errors.borrow().clone(),
        sender_acks: sender_acks.get(),
    };
    Ok(report)
}
