//! Sign-in scenarios of the typed protocol (`hello` with `auth`), each sign-in on a connection of
//! its own, each from an address of its own (`X-Forwarded-For`, which the server believes when
//! started with `--trusted-proxies 127.0.0.1`), so the per-(account, address) throttle of failed
//! sign-ins never trips.
//!
//! - `signins`: a steady rate of sign-ins (open loop: one task per sign-in, started on schedule
//!   whether or not the earlier ones finished), alongside another load such as `fanout`.
//! - `signin-timing`: wrong password for an existing account against a name with no account,
//!   one at a time, alternating: both must get the same answer after the same time.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use serde_json::{json, Value};
use tokio::time::MissedTickBehavior;
use tokio_tungstenite::tungstenite::Message;

use crate::conn::{connect_chat, end_label};
use crate::stats::{new_histogram, summarize};

/// `signins` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct SigninsArgs {
    /// Sign-ins started per second.
    #[arg(long, default_value_t = 20.0)]
    pub rate: f64,
    /// Seconds during which sign-ins are started (the last ones are then waited for).
    #[arg(long, default_value_t = 10.0)]
    pub secs: f64,
    /// The account signed in to.
    #[arg(long, default_value = "bench-user")]
    pub name: String,
    #[arg(long, default_value = "bench-password-1")]
    pub password: String,
    /// Register the account first (an account that already exists is fine).
    #[arg(long)]
    pub register: bool,
}

/// `signin-timing` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct TimingArgs {
    /// Tries of each kind (wrong password, unknown name).
    #[arg(long, default_value_t = 50)]
    pub tries: usize,
    /// The existing account (registered first if it is not).
    #[arg(long, default_value = "bench-user")]
    pub name: String,
    /// Its right password; the wrong one is derived from it.
    #[arg(long, default_value = "bench-password-1")]
    pub password: String,
}

/// What the server answered to one `hello`.
enum Answer {
    Welcome,
    Error {
        code: String,
        message: String,
    },
    /// No answer: a connection or protocol failure, or the time limit.
    Broken(String),
}

/// Client addresses handed out in `X-Forwarded-For`: 10.`block`.x.y, one per attempt.
fn forwarded(block: u8, n: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, block, (n >> 8) as u8, n as u8))
}

const BLOCK_SIGNINS: u8 = 1;
const BLOCK_WRONG: u8 = 2;
const BLOCK_UNKNOWN: u8 = 3;
const BLOCK_REGISTER: u8 = 255;

fn hello(name: &str, kind: &str, password: &str) -> String {
    json!({"type": "hello", "nick": name, "protocol": 1,
           "auth": {"kind": kind, "password": password}})
    .to_string()
}

/// Connects, sends `hello`, and waits for `welcome` or `error`; the time is connect to answer.
async fn attempt(
    server: SocketAddr,
    from: IpAddr,
    hello: &str,
    limit: Duration,
) -> (Answer, Duration) {
    let t0 = Instant::now();
    let answer = match tokio::time::timeout(limit, exchange(server, from, hello)).await {
        Ok(a) => a,
        Err(_) => Answer::Broken(format!("no answer within {limit:?}")),
    };
    (answer, t0.elapsed())
}

async fn exchange(server: SocketAddr, from: IpAddr, hello: &str) -> Answer {
    let ws = match connect_chat(server, Some(from)).await {
        Ok(ws) => ws,
        Err(e) => return Answer::Broken(format!("connect: {e:#}")),
    };
    if let Err(e) = ws.send(Message::text(hello)).await {
        return Answer::Broken(format!("send hello: {e}"));
    }
    loop {
        let next = ws.next().await;
        let text = match next {
            Some(Ok(Message::Text(ref t))) => t.as_str().to_owned(),
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                let label = end_label(next).unwrap_or_default();
                return Answer::Broken(format!("ended before an answer: {label}"));
            }
            Some(Ok(_)) => continue,
        };
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        match v["type"].as_str() {
            Some("welcome") => {
                // Leave politely; the answer is what was measured.
                let _ = ws.send(Message::Close(None)).await;
                return Answer::Welcome;
            }
            Some("error") => {
                return Answer::Error {
                    code: v["code"].as_str().unwrap_or("?").to_owned(),
                    message: v["message"].as_str().unwrap_or("").to_owned(),
                }
            }
            _ => {}
        }
    }
}

/// Registers `name`; an account of that name that already exists (`nick_taken`) is fine.
async fn register(
    server: SocketAddr,
    name: &str,
    password: &str,
    limit: Duration,
) -> Result<&'static str> {
    let (answer, _) = attempt(
        server,
        forwarded(BLOCK_REGISTER, 1),
        &hello(name, "register", password),
        limit,
    )
    .await;
    match answer {
        Answer::Welcome => Ok("registered"),
        Answer::Error { code, .. } if code == "nick_taken" => Ok("already registered"),
        Answer::Error { code, message } => bail!("registering {name}: {code}: {message}"),
        Answer::Broken(why) => bail!("registering {name}: {why}"),
    }
}

