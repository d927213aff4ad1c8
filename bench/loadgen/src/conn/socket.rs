//! The socket as tungstenite sees it, with the kernel's arrival timestamp of what it reads.

use std::cell::Cell;
use std::io::{self, IoSliceMut, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;

use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use tokio::io::Interest;
use tokio::net::TcpStream;

use super::clock::real_to_mono;

/// The socket as tungstenite sees it: non-blocking reads and writes through Tokio's readiness
/// (`try_io`/`try_write` answer `WouldBlock` without a syscall when the socket is known not
/// ready). It remembers whether the last `WouldBlock` came from a write, so `Ws::flush` knows
/// to wait for the socket to be writable, and when the data of the last read reached the socket.
pub(super) struct Io {
    tcp: Rc<TcpStream>,
    write_blocked: Rc<Cell<bool>>,
    /// The last read returned less than asked: the socket was empty then.
    pub(super) drained: bool,
    /// When the last read's data arrived (`now_ns` clock; 0: unknown), see `Ws::arrived_ns`.
    arrived: Rc<Cell<u64>>,
    /// The socket has receive timestamps on (`stamp_arrivals`): reads ask for them.
    stamped: bool,
    /// Room for the kernel's receive timestamp.
    cmsg: Vec<u8>,
}

impl Io {
    /// The socket `tcp`, sharing with its `Ws` the flag of a blocked write and the arrival time.
    pub(super) fn new(
        tcp: Rc<TcpStream>,
        write_blocked: Rc<Cell<bool>>,
        arrived: Rc<Cell<u64>>,
        stamped: bool,
    ) -> Io {
        Io {
            tcp,
            write_blocked,
            drained: false,
            arrived,
            stamped,
            cmsg: if stamped {
                nix::cmsg_space!(nix::sys::time::TimeSpec)
            } else {
                Vec::new()
            },
        }
    }
}

pub(super) static STAMP_ARRIVALS: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Clients connected from now on have the kernel stamp each segment's arrival (see
/// `Ws::arrived_ns`). Only the latency scenarios ask: the throughput one does not need it, and
/// `recvmsg` with a timestamp costs more than a plain read.
pub fn stamp_arrivals() {
    STAMP_ARRIVALS.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Reads into `buf`, with the kernel's receive timestamp of the last byte read (realtime ns),
/// when the socket has them enabled (`SO_TIMESTAMPNS`).
// Inlined: on every stamped read.
#[inline]
fn recv_stamped(fd: RawFd, buf: &mut [u8], cmsg: &mut [u8]) -> io::Result<(usize, Option<u64>)> {
    let mut iov = [IoSliceMut::new(buf)];
    let msg = recvmsg::<()>(fd, &mut iov, Some(cmsg), MsgFlags::empty())?;
    let mut at = None;
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmTimestampns(ts) = c {
            let ns = u64::try_from(ts.tv_sec())
                .ok()
                .and_then(|s| s.checked_mul(1_000_000_000))
                .and_then(|s| s.checked_add(u64::try_from(ts.tv_nsec()).ok()?));
            at = ns.filter(|&ns| ns > 0);
        }
    }
    Ok((msg.bytes, at))
}

impl Read for Io {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if std::mem::take(&mut self.drained) {
            // A short read emptied the socket, so the next read would only say `WouldBlock`
            // (one syscall per received message, a third of all the reads in fan-out). epoll(7)
            // allows this for stream sockets: data arriving after that read is a new edge, and
            // wakes the task. Clearing Tokio's readiness costs no syscall.
            return self.tcp.try_io(Interest::READABLE, || {
                Err::<usize, _>(io::ErrorKind::WouldBlock.into())
            });
        }
        if !self.stamped {
            let n = self.tcp.try_read(buf)?;
            self.drained = n > 0 && n < buf.len();
            return Ok(n);
        }
        let fd = self.tcp.as_raw_fd();
        let cmsg = &mut self.cmsg;
        let (n, at) = self
            .tcp
            .try_io(Interest::READABLE, || recv_stamped(fd, buf, cmsg))?;
        self.drained = n > 0 && n < buf.len();
        self.arrived.set(at.map_or(0, real_to_mono));
        Ok(n)
    }
}

impl Write for Io {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let r = self.tcp.try_write(buf);
        self.write_blocked
            .set(matches!(&r, Err(e) if e.kind() == io::ErrorKind::WouldBlock));
        r
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
