//! Waiting for a server to settle after its clients connected: the joins' side traffic
//! (presence, history: the typed protocol) has stopped arriving and the server has gone idle.

use std::time::{Duration, Instant};

use crate::stats::ServerProc;

/// Waits until `frames` (the side traffic counted so far) stops growing and the server has gone
/// idle (it may still be producing that traffic without sending any for a while), or `max` is
/// up; the seconds waited.
pub async fn settle(frames: impl Fn() -> u64, server: &ServerProc, max: Duration) -> f64 {
    let t_settle = Instant::now();
    let mut last = frames();
    let mut quiet_since = Instant::now();
    let mut cpu_at_quiet = server.cpu_secs();
    while t_settle.elapsed() < max {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = frames();
        if now != last {
            last = now;
            quiet_since = Instant::now();
            cpu_at_quiet = server.cpu_secs();
        } else if quiet_since.elapsed() >= Duration::from_millis(300) {
            let busy = match (cpu_at_quiet, server.cpu_secs()) {
                (Some(a), Some(b)) => (b - a) / quiet_since.elapsed().as_secs_f64(),
                _ => 0.0,
            };
            // /proc counts CPU in 10 ms ticks: under a third of a core over 300 ms is idle enough.
            if busy < 0.35 {
                break;
            }
            quiet_since = Instant::now();
            cpu_at_quiet = server.cpu_secs();
        }
    }
    t_settle.elapsed().as_secs_f64()
}
