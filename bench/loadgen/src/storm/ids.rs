//! The typed protocol's message ids in the storm: the sender's burst and its acks, the ids in
//! live frames and in pages, and the check that each client got every acked id exactly once.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use super::Common;
use crate::conn::{self, ROOM};

/// Sends `n` messages from a sender of its own (source slot `slot`) and returns the ids acked
/// within 5 s. The sender then leaves.
pub(super) async fn burst(common: &Common, slot: usize, n: usize) -> Result<Vec<u64>> {
    let (ws, _) = conn::connect_after(common.target, slot, "storm-sender", None, None).await?;
    for i in 0..n {
        let send = json!({"type": "send", "room": ROOM, "text": format!("storm {i}"),
                          "client_id": format!("storm-{i}")});
        ws.send(Message::text(send.to_string())).await?;
    }
    let mut acked = Vec::with_capacity(n);
    let limit = Instant::now() + Duration::from_secs(5);
    while acked.len() < n {
        let left = limit.saturating_duration_since(Instant::now());
        let Ok(next) = tokio::time::timeout(left, ws.next()).await else {
            break;
        };
        match next {
            Some(Ok(Message::Text(t))) if t.as_str().contains("\"type\":\"ack\"") => {
                let v: Value = serde_json::from_str(t.as_str())?;
                if let Some(id) = v["id"].as_u64() {
                    acked.push(id);
                }
            }
            Some(Ok(_)) => {}
            _ => bail!("the sender's connection ended during the burst"),
        }
    }
    Ok(acked)
}

/// The id of a live `message` frame.
pub(super) fn live(frame: &str) -> Option<u64> {
    if !frame.starts_with("{\"type\":\"message\"") {
        return None;
    }
    serde_json::from_str::<Value>(frame).ok()?["id"].as_u64()
}

/// The ids of a `joined` (its `history`) or `history` page (its `messages`), and `has_more`.
pub(super) fn page(frame: &str) -> Option<(Vec<u64>, bool)> {
    let v: Value = serde_json::from_str(frame).ok()?;
    let list = v.get("history").or_else(|| v.get("messages"))?.as_array()?;
    let ids = list.iter().filter_map(|m| m["id"].as_u64()).collect();
    Some((ids, v["has_more"].as_bool().unwrap_or(false)))
}

/// The request for the page after `id`.
pub(super) fn history_after(id: u64) -> String {
    json!({"type": "history", "room": ROOM, "after": id}).to_string()
}

/// Every client's ids against the acked ones: how many clients missed any, or got any twice.
pub(super) fn check(seen: &[Vec<u64>], acked: &[u64], resumed: u64) -> Value {
    let (mut missing_clients, mut missing) = (0usize, 0usize);
    let (mut dup_clients, mut dups) = (0usize, 0usize);
    for ids in seen {
        let mut count: HashMap<u64, u32> = HashMap::with_capacity(ids.len());
        for &id in ids {
            *count.entry(id).or_default() += 1;
        }
        let m = acked.iter().filter(|id| !count.contains_key(id)).count();
        let d: u32 = count.values().map(|&c| c.saturating_sub(1)).sum();
        missing += m;
        dups += d as usize;
        missing_clients += usize::from(m > 0);
        dup_clients += usize::from(d > 0);
    }
    json!({
        "acked": acked.len(),
        "clients_missing_some": missing_clients,
        "missing_total": missing,
        "clients_with_duplicates": dup_clients,
        "duplicates_total": dups,
        "ids_from_resume_pages": resumed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_and_the_check_count_what_they_should() {
        let joined =
            r#"{"type":"joined","room":"general","history":[{"id":3},{"id":4}],"has_more":true}"#;
        assert_eq!(page(joined), Some((vec![3, 4], true)));
        let hist = r#"{"type":"history","room":"general","messages":[{"id":5}],"has_more":false}"#;
        assert_eq!(page(hist), Some((vec![5], false)));
        assert_eq!(
            live(r#"{"type":"message","id":9,"room":"general"}"#),
            Some(9)
        );
        assert_eq!(live(r#"{"type":"presence","id":9}"#), None);
        let r = check(
            &[vec![1, 2, 3], vec![1, 3], vec![1, 2, 2, 3]],
            &[1, 2, 3],
            4,
        );
        assert_eq!(r["clients_missing_some"], 1);
        assert_eq!(r["missing_total"], 1);
        assert_eq!(r["clients_with_duplicates"], 1);
        assert_eq!(r["duplicates_total"], 1);
    }
}
