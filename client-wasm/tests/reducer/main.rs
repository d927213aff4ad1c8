//! The reducer on the host: every rule of the client (login as a guest or a member, send and
//! ack, reconnect with backoff, resume without gaps or duplicates, unread counts, presence,
//! typing) as plain tests, one module per part of `client_wasm::state`.
#![cfg(not(target_arch = "wasm32"))]

mod accounts;
mod attention;
mod compose;
mod continuity;
mod conversations;
mod helpers;
mod incoming;
mod lifecycle;
mod outgoing;
mod paging;
mod reading;
mod transport;
mod view;
