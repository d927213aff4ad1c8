//! What a hub stands on: the history it reads, the log it appends to, and the seams to the
//! other nodes. `server::open` picks them (one node, or Redis); the hub holds only the traits.

use crate::auth::accounts::memory::MemoryAccounts;
use crate::auth::Accounts;
use crate::broker::memory::{LocalBroker, LocalPresence, LocalRegistry};
use crate::broker::{Broker, Presence, Registry, SharedLog};
use crate::conversations::memory::MemoryConversations;
use crate::conversations::Conversations;
use crate::store::{History, Journal, Rewrites, Store};
use std::sync::Arc;

/// Where messages get their ids and are kept.
pub enum Log {
    /// This node assigns ids; the journal keeps the messages.
    Journal(Arc<dyn Journal>),
    /// A log shared with other nodes assigns ids, keeps the messages and publishes them.
    Shared(Arc<dyn SharedLog>),
}

/// What a hub stands on: the history it reads, the log it appends to, and the seams to the
/// other nodes.
pub struct Backends {
    pub history: Arc<dyn History>,
    pub log: Log,
    pub broker: Arc<dyn Broker>,
    pub registry: Arc<dyn Registry>,
    pub presence: Arc<dyn Presence>,
    /// Accounts and sessions: SQLite beside the messages, Redis, or memory.
    pub accounts: Arc<dyn Accounts>,
    /// Rooms' rules, bans and mutes, read state: beside the accounts.
    pub conversations: Arc<dyn Conversations>,
    /// Edits and deletions applied to stored messages.
    pub rewrites: Arc<dyn Rewrites>,
}

impl Backends {
    /// A node on its own, over `store`.
    pub fn single(store: Arc<dyn Store>) -> Backends {
        Backends {
            history: store.clone().history(),
            rewrites: store.clone().rewrites(),
            log: Log::Journal(store.journal()),
            broker: Arc::new(LocalBroker::default()),
            registry: Arc::new(LocalRegistry),
            presence: Arc::new(LocalPresence::default()),
            accounts: Arc::new(MemoryAccounts::new()),
            conversations: Arc::new(MemoryConversations::new()),
        }
    }
}
