//! Edits and deletions: the stored original is changed in place first (a deletion erases its
//! text from the store), then the edit or deletion is sent like a message, with an id of its
//! own and `target` naming the original, so resuming after an id brings it too and clients
//! apply it to the original.

use super::publish::{Publishing, Target};
use super::users::Peer;
use super::Hub;
use crate::error::RequestError;
use crate::store::{Meta, Rewrite, StoredMessage};
use shared::{ClientMsgId, Conversation, MessageId, MessageText};
use std::sync::Arc;

impl Hub {
    /// Edits (`text`) or deletes (`None`) message `id` of `conv` for `peer`. An edit is its
    /// author's; a deletion its author's, or in a room its owner's or an admin's. A
    /// room's revisions need the connection in the room, as sends do.
    pub async fn begin_revision(
        self: &Arc<Self>,
        peer: &Peer,
        conv: &Conversation,
        id: MessageId,
        text: Option<MessageText>,
        client_id: ClientMsgId,
    ) -> Result<Publishing, RequestError> {
        let account = peer.account().ok_or(RequestError::NotSignedIn(
            "editing and deleting need an account: sign in",
        ))?;
        let (channel, conv) = self.channel_of(peer, conv).await?;
        if let Conversation::Room(room) = &conv {
            let member = self.existing_room(room.as_str()).is_some_and(|r| {
                crate::util::lock(&r.state)
                    .members
                    .contains_key(&peer.conn.id)
            });
            if !member {
                return Err(RequestError::NotInRoom(room.to_string()));
            }
        }
        let original = self.original(&channel, id).await?;
        let mine = original.author == Some(account);
        if !mine {
            let allowed = match (&text, &conv) {
                (None, Conversation::Room(room)) => self.standing(peer, room).await?.moderator(),
                _ => false,
            };
            if !allowed {
                return Err(RequestError::NotAllowed(match (&text, &conv) {
                    (Some(_), _) => "only its author may edit a message".into(),
                    (None, Conversation::Room(room)) => {
                        format!("only its author, the owner of `{room}` or an admin may delete it")
                    }
                    (None, Conversation::Dm(_)) => {
                        "only its author may delete a direct message".into()
                    }
                }));
            }
        }
        let meta = Meta {
            target: Some(id),
            edited: text.is_some(),
            deleted: text.is_none(),
            mentions: match (&text, &conv) {
                (Some(t), Conversation::Room(_)) if t.as_str().contains('@') => {
                    self.mentions(t).await
                }
                _ => Vec::new(),
            },
        };
        // A deletion resent (same client id) finds the original deleted: it goes on, and
        // gets the first one's ack.
        if !(original.meta.deleted && text.is_none()) {
            let change = match &text {
                Some(t) => Rewrite::Edit(t.clone()),
                None => Rewrite::Delete,
            };
            if !self.store_call(self.rewrites.rewrite(&channel, id, change).await)? {
                return Err(RequestError::NoSuchMessage(id));
            }
        }
        let target = match conv {
            Conversation::Room(room) => Target::Room(room),
            Conversation::Dm(with) => Target::User(with),
        };
        let text = text.unwrap_or_else(MessageText::tombstone);
        self.begin_publish_meta(peer, target, text, Some(client_id), meta)
            .await
    }

    /// The message `id` of `channel` as stored: a message (not an edit or a deletion).
    /// A deleted one is returned (a resent deletion goes on); an edit of it is refused.
    async fn original(&self, channel: &str, id: MessageId) -> Result<StoredMessage, RequestError> {
        let page = self.store_call(
            self.history
                .after(channel, id.saturating_sub(1), id, 1)
                .await,
        )?;
        page.messages
            .into_iter()
            .find(|m| m.id == id && m.meta.target.is_none())
            .ok_or(RequestError::NoSuchMessage(id))
    }
}
