//! What the scenarios with many clients take from the command line besides their own
//! arguments: the server, how clients connect, and how long setting up may take.

use std::time::Duration;

use crate::conn::Target;
use crate::stats::ServerProc;

pub struct Common {
    pub target: Target,
    pub server: ServerProc,
    pub connect_concurrency: usize,
    pub connect_timeout: Duration,
    pub connect_phase_max: Duration,
    /// Longest wait for the joins' side traffic to stop before measuring.
    pub settle_max: Duration,
}
