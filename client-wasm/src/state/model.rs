//! What the client holds: the connection status, the conversations (rooms and direct threads),
//! the outbox of unacknowledged messages, and the seeded randomness behind jitter and client ids.

use super::account::Credentials;
use super::small_map::SmallMap;
use shared::{
    ChatMessage, ClientMsgId, Conversation, DirectMessage, Limits, MessageId, MessageText,
    Nickname, RoomInfo, RoomName, Timestamp, DEFAULT_ROOM,
};
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

/// Page size asked for when the server has not told its own (`welcome.limits.history_page`).
const DEFAULT_PAGE: u32 = 50;

/// Where the connection stands, as the status badge shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    /// Not connected and not trying: before the first connect, after the user disconnected, or
    /// after a close that reconnecting would not fix (nickname taken, replaced, ...).
    Offline,
    /// A socket is opening or the `hello` is on its way.
    Connecting { attempt: u32 },
    /// `welcome` received on the current socket.
    Online,
    /// Waiting to try again at `retry_at` (ms since the epoch).
    Reconnecting { attempt: u32, retry_at: Timestamp },
}

/// A conversation: a room or a direct thread with one user.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    Room(RoomName),
    Direct(Nickname),
}

/// A message sent but not acknowledged yet. It is resent with the same `client_id` after a
/// reconnect, so the server stores it once however often it arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub client_id: ClientMsgId,
    pub target: Target,
    pub text: MessageText,
    /// The server refused it (say, the user is not online); shown with retry and discard.
    pub failed: Option<String>,
}

/// Which history request is outstanding for a room, so `has_more` can be read the right way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paging {
    Idle,
    /// Catching up after a reconnect: asked for messages after our last seen id.
    Resume,
    /// Asked for an older page.
    Older,
    /// Catching up passed [`RESUME_CAP`](super::incoming::RESUME_CAP): what was held is
    /// dropped, and the latest page is asked for, below a gap marker.
    Latest,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    pub name: RoomName,
    pub members: BTreeSet<Nickname>,
    /// Which members are guests (no account).
    pub guests: BTreeSet<Nickname>,
    /// Sorted by id, no id twice.
    pub messages: Vec<ChatMessage>,
    pub unread: u32,
    /// Who is typing, and until when.
    pub typing: SmallMap<Nickname, Timestamp>,
    /// The server confirmed the join on the current connection.
    pub joined: bool,
    /// Older messages exist on the server.
    pub has_older: bool,
    pub paging: Paging,
    /// Messages fetched by the catch-up under way (see `Paging::Resume`).
    pub caught_up: usize,
    /// The newest id held when the catch-up began: what the user had seen.
    pub resume_from: Option<MessageId>,
    /// Catching up was cut short: messages after this id (the last one seen before) and
    /// before the oldest held were skipped. Shown as a gap marker above "load older" until
    /// older pages reach it.
    pub gap_after: Option<MessageId>,
    /// Read state (unread above, mentions, the server's read mark) and rewrites applied.
    pub read: ReadMarks,
    pub invite_only: bool,
    /// The owner (none: the server's admins).
    pub owner: Option<Nickname>,
    /// We are muted here until then (`shared::FOREVER`: for good).
    pub muted_until: Option<Timestamp>,
    /// Moderation lines (`moderated`), each after the message that was newest when it came.
    pub notes: Vec<Note>,
}

/// A system line in a room: "alice banned bob".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub after: Option<MessageId>,
    pub ts: Timestamp,
    pub text: String,
}

/// What a conversation knows beyond its messages: the read mark, the mentions unread, and
/// which edit was applied last to each message (an older edit arriving late is skipped).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReadMarks {
    /// Everything up to this id is read (the server's mark, for signed-in users).
    pub last_read: MessageId,
    /// The server's counts as of its last word (welcome, joined, read).
    pub server_unread: u32,
    pub server_mentions: u32,
    /// Unread messages that mention us.
    pub mentions: u32,
    /// Message id -> id of the newest edit applied to it.
    pub edits: SmallMap<MessageId, MessageId>,
}

