//! [`Hasher`]: Argon2id password hashes, computed on Tokio's blocking pool (never on the
//! runtime's threads) and at most `max_concurrent` at once, since each one takes tens of
//! milliseconds of CPU and 19 MiB of memory.

use argon2::password_hash::{Error as PhcError, PasswordHasher, PasswordVerifier};
use argon2::{Argon2, Params, PasswordHash};
use std::sync::Arc;
use tokio::sync::Semaphore;

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("password hashing failed: {0}")]
    Argon2(PhcError),
    /// The blocking task panicked or was cancelled by the runtime shutting down.
    #[error("the password hashing task did not finish")]
    Task,
}

/// Hashes and verifies passwords with Argon2id, version 0x13.
///
/// [`Hasher::new`] uses the argon2 crate's defaults, which are OWASP's first
/// recommendation: m = 19456 KiB (19 MiB), t = 2 passes, p = 1 lane, a 16-byte random salt
/// and a 32-byte output. Verifying uses the parameters written in the stored hash, so
/// hashes made under other parameters still verify.
pub struct Hasher {
    params: Params,
    /// A hash of a random password, made under `params`: what `verify` checks against when
    /// there is no hash, so that costs the same as a wrong password.
    dummy: PasswordHash,
    permits: Arc<Semaphore>,
    max_concurrent: usize,
    #[cfg(test)]
    running: Arc<tests::Running>,
}

impl Hasher {
    /// A hasher with the default parameters, running at most `max_concurrent` hashes at once
    /// (at least one). Computes one hash (the dummy) before it returns.
    pub fn new(max_concurrent: usize) -> Hasher {
        Hasher::with_params(Params::DEFAULT, max_concurrent)
    }

    /// A hasher with other parameters (cheaper ones for tests and benches).
    pub fn with_params(params: Params, max_concurrent: usize) -> Hasher {
        let max_concurrent = max_concurrent.clamp(1, Semaphore::MAX_PERMITS);
        let mut random = [0u8; 16];
        // The OS RNG failing is a broken machine, not a peer's doing: nothing sensible goes on.
        getrandom::fill(&mut random).expect("the OS random number generator failed");
        let dummy = argon2(&params)
            .hash_password(&random)
            .expect("Argon2id hashes 16 bytes under valid parameters");
        Hasher {
            params,
            dummy,
            permits: Arc::new(Semaphore::new(max_concurrent)),
            max_concurrent,
            #[cfg(test)]
            running: Arc::default(),
        }
    }

    /// The hash of `password` in PHC string form (`$argon2id$v=19$m=19456,t=2,p=1$…`), with
    /// a fresh random salt. Waits for a free slot first.
    pub async fn hash(&self, password: &str) -> Result<String, HashError> {
        let argon = argon2(&self.params);
        let password = password.to_owned();
        let phc = self
            .blocking(move || argon.hash_password(password.as_bytes()))
            .await?;
        Ok(phc.map_err(HashError::Argon2)?.to_string())
    }

    /// Whether `password` matches the PHC string `phc`. `None` (no such user, or an account
    /// without a password) and a string that does not parse are false, after the same work
    /// as a wrong password: a check against the dummy hash. Waits for a free slot first.
    pub async fn verify(&self, phc: Option<&str>, password: &str) -> bool {
        let argon = argon2(&self.params);
        let dummy = self.dummy.clone();
        let stored = phc.and_then(|s| PasswordHash::new(s).ok());
        let password = password.to_owned();
        let check = move || {
            let Some(stored) = stored else {
                let _ = argon.verify_password(password.as_bytes(), &dummy);
                return false;
            };
            match argon.verify_password(password.as_bytes(), &stored) {
                Ok(()) => true,
                Err(PhcError::PasswordInvalid) => false,
                // Not a hash this crate computes (another algorithm, bad parameters): fails
                // early, so spend what a real check would.
                Err(_) => {
                    let _ = argon.verify_password(password.as_bytes(), &dummy);
                    false
                }
            }
        };
        self.blocking(check).await.unwrap_or(false)
    }

    /// Hashes running or waiting to start on the blocking pool (for metrics).
    pub fn in_use(&self) -> usize {
        self.max_concurrent - self.permits.available_permits()
    }

    /// Runs `f` on the blocking pool once a slot is free, holding the slot until `f` ends
    /// (even if the caller stops waiting).
    async fn blocking<T, F>(&self, f: F) -> Result<T, HashError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| HashError::Task)?;
        #[cfg(test)]
        let running = Arc::clone(&self.running);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            #[cfg(test)]
            let _running = running.enter();
            f()
        })
        .await
        .map_err(|_| HashError::Task)
    }
}

