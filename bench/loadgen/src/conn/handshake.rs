//! The client's WebSocket upgrade, written by hand so that whatever the server sent right after
//! its answer stays in the client's receive buffer.

use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;

use anyhow::{bail, Context, Result};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, WebSocket};

use super::{Io, Rx, Ws};

impl Ws {
    /// Performs the client handshake on a connected socket; `chunk` is the size of each read,
    /// `stamped` whether the socket has receive timestamps on. `extra` is more header lines,
    /// each ending in CRLF (empty for none).
    pub(super) async fn handshake(
        stream: TcpStream,
        host: &str,
        path: &str,
        extra: &str,
        chunk: usize,
        stamped: bool,
    ) -> Result<Ws> {
        let key = tungstenite::handshake::client::generate_key();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n{extra}\r\n"
        );
        let mut out = request.as_bytes();
        while !out.is_empty() {
            stream.writable().await?;
            match stream.try_write(out) {
                Ok(n) => out = &out[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e.into()),
            }
        }
        let mut resp = Vec::with_capacity(512);
        let (head, leftover) = loop {
            stream.readable().await?;
            let mut chunk = [0u8; 1024];
            match stream.try_read(&mut chunk) {
                Ok(0) => bail!("connection closed during the handshake"),
                Ok(n) => resp.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e.into()),
            }
            if let Some(at) = memchr::memmem::find(&resp, b"\r\n\r\n") {
                break (resp[..at + 4].to_vec(), resp[at + 4..].to_vec());
            }
            if resp.len() > 16 * 1024 {
                bail!("no end to the handshake's answer");
            }
        };
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut answer = httparse::Response::new(&mut headers);
        answer.parse(&head).context("the handshake's answer")?;
        if answer.code != Some(101) {
            bail!(
                "HTTP {} {}",
                answer.code.unwrap_or(0),
                answer.reason.unwrap_or("")
            );
        }
        let accept = answer
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("sec-websocket-accept"))
            .map(|h| h.value);
        if accept != Some(tungstenite::handshake::derive_accept_key(key.as_bytes()).as_bytes()) {
            bail!("wrong Sec-WebSocket-Accept");
        }
        let tcp = Rc::new(stream);
        let write_blocked = Rc::new(Cell::new(false));
        let arrived = Rc::new(Cell::new(0));
        let io = Io::new(tcp.clone(), write_blocked.clone(), arrived.clone(), stamped);
        // tungstenite only sends: its own read buffer stays small.
        let config = WebSocketConfig::default().read_buffer_size(256);
        let ws = WebSocket::from_raw_socket(io, tungstenite::protocol::Role::Client, Some(config));
        Ok(Ws {
            tcp,
            write_blocked,
            arrived,
            ws: RefCell::new(ws),
            rx: RefCell::new(Rx::new(chunk, &leftover)),
        })
    }
}
