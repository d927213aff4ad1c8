//! A signed-in user's conversations: which it has (rooms it is in, direct conversations),
//! its read mark in each and what is unread after it, direct messages waiting for it since
//! it was last connected, and the pages of a direct conversation.

use super::page::{self, Keep};
use super::users::Peer;
use super::Hub;
use crate::auth::AccountId;
use crate::broker::Event;
use crate::conversations::{Added, MAX_CONVERSATIONS};
use crate::error::RequestError;
use crate::nick_key::NickKey;
use crate::store::{dm_channel, Page, StoredMessage};
use crate::util::now_ms;
use shared::{
    Conversation, DirectMessage, MessageId, Nickname, ReadState, RoomName, ServerMessage,
    MAX_LISTED, UNREAD_CAP,
};

/// Most waiting direct messages sent after `welcome`, all conversations together.
pub const MAX_WAITING: usize = 500;

impl Hub {
    /// After a signed-in user joined `room` (whose messages up to `upto` it got): the room
    /// is among its conversations (new ones start read up to `upto`), and its read state.
    pub(super) async fn remember_room(
        &self,
        peer: &Peer,
        room: &RoomName,
        upto: MessageId,
    ) -> Result<Option<ReadState>, RequestError> {
        let (Some(account), false) = (peer.account(), peer.demo) else {
            return Ok(None);
        };
        let key = room.as_str();
        let added = self.store_call(self.conversations.add(account, key, upto, now_ms()).await)?;
        if added == Added::Full {
            return Err(RequestError::TooManyRooms(MAX_CONVERSATIONS));
        }
        let mark = self
            .store_call(self.conversations.read_mark(account, key).await)?
            .unwrap_or(upto);
        let conv = Conversation::Room(room.clone());
        let mut state = self
            .read_state(account, &peer.nick, conv, key, mark, upto)
            .await?;
        state.muted = self.is_muted(account, key).await?;
        Ok(Some(state))
    }

    /// The read state of one conversation read up to `mark`: the messages of others after it
    /// (up to `upto`, at most [`UNREAD_CAP`]), the first of them, and those mentioning `me`.
    /// Edits, deletions and deleted messages are not unread.
    pub(super) async fn read_state(
        &self,
        account: AccountId,
        me: &Nickname,
        conv: Conversation,
        channel: &str,
        mark: MessageId,
        upto: MessageId,
    ) -> Result<ReadState, RequestError> {
        let page = self.store_call(
            self.history
                .after(channel, mark, upto, UNREAD_CAP as usize)
                .await,
        )?;
        let mine = NickKey::of(me);
        let mut state = ReadState {
            conv,
            last_read: mark,
            unread: 0,
            mentions: 0,
            first_unread: None,
            muted: false,
        };
        for m in page.messages.iter().filter(|m| unread(m, account)) {
            state.unread += 1;
            state.first_unread.get_or_insert(m.id);
            if m.meta.mentions.iter().any(|n| NickKey::of(n) == mine) {
                state.mentions += 1;
            }
        }
        Ok(state)
    }

    /// Every conversation of a signed-in user with its read state, most recently active
    /// first (for `welcome` and `conversations`).
    pub async fn conversation_states(&self, peer: &Peer) -> Result<Vec<ReadState>, RequestError> {
        let Some(account) = peer.account() else {
            return Ok(Vec::new());
        };
        let list = self.store_call(self.conversations.list(account, MAX_LISTED).await)?;
        let muted = self.store_call(self.conversations.muted(account).await)?;
        let mut states = Vec::with_capacity(list.len());
        for (channel, mark) in list {
            let Some(conv) = conversation_of(&channel, &peer.nick) else {
                continue;
            };
            let mut state = self
                .read_state(account, &peer.nick, conv, &channel, mark, MessageId::MAX)
                .await?;
            state.muted = muted.contains(&channel);
            states.push(state);
        }
        Ok(states)
    }

