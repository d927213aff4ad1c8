//! Embeds the built web client in the binary, so a bare `server` serves it with no flag.
//!
//! The client is read from `$CHAT_EMBED_DIR` (relative paths are taken from the workspace
//! root) or else from `<workspace root>/dist`, where `scripts/build-client.sh` writes it.
//! Every file there becomes an entry of `$OUT_DIR/embedded_assets.rs`: its URL path, its
//! bytes, the bytes of its `.gz` and `.br` siblings when they are not older than it, and a
//! strong ETag per form computed here from the bytes. A directory without `index.html` holds
//! no client: the table is then empty, and a fresh clone builds without trunk.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

const ENV_DIR: &str = "CHAT_EMBED_DIR";
/// Set by `scripts/run.sh` while it compiles the server's dependencies before any client exists.
const ENV_DEPS_ONLY: &str = "CHAT_DEPS_ONLY";
const OUTPUT: &str = "embedded_assets.rs";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed={ENV_DIR}");
    println!("cargo:rerun-if-env-changed={ENV_DEPS_ONLY}");
    // Failing here stops the server crate and nothing else under `cargo build --keep-going`:
    // run.sh's first run compiles every dependency while the client's tools install, and the
    // server crate (minutes in release) once, after the client, instead of twice.
    if std::env::var_os(ENV_DEPS_ONLY).is_some_and(|v| !v.is_empty()) {
        eprintln!("{ENV_DEPS_ONLY} is set: dependencies only, the server crate is left out");
        std::process::exit(1);
    }
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest.parent().unwrap_or(&manifest).to_path_buf();
    let (dir, chosen) = match std::env::var_os(ENV_DIR) {
        Some(d) if !d.is_empty() => (root.join(d), true),
        _ => (root.join("dist"), false),
    };
    if !chosen && !dir.exists() {
        // Cargo reruns a build script on every build while a path it watches is missing, and
        // the rerun recompiles this crate: an empty dist/ (ignored by git) keeps a fresh
        // clone's builds incremental, and trunk fills it later. Dated in the past, creating
        // it is not itself a change that reruns this script.
        let _ = fs::create_dir_all(&dir);
        let _ = fs::File::open(&dir).and_then(|d| d.set_modified(UNIX_EPOCH));
    }
    // Cargo scans a directory recursively: any file trunk writes there reruns this script.
    println!("cargo:rerun-if-changed={}", dir.display());

    let files = if dir.join("index.html").is_file() {
        collect(&dir)
    } else {
        if chosen {
            println!(
                "cargo:warning={ENV_DIR}={} has no index.html: no web client embedded",
                dir.display()
            );
        }
        Vec::new()
    };
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo")).join(OUTPUT);
    write_if_changed(&out, &render(&dir, &files));
}

/// One file of the client: its URL path and the files holding each of its forms.
struct Entry {
    url: String,
    identity: String,
    gzip: Option<String>,
    brotli: Option<String>,
}

/// Every file under `dir` (dot files and precompressed siblings aside), sorted by URL path,
/// which is the order the server's binary search expects.
fn collect(dir: &Path) -> Vec<Entry> {
    let mut found = Vec::new();
    walk(dir, "", &mut found);
    found.sort_by(|a, b| a.url.cmp(&b.url));
    found
}

fn walk(dir: &Path, prefix: &str, found: &mut Vec<Entry>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(name) = entry.file_name().into_string() else {
            println!(
                "cargo:warning=web client: skipping {} (name is not UTF-8)",
                entry.path().display()
            );
            continue;
        };
        // Dot files are trunk's staging area and editors' leftovers, not the client.
        if name.starts_with('.') || name.ends_with(".gz") || name.ends_with(".br") {
            continue;
        }
        let path = entry.path();
        let url = format!("{prefix}/{name}");
        // Only real directories are entered: a symlinked one could loop back.
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            walk(&path, &url, found);
        } else if path.is_file() {
            let Some(identity) = absolute(&path) else {
                println!(
                    "cargo:warning=web client: skipping {} (no UTF-8 absolute path)",
                    path.display()
                );
                continue;
            };
            found.push(Entry {
                url,
                gzip: sibling(&path, "gz"),
                brotli: sibling(&path, "br"),
                identity,
            });
        }
    }
}

/// `path.<ext>` when it exists and is not older than `path` (older is stale: the original
/// was rebuilt after it was compressed). Seconds are compared: gzip and brotli give the form
/// the original's mtime, but brotli only to the second.
fn sibling(path: &Path, ext: &str) -> Option<String> {
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(ext);
    let sib = PathBuf::from(name);
    let secs = |p: &Path| -> Option<u64> {
        let modified = fs::metadata(p).and_then(|m| m.modified()).ok()?;
        Some(modified.duration_since(UNIX_EPOCH).ok()?.as_secs())
    };
    if !sib.is_file() || secs(&sib)? < secs(path)? {
        return None;
    }
    absolute(&sib)
}

/// include_bytes! resolves a relative path against the generated file's directory: an
/// absolute one leaves no doubt. `None` when it cannot be written as a Rust string.
fn absolute(path: &Path) -> Option<String> {
    fs::canonicalize(path)
        .ok()?
        .into_os_string()
        .into_string()
        .ok()
}

fn render(dir: &Path, files: &[Entry]) -> String {
    let mut out = format!(
        "// Generated by server/build.rs from {}: {} file(s) of the web client.\n\
         static FILES: &[EmbeddedFile] = &[\n",
        dir.display().to_string().replace('\n', " "),
        files.len()
    );
    for f in files {
        let _ = writeln!(out, "    EmbeddedFile {{\n        path: {:?},", f.url);
        let _ = writeln!(out, "        identity: {},", form(&f.identity, ""));
        for (field, path, suffix) in [("gzip", &f.gzip, "-gz"), ("brotli", &f.brotli, "-br")] {
            match path {
                Some(p) => {
                    let _ = writeln!(out, "        {field}: Some({}),", form(p, suffix));
                }
                None => {
                    let _ = writeln!(out, "        {field}: None,");
                }
            }
        }
        out.push_str("    },\n");
    }
    out.push_str("];\n");
    out
}

/// One form of a file: its bytes and its ETag, `"<FNV-1a of the bytes>[-gz|-br]"`.
fn form(path: &str, suffix: &str) -> String {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let etag = format!("\"{:016x}{suffix}\"", fnv1a(&bytes));
    // `{:?}` writes a Rust string literal: quotes and backslashes in the path are escaped.
    format!("Form {{ bytes: include_bytes!({path:?}), etag: {etag:?} }}")
}

/// 64-bit FNV-1a: enough to tell two builds of a file apart, with no build dependency.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// Rewrites the table only when it changed, so its timestamp moves only with the client.
fn write_if_changed(path: &Path, content: &str) {
    if fs::read_to_string(path).is_ok_and(|old| old == content) {
        return;
    }
    fs::write(path, content).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}
