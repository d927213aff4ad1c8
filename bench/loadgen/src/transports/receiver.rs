//! One receiver on each transport: a WebSocket (`/chat`), a long poll (`GET /poll` held by
//! the server until there is something) or a short poll (`GET /poll` every period, answered
//! at once). Each connects, says `hello` and joins `general`, counts itself ready once it saw
//! `joined`, then times every message until the end of the run.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite;

use super::link::Link;
use super::tally::Tally;
use super::wire::{self, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT};
use super::Transport;
use crate::conn;

/// What every receiver needs to know.
#[derive(Debug, Clone)]
pub struct RecvArgs {
    pub addr: SocketAddr,
    pub transport: Transport,
    pub receivers: usize,
    /// Short polling: one `GET` per period.
    pub period: Duration,
    /// More header lines for a short poll's `GET` (each ending in CRLF), e.g. one asking the
    /// server not to wait.
    pub short_header: String,
    pub connect_timeout: Duration,
}

const JOINED: &[u8] = b"\"type\":\"joined\"";

/// Receiver number `slot`: connects (at most `sem`'s permits at once), then reads until its
/// connection ends or the run is over.
pub async fn run(t: Rc<Tally>, args: Rc<RecvArgs>, slot: usize, sem: Rc<Semaphore>) {
    let nick = format!("r{slot}");
    let end = match args.transport {
        Transport::Ws => ws(&t, &args, slot, &nick, &sem).await,
        Transport::Long | Transport::Short => poll(&t, &args, slot, &nick, &sem).await,
    };
    if let Err(e) = end {
        t.end(format!("{e:#}").chars().take(80).collect());
    }
}

fn hello(nick: &str) -> String {
    serde_json::json!({"type": "hello", "nick": nick, "protocol": 1}).to_string()
}

fn join() -> String {
    serde_json::json!({"type": "join", "room": "general"}).to_string()
}

/// A mask key for a client frame (RFC 6455 wants it unpredictable to intermediaries; here
/// anything varied will do).
fn mask_key() -> [u8; 4] {
    let x = conn::now_ns();
    let x = x ^ (x >> 29) ^ (x << 7);
    (x as u32).to_le_bytes()
}

async fn ws(t: &Tally, args: &RecvArgs, slot: usize, nick: &str, sem: &Semaphore) -> Result<()> {
    let opened = {
        let _permit = sem.acquire().await?;
        tokio::time::timeout(args.connect_timeout, ws_open(t, args, slot, nick)).await
    };
    let mut link = match opened {
        Ok(Ok(link)) => link,
        Ok(Err(e)) => {
            t.connect_failed(format!("{e:#}"));
            return Ok(());
        }
        Err(_) => {
            t.connect_failed("connect+login timed out".to_owned());
            return Ok(());
        }
    };
    let mut joined = false;
    let mut last = None;
    loop {
        let at = link.read_more().await?;
        let mut pongs = Vec::new();
        let mut used = 0;
        while let Some((f, n)) = wire::parse_frame(&mut link.buf[used..])? {
            let payload = &link.buf[used + f.payload.0..used + f.payload.1];
            match f.opcode {
                OP_TEXT => {
                    if !joined && memchr::memmem::find(payload, JOINED).is_some() {
                        joined = true;
                        t.ready.set(t.ready.get() + 1);
                    }
                    t.text(payload, at, &mut last);
                }
                OP_PING => pongs.push(wire::client_frame(OP_PONG, payload, mask_key())),
                OP_CLOSE => {
                    let code = payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]]));
                    bail!("close {}", code.unwrap_or(0));
                }
                _ => {}
            }
            used += n;
        }
        link.buf.drain(..used);
        for p in pongs {
            link.send(&p).await?;
        }
    }
}

