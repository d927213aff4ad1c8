//! [`Sessions`]: the long-polling sessions of this server, by id. An id is 128 bits from the
//! OS RNG (behind this node's prefix in a cluster); the table is bounded by the chat slots
//! its sessions hold, and an ended session stays only as long as a late GET may come for
//! its last messages and its close code.

use super::session::{Opening, PollSession};
use crate::admission::SessionAdmission;
use crate::hub::Hub;
use crate::limits::IpKey;
use crate::util::{lock, random_hex};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

pub struct Sessions {
    map: Mutex<HashMap<String, Arc<PollSession>>>,
    /// What every id of this node starts with.
    prefix: String,
}

impl Sessions {
    pub fn new(prefix: String) -> Arc<Sessions> {
        Arc::new(Sessions {
            map: Mutex::new(HashMap::new()),
            prefix,
        })
    }

    /// Opens a session; `linger` is how long it stays findable once it ended.
    pub fn open(
        self: &Arc<Self>,
        hub: &Arc<Hub>,
        admission: SessionAdmission,
        addr: IpKey,
        opening: Opening,
        linger: Duration,
    ) -> (String, Arc<PollSession>) {
        let id = format!("{}{}", self.prefix, random_hex());
        let table: Weak<Sessions> = Arc::downgrade(self);
        let key = id.clone();
        let session = PollSession::start(hub, admission, addr, opening, move |_| {
            tokio::spawn(async move {
                tokio::time::sleep(linger).await;
                if let Some(table) = table.upgrade() {
                    lock(&table.map).remove(&key);
                }
            });
        });
        lock(&self.map).insert(id.clone(), session.clone());
        (id, session)
    }

    pub fn get(&self, id: &str) -> Option<Arc<PollSession>> {
        lock(&self.map).get(id).cloned()
    }

    /// The node an id of a cluster names (`<node>.<random>`, both 32 hex digits); `None`
    /// for an id of a node on its own, or one no node could have made (so made-up ids cost
    /// no trip to Redis).
    pub fn owner(id: &str) -> Option<&str> {
        let (node, random) = id.split_once('.')?;
        let hex = |s: &str| s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit());
        (hex(node) && hex(random)).then_some(node)
    }
}
