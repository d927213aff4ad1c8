//! Load generator of the chat benchmark (`bench/run.sh` drives it; see `bench/README.md`).
//!
//! One process, one thread (a current-thread tokio runtime), so pinning it to one core gives the
//! server under test the other. Every message text carries `~t=<ns>;p=..;s=..;q=..;` padded to
//! 100 bytes; receivers find it with a substring search instead of parsing the JSON around it.
//! The report (JSON on stdout) puts this process's CPU time next to the server's, so a run in
//! which the load generator was the bottleneck shows it.
//!
//! Layout:
//! - `conn`: connect from 127.0.0.2.. source addresses, log in (demo or typed), the marker.
//! - `room`: one sender, N receivers: fan-out latency, idle memory, slow consumers.
//! - `throughput`: everyone sends (closed loop, bounded window), everyone receives.
//! - `transports`: one room over WebSocket, long polling or short polling: bytes, server CPU and
//!   latency per delivered message.
//! - `signin`: sign-ins at a steady rate, and the timing of failed sign-ins (typed protocol).
//! - `rooms`: many rooms, each client in several, a few clients sending: latency and CPU.
//! - `storm`: every client connected, the server restarted, everyone reconnecting with one
//!   backoff policy; with the typed protocol, each resumes from its last id (checked).
//! - `scenario`: what the scenarios with many clients share from the command line.
//! - `stats`: histograms, /proc readings of the server, getrusage, RLIMIT_NOFILE.

mod conn;
mod room;
mod rooms;
mod scenario;
mod settle;
mod signin;
mod stats;
mod storm;
mod throughput;
mod transports;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use serde_json::json;

use conn::{Proto, Target};
use room::{PhaseSpec, RoomArgs};
use signin::{SigninsArgs, TimingArgs};
use stats::ServerProc;
use throughput::ThroughputArgs;

