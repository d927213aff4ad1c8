//! Who gets in: the caps on connections, counted apart for plain HTTP and WebSocket sessions,
//! and per client address.
//!
//! Every accepted connection takes an open slot (of `--max-connections` +
//! `--max-http-connections`: that bounds the sockets still in their first request head) and,
//! unless its peer is a trusted proxy, a slot of its address. Its first plain request takes a
//! plain-HTTP slot, held until the connection ends; a WebSocket upgrade takes a chat slot and
//! carries the address slot over into the session, and the open slot is freed when the
//! handshake's HTTP connection ends. A long-polling session takes a chat slot and an address
//! slot of its own, held until it ends, whatever connections carry its requests. So file fetchers that never read can fill the HTTP cap
//! but never the chat cap, nor keep a chat handshake out; and one address cannot take them all.

use crate::config::Config;
use crate::limits::{self, IpSlot, PerIp, Refusal};
use crate::metrics::Metrics;
use crate::util::lock;
use http::StatusCode;
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

pub struct Gate {
    open: Arc<Semaphore>,
    chat: Arc<Semaphore>,
    http: Arc<Semaphore>,
    per_ip: Arc<PerIp>,
    trusted: Vec<IpNet>,
    metrics: Arc<Metrics>,
}

/// Why a connection or an upgrade was turned away: the answer and its counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    ChatFull,
    HttpFull,
    OpenFull,
    Address(Refusal),
}

impl Refused {
    pub fn status(self) -> StatusCode {
        match self {
            Refused::Address(Refusal::TooFast) => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Refused::ChatFull => "server is at its connection limit; retry later\n",
            Refused::HttpFull => "server is at its HTTP connection limit; retry later\n",
            Refused::OpenFull => "server is at its connection limit; retry later\n",
            Refused::Address(Refusal::TooManyConnections) => {
                "too many connections from your address; close some and retry\n"
            }
            Refused::Address(Refusal::TooFast) => {
                "too many new connections from your address; retry in a second\n"
            }
        }
    }
}

/// What one accepted connection holds while it speaks HTTP.
pub struct ConnAdmission {
    pub peer: SocketAddr,
    /// The peer is a trusted proxy: the client is named by `X-Forwarded-For`, per request.
    pub proxied: bool,
    _open: OwnedSemaphorePermit,
    /// Taken by the first plain request; held until the connection ends.
    http: Mutex<Option<OwnedSemaphorePermit>>,
    /// The address's slot, handed on to a WebSocket session if the connection upgrades.
    ip: Mutex<Option<IpSlot>>,
    done: mpsc::Sender<()>,
}

/// What one WebSocket session holds until it ends; shutdown waits for every one of them.
pub struct SessionAdmission {
    _chat: OwnedSemaphorePermit,
    _ip: Option<IpSlot>,
    _done: mpsc::Sender<()>,
}

impl Gate {
    pub fn new(config: &Config, metrics: Arc<Metrics>) -> Gate {
        Gate {
            open: Arc::new(Semaphore::new(
                config
                    .max_connections
                    .saturating_add(config.max_http_connections),
            )),
            chat: Arc::new(Semaphore::new(config.max_connections)),
            http: Arc::new(Semaphore::new(config.max_http_connections)),
            per_ip: PerIp::new(
                config.max_connections_per_ip,
                config.handshake_rate_per_ip,
                config.handshake_burst_per_ip,
            ),
            trusted: config.trusted_proxies.clone(),
            metrics,
        }
    }

    /// Admits a freshly accepted connection, or says why not.
    pub fn accept(
        &self,
        peer: SocketAddr,
        done: &mpsc::Sender<()>,
    ) -> Result<ConnAdmission, Refused> {
        let proxied = limits::is_trusted(peer.ip(), &self.trusted);
        let ip = if proxied {
            None
        } else {
            Some(self.admit_address(peer.ip())?)
        };
        let open = self.open.clone().try_acquire_owned().map_err(|_| {
            Metrics::inc(&self.metrics.connections_rejected_cap);
            Refused::OpenFull
        })?;
        Ok(ConnAdmission {
            peer,
            proxied,
            _open: open,
            http: Mutex::new(None),
            ip: Mutex::new(ip),
            done: done.clone(),
        })
    }

    /// Admits a WebSocket session on `conn`, whose client is `client` (the peer, or the
    /// address a trusted proxy named).
    pub fn session(
        &self,
        conn: &ConnAdmission,
        client: IpAddr,
    ) -> Result<SessionAdmission, Refused> {
        let ip = if conn.proxied {
            Some(self.admit_address(client)?)
        } else {
            lock(&conn.ip).take()
        };
        let chat = self.chat.clone().try_acquire_owned().map_err(|_| {
            Metrics::inc(&self.metrics.connections_rejected_cap);
            Refused::ChatFull
        })?;
        Ok(SessionAdmission {
            _chat: chat,
            _ip: ip,
            _done: conn.done.clone(),
        })
    }

    /// Admits a long-polling session opened by a request on `conn`: a chat slot, and a slot
    /// of the client's address of its own. The HTTP connection keeps its slot: it goes on
    /// serving requests, the session's and others.
    pub fn poll_session(
        &self,
        conn: &ConnAdmission,
        client: IpAddr,
    ) -> Result<SessionAdmission, Refused> {
        let ip = self.admit_address(client)?;
        let chat = self.chat.clone().try_acquire_owned().map_err(|_| {
            Metrics::inc(&self.metrics.connections_rejected_cap);
            Refused::ChatFull
        })?;
        Ok(SessionAdmission {
            _chat: chat,
            _ip: Some(ip),
            _done: conn.done.clone(),
        })
    }

    /// Gives `conn` its plain-HTTP slot, unless it has one.
    pub fn plain_http(&self, conn: &ConnAdmission) -> Result<(), Refused> {
        let mut slot = lock(&conn.http);
        if slot.is_none() {
            let permit = self.http.clone().try_acquire_owned().map_err(|_| {
                Metrics::inc(&self.metrics.connections_rejected_http_cap);
                Refused::HttpFull
            })?;
            *slot = Some(permit);
        }
        Ok(())
    }

    /// The client of a request on `conn`: the peer, or behind a trusted proxy the right-most
    /// untrusted address of `X-Forwarded-For`.
    pub fn client(&self, conn: &ConnAdmission, headers: &http::HeaderMap) -> IpAddr {
        if !conn.proxied {
            return conn.peer.ip();
        }
        let values = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>();
        limits::client_ip(conn.peer.ip(), values.into_iter(), &self.trusted)
    }

    fn admit_address(&self, ip: IpAddr) -> Result<IpSlot, Refused> {
        self.per_ip.admit(ip).map_err(|r| {
            Metrics::inc(match r {
                Refusal::TooManyConnections => &self.metrics.connections_rejected_per_ip,
                Refusal::TooFast => &self.metrics.connections_rejected_rate,
            });
            Refused::Address(r)
        })
    }

    /// Addresses the per-address table tracks now.
    pub fn tracked_addresses(&self) -> usize {
        self.per_ip.tracked()
    }
}
