//! Sessions ended by another process: an operator's `server user reset-password|disable` on
//! the data directory while this server runs. Every few seconds the hub asks the accounts
//! which accounts' sessions ended since it last asked, and closes (4010) each of their
//! connections here whose session is gone. (Redis publishes `revoke` events instead, and this
//! server's own sign-outs close their connections as they happen.)

use super::Hub;
use crate::auth::AccountId;
use crate::util::lock;
use shared::CloseReason;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// How often the accounts are asked.
const POLL: Duration = Duration::from_secs(2);

impl Hub {
    /// Starts asking, for as long as the hub exists.
    pub(super) fn watch_revocations(self: &Arc<Self>) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let hub: Weak<Hub> = Arc::downgrade(self);
        rt.spawn(async move {
            let mut mark = None;
            loop {
                let Some(h) = hub.upgrade() else { return };
                match h.auth.accounts().revocations(mark).await {
                    Ok((next, accounts)) => {
                        mark = Some(next);
                        for a in accounts {
                            h.recheck(a).await;
                        }
                    }
                    Err(e) => tracing::warn!(cause = %e, "reading revocations failed"),
                }
                drop(h);
                tokio::time::sleep(POLL).await;
            }
        });
    }

    /// Closes the connections of `account` here whose session no longer holds.
    async fn recheck(&self, account: AccountId) {
        let seats: Vec<_> = lock(&self.users)
            .values()
            .filter(|e| e.account() == Some(account))
            .flat_map(|e| e.seats().map(|s| (s.peer.conn.clone(), s.session())))
            .collect();
        for (conn, session) in seats {
            match self.auth.still_valid(account, session).await {
                Ok(true) => {}
                Ok(false) => conn.close(CloseReason::SignedOut),
                Err(e) => tracing::warn!(cause = %e, "rechecking a session failed"),
            }
        }
    }
}
