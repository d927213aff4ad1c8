//! The conformance suite on memory and SQLite, and what only SQLite has to do: keep it all
//! across a reopen, beside the message store.

use super::memory::MemoryConversations;
use super::sqlite::SqliteConversations;
use super::*;

#[tokio::test]
async fn memory_conforms() {
    conformance::run(&MemoryConversations::new()).await;
}

#[tokio::test]
async fn sqlite_conforms() {
    let dir = tmpdir("conform");
    conformance::run(&SqliteConversations::open(&dir).expect("open")).await;
    let _ = std::fs::remove_dir_all(&dir);
}

fn tmpdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "chat-conversations-{name}-{}-{}",
        std::process::id(),
        crate::util::random_hex()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}
