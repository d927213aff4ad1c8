//! The receive buffer of a client, in which server frames are parsed where they were read.

/// Largest message accepted (the typed protocol's `joined` lists every member of a 10k room).
pub(super) const MAX_MESSAGE: usize = 64 << 20;

/// The receive side of a client. Server frames are parsed where they were read, and a text is
/// handed to the caller as a slice of this buffer: no copy, no allocation, no UTF-8 check (the
/// load generator only looks for its ASCII marker).
pub(super) struct Rx {
    pub(super) buf: Vec<u8>,
    /// Unparsed bytes are `buf[start..end]`.
    pub(super) start: usize,
    pub(super) end: usize,
    /// Bytes asked of each read.
    chunk: usize,
    /// A message arriving in fragments: its opcode and payload so far.
    pub(super) partial: Option<(u8, Vec<u8>)>,
}

/// One frame parsed out of `Rx::buf`.
pub(super) struct Frame {
    pub(super) opcode: u8,
    pub(super) fin: bool,
    /// The payload is `buf[at..at + len]`.
    pub(super) at: usize,
    pub(super) len: usize,
}

impl Rx {
    pub(super) fn new(chunk: usize, leftover: &[u8]) -> Rx {
        Rx {
            buf: leftover.to_vec(),
            start: 0,
            end: leftover.len(),
            chunk: chunk.max(64),
            partial: None,
        }
    }

    /// The next whole frame in the buffer, consumed (`Ok(None)`: it needs more bytes).
    pub(super) fn frame(&mut self) -> Result<Option<Frame>, String> {
        let f = self.peek()?;
        if let Some(f) = &f {
            self.start = f.at + f.len;
        }
        Ok(f)
    }

    /// The next whole frame in the buffer, left there.
    pub(super) fn peek(&self) -> Result<Option<Frame>, String> {
        let b = &self.buf[self.start..self.end];
        if b.len() < 2 {
            return Ok(None);
        }
        if b[0] & 0x70 != 0 {
            return Err(format!("reserved bits set in 0x{:02x}", b[0]));
        }
        if b[1] & 0x80 != 0 {
            return Err("the server masked a frame".into());
        }
        let (len, head) = match b[1] & 0x7f {
            126 if b.len() >= 4 => (u64::from(u16::from_be_bytes([b[2], b[3]])), 4),
            127 if b.len() >= 10 => {
                let mut l = [0u8; 8];
                l.copy_from_slice(&b[2..10]);
                (u64::from_be_bytes(l), 10)
            }
            126 | 127 => return Ok(None),
            n => (u64::from(n), 2),
        };
        let len = usize::try_from(len)
            .ok()
            .filter(|&l| l <= MAX_MESSAGE)
            .ok_or_else(|| format!("a {len}-byte frame"))?;
        if b.len() < head + len {
            return Ok(None);
        }
        Ok(Some(Frame {
            opcode: b[0] & 0x0f,
            fin: b[0] & 0x80 != 0,
            at: self.start + head,
            len,
        }))
    }

    /// Makes room for one more read of `chunk` bytes after the unparsed ones.
    pub(super) fn room(&mut self) -> &mut [u8] {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        if self.buf.len() - self.end < self.chunk {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.buf.len() - self.end < self.chunk {
                self.buf.resize(self.end + self.chunk, 0);
            }
        }
        &mut self.buf[self.end..self.end + self.chunk]
    }
}
