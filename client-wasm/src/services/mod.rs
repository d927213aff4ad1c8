//! I/O outside the components: the link to the server (WebSocket or long polling), what the
//! browser keeps, the address, notifications, and the driver that runs the reducer and carries
//! out its effects.

pub mod driver;
pub mod notify;
pub mod route;
pub mod socket;
pub mod storage;
