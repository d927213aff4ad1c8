//! Replays the fuzz corpus (`fuzz/corpus/<target>/*`, crashes found included) through every
//! fuzz target, then a few thousand deterministic mutations of it. This is not fuzzing (no
//! coverage feedback, see `scripts/fuzz.sh`); it keeps every input ever found failing and the
//! targets themselves working under a plain `cargo test`.

use server::fuzzing::TARGETS;
use std::path::{Path, PathBuf};

/// Mutations per corpus file and target: enough to reach odd corners, few enough for seconds.
const MUTATIONS: usize = 200;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_file())
        .filter_map(|path| std::fs::read(&path).ok().map(|data| (path, data)))
        .collect();
    files.sort();
    files
}

#[test]
fn every_target_has_a_seed_corpus_and_passes_it() {
    for (name, target) in TARGETS {
        let files = corpus(name);
        assert!(!files.is_empty(), "no corpus for {name}");
        for (path, data) in files {
            eprintln!("{name}: {}", path.display());
            target(&data);
        }
    }
}

#[test]
fn every_target_survives_mutations_of_its_corpus() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for (name, target) in TARGETS {
        let files = corpus(name);
        for (_, seed) in &files {
            for _ in 0..MUTATIONS {
                let input = mutate(seed, &files, &mut rng);
                let shown = String::from_utf8_lossy(&input).into_owned();
                let result = std::panic::catch_unwind(|| target(&input));
                assert!(result.is_ok(), "{name} failed on {shown:?} ({input:?})");
            }
        }
    }
}

/// A few byte-level edits, the kind a fuzzer starts with: flip, insert, delete, duplicate, an
/// interesting byte, or a splice with another corpus file.
fn mutate(seed: &[u8], files: &[(PathBuf, Vec<u8>)], rng: &mut XorShift) -> Vec<u8> {
    const INTERESTING: &[u8] = b"\0\r\n\t %,;:[]\"\\/*.=0129xW\x7f\x80\xc3\xff";
    let mut out = seed.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(6) {
            0 if at < out.len() => out[at] ^= 1 << rng.below(8),
            1 => out.insert(at, INTERESTING[rng.below(INTERESTING.len())]),
            2 if at < out.len() => {
                out.remove(at);
            }
            3 => {
                let end = (at + rng.below(8)).min(out.len());
                let piece = out[at..end].to_vec();
                out.splice(at..at, piece);
            }
            4 if at < out.len() => out[at] = INTERESTING[rng.below(INTERESTING.len())],
            _ => {
                let other = &files[rng.below(files.len())].1;
                let from = rng.below(other.len() + 1);
                out.truncate(at);
                out.extend_from_slice(&other[from..]);
            }
        }
    }
    out
}

struct XorShift(u64);

impl XorShift {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        usize::try_from(self.0 % n.max(1) as u64).unwrap_or(0)
    }
}