/// Connects, upgrades to a WebSocket on `/chat`, says `hello` and `join`.
async fn ws_open(t: &Tally, args: &RecvArgs, slot: usize, nick: &str) -> Result<Link> {
    let mut link = Link::connect(args.addr, slot, t.counts.clone()).await?;
    let key = tungstenite::handshake::client::generate_key();
    let upgrade = format!(
        "GET /chat HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n\r\n",
        args.addr
    );
    link.request(upgrade.as_bytes()).await?;
    let (resp, _) = link.response().await?;
    if resp.status != 101 {
        bail!("upgrade: HTTP {}", resp.status);
    }
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    if resp.header("sec-websocket-accept") != Some(accept.as_str()) {
        bail!("wrong Sec-WebSocket-Accept");
    }
    for text in [hello(nick), join()] {
        link.send(&wire::client_frame(OP_TEXT, text.as_bytes(), mask_key()))
            .await?;
    }
    Ok(link)
}

async fn poll(t: &Tally, args: &RecvArgs, slot: usize, nick: &str, sem: &Semaphore) -> Result<()> {
    let opened = {
        let _permit = sem.acquire().await?;
        tokio::time::timeout(args.connect_timeout, poll_open(t, args, slot, nick)).await
    };
    let (mut link, session) = match opened {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => {
            t.connect_failed(format!("{e:#}"));
            return Ok(());
        }
        Err(_) => {
            t.connect_failed("session open timed out".to_owned());
            return Ok(());
        }
    };
    let short = args.transport == Transport::Short;
    let extra = if short {
        args.short_header.as_str()
    } else {
        ""
    };
    let mut ack: u64 = 0;
    let mut joined = false;
    let mut last = None;
    // Short polls are spread evenly over the period, as independent clients' would be; the
    // schedule starts once logged in.
    let offset = args
        .period
        .mul_f64(slot as f64 / args.receivers.max(1) as f64);
    let mut next = tokio::time::Instant::now();
    loop {
        if short && joined {
            tokio::time::sleep_until(next).await;
            next = (next + args.period).max(tokio::time::Instant::now());
        }
        let get = format!(
            "GET /poll HTTP/1.1\r\nHost: {}\r\n{}: {session}\r\n{}: {ack}\r\n{extra}\r\n",
            args.addr,
            shared::POLL_SESSION,
            shared::POLL_ACK
        );
        link.request(get.as_bytes()).await?;
        let (resp, at) = link.response().await?;
        if let Some(code) = resp.header(shared::POLL_CLOSE) {
            bail!("close {code}");
        }
        if resp.status != 200 && resp.status != 204 {
            bail!("poll: HTTP {}", resp.status);
        }
        for line in resp.body.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            if !joined && memchr::memmem::find(line, JOINED).is_some() {
                joined = true;
                t.ready.set(t.ready.get() + 1);
                next = tokio::time::Instant::now() + offset;
            }
            t.text(line, at, &mut last);
        }
        if let Some(seq) = resp.header(shared::POLL_SEQ) {
            ack = seq.trim().parse().context("chat-seq")?;
        }
        if short && !joined && resp.body.is_empty() {
            // Still logging in on a server that answers at once: do not spin.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Opens a poll session whose first request carries `hello` and `join`.
async fn poll_open(t: &Tally, args: &RecvArgs, slot: usize, nick: &str) -> Result<(Link, String)> {
    let mut link = Link::connect(args.addr, slot, t.counts.clone()).await?;
    let body = format!("{}\n{}\n", hello(nick), join());
    let post = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        shared::POLL_PATH,
        args.addr,
        body.len()
    );
    link.request(post.as_bytes()).await?;
    let (resp, _) = link.response().await?;
    if resp.status != 201 {
        bail!(
            "open: HTTP {} {}",
            resp.status,
            String::from_utf8_lossy(&resp.body)
                .chars()
                .take(100)
                .collect::<String>()
        );
    }
    let session = resp
        .header(shared::POLL_SESSION)
        .context("no session id")?
        .to_owned();
    Ok((link, session))
}
