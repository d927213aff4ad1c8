//! The fsync floor, the built binary: what it prints, what it leaves behind, and what it does
//! with arguments it cannot use.

use std::path::PathBuf;
use std::process::Command;

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

fn floor(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_fsync-floor"))
        .args(args)
        .output()
        .expect("fsync-floor runs")
}

#[test]
fn it_reports_the_cpu_of_each_durable_append_and_removes_its_file() {
    let dir = scratch("fsync-floor-report");
    let out = floor(&[dir.to_str().expect("utf-8 path"), "20", "1000", "64"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON line");
    assert_eq!(report["appends"], 20);
    assert_eq!(report["bytes"], 64);
    let cpu = report["cpu_us_per_append"].as_f64().expect("a number");
    // A write and an fdatasync take some CPU, and far less than the 1 ms between appends.
    assert!(cpu > 0.0 && cpu < 1000.0, "{cpu} µs per append");
    assert!(report["switches_per_append"].as_f64().is_some());
    let left: Vec<_> = std::fs::read_dir(&dir).expect("dir").collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn an_argument_that_is_not_a_number_is_refused() {
    let dir = scratch("fsync-floor-refused");
    let out = floor(&[dir.to_str().expect("utf-8 path"), "many"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a number: many"));
    let out = floor(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage"));
}

#[test]
fn a_directory_it_cannot_write_is_an_error() {
    let missing = scratch("fsync-floor-missing").join("not-there");
    let out = floor(&[missing.to_str().expect("utf-8 path"), "3"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("fsync-floor: "));
}
