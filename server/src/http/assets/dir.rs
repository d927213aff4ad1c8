//! The web client served from a directory (`--static-dir`), read through a shared cache.

use super::cache::{FileCache, Stamp, BUDGET};
use super::encoding::{self, Encoding};
use super::respond::Reply;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Response};
use http_body_util::Full;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

pub struct Dir {
    root: PathBuf,
    cache: FileCache,
}

/// The forms of one file found on disk for one request.
struct Found {
    identity: OnDisk,
    gzip: Option<OnDisk>,
    brotli: Option<OnDisk>,
}

/// A regular file inside the root, symlinks resolved, and the version of it seen.
struct OnDisk {
    path: PathBuf,
    stamp: Stamp,
}

impl Dir {
    pub fn new(root: PathBuf) -> Dir {
        Dir {
            root,
            cache: FileCache::new(BUDGET),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Answers with the file at `rel` (a checked relative path), or `None` when there is no
    /// such file inside the root.
    pub async fn respond(
        &self,
        rel: &str,
        method: &Method,
        headers: &HeaderMap,
    ) -> Option<Response<Full<Bytes>>> {
        let (root, owned) = (self.root.clone(), rel.to_owned());
        // A handful of metadata calls on every request: cheap, but blocking, so off the
        // runtime's threads in one hop rather than one per call.
        let found = tokio::task::spawn_blocking(move || probe(&root, &owned))
            .await
            .ok()??;
        let encoding = encoding::negotiate(headers, found.gzip.is_some(), found.brotli.is_some());
        let form = match encoding {
            Encoding::Identity => &found.identity,
            Encoding::Gzip => found.gzip.as_ref().unwrap_or(&found.identity),
            Encoding::Brotli => found.brotli.as_ref().unwrap_or(&found.identity),
        };
        let name = rel.rsplit('/').next().unwrap_or(rel);
        let compressed = found.gzip.is_some() || found.brotli.is_some();
        let reply = Reply::new(
            name,
            compressed,
            encoding,
            etag(form.stamp, encoding),
            form.stamp.len,
            headers,
        );
        if !reply.wants_body(method) {
            return Some(reply.finish(None));
        }
        // Gone between the probe and the read: as if it had never been there.
        let bytes = self.cache.get(&form.path, form.stamp).await.ok()?;
        Some(reply.finish(Some(bytes)))
    }
}

/// Finds `rel` under `root` and its `.gz` and `.br` siblings. A sibling older than the file
/// is stale (the file was rebuilt after it was compressed) and is left out.
fn probe(root: &Path, rel: &str) -> Option<Found> {
    let root = root.canonicalize().ok()?;
    let requested = root.join(rel);
    let identity = on_disk(&root, &requested)?;
    let sibling = |ext: &str| {
        let mut name = requested.clone().into_os_string();
        name.push(".");
        name.push(ext);
        on_disk(&root, Path::new(&name)).filter(|s| !stale(s.stamp, identity.stamp))
    };
    Some(Found {
        gzip: sibling("gz"),
        brotli: sibling("br"),
        identity,
    })
}

/// Whether a compressed form is older than its original, in whole seconds: gzip and brotli
/// give the form the original's mtime, but brotli only to the second.
fn stale(form: Stamp, original: Stamp) -> bool {
    let secs = |s: Stamp| {
        s.modified
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_secs())
    };
    matches!((secs(form), secs(original)), (Some(f), Some(o)) if f < o)
}

/// `path` if it is a regular file that, symlinks followed, is still inside `root` (which is
/// canonical): a link inside the directory must not lead out of it.
fn on_disk(root: &Path, path: &Path) -> Option<OnDisk> {
    let path = path.canonicalize().ok()?;
    if !path.starts_with(root) {
        return None;
    }
    let meta = std::fs::metadata(&path).ok()?;
    meta.is_file().then(|| OnDisk {
        stamp: Stamp::of(&meta),
        path,
    })
}

/// A form's ETag from its length and modification time: a validator without reading the
/// file, so a 304 costs only the probe. `"<hash>[-gz|-br]"`, FNV-1a over both.
fn etag(stamp: Stamp, encoding: Encoding) -> HeaderValue {
    let nanos = stamp
        .modified
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in stamp
        .len
        .to_le_bytes()
        .into_iter()
        .chain(nanos.to_le_bytes())
    {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let tag = format!("\"{hash:016x}{}\"", encoding.etag_suffix());
    HeaderValue::try_from(tag).expect("hex digits and quotes make a valid header value")
}