    /// `conversation_states`, asked for by a client: rate-limited per account, since each
    /// answer reads up to [`MAX_LISTED`] histories.
    pub async fn list_conversations(&self, peer: &Peer) -> Result<Vec<ReadState>, RequestError> {
        let Some(account) = peer.account() else {
            return Err(RequestError::NotSignedIn(
                "conversations are kept for accounts: sign in",
            ));
        };
        if !self.listings.take(&[account]) {
            return Err(RequestError::Throttled("conversations asked for too often"));
        }
        self.conversation_states(peer).await
    }

    /// Sends `peer` the direct messages that reached it while it was away: those after its
    /// read mark in each direct conversation with unread ones, the most recently active
    /// first, at most [`UNREAD_CAP`] each and `MAX_WAITING` in all (the rest are a
    /// `dm_history` away).
    pub async fn deliver_waiting(&self, peer: &Peer, states: &[ReadState]) {
        let mut sent = 0;
        for s in states.iter().filter(|s| s.unread > 0) {
            if sent >= MAX_WAITING {
                return;
            }
            let Conversation::Dm(with) = &s.conv else {
                continue;
            };
            let channel = dm_channel(&peer.nick, with);
            let page = self
                .history
                .after(&channel, s.last_read, MessageId::MAX, UNREAD_CAP as usize)
                .await;
            let Ok(page) = page else {
                continue;
            };
            let Some(account) = peer.account() else {
                return;
            };
            for m in page.messages.iter().filter(|m| unread(m, account)) {
                peer.conn
                    .reply(&ServerMessage::Direct(m.to_direct(peer.nick.clone())));
                sent += 1;
            }
        }
    }

    /// The account's name for `nick` (as registered), or `unknown_user`: stored direct
    /// conversations are between accounts only.
    pub(super) async fn account_name(&self, nick: &Nickname) -> Result<Nickname, RequestError> {
        match self.store_call(self.auth.accounts().by_key(&NickKey::of(nick)).await)? {
            Some(a) => Ok(a.name),
            None => Err(RequestError::UnknownUser(nick.to_string())),
        }
    }

    /// The channel of a conversation of `peer` (a direct one only with an account).
    pub(super) async fn channel_of(
        &self,
        peer: &Peer,
        conv: &Conversation,
    ) -> Result<(String, Conversation), RequestError> {
        match conv {
            Conversation::Room(r) => Ok((r.to_string(), conv.clone())),
            Conversation::Dm(with) => {
                let with = self.account_name(with).await?;
                Ok((dm_channel(&peer.nick, &with), Conversation::Dm(with)))
            }
        }
    }

    /// Moves the read mark of one of `peer`'s conversations to `id`, and tells every
    /// connection of the user its new read state.
    pub async fn mark_read(
        &self,
        peer: &Peer,
        conv: &Conversation,
        id: MessageId,
    ) -> Result<(), RequestError> {
        let account = peer.account().ok_or(RequestError::NotSignedIn(
            "read state is kept for accounts: sign in",
        ))?;
        let (channel, conv) = self.channel_of(peer, conv).await?;
        // Never past the last message: a later one must count as unread.
        let last = self.store_call(self.history.last_id(&channel).await)?;
        let mark = self.store_call(
            self.conversations
                .mark_read(account, &channel, id.min(last))
                .await,
        )?;
        let Some(mark) = mark else {
            return Err(not_listed(conv));
        };
        let mut state = self
            .read_state(account, &peer.nick, conv, &channel, mark, MessageId::MAX)
            .await?;
        state.muted = self.is_muted(account, &channel).await?;
        self.tell_user(&peer.nick, &ServerMessage::Read(state));
        Ok(())
    }

    /// Mutes or unmutes one of `peer`'s conversations, and tells every connection of the
    /// user its new read state.
    pub async fn set_muted(
        &self,
        peer: &Peer,
        conv: &Conversation,
        muted: bool,
    ) -> Result<(), RequestError> {
        let account = peer.account().ok_or(RequestError::NotSignedIn(
            "mutes are kept for accounts: sign in",
        ))?;
        let (channel, conv) = self.channel_of(peer, conv).await?;
        let found =
            self.store_call(self.conversations.set_muted(account, &channel, muted).await)?;
        let mark = match found {
            true => self.store_call(self.conversations.read_mark(account, &channel).await)?,
            false => None,
        };
        let Some(mark) = mark else {
            return Err(not_listed(conv));
        };
        let mut state = self
            .read_state(account, &peer.nick, conv, &channel, mark, MessageId::MAX)
            .await?;
        state.muted = muted;
        self.tell_user(&peer.nick, &ServerMessage::Read(state));
        Ok(())
    }

