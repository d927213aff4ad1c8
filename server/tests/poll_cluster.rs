//! Long polling across a cluster: no sticky sessions. A session opened on one node has its
//! requests (GET and POST) land on either node, alternately; the node that does not hold it
//! forwards them to the one that does, through Redis.

mod common;

use common::cluster::{Node, Redis};
use common::poll::{request, send_line, Poller};
use shared::{ServerMessage, POLL_SESSION};

fn texts(got: &[ServerMessage]) -> Vec<String> {
    got.iter()
        .filter_map(|m| match m {
            ServerMessage::Message(c) => Some(c.text.as_str().to_string()),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_whose_requests_alternate_between_two_nodes() {
    let redis = Redis::start("poll");
    let (a, b) = (Node::start(&redis), Node::start(&redis));
    let mut wendy = b.join("wendy", "general").await;
    let (mut p, _) = Poller::joined(&a.addr, "polly", "general").await;
    for round in 0..6 {
        // Every request of the round goes to the other node than the last one.
        p.addr = if round % 2 == 0 {
            b.addr.clone()
        } else {
            a.addr.clone()
        };
        let mine = format!("from polly {round}");
        let posted = p
            .post(&[send_line("general", &mine, &format!("c{round}"))])
            .await;
        assert_eq!(posted.status, 204, "round {round}: {posted:?}");
        let m = wendy
            .recv_until(|m| matches!(m, ServerMessage::Message(c) if c.sender.as_str() == "polly"))
            .await;
        let ServerMessage::Message(c) = m else {
            unreachable!()
        };
        assert_eq!(
            (c.sender.as_str(), c.text.as_str()),
            ("polly", mine.as_str())
        );
        p.addr = if round % 2 == 0 {
            a.addr.clone()
        } else {
            b.addr.clone()
        };
        let theirs = format!("from wendy {round}");
        wendy.say("general", &theirs).await;
        let got = p
            .until(|m| matches!(m, ServerMessage::Message(c) if c.text.as_str() == theirs))
            .await;
        assert_eq!(
            texts(&got),
            [mine.clone(), theirs.clone()],
            "round {round}: its own message, then wendy's, once each"
        );
    }
    // Ending it through the other node ends it where it lives.
    p.addr = b.addr.clone();
    assert_eq!(p.delete().await.status, 204);
    assert_eq!(p.closed().await, 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_of_a_node_that_is_gone_is_unknown_at_once() {
    let redis = Redis::start("poll-gone");
    let (mut a, b) = (Node::start(&redis), Node::start(&redis));
    let (p, _) = Poller::joined(&a.addr, "polly", "general").await;
    a.kill();
    let started = std::time::Instant::now();
    let ans = request(
        &b.addr,
        "GET",
        &[
            (POLL_SESSION, p.id.clone()),
            ("chat-ack", p.ack.to_string()),
        ],
        b"",
    )
    .await;
    assert_eq!((ans.status, ans.close()), (404, Some(4004)), "{ans:?}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "no wait for a node that is not there"
    );
}
