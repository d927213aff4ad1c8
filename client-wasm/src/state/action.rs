//! The reducer's inputs and outputs: an [`Action`] is something the user did, something the
//! socket said, or a timer firing; an [`Effect`] is I/O the driver carries out for the reducer.

use super::{Kept, Login, Saved, Target};
use shared::{ClientMessage, ClientMsgId, MessageId, RoomName};

/// What the user or the outside world did.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// The login form: continue as a guest with this nickname.
    Connect {
        nick: String,
    },
    /// The login form: sign in to an account, or create one.
    SignIn(Login),
    /// What the page stored on an earlier visit: connect with it at once.
    Restore(Saved),
    /// What this browser kept for that user (after `Restore`): drafts, cursors, the open
    /// conversation, mutes, a guest's rooms.
    Recall(Kept),
    /// The address names this conversation (`None`: it names none).
    Route(Option<Target>),
    /// The composer's text changed.
    Draft(String),
    /// Mute or unmute the conversation on screen (a guest: in this browser).
    ToggleMute,
    /// End this session (`everywhere`: every session of the account) and go back to the login.
    SignOut {
        everywhere: bool,
    },
    ChangePassword {
        old: String,
        new: String,
    },
    /// The user leaves on purpose; no reconnecting.
    Disconnect,
    Select(Target),
    /// Join a room, creating it if nobody has yet.
    Join(String),
    Leave(RoomName),
    /// Create a room we own, public or invite-only, and join it.
    CreateRoom {
        name: String,
        invite_only: bool,
    },
    /// An owner's or admin's action on a user in the room on screen; `for_secs` bounds a ban
    /// or a mute (none: for good).
    Moderate {
        nick: String,
        action: shared::Action,
        for_secs: Option<u64>,
    },
    /// Replace the text of our message `id` in the conversation on screen.
    Edit {
        id: MessageId,
        text: String,
    },
    /// Delete message `id` in the conversation on screen.
    Delete(MessageId),
    /// The page became visible (`true`) or hidden.
    Visible(bool),
    /// Post this text to the conversation on screen.
    Send(String),
    /// Resend a message the server refused.
    Retry(ClientMsgId),
    /// Give up on a message the server refused.
    Discard(ClientMsgId),
    /// A keystroke in the composer.
    Typing,
    LoadOlder,
    RefreshRooms,
    /// Skip the rest of the reconnect wait.
    RetryNow,
    DismissNotice,
    /// The socket opened.
    Opened,
    /// A text frame arrived.
    Received(String),
    /// A `welcome` came over long polling (`polling`) or the WebSocket: that transport is in
    /// use now.
    Via {
        polling: bool,
    },
    /// The socket closed (1006 when there was no close frame).
    Closed {
        code: u16,
        reason: String,
    },
    /// The reconnect timer fired.
    ReconnectDue,
    /// One-second clock, for expiring typing indicators and the reconnect countdown.
    Tick,
}

/// What the driver must do for the reducer.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Open a new socket to the chat endpoint, dropping any previous one.
    Open,
    Send(ClientMessage),
    /// Close the socket (the user disconnected).
    Close,
    ScheduleReconnect {
        delay_ms: u32,
    },
    CancelReconnect,
    /// Keep what lets the next page load come back as the same user.
    Save(Saved),
    /// Drop whatever was saved: the session ended.
    Forget,
    /// Write what the browser keeps now (a mute, which the user's other tabs read).
    Keep,
    /// A direct message or a mention arrived: notify, if the page decides it should.
    Notify {
        title: String,
        body: String,
        /// The conversation's address: one notification per conversation at a time.
        tag: String,
        /// The message: the user's tabs agree on which one notifies for it.
        id: MessageId,
    },
}
