use super::*;

/// A job that notes its name when it runs.
struct Note(&'static str, Arc<Mutex<Vec<&'static str>>>);

impl Job for Note {
    fn run(&self) -> bool {
        lock(&self.1).push(self.0);
        false
    }
}

async fn yields(n: usize) {
    for _ in 0..n {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_pass_waits_for_a_post_that_is_coming_then_takes_it_along() {
    let flusher = Flusher::start();
    let ran = Arc::new(Mutex::new(Vec::new()));
    let coming = flusher.coming();
    flusher.schedule_job(0, Arc::new(Note("posted", ran.clone())));
    // The pass is due, but a post is on its way (a commit running): it waits. The clock is
    // paused and this task keeps running, so its time limit cannot pass meanwhile.
    yields(20).await;
    assert!(
        lock(&ran).is_empty(),
        "the pass did not wait: {:?}",
        lock(&ran)
    );
    flusher.schedule_job(0, Arc::new(Note("arrived", ran.clone())));
    drop(coming);
    yields(20).await;
    assert_eq!(*lock(&ran), ["posted", "arrived"]);
}

#[tokio::test(start_paused = true)]
async fn a_pass_waits_for_coming_posts_a_millisecond_at_most() {
    let flusher = Flusher::start();
    let ran = Arc::new(Mutex::new(Vec::new()));
    let _never = flusher.coming();
    flusher.schedule_job(0, Arc::new(Note("posted", ran.clone())));
    yields(20).await;
    assert!(lock(&ran).is_empty());
    tokio::time::sleep(COMING_WAIT * 2).await;
    yields(20).await;
    assert_eq!(*lock(&ran), ["posted"]);
}
