//! Readiness and ownership of the data directory, against the real binary: `/readyz` next to
//! `/healthz`, one server per data directory, and a store that stops for good ending the
//! process with 1011 to every client.

mod common;

use common::*;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("chat-ready-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn spawn_on(dir: &Path) -> (Running, String) {
    let dir = dir.to_str().expect("utf-8 temp path");
    run_binary(&["--store", "sqlite", "--data-dir", dir])
}

/// Waits (up to `within`) for a process that should exit by itself. One that does not is
/// killed when its guard drops, so a failing test leaves no server behind.
fn exit_within(child: &mut Running, within: Duration) -> ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.0.try_wait().expect("try_wait") {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "the process did not exit within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn readyz_is_200_on_a_healthy_server_and_healthz_stays_liveness() {
    let dir = tmpdir("healthy");
    let (_server, addr) = spawn_on(&dir);
    assert_eq!(
        http_get(&addr, "/readyz"),
        (200, "{\"ready\":true}\n".into())
    );
    assert_eq!(http_get(&addr, "/healthz"), (200, "ok\n".into()));
}

#[test]
fn a_second_server_on_the_same_data_directory_exits_and_the_first_keeps_serving() {
    let dir = tmpdir("shared-dir");
    let (first, addr) = spawn_on(&dir);
    let first_pid = first.0.id();
    // The address is printed only once the store is open: the lock is already held. (It used
    // to be printed before, and a second server started at once could take the lock first.)
    let lock = std::fs::File::open(dir.join("chat.lock")).expect("the lock file exists");
    assert!(
        matches!(lock.try_lock(), Err(std::fs::TryLockError::WouldBlock)),
        "the data directory is locked by the time the address is printed"
    );

    let mut second = Running(
        Command::new(env!("CARGO_BIN_EXE_server"))
            .args(["--listen", "127.0.0.1:0", "--store", "sqlite", "--data-dir"])
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the second server"),
    );
    let status = exit_within(&mut second, Duration::from_secs(10));
    assert!(!status.success(), "the second server must fail");
    let mut err = String::new();
    let stderr = second.0.stderr.as_mut().expect("piped stderr");
    stderr.read_to_string(&mut err).expect("read stderr");
    let want = format!(
        "data directory {} is in use by another server (pid {first_pid})",
        dir.display()
    );
    assert!(err.contains(&want), "stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");

    assert_eq!(
        http_get(&addr, "/healthz").0,
        200,
        "the first keeps serving"
    );
    assert_eq!(http_get(&addr, "/readyz").0, 200);

    drop(first);
    let (_third, addr) = spawn_on(&dir);
    assert_eq!(
        http_get(&addr, "/readyz").0,
        200,
        "free again once the first is gone"
    );
}

/// A real fault: the writer opens the WAL by name for its first fsync, so unlinking it under
/// SQLite (which keeps its own descriptor) makes that fsync fail, as a failing disk would.
#[tokio::test]
async fn a_failed_fsync_closes_every_client_with_1011_and_exits_non_zero() {
    let dir = tmpdir("fsync-fails");
    let (mut child, addr) = run_binary(&[
        "--store",
        "sqlite",
        "--rate-per-sec",
        "0",
        "--data-dir",
        dir.to_str().expect("utf-8 temp path"),
    ]);
    let mut reader = Client::open(&format!("ws://{addr}/chat")).await;
    reader.hello("reader").await;
    let mut sender = Client::open(&format!("ws://{addr}/chat")).await;
    sender.hello("sender").await;
    sender.join("general", None).await;
    std::fs::remove_file(dir.join("chat.db-wal")).expect("unlink the WAL");

    sender.say("general", "never durable").await;
    assert_eq!(reader.expect_close().await, 1011);
    assert_eq!(sender.expect_close().await, 1011);
    let status =
        tokio::task::spawn_blocking(move || exit_within(&mut child, Duration::from_secs(10)))
            .await
            .expect("join");
    assert!(!status.success(), "exits non-zero: {status:?}");
}
