//! Limits per client address, against one host (or one IPv6 /64) taking more than its share:
//! connections held at once and new connections per second ([`PerIp`]), counted under the
//! address a trusted reverse proxy reports if there is one ([`client_ip`]); and token buckets
//! per user or address for costly actions ([`Buckets`]).

mod buckets;
mod client_addr;
mod per_ip;

pub use buckets::Buckets;
pub use client_addr::{client_ip, ip_key, is_trusted, IpKey};
pub use per_ip::{IpSlot, PerIp, Refusal};
