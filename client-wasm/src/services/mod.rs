//! I/O outside the components: the socket, the saved session, and the driver that runs the
//! reducer and carries out its effects.

pub mod driver;
pub mod socket;
pub mod storage;
