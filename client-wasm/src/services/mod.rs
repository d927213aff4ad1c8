//! I/O outside the components: the socket, and the driver that runs the reducer and carries out
//! its effects.

pub mod driver;
pub mod socket;
