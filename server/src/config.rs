//! Server configuration: command-line flags, each with an environment-variable twin, and the
//! operator commands run instead of the server (`server user …`, `server backup`).

use clap::{Parser, Subcommand, ValueEnum};
use shared::Nickname;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Which message store backs history and idempotency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StoreKind {
    /// SQLite under --data-dir: every acked message survives a crash and a restart.
    Sqlite,
    /// Keep history in memory only: lost on restart. For ephemeral use and tests.
    Memory,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s.split_at(
        s.find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(s.len()),
    );
    let n: f64 = num
        .parse()
        .map_err(|_| format!("bad duration `{s}` (try 500ms, 10s, 2m, 1h, 14d)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86400.0,
        _ => return Err(format!("bad duration unit in `{s}` (use ms, s, m, h or d)")),
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("bad duration `{s}`"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Whether clients without an account may chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Guests {
    /// Anyone may pick a free, unregistered name (the demo's flow; `/ws/<nick>` works).
    Allow,
    /// Only signed-in users: both endpoints refuse guests (4011).
    Deny,
}

/// Who may create accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Registration {
    /// Anyone, within `--registration-rate` per address and `--max-accounts`.
    Open,
    /// Only operators (`server user add`).
    Closed,
}

/// How log lines are written (to stderr).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event, with its spans' fields.
    Text,
    /// One JSON object per line: `timestamp`, `level`, `fields`, `target`, and `span`, the
    /// fields of the span the event is in (a connection's `conn`: id, peer, endpoint, user,
    /// close).
    Json,
}

/// A network in CIDR form, or one address (a /32 or /128).
fn parse_net(s: &str) -> Result<ipnet::IpNet, String> {
    let s = s.trim();
    s.parse::<ipnet::IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("bad address or network `{s}` (try 10.0.0.1 or 10.0.0.0/8)"))
}

/// A real-time chat hub: the web client, the chat WebSocket, /healthz and /metrics on one port.
#[derive(Debug, Clone, Parser)]
#[command(name = "server", version, about, long_about = None)]
pub struct Config {
    /// Address to listen on (host:port). Port 0 picks a free port; the chosen address is printed.
    #[arg(long, env = "CHAT_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Serve `/metrics` (Prometheus, OpenMetrics text) on this address (host:port), apart
    /// from the public port, where it is never served. Unset: no metrics endpoint.
    #[arg(long, env = "CHAT_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,

    /// Serve the web client from this directory (a `trunk` build, say) instead of the copy
    /// embedded in the binary. `.gz` and `.br` files beside a file are its precompressed forms.
    #[arg(long, env = "CHAT_STATIC_DIR")]
    pub static_dir: Option<PathBuf>,

    /// Message store: `sqlite` (durable, under --data-dir) or `memory` (lost on restart).
    #[arg(
        long,
        env = "CHAT_STORE",
        value_enum,
        default_value = "sqlite",
        global = true
    )]
    pub store: StoreKind,

    /// Directory for persistent data (the SQLite database).
    #[arg(long, env = "CHAT_DATA_DIR", default_value = "data", global = true)]
    pub data_dir: PathBuf,

    /// Redis URL (redis://host:port): run as one node of a cluster. History, ids, users,
    /// presence and fan-out are then shared through Redis (`--store` is not used).
    #[arg(long, env = "CHAT_REDIS", global = true)]
    pub redis: Option<String>,

    /// Redis: refuse to start unless Redis fsyncs every write before answering (`appendonly
    /// yes`, `appendfsync always`), so that an ack means the message is on Redis's disk.
    /// Checked again every 2 s; sends are refused while it does not.
    #[arg(long, env = "CHAT_REDIS_DURABLE")]
    pub redis_durable: bool,

    /// SQLite store (and Redis history): messages kept per room or conversation (0: no cap).
    #[arg(long, env = "CHAT_RETENTION_PER_ROOM", default_value_t = 100_000)]
    pub retention_per_room: u64,

    /// SQLite store: delete messages older than this many days (0: keep forever).
    #[arg(long, env = "CHAT_RETENTION_DAYS", default_value_t = 0)]
    pub retention_days: u64,

    /// SQLite store: milliseconds between the starts of two retention passes. A pass deletes
    /// a bounded batch between two group commits until the limits hold again.
    #[arg(long, env = "CHAT_RETENTION_INTERVAL_MS", default_value_t = 30_000)]
    pub retention_interval_ms: u64,

    /// SQLite store: fsync every group commit (`true`, survives power loss) or rely on the
    /// WAL (`false`, survives a process crash; faster).
    #[arg(long, env = "CHAT_SQLITE_SYNC_FULL", default_value_t = true, action = clap::ArgAction::Set)]
    pub sqlite_sync_full: bool,

    /// SQLite store with full sync: how long (milliseconds, from its commit) the fsync of a
    /// lone message may wait at a light load for the next message to share it. Its ack waits
    /// too; its delivery does not. Waits that go unshared pause waiting. 0: never wait.
    #[arg(long, env = "CHAT_SQLITE_FSYNC_LINGER_MS", default_value_t = 25)]
    pub sqlite_fsync_linger_ms: u64,

    /// Maximum simultaneous WebSocket connections; past it, new upgrades get HTTP 503.
    #[arg(long, env = "CHAT_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,

    /// Maximum simultaneous plain-HTTP connections (files, /healthz, /metrics, and every
    /// connection still in its request head), counted apart from the WebSocket ones; past it,
    /// new ones get HTTP 503.
    #[arg(long, env = "CHAT_MAX_HTTP_CONNECTIONS", default_value_t = 1024)]
    pub max_http_connections: usize,

    /// Connections (WebSocket and HTTP) one client address may hold at once; IPv6 addresses
    /// count per /64. 0: no limit.
    #[arg(long, env = "CHAT_MAX_CONNECTIONS_PER_IP", default_value_t = 1000)]
    pub max_connections_per_ip: usize,

    /// New connections per second one client address may open, sustained (IPv6 per /64).
    /// 0: no limit.
    #[arg(long, env = "CHAT_HANDSHAKE_RATE_PER_IP", default_value_t = 50)]
    pub handshake_rate_per_ip: u32,

    /// New connections one client address may open at once above the sustained rate.
    #[arg(long, env = "CHAT_HANDSHAKE_BURST_PER_IP", default_value_t = 1000)]
    pub handshake_burst_per_ip: u32,

    /// Reverse proxies (addresses or CIDR blocks, comma-separated) whose `X-Forwarded-For` is
    /// believed: the client is the right-most address in it that is not a trusted proxy.
    #[arg(long, env = "CHAT_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_net)]
    pub trusted_proxies: Vec<ipnet::IpNet>,

    /// Host names (or `name:port`) requests may be addressed to, comma-separated; checked on
    /// every request against DNS rebinding. Always allowed: localhost names and loopback
    /// addresses; when not bound to loopback, also any IP address. `*` allows every host
    /// (unsafe: a page on any domain that resolves to this server can use it).
    #[arg(long, env = "CHAT_ALLOWED_HOSTS", value_delimiter = ',')]
    pub allowed_hosts: Vec<String>,

    /// Plain HTTP: how long a response write may make no progress (a client that does not
    /// read) before the connection is dropped.
    #[arg(long, env = "CHAT_HTTP_WRITE_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub http_write_timeout: Duration,

    /// Largest accepted WebSocket message or frame, in bytes; larger ones close with 1009.
    #[arg(long, env = "CHAT_MAX_MESSAGE_BYTES", default_value_t = 16 * 1024)]
    pub max_message_bytes: usize,

    /// Frames queued per connection beyond what its socket holds; a client that lets the
    /// queue fill is closed with 4008. The kernel holds little unsent (see
    /// `--socket-unsent-limit`), so this queue absorbs a reader's short lags: sized so that
    /// for chat-sized messages the byte bound below is the one that binds.
    #[arg(long, env = "CHAT_OUTBOUND_QUEUE", default_value_t = 8192)]
    pub outbound_queue: usize,

    /// Bytes queued per connection beyond what its socket holds; over it, closed with 4008.
    #[arg(long, env = "CHAT_OUTBOUND_QUEUE_BYTES", default_value_t = 1024 * 1024)]
    pub outbound_queue_bytes: usize,

    /// How long a client's socket may stay full, with nothing read, while messages for it keep
    /// coming; then it is closed with 4008 (and can resume from history).
    #[arg(long, env = "CHAT_OUTBOUND_STALL", default_value = "3s", value_parser = parse_duration)]
    pub outbound_stall: Duration,

    /// Bytes the kernel may hold unsent for one WebSocket connection (TCP_NOTSENT_LOWAT; 0:
    /// no limit). A client that stops reading stops acking, its data stays unsent, and past
    /// this its socket counts as full, so `--outbound-stall` can see it; without the limit the
    /// kernel's send buffer grows to megabytes first. Data in flight is not limited.
    #[arg(long, env = "CHAT_SOCKET_UNSENT_LIMIT", default_value_t = 16 * 1024)]
    pub socket_unsent_limit: u32,

    /// Sustained messages per second a connection may send (token bucket refill rate).
    #[arg(long, env = "CHAT_RATE_PER_SEC", default_value_t = 20)]
    pub rate_per_sec: u32,

    /// Burst a connection may send above the sustained rate (token bucket size).
    #[arg(long, env = "CHAT_RATE_BURST", default_value_t = 40)]
    pub rate_burst: u32,

    /// Messages refused by the rate limit (each answered with an error) before the close (1008).
    #[arg(long, env = "CHAT_FLOOD_STRIKES", default_value_t = 5)]
    pub flood_strikes: u32,

    /// Interval between server pings.
    #[arg(long, env = "CHAT_PING_INTERVAL", default_value = "20s", value_parser = parse_duration)]
    pub ping_interval: Duration,

    /// Close a connection (4004) when nothing, not even a pong, arrived for this long.
    #[arg(long, env = "CHAT_IDLE_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub idle_timeout: Duration,

    /// Longest a long-polling `GET /poll` is held open waiting for messages (kept under half
    /// of `--idle-timeout`, which a session without requests ends with 4004).
    #[arg(long, env = "CHAT_POLL_WAIT", default_value = "25s", value_parser = parse_duration)]
    pub poll_wait: Duration,

    /// Time allowed for each HTTP request head (a kept-alive connection waiting for its next
    /// request included), and then for the chat `hello` (4003).
    #[arg(long, env = "CHAT_HANDSHAKE_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub handshake_timeout: Duration,

    /// On SIGINT/SIGTERM, how long clients get to close before the server exits anyway.
    #[arg(long, env = "CHAT_SHUTDOWN_GRACE", default_value = "5s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,

    /// Messages of a room sent on join, and the largest history page.
    #[arg(long, env = "CHAT_HISTORY_PAGE", default_value_t = 50)]
    pub history_page: u32,

    /// Client ids the memory store remembers for idempotency (the SQLite store keeps 200,000):
    /// for tests, which need a window they can fill.
    #[arg(
        long,
        env = "CHAT_CLIENT_ID_WINDOW",
        default_value_t = 200_000,
        hide = true
    )]
    pub client_id_window: usize,

    /// Messages kept per room by the memory store (older ones are dropped).
    #[arg(long, env = "CHAT_MEMORY_RETENTION", default_value_t = 10_000)]
    pub memory_retention: usize,

    /// Rooms with more members than this get no join/leave events, and `joined` lists at most
    /// this many members: presence in a huge room would cost members² frames.
    #[arg(long, env = "CHAT_PRESENCE_LIMIT", default_value_t = 500)]
    pub presence_limit: usize,

    /// Rooms one connection may be in at once.
    #[arg(long, env = "CHAT_MAX_ROOMS_PER_CONNECTION", default_value_t = 64)]
    pub max_rooms_per_connection: usize,

    /// Rooms (and direct conversations) the server holds in memory at once; one nobody is in
    /// leaves memory, so this bounds rooms in use, not rooms that ever were.
    #[arg(long, env = "CHAT_MAX_ROOMS", default_value_t = 10_000)]
    pub max_rooms: usize,

    /// New rooms one user may create per second, in bursts of `--max-rooms-per-connection`;
    /// an address gets four times that (0: no limit). Joining a room in memory is free.
    #[arg(long, env = "CHAT_ROOM_CREATION_RATE", default_value_t = 1.0)]
    pub room_creation_rate: f64,

    /// Whether guests (clients without an account) may chat: `allow` or `deny`.
    #[arg(long, env = "CHAT_GUESTS", value_enum, default_value = "allow")]
    pub guests: Guests,

    /// Whether guests may create rooms (off: only signed-in users do, so guests cannot squat
    /// names).
    #[arg(long, env = "CHAT_GUESTS_CREATE_ROOMS", default_value_t = false, num_args = 0..=1,
        default_missing_value = "true", action = clap::ArgAction::Set)]
    pub guests_create_rooms: bool,

    /// The server's admins, by account name (repeat the flag, or separate with commas): they
    /// own the default room and rooms made before rooms had owners, moderate every room,
    /// disable accounts and ban guests.
    #[arg(long = "admin", env = "CHAT_ADMINS", value_delimiter = ',')]
    pub admins: Vec<Nickname>,

    /// Who may create accounts: `open` (anyone, rate-limited) or `closed` (operators only).
    #[arg(long, env = "CHAT_REGISTRATION", value_enum, default_value = "open")]
    pub registration: Registration,

    /// Accounts one client address may register per hour (IPv6 per /64), in bursts of 3.
    #[arg(long, env = "CHAT_REGISTRATION_RATE", default_value_t = 10.0)]
    pub registration_rate: f64,

    /// Most accounts the server holds; past it, registration is refused (0: no cap).
    #[arg(long, env = "CHAT_MAX_ACCOUNTS", default_value_t = 100_000)]
    pub max_accounts: u64,

    /// A session unused for this long ends (the user signs in again).
    #[arg(long, env = "CHAT_SESSION_IDLE", default_value = "14d", value_parser = parse_duration)]
    pub session_idle: Duration,

    /// A session ends this long after sign-in, used or not.
    #[arg(long, env = "CHAT_SESSION_LIFETIME", default_value = "90d", value_parser = parse_duration)]
    pub session_lifetime: Duration,

    /// Password hashes (Argon2id, 19 MiB each) computed at once, on the blocking pool; more
    /// sign-ins wait their turn.
    #[arg(long, env = "CHAT_MAX_CONCURRENT_HASHES", default_value_t = 2)]
    pub max_concurrent_hashes: usize,

    /// Accept JWTs signed with this HS256 secret in `hello` (`auth: jwt`).
    #[arg(long, env = "CHAT_AUTH_JWT_SECRET", hide_env_values = true)]
    pub auth_jwt_secret: Option<String>,

    /// Accept JWTs signed with the key in this PEM file (an RSA key: RS256; a P-256 key: ES256).
    #[arg(long, env = "CHAT_AUTH_JWT_PUBLIC_KEY")]
    pub auth_jwt_public_key: Option<PathBuf>,

    /// Minimum interval between two relayed typing events of one user in one room.
    #[arg(long, env = "CHAT_TYPING_INTERVAL", default_value = "2s", value_parser = parse_duration)]
    pub typing_interval: Duration,

    /// How long a client shows a typing indicator without a new event.
    #[arg(long, env = "CHAT_TYPING_TTL", default_value = "5s", value_parser = parse_duration)]
    pub typing_ttl: Duration,

    /// Extra origins (`scheme://host[:port]`) allowed to open the WebSocket, comma-separated.
    /// Always allowed: the server's own origin, `localhost`/`127.0.0.1`/`[::1]` on any port, and
    /// clients that send no Origin (non-browser). `*` allows every origin.
    #[arg(long, env = "CHAT_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// Log lines on stderr: `text` or `json` (one object per line). `RUST_LOG` picks what is
    /// logged (default `info`).
    #[arg(long, env = "CHAT_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,

    /// A command to run instead of the server; without one, the server runs.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Operator commands: each runs once on the data of `--data-dir` (or of `--redis`) and exits.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Manages accounts: in the SQLite database under --data-dir, or in Redis with --redis.
    #[command(subcommand)]
    User(UserCommand),
    /// Copies the SQLite store under --data-dir to PATH while the server runs (a consistent
    /// snapshot); PATH must not exist. To restore, put the copy in an empty data directory as
    /// `chat.db`. With --redis, back up Redis itself (see the README).
    Backup {
        /// Where the copy goes: a new file.
        path: PathBuf,
    },
}

