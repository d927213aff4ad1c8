//! `RedisConversations` against a real redis-server: the conformance suite every
//! `Conversations` backend passes, and the state shared between two nodes.

mod common;

use common::cluster::Redis;
use server::cluster::Cluster;
use server::conversations::{Added, Conversations, RoomRules, Sanction, SanctionKind};
use shared::FOREVER;

const T: i64 = 1_700_000_000_000;

#[tokio::test]
async fn conformance() {
    let redis = Redis::start_with("conv-conformance", &[]);
    let cluster = Cluster::connect(&redis.url(), 100, false)
        .await
        .expect("cluster");
    server::conversations::conformance::run(&cluster.conversations()).await;
}

#[tokio::test]
async fn a_second_node_sees_what_the_first_wrote() {
    let redis = Redis::start_with("conv-shared", &[]);
    let a = Cluster::connect(&redis.url(), 100, false).await.expect("a");
    let b = Cluster::connect(&redis.url(), 100, false).await.expect("b");
    let (ca, cb) = (a.conversations(), b.conversations());
    let rules = RoomRules {
        invite_only: true,
        owner: Some(4),
    };
    assert!(ca.create_room("ops", rules).await.expect("create"));
    assert!(!cb.create_room("ops", rules).await.expect("again"));
    assert_eq!(cb.rules("ops").await.expect("rules"), Some(rules));
    assert_eq!(ca.add(4, "ops", 7, T).await.expect("add"), Added::New);
    assert_eq!(cb.mark_read(4, "ops", 9).await.expect("mark"), Some(9));
    assert_eq!(ca.read_mark(4, "ops").await.expect("read"), Some(9));
    assert_eq!(
        cb.list(4, 10).await.expect("list"),
        vec![("ops".to_string(), 9)]
    );
    let ban = Sanction {
        subject: "a:5".into(),
        kind: SanctionKind::Ban,
        until: FOREVER,
    };
    assert!(ca.sanction("ops", ban.clone(), T).await.expect("ban"));
    assert_eq!(cb.sanctions("ops", T).await.expect("sanctions"), vec![ban]);
    assert!(ca
        .ban_guest("eve", Some("10.0.0.1"), T + 1_000, T)
        .await
        .expect("ban guest"));
    assert!(cb
        .guest_banned("x", Some("10.0.0.1"), T + 1)
        .await
        .expect("banned"));
}
