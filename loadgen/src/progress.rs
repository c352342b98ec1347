//! The live display on a terminal: a bar while connections open, then one
//! while requests complete. Hidden when stderr is not a terminal.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Requests that reached a final outcome, kept apart from the recorder so
/// the display never takes the senders' lock.
#[derive(Debug, Default)]
pub struct Tally {
    /// Requests in the run (set when it starts).
    pub total: AtomicU64,
    pub done: AtomicU64,
    pub acknowledged: AtomicU64,
}

/// A bar shared by whoever advances it (each lane of a run).
#[derive(Clone)]
pub(crate) struct Progress {
    bar: ProgressBar,
}

impl Progress {
    fn new(enabled: bool, total: u64, template: &str, message: &str) -> Progress {
        let target = if enabled {
            ProgressDrawTarget::stderr_with_hz(10)
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(total), target);
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(message.to_string());
        Progress { bar }
    }

    pub fn connecting(enabled: bool, total: u64) -> Progress {
        Progress::new(
            enabled,
            total,
            "{spinner} connecting {pos}/{len} [{bar:30}] {per_sec} {msg}",
            "",
        )
    }

    pub fn start(enabled: bool, total: u64) -> Progress {
        Progress::new(
            enabled,
            total,
            "{spinner} {elapsed_precise} {pos}/{len} [{bar:30}] {per_sec} {msg}",
            "waiting for the start instant",
        )
    }

    pub fn inc(&self) {
        self.bar.inc(1);
    }

    /// Refreshes from the run's tally every 100 ms until aborted.
    pub fn follow(&self, tally: Arc<Tally>) -> tokio::task::JoinHandle<()> {
        let bar = self.bar.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            loop {
                tick.tick().await;
                let done = tally.done.load(Ordering::Relaxed);
                let acknowledged = tally.acknowledged.load(Ordering::Relaxed);
                let failed = done - acknowledged;
                if done > 0 {
                    bar.set_position(done);
                    bar.set_message(format!(
                        "acknowledged {acknowledged}, refused or given up {failed}"
                    ));
                }
            }
        })
    }

    pub fn finish(&self, position: u64) {
        self.bar.set_position(position);
        self.bar.finish();
    }
}