/// `server user …`. Passwords are read from stdin (its first line), never from arguments.
#[derive(Debug, Clone, Subcommand)]
pub enum UserCommand {
    /// Creates an account named NAME, with the password read from stdin.
    Add { name: String },
    /// Gives the account a new password, read from stdin, and ends its sessions.
    ResetPassword { name: String },
    /// Disables the account and ends its sessions.
    Disable { name: String },
    /// Enables a disabled account.
    Enable { name: String },
    /// Lists every account: id, name, state, creation time.
    List,
}

impl Default for Config {
    fn default() -> Self {
        Config::parse_from(["server"])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("x").is_err());
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("14d"), Ok(Duration::from_secs(14 * 86400)));
        assert!(parse_duration("5y").is_err());
        assert_eq!(
            parse_net("10.0.0.1"),
            Ok("10.0.0.1/32".parse().expect("net"))
        );
        assert_eq!(parse_net("fd00::/8"), Ok("fd00::/8".parse().expect("net")));
        assert!(parse_net("10.0.0.0/33").is_err());
        assert!(parse_net("proxy").is_err());
    }

    #[test]
    fn defaults_parse() {
        let c = Config::default();
        assert_eq!(c.listen.port(), 8080);
        assert_eq!(c.store, StoreKind::Sqlite);
    }
}
