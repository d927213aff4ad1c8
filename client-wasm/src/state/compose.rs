//! What the composer takes from the state: the names `@` offers, and the message ↑ in an
//! empty box edits.

use super::rewrite::Msg;
use super::{ChatState, Target};
use shared::{MessageId, Nickname};

impl ChatState {
    /// The names `@` offers in the open conversation: the room's members or the direct peer,
    /// never us.
    pub fn mention_names(&self) -> Vec<String> {
        match &self.active {
            Some(Target::Direct(peer)) => vec![peer.as_str().into()],
            _ => {
                let mut names = Vec::new();
                for n in self.active_room().iter().flat_map(|r| &r.members) {
                    if !self.is_me(n) {
                        names.push(n.as_str().into());
                    }
                }
                names
            }
        }
    }

    /// Our newest message in the open conversation that we may still edit (the last line of
    /// [`ChatState::groups`] with `can_edit`): its id and text. Read from the messages
    /// directly, since the screen builds the groups once already.
    pub fn last_editable(&self) -> Option<(MessageId, String)> {
        fn newest<T: Msg>(list: &[T], me: &Nickname) -> Option<(MessageId, String)> {
            let m = list
                .iter()
                .rev()
                .find(|m| m.sender() == me && !m.deleted())?;
            Some((m.id(), m.text().as_str().into()))
        }
        // Guests edit nothing.
        let me = self.nick.as_ref().filter(|_| !self.guest)?;
        match self.active.as_ref()? {
            Target::Room(name) => newest(&self.rooms.get(name)?.messages, me),
            Target::Direct(peer) => newest(&self.directs.get(peer)?.messages, me),
        }
    }
}