/// Open-loop sign-ins at `rate` per second for `secs`, then waits for the last ones.
pub async fn signins(server: SocketAddr, a: SigninsArgs, limit: Duration) -> Result<Value> {
    if a.rate.is_nan() || a.rate <= 0.0 {
        bail!("--rate must be positive");
    }
    let registered = match a.register {
        true => Some(register(server, &a.name, &a.password, limit).await?),
        false => None,
    };
    let frame = hello(&a.name, "password", &a.password);
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / a.rate));
    // Open loop: a late tick is caught up, so the schedule holds whatever the server does.
    tick.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let total = (a.rate * a.secs).round() as usize;
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(total);
    for n in 0..total {
        tick.tick().await;
        let frame = frame.clone();
        let from = forwarded(BLOCK_SIGNINS, n);
        tasks.push(tokio::task::spawn_local(async move {
            attempt(server, from, &frame, limit).await
        }));
    }
    let sending_s = started.elapsed().as_secs_f64();
    let mut hist = new_histogram();
    let (mut ok, mut failed) = (0u64, BTreeMap::<String, u64>::new());
    let mut first_failure = None;
    for task in tasks {
        let (answer, took) = task.await?;
        match answer {
            Answer::Welcome => {
                ok += 1;
                let _ = hist.record(took.as_nanos().max(1) as u64);
            }
            Answer::Error { code, message } => {
                first_failure.get_or_insert(format!("{code}: {message}"));
                *failed.entry(code).or_default() += 1;
            }
            Answer::Broken(why) => {
                first_failure.get_or_insert(why);
                *failed.entry("broken".to_owned()).or_default() += 1;
            }
        }
    }
    Ok(json!({
        "scenario": "signins",
        "rate": a.rate,
        "secs": a.secs,
        "sending_s": sending_s,
        "wall_s": started.elapsed().as_secs_f64(),
        "registered": registered,
        "attempts": total,
        "ok": ok,
        "failed": failed,
        "first_failure": first_failure,
        "latency": summarize(&hist),
    }))
}

/// Wrong password and unknown name, alternating, one at a time.
pub async fn timing(server: SocketAddr, a: TimingArgs, limit: Duration) -> Result<Value> {
    if a.tries == 0 {
        bail!("--tries must be at least 1");
    }
    let registered = register(server, &a.name, &a.password, limit).await?;
    let wrong_pw = format!("{}-wrong", a.password);
    let mut wrong = Vec::with_capacity(a.tries);
    let mut unknown = Vec::with_capacity(a.tries);
    let mut answers = BTreeMap::<(String, String, String), u64>::new();
    for i in 0..a.tries {
        // Which kind goes first alternates too, so neither always follows the other.
        let order = if i % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for is_wrong in order {
            let (frame, from, kind) = match is_wrong {
                true => (
                    hello(&a.name, "password", &wrong_pw),
                    forwarded(BLOCK_WRONG, i),
                    "wrong",
                ),
                false => (
                    hello(&format!("nobody-{i}"), "password", &a.password),
                    forwarded(BLOCK_UNKNOWN, i),
                    "unknown",
                ),
            };
            let (answer, took) = attempt(server, from, &frame, limit).await;
            let (code, message) = match answer {
                Answer::Welcome => ("welcome".to_owned(), String::new()),
                Answer::Error { code, message } => (code, message),
                Answer::Broken(why) => ("broken".to_owned(), why),
            };
            *answers.entry((kind.to_owned(), code, message)).or_default() += 1;
            let us = took.as_secs_f64() * 1e6;
            if is_wrong {
                wrong.push(us)
            } else {
                unknown.push(us)
            }
        }
    }
    let answer_of = |kind: &str| {
        let mut of = answers.keys().filter(|k| k.0 == kind);
        match (of.next(), of.next()) {
            (Some(k), None) => Some((k.1.clone(), k.2.clone())),
            _ => None,
        }
    };
    let (w, u) = (answer_of("wrong"), answer_of("unknown"));
    let same_code = matches!((&w, &u), (Some(w), Some(u)) if w.0 == u.0 && w.0 == "sign_in_failed");
    let same_message = matches!((&w, &u), (Some(w), Some(u)) if w.1 == u.1);
    let (ws, us) = (spread(&mut wrong), spread(&mut unknown));
    let ratio = us.median_us / ws.median_us;
    Ok(json!({
        "scenario": "signin_timing",
        "tries": a.tries,
        "registered": registered,
        "wrong_password": ws,
        "unknown_name": us,
        "ratio_unknown_over_wrong": ratio,
        "within_10pct": (ratio - 1.0).abs() <= 0.10,
        "same_code": same_code,
        "same_message": same_message,
        "answers": answers.iter().map(|((kind, code, message), n)| {
            json!({"kind": kind, "code": code, "message": message, "count": n})
        }).collect::<Vec<_>>(),
    }))
}

/// Median and 10th/90th percentiles (nearest rank) of a sample, in microseconds.
#[derive(Debug, serde::Serialize)]
struct Spread {
    samples: usize,
    median_us: f64,
    p10_us: f64,
    p90_us: f64,
    min_us: f64,
    max_us: f64,
}

fn spread(v: &mut [f64]) -> Spread {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((q * (v.len() - 1) as f64).round() as usize).min(v.len() - 1)];
    let median = match v.len() % 2 {
        1 => v[v.len() / 2],
        _ => (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0,
    };
    Spread {
        samples: v.len(),
        median_us: median,
        p10_us: at(0.1),
        p90_us: at(0.9),
        min_us: v[0],
        max_us: v[v.len() - 1],
    }
}
