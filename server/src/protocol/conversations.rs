//! The typed protocol's requests about conversations beyond a connection: direct message
//! history, making rooms, owners' and admins' actions, edits and deletions, read marks.

use super::typed::TypedProtocol;
use super::Flow;
use crate::hub::Peer;
use shared::{ClientMessage, ErrorCode, ServerMessage};
use tokio::time::Instant;

impl TypedProtocol {
    pub(super) async fn conversation_request(&mut self, peer: Peer, msg: ClientMessage) -> Flow {
        let hub = self.hub.clone();
        match msg {
            ClientMessage::DmHistory {
                with,
                before,
                after,
                limit,
            } => match hub.dm_history(&peer, &with, before, after, limit).await {
                Ok((with, messages, has_more)) => {
                    self.conn.reply_page(&ServerMessage::DmHistory {
                        with,
                        messages,
                        has_more,
                    });
                }
                Err(e) => self.request_error(e, None),
            },
            ClientMessage::CreateRoom { room, invite_only } => {
                self.join(&peer, room, None, Some(invite_only)).await
            }
            ClientMessage::Moderate {
                room,
                nick,
                action,
                for_secs,
            } => {
                if let Err(e) = hub
                    .moderate(&peer, room.as_ref(), &nick, action, for_secs)
                    .await
                {
                    self.request_error(e, None);
                }
            }
            ClientMessage::Edit {
                conv,
                id,
                text,
                client_id,
            } => {
                let read = Instant::now();
                let r = hub
                    .begin_revision(&peer, &conv, id, Some(text), client_id.clone())
                    .await;
                return self.ack_when_stored(r, client_id, read);
            }
            ClientMessage::Delete {
                conv,
                id,
                client_id,
            } => {
                let read = Instant::now();
                let r = hub
                    .begin_revision(&peer, &conv, id, None, client_id.clone())
                    .await;
                return self.ack_when_stored(r, client_id, read);
            }
            ClientMessage::MarkRead { conv, id } => {
                if let Err(e) = hub.mark_read(&peer, &conv, id).await {
                    self.request_error(e, None);
                }
            }
            ClientMessage::SetMuted { conv, muted } => {
                if let Err(e) = hub.set_muted(&peer, &conv, muted).await {
                    self.request_error(e, None);
                }
            }
            ClientMessage::Conversations {} => match hub.list_conversations(&peer).await {
                Ok(conversations) => {
                    self.conn
                        .reply_page(&ServerMessage::Conversations { conversations });
                }
                Err(e) => self.request_error(e, None),
            },
            _ => self.error(ErrorCode::Internal, "not a conversation request", None),
        }
        Flow::Continue
    }
}
