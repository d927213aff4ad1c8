//! The client's whole state and its reducer: [`ChatState::apply`] takes one [`Action`] (something
//! the user did, something the socket said, or a timer firing) and returns the [`Effect`]s the
//! driver service must carry out (open the socket, send a frame, schedule a reconnect).
//!
//! No browser calls here: time and randomness come in from outside, so every rule (backoff,
//! resume, resend, dedupe, unread counts) is tested with plain `cargo test` on the host.
//!
//! Layout, in the order a message travels:
//! - `action`: [`Action`] in, [`Effect`] out.
//! - `model`: [`ChatState`] and what it holds (connection, conversations, outbox).
//! - `account`: guest or account, `hello` for each, saved sessions, refusals in words.
//! - `lifecycle`: connect, `hello` and `welcome`, closes, reconnect backoff, the clock tick.
//! - `outgoing`: what the user sends: join, leave, messages through the outbox, typing, pages.
//! - `incoming`: server frames merged into the state (`error` frames: `account`).
//! - `conversations`: read state, unread and mention counts, `mark_read`, `dm_history`.
//! - `rewrite`: edits and deletions applied to the messages they change.
//! - `moderation`: creating rooms, owners' and admins' actions, slash commands, edit, delete.
//! - `continuity`: what the browser keeps across reloads, and each conversation's address.
//! - `attention`: the title's unread count, notifications, muted conversations.
//! - `view`: what the screen shows: the open conversation, message groups, who is typing.
//! - `divider`: where "new messages" begins in the open conversation, fixed when it opens.
//! - `compose`: what the composer takes from the state: names to mention, the message ↑ edits.

mod account;
mod action;
mod attention;
mod compose;
mod continuity;
mod conversations;
mod divider;
mod incoming;
mod lifecycle;
mod model;
mod moderation;
mod outgoing;
mod rewrite;
mod small_map;
mod view;

pub use account::{refusal, Login, Saved};
pub use action::{Action, Effect};
pub use attention::NOTIFY_BODY_CHARS;
pub use continuity::{Kept, MAX_DRAFTS, MAX_KEPT_ROOMS};
pub use incoming::{MAX_DIRECTORY, MAX_KEPT_MESSAGES, RESUME_CAP};
pub use lifecycle::{backoff_ms, RECONNECT_BASE_MS, RECONNECT_MAX_MS, ROOM_LIST_REFRESH_MS};
pub use model::{
    ChatState, Connection, DirectThread, Note, Paging, Pending, ReadMarks, Room, Target,
};
pub use moderation::{describe, parse_secs, DAY_SECS, HOUR_SECS};
pub use outgoing::TYPING_THROTTLE_MS;
pub use small_map::SmallMap;
pub use view::{group_lines, utc_day, Group, Line, LineFlags, LineStatus, GROUP_GAP_MS};

use shared::{ClientMessage, Timestamp};

impl ChatState {
    /// Applies one action and returns what the driver must do. `version` goes up when the
    /// screen should change.
    pub fn apply(&mut self, action: Action, now: Timestamp) -> Vec<Effect> {
        let before = self.now;
        self.now = now;
        let mut fx = Vec::new();
        let mut changed = match action {
            Action::Connect { nick } => self.connect(&nick, &mut fx),
            Action::SignIn(login) => self.sign_in(login, &mut fx),
            Action::Restore(saved) => self.restore(saved, &mut fx),
            Action::Recall(kept) => self.recall(kept),
            Action::Route(target) => self.route(target, &mut fx),
            Action::Draft(text) => {
                self.draft(text);
                false
            }
            Action::ToggleMute => self.toggle_mute(&mut fx),
            Action::SignOut { everywhere } => self.sign_out(everywhere, &mut fx),
            Action::ChangePassword { old, new } => self.change_password(old, new, &mut fx),
            Action::Disconnect => self.disconnect(&mut fx),
            Action::Select(target) => self.select(target) | self.load_direct(&mut fx),
            Action::Join(name) => self.join(&name, &mut fx),
            Action::Leave(name) => self.leave(name, &mut fx),
            Action::CreateRoom { name, invite_only } => {
                self.create_room(&name, invite_only, &mut fx)
            }
            Action::Moderate {
                nick,
                action,
                for_secs,
            } => {
                let room = self.active_room().map(|r| r.name.clone());
                self.moderate(room, &nick, action, for_secs, &mut fx)
            }
            Action::Edit { id, text } => self.edit(id, &text, &mut fx),
            Action::Delete(id) => self.delete(id, &mut fx),
            Action::Visible(visible) => self.set_visible(visible),
            Action::Send(text) => match self.command(&text, &mut fx) {
                Some(changed) => changed,
                None => {
                    // Replying means the user has read up to here.
                    self.new_from = None;
                    self.send(text.strip_prefix('/').unwrap_or(&text), &mut fx)
                }
            },
            Action::Retry(client_id) => self.retry(&client_id, &mut fx),
            Action::Discard(client_id) => self.discard(&client_id),
            Action::Typing => {
                self.typing(&mut fx);
                false
            }
            Action::LoadOlder => self.load_older(&mut fx),
            Action::RefreshRooms => {
                self.refresh_rooms(&mut fx);
                false
            }
            Action::RetryNow | Action::ReconnectDue => self.retry_connect(&mut fx),
            Action::DismissNotice => self.notice.take().is_some(),
            Action::Opened => {
                self.opened(&mut fx);
                false
            }
            Action::Received(text) => self.received(&text, &mut fx),
            Action::Closed { code, reason } => self.closed(code, &reason, &mut fx),
            Action::Via { polling } => std::mem::replace(&mut self.polling, polling) != polling,
            Action::Tick => self.tick(before, &mut fx),
        };
        changed |= self.sync_reads(&mut fx);
        if changed {
            self.version += 1;
        }
        // Whoever asked for the listing, the periodic refresh counts from now.
        if fx
            .iter()
            .any(|e| matches!(e, Effect::Send(ClientMessage::ListRooms { after: None })))
        {
            self.last_room_list = now;
        }
        fx
    }
}