fn argon2(params: &Params) -> Argon2<'static> {
    Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        params.clone(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Hashes on the blocking pool right now, and the most there ever were.
    #[derive(Default)]
    pub(super) struct Running {
        now: AtomicUsize,
        peak: AtomicUsize,
    }

    pub(super) struct Enter<'a>(&'a Running);

    impl Running {
        pub(super) fn enter(&self) -> Enter<'_> {
            let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(n, Ordering::SeqCst);
            Enter(self)
        }
    }

    impl Drop for Enter<'_> {
        fn drop(&mut self) {
            self.0.now.fetch_sub(1, Ordering::SeqCst);
        }
    }

    fn cheap(max: usize) -> Hasher {
        let params = Params::new(256, 1, 1, None).expect("valid parameters");
        Hasher::with_params(params, max)
    }

    #[tokio::test]
    async fn the_right_password_verifies_and_a_wrong_one_does_not() {
        let h = cheap(2);
        let phc = h.hash("correct horse").await.expect("hash");
        assert!(phc.starts_with("$argon2id$v=19$m=256,t=1,p=1$"), "{phc}");
        assert!(h.verify(Some(&phc), "correct horse").await);
        assert!(!h.verify(Some(&phc), "correct horse ").await);
        assert!(!h.verify(Some(&phc), "").await);
        let again = h.hash("correct horse").await.expect("hash");
        assert_ne!(phc, again, "a fresh salt every time");
        assert!(h.verify(Some(&again), "correct horse").await);
    }

    #[tokio::test]
    async fn no_hash_or_a_broken_one_is_false() {
        let h = cheap(1);
        assert!(!h.verify(None, "anything").await);
        assert!(!h.verify(Some("not a phc string"), "anything").await);
        assert!(!h.verify(Some(""), "").await);
        let phc = h.hash("pw").await.expect("hash");
        let other_alg = phc.replacen("argon2id", "scrypt", 1);
        assert!(!h.verify(Some(&other_alg), "pw").await);
        let truncated = &phc[..phc.len() - 4];
        assert!(!h.verify(Some(truncated), "pw").await);
    }

    #[tokio::test]
    async fn the_dummy_is_made_with_the_same_parameters() {
        let h = cheap(1);
        let phc = h.hash("pw").await.expect("hash");
        let params = |s: &str| s.split('$').take(4).collect::<Vec<_>>().join("$");
        assert_eq!(params(&h.dummy.to_string()), params(&phc));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn no_more_than_max_concurrent_hashes_run_at_once() {
        let h = Arc::new(cheap(2));
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let h = Arc::clone(&h);
                tokio::spawn(async move {
                    let phc = h.hash(&format!("pw{i}")).await.expect("hash");
                    assert!(h.in_use() <= 2);
                    h.verify(Some(&phc), &format!("pw{i}")).await
                })
            })
            .collect();
        for t in tasks {
            assert!(t.await.expect("task"));
        }
        let peak = h.running.peak.load(Ordering::SeqCst);
        assert!((1..=2).contains(&peak), "{peak} hashes at once");
        assert_eq!(h.in_use(), 0, "every slot given back");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn with_one_slot_hashes_never_overlap() {
        let h = Arc::new(cheap(1));
        let a = tokio::spawn({
            let h = Arc::clone(&h);
            async move { h.hash("a").await }
        });
        let b = tokio::spawn({
            let h = Arc::clone(&h);
            async move { h.hash("b").await }
        });
        assert!(a.await.expect("task").is_ok());
        assert!(b.await.expect("task").is_ok());
        assert_eq!(h.running.peak.load(Ordering::SeqCst), 1);
        assert_eq!(h.in_use(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_slot_is_held_until_the_hash_ends_even_if_the_caller_leaves() {
        use std::future::Future;
        use std::task::{Context, Waker};
        let h = cheap(1);
        let mut first = Box::pin(h.hash("a"));
        // One poll takes the slot and starts the hash on the blocking pool; then the caller
        // leaves.
        let _ = first.as_mut().poll(&mut Context::from_waker(Waker::noop()));
        drop(first);
        // The next hash waits for the slot the abandoned one still holds, then runs.
        assert!(h.hash("b").await.is_ok());
        assert_eq!(h.running.peak.load(Ordering::SeqCst), 1);
        assert_eq!(h.in_use(), 0);
    }

    #[tokio::test]
    async fn default_parameters_are_owasps() {
        let h = Hasher::new(1);
        let phc = h.hash("correct horse").await.expect("hash");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(h.verify(Some(&phc), "correct horse").await);
        assert!(!h.verify(Some(&phc), "wrong horse").await);
    }
}
