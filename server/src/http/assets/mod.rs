//! The web client's files, answered to GET and HEAD: the copy embedded in the binary at build
//! time, or the files of `--static-dir`.
//!
//! Memory is the point: a download never costs a copy of the file. Embedded bodies are the
//! binary's own bytes; the directory's are read once into a bounded cache and shared.
//!
//! Layout: `path` (URL path to a file under the root), `embedded` and `dir` (the two
//! backends), `cache` (the directory's shared copies), `encoding` (`Accept-Encoding`), `etag`
//! (`If-None-Match`), `content_type` and `cache_control` (headers by file name), `respond`
//! (the chosen form and the request's headers to a response).

mod cache;
mod cache_control;
mod content_type;
mod dir;
mod embedded;
pub(crate) mod encoding;
pub(crate) mod etag;
mod path;
mod respond;
#[cfg(test)]
mod tests;

use bytes::Bytes;
use dir::Dir;
use embedded::EmbeddedFile;
use http::{HeaderMap, Method, Response, StatusCode, Uri};
use http_body_util::Full;
use std::path::Path;

/// Where the client's files come from.
pub struct Assets {
    source: Source,
}

enum Source {
    /// The table `build.rs` generated; empty when the build found no client.
    Embedded(&'static [EmbeddedFile]),
    Dir(Dir),
}

const NOT_EMBEDDED: &str = "The web client is not built into this binary, and no --static-dir \
was given.\nBuild it with scripts/build-client.sh, then rebuild the server (the build embeds \
dist/), or pass --static-dir <a built client>.\n";

impl Assets {
    /// Embedded client, or the directory when `static_dir` is Some.
    pub fn new(static_dir: Option<&Path>) -> Assets {
        let source = match static_dir {
            Some(dir) => Source::Dir(Dir::new(dir.to_path_buf())),
            None => Source::Embedded(embedded::files()),
        };
        Assets { source }
    }

    /// One line for the startup log.
    pub fn describe(&self) -> String {
        match &self.source {
            Source::Embedded([]) => "web client: none: this binary was built without one (run \
                 scripts/build-client.sh, then rebuild the server), and no --static-dir was given"
                .to_string(),
            Source::Embedded(table) => {
                let (files, bytes) = embedded::totals(table);
                format!(
                    "web client: embedded ({files} files, {} KB)",
                    bytes.div_ceil(1024)
                )
            }
            Source::Dir(dir) => {
                let root = dir.root().display();
                // One metadata call, once, at startup.
                if dir.root().join("index.html").is_file() {
                    format!("web client: served from {root}")
                } else {
                    format!(
                        "web client: served from {root}, which has no index.html yet \
                         (build it with scripts/build-client.sh)"
                    )
                }
            }
        }
    }

    /// Answers a GET or HEAD for `uri`'s path (method already checked by the caller).
    pub async fn respond(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> Response<Full<Bytes>> {
        let Some(rel) = path::relative_path(uri.path()) else {
            return respond::bad_path(method);
        };
        let found = match &self.source {
            Source::Embedded(table) => embedded::lookup(table, &format!("/{rel}"))
                .map(|file| embedded::respond(file, method, headers)),
            Source::Dir(dir) => dir.respond(&rel, method, headers).await,
        };
        if let Some(response) = found {
            return response;
        }
        // Without index.html there is no client at all: say how to get one.
        match &self.source {
            Source::Embedded([]) if rel == "index.html" => {
                respond::text(StatusCode::NOT_FOUND, NOT_EMBEDDED, method)
            }
            Source::Dir(dir) if rel == "index.html" => {
                let message = format!(
                    "The web client is not built in {}: it has no index.html.\nBuild it there \
                     with scripts/build-client.sh (DIST=<dir> picks the directory), or point \
                     --static-dir at a built client.\n",
                    dir.root().display()
                );
                respond::text(StatusCode::NOT_FOUND, message, method)
            }
            _ => respond::not_found(method),
        }
    }
}

/// How many files of the client this binary embeds (0: it was built without one).
pub fn embedded_file_count() -> usize {
    embedded::files().len()
}
