//! The listening socket, with room for a crowd that arrives at once.

use std::io;
use std::net::SocketAddr;
use tokio::net::{TcpListener, TcpSocket};

/// Connections the kernel may complete before the server accepts them; the kernel caps it at
/// `net.core.somaxconn` (4,096 by default since Linux 5.4). Tokio's own `bind` asks for 128:
/// ten thousand clients coming back after a restart overflowed that queue, and every SYN the
/// kernel dropped was sent again only after a second (then three), however idle the server
/// was by then.
const BACKLOG: u32 = 65_535;

/// Listens on `addr` as `TcpListener::bind` does (`SO_REUSEADDR`, so a restart can bind while
/// the last process's connections linger), with the longer queue of `BACKLOG`.
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::net::TcpStream;

    /// Three hundred clients connect at once to a server that has not accepted any of them
    /// yet: the kernel completes every handshake (with a queue of 128, the 130th and later
    /// would wait for SYNs sent again, for as long as the server does not accept).
    #[tokio::test]
    async fn a_crowd_connecting_at_once_is_queued_whole() {
        const CROWD: usize = 300;
        let listener = bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
        let addr = listener.local_addr().expect("addr");
        let connects = (0..CROWD).map(|_| {
            tokio::spawn(tokio::time::timeout(
                Duration::from_secs(10),
                TcpStream::connect(addr),
            ))
        });
        let mut done = 0;
        for c in connects.collect::<Vec<_>>() {
            if matches!(c.await, Ok(Ok(Ok(_)))) {
                done += 1;
            }
        }
        assert_eq!(done, CROWD, "connections completed without an accept");
        drop(listener);
    }
}
