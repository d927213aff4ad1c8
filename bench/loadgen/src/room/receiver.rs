//! One receiver of the room: connect, then read and time every delivery until the connection
//! ends; a slow one stops and resumes reading on the scenario's cue.

use std::rc::Rc;

use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

use super::tally::{bump, Shared, SlowState};
use super::RoomArgs;
use crate::conn::{self, end_label};

/// Handles one frame of a receiver; `Some(label)` when the connection ended.
// Inlined: once per frame of a slow receiver.
#[inline]
fn on_frame(
    sh: &Shared,
    ws: &conn::Ws,
    msg: conn::Next,
    is_slow: bool,
    mine: &mut u64,
) -> Option<String> {
    if let Some(Ok(Message::Text(t))) = &msg {
        on_text(sh, ws, t.as_bytes(), is_slow, mine);
        return None;
    }
    end_label(msg)
}

/// Handles one text of a receiver: a timed delivery, or side traffic (presence, history...).
fn on_text(sh: &Shared, ws: &conn::Ws, text: &[u8], is_slow: bool, mine: &mut u64) {
    match conn::find_stamp(text) {
        Some(st) => {
            *mine += 1;
            sh.record(st, is_slow, ws.arrived_ns(), conn::now_ns());
        }
        None => sh.other_frames.set(sh.other_frames.get() + 1),
    }
}

/// Receiver number `slot`: connects (at most `sem`'s permits at once), then reads until its
/// connection ends, or (slow) until the scenario is done with it.
pub(super) async fn receiver(
    sh: Rc<Shared>,
    args: Rc<RoomArgs>,
    slot: usize,
    is_slow: bool,
    sem: Rc<Semaphore>,
) {
    let nick = format!("r{slot}");
    let rcvbuf = if is_slow { args.slow_rcvbuf } else { None };
    let connected = {
        let Ok(_permit) = sem.acquire().await else {
            return;
        };
        conn::connect_timeout(args.target, slot, &nick, rcvbuf, args.connect_timeout).await
    };
    let ws = match connected {
        Ok(ws) if sh.connect_open.get() => ws,
        Ok(_) => return, // already counted as failed when the connect phase ended
        Err(e) => {
            if sh.connect_open.get() {
                sh.connect_failed(format!("{e:#}"));
            }
            return;
        }
    };
    let mut mine = 0u64;
    if !is_slow {
        sh.ready_normal.set(sh.ready_normal.get() + 1);
        let end = 'read: loop {
            if let Err(e) = ws.ready().await {
                break format!("io error: {:?}", e.kind());
            }
            loop {
                let step = ws.try_step(|t| on_text(&sh, &ws, t, false, &mut mine));
                match step {
                    conn::Step::Text => {}
                    conn::Step::Pending => break,
                    conn::Step::Other(next) => {
                        if let Some(end) = end_label(next) {
                            break 'read end;
                        }
                    }
                }
            }
        };
        sh.gone_normal.set(sh.gone_normal.get() + 1);
        bump(&sh.disconnects, end);
        return;
    }

    sh.ready_slow.set(sh.ready_slow.get() + 1);
    let mut state = sh.slow_state.subscribe();
    let end = loop {
        let now = *state.borrow_and_update();
        match now {
            SlowState::Done => break "open".to_owned(),
            SlowState::Stopped => {
                // Not polling the socket at all: the server sees a client that stopped reading.
                if state.changed().await.is_err() {
                    break "open".to_owned();
                }
                continue;
            }
            SlowState::Reading | SlowState::Resumed => {}
        }
        tokio::select! {
            biased;
            changed = state.changed() => {
                if changed.is_err() {
                    break "open".to_owned();
                }
                // It may now wait (stopped) while data arrives: read for real next time.
                ws.rearm();
            }
            msg = ws.next() => {
                if let Some(end) = on_frame(&sh, &ws, msg, true, &mut mine) {
                    break end;
                }
            }
        }
    };
    if end != "open" {
        sh.gone_slow.set(sh.gone_slow.get() + 1);
    }
    sh.slow_received.set(sh.slow_received.get() + mine);
    bump(&sh.slow_fate, end);
}
