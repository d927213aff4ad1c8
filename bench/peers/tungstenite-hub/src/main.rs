//! A plain tokio-tungstenite chat hub speaking the demo protocol, written the way that crate's
//! own `examples/server.rs` is: a map of peers, an unbounded channel per peer, and one
//! `unbounded_send` per recipient for every message. It is the benchmark's "no engineering"
//! baseline: what the same library gives before any of our server's work.
//!
//! `ws://HOST:PORT/ws/<nickname>`: the client sends plain text; every other connected user gets
//! `{"sender":"<nickname>","msg":"<text>"}`; the sender gets nothing back.
//!
//! Usage: `tungstenite-hub --listen 127.0.0.1:PORT`

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use futures_channel::mpsc::{unbounded, UnboundedSender};
use futures_util::{future, pin_mut, stream::TryStreamExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::Message;

type Tx = UnboundedSender<Message>;
type PeerMap = Arc<Mutex<HashMap<SocketAddr, Tx>>>;

/// `/ws/<nickname>` -> the nickname (percent-decoding is not needed for the benchmark's ASCII
/// names, and the example does none).
fn nickname(path: &str) -> Option<String> {
    let nick = path.strip_prefix("/ws/")?;
    (!nick.is_empty() && !nick.contains('/')).then(|| nick.to_owned())
}

// The handshake callback's signature (and its large `ErrorResponse`) is tungstenite's.
#[allow(clippy::result_large_err)]
async fn handle_connection(peer_map: PeerMap, raw_stream: TcpStream, addr: SocketAddr) {
    // The one line the example lacks: without it Nagle holds small frames back waiting for an
    // ACK (delayed up to 40 ms on loopback), which would measure the kernel, not the hub.
    let _ = raw_stream.set_nodelay(true);
    let mut nick = None;
    let callback = |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
        match nickname(req.uri().path()) {
            Some(n) => {
                nick = Some(n);
                Ok(resp)
            }
            None => {
                let mut err = ErrorResponse::new(Some("use /ws/<nickname>".into()));
                *err.status_mut() = StatusCode::NOT_FOUND;
                Err(err)
            }
        }
    };
    let ws_stream = match tokio_tungstenite::accept_hdr_async(raw_stream, callback).await {
        Ok(ws) => ws,
        Err(_) => return,
    };
    let Some(nick) = nick else { return };

    let (tx, rx) = unbounded();
    peer_map
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .insert(addr, tx);

    let (outgoing, incoming) = ws_stream.split();

    let broadcast_incoming = incoming.try_for_each(|msg| {
        if let Message::Text(text) = msg {
            let out = serde_json::json!({ "sender": nick, "msg": text.as_str() }).to_string();
            let out = Message::text(out);
            let peers = peer_map
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let recipients = peers
                .iter()
                .filter(|(peer_addr, _)| peer_addr != &&addr)
                .map(|(_, ws_sink)| ws_sink);
            for recp in recipients {
                // A peer whose task already ended has dropped its receiver: nothing to do.
                let _ = recp.unbounded_send(out.clone());
            }
        }
        future::ok(())
    });

    let receive_from_others = rx.map(Ok).forward(outgoing);

    pin_mut!(broadcast_incoming, receive_from_others);
    future::select(broadcast_incoming, receive_from_others).await;

    peer_map
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .remove(&addr);
}

#[tokio::main]
async fn main() -> Result<(), std::io::Error> {
    let mut args = std::env::args().skip(1);
    let mut listen = String::from("127.0.0.1:8080");
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => listen = args.next().unwrap_or(listen),
            other => {
                eprintln!("unknown argument `{other}`; usage: tungstenite-hub --listen HOST:PORT");
                std::process::exit(2);
            }
        }
    }

    let state = PeerMap::new(Mutex::new(HashMap::new()));
    let listener = TcpListener::bind(&listen).await?;
    println!("listening on http://{}", listener.local_addr()?);

    loop {
        match listener.accept().await {
            Ok((stream, addr)) => {
                tokio::spawn(handle_connection(state.clone(), stream, addr));
            }
            // Out of file descriptors and the like: keep serving the connections we have.
            Err(err) => {
                eprintln!("accept failed: {err}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}
