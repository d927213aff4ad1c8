//! Test support for clusters: a real redis-server on a free loopback port (killed when
//! dropped, even on a panic) and real server processes as its nodes.

use super::{spawn_binary, Client};
use shared::ServerMessage;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Persistence a test's Redis runs with unless it asks otherwise: AOF, fsync on every write,
/// so a restart keeps every acked message.
pub const DURABLE: &[&str] = &["--appendonly", "yes", "--appendfsync", "always"];

pub struct Redis {
    child: Child,
    pub port: u16,
    pub dir: PathBuf,
    persistence: Vec<String>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Starts redis-server on `port` and waits until it answers there. Fails when the port turns
/// out to be another's: two tests can be handed the same free port, and then the second
/// redis-server exits while the first one answers its connections.
fn try_spawn_redis(port: u16, dir: &PathBuf, persistence: &[String]) -> Result<Child, String> {
    let mut child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .args(persistence)
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server (installed by scripts/setup.sh test)");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("redis-server on port {port} exited: {status}"));
        }
        if let Some(pid) = pid_serving(port) {
            if pid == child.id() {
                return Ok(child);
            }
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("port {port} is served by another process ({pid})"));
        }
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs one command with redis-cli against `port` (blocking): its output. Its complaints
/// (nothing listening yet, while a start is awaited) stay out of the test's output.
fn redis_cli(port: u16, args: &[&str]) -> std::io::Result<String> {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .stderr(Stdio::null())
        .output()?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The process id of the Redis answering on `port`, if one does.
fn pid_serving(port: u16) -> Option<u32> {
    redis_cli(port, &["INFO", "server"])
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("process_id:"))
        .and_then(|pid| pid.trim().parse().ok())
}

/// Starts redis-server on `port`, which the test already owns; panics if another has it.
fn spawn_redis(port: u16, dir: &PathBuf, persistence: &[String]) -> Child {
    try_spawn_redis(port, dir, persistence).unwrap_or_else(|e| panic!("{e}"))
}

impl Redis {
    /// Persistent ([`DURABLE`]).
    pub fn start(tag: &str) -> Redis {
        Self::start_with(tag, DURABLE)
    }

    /// With these persistence flags (none: Redis's defaults, `appendonly no`).
    pub fn start_with(tag: &str, persistence: &[&str]) -> Redis {
        let dir = std::env::temp_dir().join(format!("chat-redis-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        let persistence: Vec<String> = persistence.iter().map(|s| s.to_string()).collect();
        let (port, child) = (0..5)
            .find_map(|_| {
                let port = free_port();
                try_spawn_redis(port, &dir, &persistence)
                    .ok()
                    .map(|child| (port, child))
            })
            .expect("redis-server did not start on any of five free ports");
        Redis {
            child,
            port,
            dir,
            persistence,
        }
    }

    /// Persistent ([`DURABLE`]), on `port`, over the data in `dir`.
    pub fn start_on(port: u16, dir: PathBuf) -> Redis {
        let persistence: Vec<String> = DURABLE.iter().map(|s| s.to_string()).collect();
        let child = spawn_redis(port, &dir, &persistence);
        Redis {
            child,
            port,
            dir,
            persistence,
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Kills Redis (SIGKILL) and starts it again on the same port, over the same directory.
    pub fn restart(&mut self) {
        self.kill();
        self.start_again();
    }

    /// Starts a killed Redis again on the same port, over the same directory.
    pub fn start_again(&mut self) {
        self.child = spawn_redis(self.port, &self.dir, &self.persistence);
    }

    /// Sends `signal` (`STOP`, `CONT`) to redis-server: a stopped Redis keeps its sockets open
    /// and answers nothing, as a hung host would.
    pub fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill -{signal} redis-server");
    }

    /// Runs one command with redis-cli (blocking): its output.
    pub fn cli(&self, args: &[&str]) -> String {
        redis_cli(self.port, args).expect("redis-cli")
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub struct Node {
    child: Child,
    pub addr: String,
}

impl Node {
    pub fn start(redis: &Redis) -> Node {
        Self::start_at(&redis.url(), &[])
    }

    /// A node on Redis at `url` (a proxy's, say), with `args` besides.
    pub fn start_at(url: &str, args: &[&str]) -> Node {
        let mut all = vec!["--redis", url, "--rate-per-sec", "0"];
        all.extend_from_slice(args);
        let (child, addr) = spawn_binary(&all);
        Node { child, addr }
    }

    pub fn url(&self) -> String {
        format!("ws://{}/chat", self.addr)
    }

    pub async fn connect(&self, nick: &str) -> (Client, String) {
        let mut c = Client::open(&self.url()).await;
        match c.hello(nick).await {
            ServerMessage::Welcome { resume_token, .. } => (c, resume_token),
            other => panic!("{other:?}"),
        }
    }

    pub async fn join(&self, nick: &str, room_s: &str) -> Client {
        let (mut c, _) = self.connect(nick).await;
        let j = c.join(room_s, None).await;
        assert!(matches!(j, ServerMessage::Joined { .. }), "{j:?}");
        c
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits up to `within` for the node to exit by itself; its exit code (None: still up).
    pub fn exited(&mut self, within: std::time::Duration) -> Option<i32> {
        let deadline = std::time::Instant::now() + within;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status.code().unwrap_or(-1));
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

pub async fn next_message(c: &mut Client) -> shared::ChatMessage {
    match c
        .recv_until(|m| matches!(m, ServerMessage::Message(_)))
        .await
    {
        ServerMessage::Message(m) => m,
        _ => unreachable!(),
    }
}
