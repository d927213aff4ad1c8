//! One client of the storm: connect, read until the server goes, then reconnect with backoff
//! (resuming from the last id it saw, with the typed protocol) and read on.

use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

use super::{backoff, ids, Common, Shared};
use crate::conn::{self, Proto, Ws};

pub(crate) struct Client {
    pub sh: Rc<Shared>,
    pub common: Rc<Common>,
    pub slot: usize,
    pub sem: Rc<Semaphore>,
}

impl Client {
    pub async fn run(self, max_secs: f64) {
        let nick = format!("s{}", self.slot);
        let first = {
            let Ok(_permit) = self.sem.acquire().await else {
                return;
            };
            self.connect(&nick, None).await
        };
        let ws = match first {
            Ok(ws) => ws,
            Err(e) => {
                self.sh.failed.set(self.sh.failed.get() + 1);
                self.sh.note_error(format!("connect: {e:#}"));
                return;
            }
        };
        self.sh.connected.set(self.sh.connected.get() + 1);
        self.read_until_end(&ws).await;
        drop(ws);
        if !self.sh.stopped.get() {
            self.sh.early_drops.set(self.sh.early_drops.get() + 1);
        }
        let mut rng =
            0x9E37_79B9_7F4A_7C15_u64 ^ (self.slot as u64 + 1).wrapping_mul(0xA24B_AED4_963E_E407);
        let limit = Instant::now() + Duration::from_secs_f64(max_secs);
        let mut attempt = 0u32;
        loop {
            tokio::time::sleep(backoff(attempt, &mut rng)).await;
            attempt += 1;
            self.sh.attempts.set(self.sh.attempts.get() + 1);
            // Resume after the last id seen (0: from the start; the room began empty).
            let after = self.typed().then(|| self.last_id().unwrap_or(0));
            match self.connect(&nick, after).await {
                Ok(ws) => {
                    self.sh.back.set(self.sh.back.get() + 1);
                    self.sh.last_back.set(Some(Instant::now()));
                    self.sh
                        .max_attempts
                        .set(self.sh.max_attempts.get().max(attempt));
                    self.read_until_end(&ws).await;
                    return;
                }
                Err(_) if Instant::now() < limit => {
                    self.sh
                        .failed_attempts
                        .set(self.sh.failed_attempts.get() + 1);
                }
                Err(e) => {
                    self.sh.gave_up.set(self.sh.gave_up.get() + 1);
                    self.sh.note_error(format!("reconnect: {e:#}"));
                    return;
                }
            }
        }
    }

    fn typed(&self) -> bool {
        self.common.target.proto == Proto::Typed
    }

    fn last_id(&self) -> Option<u64> {
        self.sh.seen.borrow()[self.slot].last().copied()
    }

    /// Connects and logs in; with the typed protocol, takes the ids of the `joined` page and
    /// asks for the next page while there is more.
    async fn connect(&self, nick: &str, after: Option<u64>) -> anyhow::Result<Ws> {
        let target = self.common.target;
        let limit = self.common.connect_timeout;
        let connected = conn::connect_after(target, self.slot, nick, None, after);
        let (ws, joined) = tokio::time::timeout(limit, connected)
            .await
            .map_err(|_| anyhow::anyhow!("connect+login took over {limit:?}"))??;
        if let Some(joined) = joined {
            self.take_page(&ws, &joined, after.is_some()).await;
        }
        Ok(ws)
    }

    /// Records the ids of a `joined` or `history` page; asks for the next one if it has more.
    async fn take_page(&self, ws: &Ws, frame: &str, resumed: bool) {
        let Some((page, more)) = ids::page(frame) else {
            return;
        };
        if resumed {
            self.sh
                .resumed
                .set(self.sh.resumed.get() + page.len() as u64);
        }
        self.sh.seen.borrow_mut()[self.slot].extend(&page);
        if more {
            if let Some(last) = self.last_id() {
                let _ = ws.send(Message::text(ids::history_after(last))).await;
            }
        }
    }

    /// Reads until the connection ends, recording message ids (typed protocol).
    async fn read_until_end(&self, ws: &Ws) {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) if self.typed() => {
                    let t = t.as_str();
                    if let Some(id) = ids::live(t) {
                        self.sh.seen.borrow_mut()[self.slot].push(id);
                    } else if t.contains("\"type\":\"history\"") {
                        self.take_page(ws, t, true).await;
                    }
                }
                // Answered at once, as a browser does: a server may wait for the answer
                // before it exits.
                Some(Ok(Message::Close(_))) => {
                    let _ = ws.send(Message::Close(None)).await;
                    return;
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return,
            }
        }
    }
}
