//! Closed-loop senders on the typed protocol: each sends one message, waits for its ack, sends
//! the next. Prints one JSON line: acked messages per second over the measured window, and the
//! ack latency (send to ack) of the sends acked in it: p50, p99, max.
//!
//! Usage: `ackbench <ws-url> <senders> <text-bytes> <seconds>`

use futures_util::{SinkExt, StreamExt};
use shared::{ClientMessage, ClientMsgId, MessageText, Nickname, RoomName, ServerMessage};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

type Error = Box<dyn std::error::Error + Send + Sync>;

async fn sender(
    url: String,
    idx: usize,
    bytes: usize,
    acked: Arc<AtomicU64>,
    measuring: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) -> Result<Vec<Duration>, Error> {
    let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str()).await?;
    let room = RoomName::new(format!("bench{}", idx % 4))?;
    let hello = ClientMessage::Hello {
        nick: Some(Nickname::new(format!("ack{idx}"))?),
        protocol: 1,
        resume_token: None,
        auth: None,
    };
    ws.send(Message::Text(hello.to_json().into())).await?;
    ws.send(Message::Text(
        ClientMessage::Join {
            room: room.clone(),
            after: None,
        }
        .to_json()
        .into(),
    ))
    .await?;
    let text = MessageText::new("x".repeat(bytes))?;
    let mut n = 0u64;
    let mut joined = false;
    let mut latencies = Vec::new();
    let mut sent = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if joined {
            n += 1;
            let m = ClientMessage::Send {
                room: room.clone(),
                text: text.clone(),
                client_id: ClientMsgId::new(format!("a{idx}-{n}"))?,
            };
            sent = Instant::now();
            ws.send(Message::Text(m.to_json().into())).await?;
        }
        // Wait for this send's ack (or, first, the join); skip everything else.
        loop {
            let Some(frame) = ws.next().await else {
                return Err("connection closed".into());
            };
            let Message::Text(t) = frame? else { continue };
            if t.contains("\"type\":\"message\"") {
                continue;
            }
            match serde_json::from_str::<ServerMessage>(&t)? {
                ServerMessage::Ack { .. } if joined => {
                    acked.fetch_add(1, Ordering::Relaxed);
                    if measuring.load(Ordering::Relaxed) {
                        latencies.push(sent.elapsed());
                    }
                    break;
                }
                ServerMessage::Joined { .. } if !joined => {
                    joined = true;
                    break;
                }
                ServerMessage::Error { message, .. } => return Err(message.into()),
                _ => {}
            }
        }
    }
    Ok(latencies)
}

/// The `q` quantile of sorted `v`, in milliseconds.
fn quantile_ms(v: &[Duration], q: f64) -> f64 {
    let Some(last) = v.len().checked_sub(1) else {
        return 0.0;
    };
    v[((last as f64) * q).round() as usize].as_secs_f64() * 1000.0
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 {
        return Err("usage: ackbench <ws-url> <senders> <text-bytes> <seconds>".into());
    }
    let url = args[1].clone();
    let senders: usize = args[2].parse()?;
    let bytes: usize = args[3].parse()?;
    let secs: f64 = args[4].parse()?;
    let acked = Arc::new(AtomicU64::new(0));
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..senders)
        .map(|i| {
            let (acked, measuring, stop) = (acked.clone(), measuring.clone(), stop.clone());
            tokio::spawn(sender(url.clone(), i, bytes, acked, measuring, stop))
        })
        .collect();
    // Warm up, then measure a window.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let start_count = acked.load(Ordering::Relaxed);
    let start = Instant::now();
    measuring.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    measuring.store(false, Ordering::Relaxed);
    let count = acked.load(Ordering::Relaxed) - start_count;
    let elapsed = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    let mut failed = 0;
    for t in tasks {
        match tokio::time::timeout(Duration::from_secs(2), t).await {
            Ok(Ok(Ok(mut v))) => latencies.append(&mut v),
            Ok(Ok(Err(e))) => {
                failed += 1;
                eprintln!("a sender failed: {e}");
            }
            _ => failed += 1,
        }
    }
    latencies.sort_unstable();
    println!(
        "{{\"senders\":{senders},\"bytes\":{bytes},\"acked\":{count},\"seconds\":{elapsed:.3},\"acks_per_sec\":{:.1},\"p50_ms\":{:.3},\"p99_ms\":{:.3},\"max_ms\":{:.3},\"failed_senders\":{failed}}}",
        count as f64 / elapsed,
        quantile_ms(&latencies, 0.5),
        quantile_ms(&latencies, 0.99),
        quantile_ms(&latencies, 1.0),
    );
    Ok(())
}
