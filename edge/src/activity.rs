//! What a connection is doing: requests in flight, and since when it has
//! been quiet. The deadlines of `drive` are measured on it.

use crate::drive::Ended;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// One connection's requests. Created when the connection is accepted, so
/// a first request's deadline also covers the TLS handshake.
#[derive(Debug)]
pub struct Activity {
    accepted: Instant,
    in_flight: AtomicUsize,
    /// Nanoseconds after `accepted` of the last request's end.
    quiet_since: AtomicU64,
    served: AtomicBool,
    changed: Notify,
}

/// A request in flight: the connection is not idle until it is dropped.
#[derive(Debug)]
pub struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        let activity = &self.0;
        let now = u64::try_from(activity.accepted.elapsed().as_nanos()).unwrap_or(u64::MAX);
        activity.quiet_since.store(now, Ordering::Release);
        // Only the end of the last request in flight can make the
        // connection quiet; a watcher sleeping to a deadline re-reads
        // `quiet_since` when it wakes, so nothing else needs a wake-up.
        if activity.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            activity.changed.notify_waiters();
        }
    }
}

impl Activity {
    pub fn new() -> Arc<Self> {
        Arc::new(Activity {
            accepted: Instant::now(),
            in_flight: AtomicUsize::new(0),
            quiet_since: AtomicU64::new(0),
            served: AtomicBool::new(false),
            changed: Notify::new(),
        })
    }

    /// Marks a request in flight until the guard is dropped.
    pub fn request(self: &Arc<Self>) -> Busy {
        self.served.store(true, Ordering::Release);
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        Busy(self.clone())
    }

    /// Whether a request ever started on this connection.
    fn served(&self) -> bool {
        self.served.load(Ordering::Acquire)
    }

    /// Resolves once the connection has had nothing in flight for
    /// `first_request` since it was accepted (no request yet:
    /// [`Ended::FirstRequestMissed`]) or for `idle` since its last request
    /// ended ([`Ended::Idle`]).
    pub async fn quiet_for(&self, first_request: Duration, idle: Duration) -> Ended {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.in_flight.load(Ordering::Acquire) > 0 {
                changed.await;
                continue;
            }
            let (since, limit) = match self.served() {
                false => (self.accepted, first_request),
                true => {
                    let nanos = self.quiet_since.load(Ordering::Acquire);
                    (self.accepted + Duration::from_nanos(nanos), idle)
                }
            };
            let deadline = since + limit;
            if Instant::now() >= deadline {
                return match self.served() {
                    true => Ended::Idle,
                    false => Ended::FirstRequestMissed,
                };
            }
            tokio::select! {
                () = changed => {}
                () = tokio::time::sleep_until(deadline) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIRST: Duration = Duration::from_secs(10);
    const IDLE: Duration = Duration::from_secs(60);

    #[tokio::test(start_paused = true)]
    async fn a_silent_connection_is_quiet_after_the_first_request_deadline() {
        let activity = Activity::new();
        let start = Instant::now();
        assert_eq!(
            activity.quiet_for(FIRST, IDLE).await,
            Ended::FirstRequestMissed
        );
        assert_eq!(start.elapsed(), FIRST);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_in_flight_is_never_idle_and_the_idle_clock_starts_at_its_end() {
        let activity = Activity::new();
        let busy = activity.request();
        let waiter = {
            let activity = activity.clone();
            tokio::spawn(async move {
                let ended = activity.quiet_for(FIRST, IDLE).await;
                (ended, Instant::now())
            })
        };
        tokio::time::sleep(Duration::from_secs(300)).await;
        assert!(!waiter.is_finished(), "a long request keeps the connection");
        let ended = Instant::now();
        drop(busy);
        let (why, quiet_at) = waiter.await.expect("waiter");
        assert_eq!(why, Ended::Idle);
        assert_eq!(quiet_at - ended, IDLE);
    }
}