    /// Whether the account muted `channel`.
    async fn is_muted(&self, account: AccountId, channel: &str) -> Result<bool, RequestError> {
        let muted = self.store_call(self.conversations.muted(account).await)?;
        Ok(muted.iter().any(|c| c == channel))
    }

    /// Sends `msg` to every connection of the user `nick`, on every node.
    pub(super) fn tell_user(&self, nick: &Nickname, msg: &ServerMessage) {
        self.broker.publish(Event::ToUser {
            n: nick.to_string(),
            j: msg.to_json(),
        });
    }

    /// A page of `peer`'s direct conversation with `with` (an account): older than
    /// `before`, newer than `after`, or the latest.
    pub async fn dm_history(
        &self,
        peer: &Peer,
        with: &Nickname,
        before: Option<MessageId>,
        after: Option<MessageId>,
        limit: Option<u32>,
    ) -> Result<(Nickname, Vec<DirectMessage>, bool), RequestError> {
        if peer.guest() {
            return Err(RequestError::NotSignedIn(
                "direct messages of guests are not kept: sign in",
            ));
        }
        let with = self.account_name(with).await?;
        let channel = dm_channel(&peer.nick, &with);
        let page = self
            .page_of(&channel, before, after, limit, MessageId::MAX)
            .await?;
        let (messages, has_more) =
            page::fit_with(page, self.page_budget(), Keep::for_history(after), |m| {
                let to = if NickKey::of(&m.sender) == NickKey::of(&peer.nick) {
                    with.clone()
                } else {
                    peer.nick.clone()
                };
                Some(m.to_direct(to))
            });
        Ok((with, messages, has_more))
    }

    /// A page of `channel` up to `watermark`: older than `before`, newer than `after`, or the
    /// latest.
    pub(super) async fn page_of(
        &self,
        channel: &str,
        before: Option<MessageId>,
        after: Option<MessageId>,
        limit: Option<u32>,
        watermark: MessageId,
    ) -> Result<Page, RequestError> {
        let limit = self.page_limit(limit);
        let page = match after {
            Some(a) => self.history.after(channel, a, watermark, limit).await,
            None => {
                let b = before
                    .unwrap_or(MessageId::MAX)
                    .min(watermark.saturating_add(1));
                self.history.before(channel, b, limit).await
            }
        };
        self.store_call(page)
    }
}

/// Whether `m` counts as unread for `account`: another's message, not an edit or deletion,
/// not deleted.
fn unread(m: &StoredMessage, account: AccountId) -> bool {
    m.author != Some(account) && m.meta.target.is_none() && !m.meta.deleted
}

/// The error for a conversation that is not among the user's.
fn not_listed(conv: Conversation) -> RequestError {
    match conv {
        Conversation::Room(r) => RequestError::NotInRoom(r.to_string()),
        Conversation::Dm(with) => RequestError::UnknownUser(with.to_string()),
    }
}

/// The conversation a channel of `me` is: a room, or the direct one with the other user.
fn conversation_of(channel: &str, me: &Nickname) -> Option<Conversation> {
    match channel.strip_prefix("dm:") {
        Some(pair) => {
            let (a, b) = pair.split_once(':')?;
            let mine = NickKey::of(me);
            let a = Nickname::new(a).ok()?;
            let other = if NickKey::of(&a) == mine {
                Nickname::new(b).ok()?
            } else {
                a
            };
            Some(Conversation::Dm(other))
        }
        None => RoomName::new(channel).ok().map(Conversation::Room),
    }
}

impl Hub {
    /// After a signed-in user left `room` for good: it is no longer among its rooms (an
    /// invite-only room then needs a new invitation).
    pub async fn forget_room(&self, peer: &Peer, room: &RoomName) -> Result<(), RequestError> {
        if let Some(account) = peer.account() {
            self.store_call(self.conversations.remove(account, room.as_str()).await)?;
        }
        Ok(())
    }
}
