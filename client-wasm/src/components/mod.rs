//! One function component per file. Each gets the data it shows and callbacks saying what the
//! user did; none of them sees the whole state or the socket.

pub mod composer;
pub mod direct_list;
pub mod login;
pub mod member_list;
pub mod mention;
pub mod message_list;
pub mod rich_text;
pub mod room_admin;
pub mod room_list;
pub mod status;
pub mod time;
pub mod typing_indicator;

pub use composer::Composer;
pub use direct_list::DirectList;
pub use login::Login;
pub use member_list::MemberList;
pub use message_list::MessageList;
pub use room_admin::RoomAdmin;
pub use room_list::RoomList;
pub use status::Status;
pub use typing_indicator::TypingIndicator;