impl Room {
    pub(super) fn new(name: RoomName) -> Self {
        Self {
            name,
            members: BTreeSet::new(),
            guests: BTreeSet::new(),
            messages: Vec::new(),
            unread: 0,
            typing: SmallMap::new(),
            joined: false,
            has_older: false,
            paging: Paging::Idle,
            caught_up: 0,
            resume_from: None,
            gap_after: None,
            read: ReadMarks::default(),
            invite_only: false,
            owner: None,
            muted_until: None,
            notes: Vec::new(),
        }
    }

    /// The id to resume from: the newest message we hold.
    pub fn last_id(&self) -> Option<MessageId> {
        self.messages.last().map(|m| m.id)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectThread {
    pub peer: Nickname,
    /// Sorted by id, no id twice.
    pub messages: Vec<DirectMessage>,
    pub unread: u32,
    pub read: ReadMarks,
    /// Older messages exist on the server.
    pub has_older: bool,
    /// A `dm_history` request is outstanding (`Older` or `Latest`).
    pub paging: Paging,
    /// The latest page was fetched on this connection (or the peer is a guest: nothing to
    /// fetch).
    pub loaded: bool,
}

impl DirectThread {
    pub(super) fn new(peer: Nickname) -> Self {
        Self {
            peer,
            messages: Vec::new(),
            unread: 0,
            read: ReadMarks::default(),
            has_older: false,
            paging: Paging::Idle,
            loaded: false,
        }
    }
}

/// Everything the UI shows. Cloning is cheap: conversations sit behind `Rc` and are copied only
/// when they change.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatState {
    /// The nickname we log in as (and, once welcomed, the server's spelling of it).
    pub nick: Option<Nickname>,
    /// We have no account (as the last `welcome` said, or as we asked to be).
    pub guest: bool,
    /// A `welcome` arrived since the user last pressed connect: the chat view is on screen.
    pub welcomed: bool,
    pub connection: Connection,
    /// The link carries the chat over long polling (the WebSocket did not work here), as the
    /// last `welcome` showed.
    pub polling: bool,
    /// Shown next to the nickname box: why the server refused us.
    pub login_error: Option<String>,
    /// Shown above the conversation until dismissed.
    pub notice: Option<String>,
    pub limits: Option<Limits>,
    pub default_room: RoomName,
    pub rooms: BTreeMap<RoomName, Rc<Room>>,
    pub directs: BTreeMap<Nickname, Rc<DirectThread>>,
    /// The server's room listing (name and member count), up to `MAX_DIRECTORY` rooms.
    pub directory: Vec<RoomInfo>,
    pub active: Option<Target>,
    /// Sent and not yet acknowledged, oldest first.
    pub pending: Vec<Pending>,
    /// The clock as of the last action.
    pub now: Timestamp,
    pub(super) resume_token: Option<String>,
    /// How the next `hello` signs in.
    pub(super) auth: Credentials,
    /// The server's history epoch from the last `welcome`: a different one means ids started
    /// over, so what we hold no longer lines up with the server's ids.
    pub(super) epoch: Option<String>,
    /// The server said not to reconnect (nickname taken, ...): the coming close is final.
    pub(super) fatal: bool,
    /// Prefix of our client ids, unique per page load so a reload never reuses an id.
    id_prefix: String,
    next_seq: u64,
    rng: u64,
    /// When we last sent `typing` per room, for the throttle.
    pub(super) last_typing: SmallMap<RoomName, Timestamp>,
    pub(super) last_room_list: Timestamp,
    /// The server says we are one of its admins.
    pub admin: bool,
    /// The page is visible (the driver reports `visibilitychange`): only then is the open
    /// conversation marked read.
    pub visible: bool,
    /// `mark_read` sent and not answered yet, per conversation: the id sent.
    pub(super) marking: SmallMap<Conversation, MessageId>,
    /// The room we asked to create, and whether invite-only: shown once joined.
    pub(super) creating: Option<(RoomName, bool)>,
    /// What the composer held per conversation, not sent yet.
    pub drafts: Vec<(Target, String)>,
    /// Muted conversations (a signed-in user's from the server, a guest's kept in this
    /// browser): no notifications, not in the title's count.
    pub muted: Vec<Target>,
    /// The conversation the address (or the last page load) asks for, opened after `welcome`.
    pub wanted: Option<Target>,
    /// The last message from someone else that arrived live, and where (see `heard`).
    pub(super) heard: Option<(Target, String)>,
    /// The conversation whose "new messages" divider was placed (when it was opened), and the
    /// first unread message it goes above, if any (see `divider`).
    pub(super) divided: Option<Target>,
    pub(super) new_from: Option<MessageId>,
    /// Bumped on every change the screen should see.
    pub version: u64,
}

impl ChatState {
    /// A fresh state. `seed` feeds jitter and client ids (`Math.random()` in the browser).
    pub fn new(seed: u64, now: Timestamp) -> Self {
        let mut state = Self {
            nick: None,
            guest: false,
            welcomed: false,
            connection: Connection::Offline,
            polling: false,
            login_error: None,
            notice: None,
            limits: None,
            default_room: RoomName::new(DEFAULT_ROOM).unwrap_or_else(|_| unreachable!()),
            rooms: BTreeMap::new(),
            directs: BTreeMap::new(),
            directory: Vec::new(),
            active: None,
            pending: Vec::new(),
            now,
            resume_token: None,
            auth: Credentials::Guest,
            epoch: None,
            fatal: false,
            id_prefix: String::new(),
            next_seq: 1,
            rng: seed | 1,
            last_typing: SmallMap::new(),
            last_room_list: now,
            admin: false,
            visible: true,
            marking: SmallMap::new(),
            creating: None,
            drafts: Vec::new(),
            muted: Vec::new(),
            wanted: None,
            heard: None,
            divided: None,
            new_from: None,
            version: 0,
        };
        // Time plus randomness: unique across reloads and across tabs.
        state.id_prefix = format!("c{:x}{:06x}", now.max(0), state.random_u64() & 0xff_ffff);
        state
    }