#[derive(Debug, Parser)]
#[command(name = "loadgen", about = "Chat benchmark load generator")]
struct Cli {
    /// Server address (127.0.0.0/8 only).
    #[arg(long, default_value = "127.0.0.1:8080")]
    server: SocketAddr,
    /// `demo`: `/ws/<nick>`, plain text. `typed`: /chat, hello/join/send. `socketio`: Socket.IO 4
    /// over a WebSocket, the `msg` event out and `chat` in.
    #[arg(long, value_enum, default_value = "demo")]
    proto: Proto,
    /// More nodes of the same chat (a cluster), comma-separated: clients are spread over
    /// `--server` and these round-robin by client index (the sender is client 0's node).
    #[arg(long, value_delimiter = ',')]
    also_server: Vec<SocketAddr>,
    /// Pid of the server process, for its CPU time and RSS.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Connections being set up at once.
    #[arg(long, default_value_t = 128)]
    connect_concurrency: usize,
    /// Seconds one connection may take to connect and log in.
    #[arg(long, default_value_t = 20.0)]
    connect_timeout: f64,
    /// Seconds all receivers together may take to connect.
    #[arg(long, default_value_t = 90.0)]
    connect_phase_max: f64,
    /// Seconds to wait for join traffic (presence, history) to stop before measuring.
    #[arg(long, default_value_t = 15.0)]
    settle_max: f64,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// One sender, N receivers in one room; one phase per rate. Also gives the idle RSS per
    /// connection (measured after the receivers connect, before anything is sent).
    Fanout {
        #[arg(long, default_value_t = 1000)]
        receivers: usize,
        /// Messages per second, one phase each, in this order.
        #[arg(long, value_delimiter = ',', default_value = "10,100")]
        rates: Vec<u32>,
        /// Seconds of sending per phase: one value for all, or one per rate.
        #[arg(long, value_delimiter = ',', default_value = "2")]
        secs: Vec<f64>,
        /// Seconds after the last send that deliveries are still waited for.
        #[arg(long, default_value_t = 3.0)]
        drain: f64,
        /// Seconds of a warm-up phase at the first rate, before the measured phases; reported
        /// apart (`warmup`), not in `phases`.
        #[arg(long, default_value_t = 0.0)]
        warmup: f64,
    },
    /// N receivers, of which `slow_pct`% stop reading after a baseline phase.
    Slow {
        #[arg(long, default_value_t = 10_000)]
        receivers: usize,
        #[arg(long, default_value_t = 1.0)]
        slow_pct: f64,
        #[arg(long, default_value_t = 100)]
        rate: u32,
        /// Seconds of the baseline phase (everyone reads).
        #[arg(long, default_value_t = 2.0)]
        base_secs: f64,
        /// Seconds of the phase with stopped readers.
        #[arg(long, default_value_t = 6.0)]
        secs: f64,
        #[arg(long, default_value_t = 2.0)]
        drain: f64,
        /// SO_RCVBUF of a slow receiver, set before connecting (0: the system default). A small
        /// window makes a stopped reader visible to the server in seconds instead of minutes.
        #[arg(long, default_value_t = 8192)]
        slow_rcvbuf: u32,
        /// Seconds the slow receivers read again at the end, to see how they were treated.
        #[arg(long, default_value_t = 2.0)]
        resume: f64,
    },
    /// C clients all sending (closed loop) and all receiving.
    Throughput {
        #[arg(long, default_value_t = 100)]
        clients: usize,
        /// Messages in flight per sender.
        #[arg(long, default_value_t = 8)]
        window: u64,
        #[arg(long, default_value_t = 1.0)]
        warmup: f64,
        #[arg(long, default_value_t = 4.0)]
        secs: f64,
        #[arg(long, default_value_t = 2.0)]
        drain: f64,
    },
    /// Sign-ins (typed protocol) at a steady rate, each on a new connection from an address of
    /// its own (`X-Forwarded-For`: start the server with `--trusted-proxies 127.0.0.1`).
    Signins(SigninsArgs),
    /// Failed sign-ins, one at a time: a wrong password against a name with no account.
    SigninTiming(TimingArgs),
    /// One room, N receivers on one transport (WebSocket, long or short polling), one
    /// WebSocket sender: bytes, server CPU and latency per delivered message.
    Transports(transports::TransportArgs),
    /// N clients connected, then the server restarted under them: the time until all are back
    /// (exponential backoff from 100 ms, full jitter, 5 s cap), and resume checked (typed).
    Storm(storm::StormArgs),
    /// U users in R rooms, K rooms each, 1% of them sending 1 msg/s: delivery latency and
    /// server CPU per delivery (typed protocol for ours; multi-room peers for the others).
    Rooms(rooms::RoomsArgs),
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    for addr in std::iter::once(&cli.server).chain(&cli.also_server) {
        if !addr.ip().is_loopback() {
            bail!("the benchmark only targets loopback addresses, not {addr}");
        }
    }
    conn::set_extra_servers(cli.also_server.clone());
    let limit = stats::raise_nofile()?;
    let sockets = match &cli.scenario {
        Scenario::Fanout { receivers, .. } | Scenario::Slow { receivers, .. } => receivers + 1,
        Scenario::Throughput { clients, .. } => *clients,
        Scenario::Transports(a) => a.receivers + 1,
        Scenario::Storm(a) => a.clients + 1,
        Scenario::Rooms(a) => a.users,
        Scenario::Signins(_) | Scenario::SigninTiming(_) => 0,
    };
    if sockets as u64 + 64 > limit {
        bail!("{sockets} sockets need more than the open-files limit {limit}: split the load over processes");
    }
    let target = Target {
        addr: cli.server,
        proto: cli.proto,
    };
    let server = ServerProc {
        pid: cli.server_pid,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("runtime")?;
    let local = tokio::task::LocalSet::new();
    let common = scenario::Common {
        target,
        server,
        connect_concurrency: cli.connect_concurrency,
        connect_timeout: secs(cli.connect_timeout),
        connect_phase_max: secs(cli.connect_phase_max),
        settle_max: secs(cli.settle_max),
    };
    let out = local.block_on(&rt, async {
        let room_args = |receivers, slow, slow_rcvbuf, phases, drain, resume| RoomArgs {
            target,
            server,
            receivers,
            slow,
            slow_rcvbuf,
            phases,
            drain,
            resume,
            connect_concurrency: cli.connect_concurrency,
            connect_timeout: secs(cli.connect_timeout),
            connect_phase_max: secs(cli.connect_phase_max),
            settle_max: secs(cli.settle_max),
        };
        match cli.scenario {
            Scenario::Fanout {
                receivers,
                ref rates,
                secs: ref s,
                drain,
                warmup,
            } => {
                if s.len() != 1 && s.len() != rates.len() {
                    bail!(
                        "--secs takes one value, or one per rate ({} rates)",
                        rates.len()
                    );
                }
                let warm = (warmup > 0.0).then(|| PhaseSpec {
                    rate: rates.first().copied().unwrap_or(10),
                    secs: warmup,
                    slow_stopped: false,
                    warmup: true,
                });
                let phases = warm
                    .into_iter()
                    .chain(rates.iter().enumerate().map(|(i, &rate)| PhaseSpec {
                        rate,
                        secs: s.get(i).or(s.first()).copied().unwrap_or(2.0),
                        slow_stopped: false,
                        warmup: false,
                    }))
                    .collect();
                let r = room::run(room_args(
                    receivers,
                    0,
                    None,
                    phases,
                    secs(drain),
                    Duration::ZERO,
                ))
                .await?;
                Ok::<_, anyhow::Error>(json!({"scenario": "fanout", "report": r}))
            }
            Scenario::Slow {
                receivers,
                slow_pct,
                rate,
                base_secs,
                secs: s,
                drain,
                slow_rcvbuf,
                resume,
            } => {
                let slow = ((receivers as f64) * slow_pct / 100.0).round() as usize;
                let phases = vec![
                    PhaseSpec {
                        rate,
                        secs: base_secs,
                        slow_stopped: false,
                        warmup: false,
                    },
                    PhaseSpec {
                        rate,
                        secs: s,
                        slow_stopped: true,
                        warmup: false,
                    },
                ];
                let rcvbuf = (slow_rcvbuf > 0).then_some(slow_rcvbuf);
                let r = room::run(room_args(
                    receivers,
                    slow,
                    rcvbuf,
                    phases,
                    secs(drain),
                    secs(resume),
                ))
                .await?;
                Ok(json!({"scenario": "slow", "report": r}))
            }
            Scenario::Throughput {
                clients,
                window,
                warmup,
                secs: s,
                drain,
            } => {
                let r = throughput::run(ThroughputArgs {
                    target,
                    server,
                    clients,
                    window,
                    warmup: secs(warmup),
                    secs: secs(s),
                    drain: secs(drain),
                    connect_concurrency: cli.connect_concurrency,
                    connect_timeout: secs(cli.connect_timeout),
                })
                .await?;
                Ok(json!({"scenario": "throughput", "report": r}))
            }
            Scenario::Signins(args) => {
                signin::signins(cli.server, args, secs(cli.connect_timeout)).await
            }
            Scenario::SigninTiming(args) => {
                signin::timing(cli.server, args, secs(cli.connect_timeout)).await
            }
            Scenario::Transports(args) => {
                let common = transports::Common {
                    addr: cli.server,
                    server,
                    connect_concurrency: cli.connect_concurrency,
                    connect_timeout: secs(cli.connect_timeout),
                    connect_phase_max: secs(cli.connect_phase_max),
                    settle_max: secs(cli.settle_max),
                };
                transports::run(args, common).await
            }
            Scenario::Storm(args) => storm::run(args, common).await,
            Scenario::Rooms(args) => rooms::run(args, common).await,
        }
    })?;
    println!("{out}");
    Ok(())
}
