//! I/O outside the components: the socket, and the session that drives the reducer.

pub mod session;
pub mod socket;
