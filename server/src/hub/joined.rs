//! The `joined` reply, encoded around a member listing that is rendered to JSON once. A room
//! above the presence limit shares one listing (up to `presence_limit` names) among the joins
//! of a second (`LISTING_TTL`); rendering it once, not once per join, is what lets a crowd
//! (the reconnect storm after a restart) join a big room at the cost of a copy each.

use serde::Serialize;
use serde_json::value::RawValue;
use shared::{ChatMessage, Nickname, ReadState, RoomName, Timestamp};

/// The members a `joined` lists (the first `presence_limit` by name) and which of them are
/// guests, as the JSON arrays the reply carries.
#[derive(Debug)]
pub(crate) struct Listing {
    members: Box<RawValue>,
    /// `None` when nobody listed is a guest: the field is then left out.
    guests: Option<Box<RawValue>>,
}

impl Listing {
    pub(crate) fn new(members: &[Nickname], guests: &[Nickname]) -> Listing {
        Listing {
            members: raw(members),
            guests: (!guests.is_empty()).then(|| raw(guests)),
        }
    }

    /// Bytes the listing takes in the reply, as the page budget counts them
    /// (`page::json_len` of both lists: each with a separator, the guests as `[]` if none).
    pub(crate) fn json_len(&self) -> usize {
        let guests = self.guests.as_ref().map_or(2, |g| g.get().len());
        self.members.get().len() + 1 + guests + 1
    }
}

fn raw(names: &[Nickname]) -> Box<RawValue> {
    // A list of strings always serializes, and serde_json's own output is valid JSON.
    let json = serde_json::to_string(names).unwrap_or_else(|_| "[]".into());
    RawValue::from_string(json).unwrap_or_else(|_| empty())
}

fn empty() -> Box<RawValue> {
    RawValue::from_string("[]".into()).unwrap_or_default()
}

/// A `joined` reply: the fields of [`ServerMessage::Joined`] but the listing, which comes
/// rendered. It encodes to the same JSON as that variant (a test holds them together).
pub(crate) struct Joined<'a> {
    pub(crate) room: &'a RoomName,
    pub(crate) listing: &'a Listing,
    pub(crate) history: Vec<ChatMessage>,
    pub(crate) has_more: bool,
    pub(crate) invite_only: bool,
    pub(crate) owner: Option<Nickname>,
    pub(crate) muted_until: Option<Timestamp>,
    pub(crate) read: Option<ReadState>,
}

/// What [`Joined`] encodes as: `ServerMessage`'s tag and field names, and its rules for
/// leaving fields out.
#[derive(Serialize)]
#[serde(tag = "type", rename = "joined")]
struct Wire<'a> {
    room: &'a RoomName,
    members: &'a RawValue,
    #[serde(skip_serializing_if = "Option::is_none")]
    guests: Option<&'a RawValue>,
    history: &'a [ChatMessage],
    has_more: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    invite_only: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    owner: &'a Option<Nickname>,
    #[serde(skip_serializing_if = "Option::is_none")]
    muted_until: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    read: &'a Option<ReadState>,
}

impl Joined<'_> {
    /// The reply's JSON text.
    pub(crate) fn to_json(&self) -> String {
        let wire = Wire {
            room: self.room,
            members: &self.listing.members,
            guests: self.listing.guests.as_deref(),
            history: &self.history,
            has_more: self.has_more,
            invite_only: self.invite_only,
            owner: &self.owner,
            muted_until: self.muted_until,
            read: &self.read,
        };
        // As `ServerMessage::to_json`: these types serialize without errors.
        serde_json::to_string(&wire).unwrap_or_else(|_| String::from("{}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::page::json_len;
    use shared::ServerMessage;

    /// The same reply as the protocol's variant.
    fn variant(j: &Joined<'_>, members: Vec<Nickname>, guests: Vec<Nickname>) -> ServerMessage {
        ServerMessage::Joined {
            room: j.room.clone(),
            members,
            guests,
            history: j.history.clone(),
            has_more: j.has_more,
            invite_only: j.invite_only,
            owner: j.owner.clone(),
            muted_until: j.muted_until,
            read: j.read.clone(),
        }
    }

    fn nicks(names: &[&str]) -> Vec<Nickname> {
        names
            .iter()
            .map(|n| Nickname::new(*n).expect("nickname"))
            .collect()
    }

    fn message(id: u64, text: &str) -> ChatMessage {
        serde_json::from_value(serde_json::json!({
            "room": "lobby", "id": id, "sender": "ann", "text": text, "ts": 1_700_000_000_000i64
        }))
        .expect("chat message")
    }

    /// Every field present, and every field left out: the encoding is the variant's, byte for
    /// byte, and parses back to it.
    #[test]
    fn encodes_as_the_protocols_joined() {
        let room = RoomName::new("lobby").expect("room");
        let read: ReadState = serde_json::from_value(
            serde_json::json!({"conv": {"room": "lobby"}, "last_read": 3, "unread": 1}),
        )
        .expect("read state");
        let cases = [
            (nicks(&["ann", "bob", "zoë"]), nicks(&["bob"]), true, true),
            (nicks(&["ann"]), vec![], false, false),
            (vec![], vec![], false, true),
        ];
        for (members, guests, all, more) in cases {
            let listing = Listing::new(&members, &guests);
            let joined = Joined {
                room: &room,
                listing: &listing,
                history: vec![message(1, "hi \"there\""), message(2, "é\n")],
                has_more: more,
                invite_only: all,
                owner: all.then(|| Nickname::new("ann").expect("nick")),
                muted_until: all.then_some(42),
                read: all.then(|| read.clone()),
            };
            let expected = variant(&joined, members.clone(), guests.clone());
            assert_eq!(joined.to_json(), expected.to_json());
            let parsed: ServerMessage =
                serde_json::from_str(&joined.to_json()).expect("parses as a ServerMessage");
            assert_eq!(parsed, expected);
            assert_eq!(listing.json_len(), json_len(&members) + json_len(&guests));
        }
    }
}