    /// Another user on this page: nothing of the previous one carries over except the client
    /// id sequence, so no id is ever reused, and what belongs to the page: the conversation
    /// the address asks for, and whether the page is visible.
    pub(super) fn start_over(&mut self, nick: Option<Nickname>) {
        let (seed, now, seq, id_prefix) = (
            self.random_u64(),
            self.now,
            self.next_seq,
            self.id_prefix.clone(),
        );
        let (wanted, visible) = (self.wanted.take(), self.visible);
        *self = ChatState::new(seed, now);
        self.visible = visible;
        self.next_seq = seq;
        self.id_prefix = id_prefix;
        self.nick = nick;
        self.wanted = wanted;
    }

    /// xorshift64*: plenty for jitter and id suffixes.
    fn random_u64(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub(super) fn random01(&mut self) -> f64 {
        (self.random_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub(super) fn next_client_id(&mut self) -> ClientMsgId {
        let id = format!("{}-{}", self.id_prefix, self.next_seq);
        self.next_seq += 1;
        ClientMsgId::new(id).unwrap_or_else(|_| unreachable!("hex and digits are printable"))
    }

    pub fn is_online(&self) -> bool {
        self.connection == Connection::Online
    }

    /// History page size: the server's, or ours until it has told us.
    pub(super) fn page(&self) -> u32 {
        self.limits
            .as_ref()
            .map_or(DEFAULT_PAGE, |l| l.history_page.max(1))
    }

    pub(super) fn is_me(&self, nick: &Nickname) -> bool {
        self.nick.as_ref() == Some(nick)
    }
}

/// A validation error as a sentence for the screen: capital first letter, full stop.
pub(super) fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect::<String>() + ".",
        None => String::new(),
    }
}
