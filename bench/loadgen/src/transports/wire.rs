//! The bytes of both transports, parsed and built by hand so every byte on the socket is
//! counted: HTTP/1.1 responses (a `Content-Length` or chunked body) and WebSocket frames
//! (server frames unmasked, client frames masked).

use anyhow::{bail, Context, Result};

/// One HTTP response, its body already de-chunked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Parses the response at the start of `buf`: `None` while it is incomplete, else the response
/// and the bytes it took on the wire (head, body and chunk framing).
pub fn parse_response(buf: &[u8]) -> Result<Option<(Response, usize)>> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    let head_len = match resp.parse(buf).context("response head")? {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => return Ok(None),
    };
    let status = resp.code.unwrap_or(0);
    let headers: Vec<(String, String)> = resp
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_ascii_lowercase(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    let find = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v);
    let chunked =
        find("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let rest = &buf[head_len..];
    let (body, body_len) = if chunked {
        match dechunk(rest)? {
            Some(b) => b,
            None => return Ok(None),
        }
    } else {
        // No length and not chunked: 1xx, 204 and 304 have no body; the server's other answers
        // all carry a length (a body ending at the close is not expected here).
        let len: usize = match find("content-length") {
            Some(v) => v.trim().parse().context("content-length")?,
            None => 0,
        };
        if rest.len() < len {
            return Ok(None);
        }
        (rest[..len].to_vec(), len)
    };
    Ok(Some((
        Response {
            status,
            headers,
            body,
        },
        head_len + body_len,
    )))
}

/// A chunked body at the start of `buf`: the data and the bytes taken, `None` while incomplete.
fn dechunk(buf: &[u8]) -> Result<Option<(Vec<u8>, usize)>> {
    let mut body = Vec::new();
    let mut at = 0;
    loop {
        let Some(eol) = memchr::memmem::find(&buf[at..], b"\r\n") else {
            return Ok(None);
        };
        let line = std::str::from_utf8(&buf[at..at + eol]).context("chunk size")?;
        let size_hex = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_hex, 16).context("chunk size")?;
        at += eol + 2;
        if size == 0 {
            // Trailers, if any, then the empty line.
            loop {
                let Some(eol) = memchr::memmem::find(&buf[at..], b"\r\n") else {
                    return Ok(None);
                };
                at += eol + 2;
                if eol == 0 {
                    return Ok(Some((body, at)));
                }
            }
        }
        if buf.len() < at + size + 2 {
            return Ok(None);
        }
        body.extend_from_slice(&buf[at..at + size]);
        if &buf[at + size..at + size + 2] != b"\r\n" {
            bail!("chunk without its CRLF");
        }
        at += size + 2;
    }
}

/// One WebSocket frame as parsed: its opcode and where its (unmasked) payload lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    pub fin: bool,
    pub opcode: u8,
    pub payload: (usize, usize),
}

pub const OP_TEXT: u8 = 1;
pub const OP_CLOSE: u8 = 8;
pub const OP_PING: u8 = 9;
pub const OP_PONG: u8 = 10;

/// Parses the frame at the start of `buf`: `None` while incomplete, else the frame and its
/// length on the wire (header, mask key, payload). A masked frame is unmasked in place.
pub fn parse_frame(buf: &mut [u8]) -> Result<Option<(Frame, usize)>> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let fin = buf[0] & 0x80 != 0;
    let opcode = buf[0] & 0x0f;
    let masked = buf[1] & 0x80 != 0;
    let (len, mut at) = match buf[1] & 0x7f {
        126 if buf.len() >= 4 => (u64::from(u16::from_be_bytes([buf[2], buf[3]])), 4),
        127 if buf.len() >= 10 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[2..10]);
            (u64::from_be_bytes(b), 10)
        }
        126 | 127 => return Ok(None),
        n => (u64::from(n), 2),
    };
    let len = usize::try_from(len).context("frame length")?;
    if len > 1 << 24 {
        bail!("frame of {len} bytes");
    }
    let key_at = at;
    if masked {
        at += 4;
    }
    if buf.len() < at + len {
        return Ok(None);
    }
    if masked {
        let key = [
            buf[key_at],
            buf[key_at + 1],
            buf[key_at + 2],
            buf[key_at + 3],
        ];
        for (i, b) in buf[at..at + len].iter_mut().enumerate() {
            *b ^= key[i % 4];
        }
    }
    Ok(Some((
        Frame {
            fin,
            opcode,
            payload: (at, at + len),
        },
        at + len,
    )))
}

/// A final client frame: masked with `key`, as RFC 6455 requires of clients.
pub fn client_frame(opcode: u8, payload: &[u8], key: [u8; 4]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 14);
    out.push(0x80 | opcode);
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n <= 0xffff => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&key);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    out
}
