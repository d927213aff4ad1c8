//! Connection churn against a running server, for `bench/churn.sh`: `USERS` users, `CONCURRENCY`
//! at a time, each connecting to `/chat`, joining one of 20 rooms, sending `MSGS` messages with
//! fresh client ids (each acked before the next), and leaving. What the server keeps per send
//! (the idempotency window) shows in its RSS afterwards.
//!
//! `cargo run --release -p server --example churn -- 127.0.0.1:8080 2000 100 40`

use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize, d: usize| args.get(i).and_then(|v| v.parse().ok()).unwrap_or(d);
    let addr = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let (users, msgs, concurrency) = (arg(2, 2000), arg(3, 100), arg(4, 40));
    let prefix = std::process::id();
    let gate = Arc::new(Semaphore::new(concurrency));
    let mut tasks = Vec::new();
    for u in 0..users {
        let (gate, addr) = (gate.clone(), addr.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await.expect("semaphore");
            user(&addr, &format!("c{prefix}u{u}"), u % 20, msgs).await
        }));
    }
    let mut failed = 0;
    for t in tasks {
        if !matches!(t.await, Ok(true)) {
            failed += 1;
        }
    }
    println!("{users} users x {msgs} messages sent; {failed} users failed");
}

async fn user(addr: &str, nick: &str, room: usize, msgs: usize) -> bool {
    let Ok((mut ws, _)) = tokio_tungstenite::connect_async(format!("ws://{addr}/chat")).await
    else {
        return false;
    };
    let send = |t: String| Message::Text(t.into());
    let hello = format!(r#"{{"type":"hello","nick":"{nick}","protocol":1}}"#);
    let join = format!(r#"{{"type":"join","room":"churn{room}"}}"#);
    if ws.send(send(hello)).await.is_err() || ws.send(send(join)).await.is_err() {
        return false;
    }
    for i in 0..msgs {
        let m = format!(
            r#"{{"type":"send","room":"churn{room}","text":"m{i}","client_id":"{nick}-{i}-0123456789abcdef0123456789"}}"#
        );
        if ws.send(send(m)).await.is_err() {
            return false;
        }
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) if t.contains(r#""type":"ack""#) => break,
                Some(Ok(Message::Text(t))) if t.contains(r#""type":"error""#) => return false,
                Some(Ok(_)) => {}
                _ => return false,
            }
        }
    }
    let _ = ws.close(None).await;
    true
}
