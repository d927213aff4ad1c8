//! One receiver's TCP connection, counting every byte it writes and reads: what the transport
//! costs at the application layer (HTTP heads and bodies, WebSocket frames), TCP/IP excluded.

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use super::wire::{self, Response};
use crate::conn;

/// Bytes both ways, summed over all the receivers (one thread: cells).
#[derive(Debug, Default)]
pub struct Counts {
    /// Read from the server.
    pub down: Cell<u64>,
    /// Written to the server.
    pub up: Cell<u64>,
    /// HTTP requests written (polling transports).
    pub requests: Cell<u64>,
}

impl Counts {
    pub fn snapshot(&self) -> (u64, u64, u64) {
        (self.down.get(), self.up.get(), self.requests.get())
    }
}

/// A connection whose reads and writes are counted in `Counts`; what it read and has not yet
/// been parsed stays in `buf`.
pub struct Link {
    tcp: TcpStream,
    pub buf: Vec<u8>,
    counts: Rc<Counts>,
}

impl Link {
    /// Connects client number `slot` from its loopback source address.
    pub async fn connect(addr: SocketAddr, slot: usize, counts: Rc<Counts>) -> Result<Link> {
        let socket = TcpSocket::new_v4()?;
        socket
            .bind(SocketAddr::new(conn::source_addr(slot), 0))
            .context("bind source address")?;
        let tcp = socket.connect(addr).await.context("tcp connect")?;
        // As browsers do: a lone small request must not wait for an ACK (Nagle).
        tcp.set_nodelay(true)?;
        Ok(Link {
            tcp,
            buf: Vec::with_capacity(4096),
            counts,
        })
    }

    /// Writes all of `bytes`.
    pub async fn send(&mut self, bytes: &[u8]) -> Result<()> {
        self.tcp.write_all(bytes).await?;
        add(&self.counts.up, bytes.len());
        Ok(())
    }

    /// Writes one HTTP request (counted as one).
    pub async fn request(&mut self, bytes: &[u8]) -> Result<()> {
        self.counts.requests.set(self.counts.requests.get() + 1);
        self.send(bytes).await
    }

    /// Reads once more into `buf`; the time (`now_ns`) the read returned.
    pub async fn read_more(&mut self) -> Result<u64> {
        let n = self.tcp.read_buf(&mut self.buf).await?;
        if n == 0 {
            bail!("eof");
        }
        add(&self.counts.down, n);
        Ok(conn::now_ns())
    }

    /// The next HTTP response, and when the read that completed it returned.
    pub async fn response(&mut self) -> Result<(Response, u64)> {
        let mut at = conn::now_ns();
        loop {
            if let Some((resp, used)) = wire::parse_response(&self.buf)? {
                self.buf.drain(..used);
                return Ok((resp, at));
            }
            if self.buf.capacity() - self.buf.len() < 1024 {
                self.buf.reserve(4096);
            }
            at = self.read_more().await?;
        }
    }
}

fn add(c: &Cell<u64>, n: usize) {
    c.set(c.get() + n as u64);
}
