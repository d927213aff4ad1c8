//! The floor hub against real WebSocket clients: the built binary on port 0, three clients.

use std::io::{BufRead, BufReader, ErrorKind};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

struct Hub {
    child: Child,
    addr: String,
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Hub {
    let mut child = Command::new(env!("CARGO_BIN_EXE_floor-hub"))
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("floor-hub starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("a line");
    let addr = line
        .trim()
        .rsplit(' ')
        .next()
        .expect("an address")
        .to_owned();
    assert!(line.contains("listening on"), "{line}");
    Hub { child, addr }
}

type Client = WebSocket<MaybeTlsStream<TcpStream>>;

fn client(hub: &Hub, nick: &str) -> Client {
    let (ws, resp) = tungstenite::connect(format!("ws://{}/ws/{nick}", hub.addr)).expect("upgrade");
    assert_eq!(resp.status(), 101);
    if let MaybeTlsStream::Plain(s) = ws.get_ref() {
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
    }
    ws
}

fn text(ws: &mut Client) -> serde_json::Value {
    match ws.read().expect("a frame") {
        Message::Text(t) => serde_json::from_str(t.as_str()).expect("JSON"),
        other => panic!("expected text, got {other:?}"),
    }
}

#[test]
fn every_other_client_gets_each_message_and_the_sender_none() {
    let hub = start();
    let mut a = client(&hub, "ann");
    let mut b = client(&hub, "bob");
    let mut c = client(&hub, "cy");
    // Connections are accepted in order on one thread: once c is upgraded, a and b are too.
    a.send(Message::text("hi \"all\"")).expect("send");
    for ws in [&mut b, &mut c] {
        assert_eq!(
            text(ws),
            serde_json::json!({"sender": "ann", "msg": "hi \"all\""})
        );
    }
    // A frame over 64 KiB takes the 8-byte length form, and more than one write.
    let big = "x".repeat(70_000);
    b.send(Message::text(big.clone())).expect("send");
    for ws in [&mut a, &mut c] {
        assert_eq!(text(ws)["msg"].as_str().map(str::len), Some(big.len()));
    }
    // The sender got neither of its own messages: the next thing it reads is c's.
    c.send(Message::text("last")).expect("send");
    assert_eq!(text(&mut a)["sender"], "cy");
    assert_eq!(text(&mut b)["sender"], "cy");
    if let MaybeTlsStream::Plain(s) = c.get_ref() {
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
    }
    match c.read() {
        Err(tungstenite::Error::Io(e))
            if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        other => panic!("the sender got {other:?}"),
    }
}

#[test]
fn a_path_without_a_nickname_is_refused() {
    let hub = start();
    let err = tungstenite::connect(format!("ws://{}/ws/", hub.addr)).expect_err("refused");
    assert!(
        matches!(&err, tungstenite::Error::Http(r) if r.status() == 404),
        "{err:?}"
    );
    // The hub is still there for the next client.
    let _ok = client(&hub, "dee");
}
