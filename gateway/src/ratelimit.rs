//! Per-client-IP and per-key token buckets (governor's GCRA).
//!
//! The limiters run on tokio's clock, so `tokio::time::pause()` makes tests
//! exact. Memory stays bounded: only registered keys ever reach the per-key
//! limiter (unknown keys are refused before it), and idle entries of both
//! are dropped by [`Limiters::prune`], which the gateway runs periodically.

use clickday_config::Limit;
use clickday_core::{KeyId, Problem};
use governor::clock::{Clock, Reference};
use governor::nanos::Nanos;
use governor::{Quota, RateLimiter};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::ops::Add;

/// A point on tokio's monotonic clock, as governor wants it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Tick(u64);

impl Add<Nanos> for Tick {
    type Output = Tick;
    fn add(self, rhs: Nanos) -> Tick {
        Tick(self.0.saturating_add(rhs.as_u64()))
    }
}

impl Reference for Tick {
    fn duration_since(&self, earlier: Self) -> Nanos {
        Nanos::from(self.0.saturating_sub(earlier.0))
    }
    fn saturating_sub(&self, duration: Nanos) -> Self {
        Tick(self.0.saturating_sub(duration.as_u64()))
    }
}

/// Nanoseconds of `tokio::time::Instant` since the limiter was made.
#[derive(Debug, Clone)]
pub struct TokioClock {
    origin: tokio::time::Instant,
}

impl Default for TokioClock {
    fn default() -> Self {
        TokioClock {
            origin: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    type Instant = Tick;
    fn now(&self) -> Tick {
        Tick(self.origin.elapsed().as_nanos() as u64)
    }
}

type Keyed<K> = RateLimiter<
    K,
    governor::state::keyed::DashMapStateStore<K>,
    TokioClock,
    governor::middleware::NoOpMiddleware<Tick>,
>;

pub struct Limiters {
    per_ip: Option<Keyed<IpAddr>>,
    per_key: Option<Keyed<KeyId>>,
    clock: TokioClock,
}

fn quota(limit: Limit) -> Quota {
    let rate = NonZeroU32::new(limit.per_second).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(limit.burst).unwrap_or(NonZeroU32::MIN);
    Quota::per_second(rate).allow_burst(burst)
}

impl Limiters {
    pub fn new(per_ip: Option<Limit>, per_key: Option<Limit>) -> Self {
        let clock = TokioClock::default();
        Limiters {
            per_ip: per_ip.map(|l| RateLimiter::dashmap_with_clock(quota(l), clock.clone())),
            per_key: per_key.map(|l| RateLimiter::dashmap_with_clock(quota(l), clock.clone())),
            clock,
        }
    }

    /// Charges the client's address (an IPv6 /64, see `client_key`).
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), Problem> {
        match &self.per_ip {
            Some(limiter) => limiter
                .check_key(&clickday_edge::client_key(ip))
                .map_err(|not_until| self.refusal(not_until)),
            None => Ok(()),
        }
    }

    pub fn check_key(&self, key: KeyId) -> Result<(), Problem> {
        match &self.per_key {
            Some(limiter) => limiter
                .check_key(&key)
                .map_err(|not_until| self.refusal(not_until)),
            None => Ok(()),
        }
    }

    fn refusal(&self, not_until: governor::NotUntil<Tick>) -> Problem {
        let wait = not_until.wait_time_from(self.clock.now());
        // Retry-After is whole seconds; round up so a client that obeys it succeeds.
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        Problem::RateLimited {
            retry_after_secs: secs.max(1),
        }
    }

    /// Forgets buckets that are full again (indistinguishable from new ones).
    pub fn prune(&self) {
        if let Some(l) = &self.per_ip {
            l.retain_recent();
            l.shrink_to_fit();
        }
        if let Some(l) = &self.per_key {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }

    /// Tracked (IP, key) entries, for metrics and the memory-bound test.
    pub fn tracked(&self) -> (usize, usize) {
        (
            self.per_ip.as_ref().map_or(0, |l| l.len()),
            self.per_key.as_ref().map_or(0, |l| l.len()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn burst_then_exact_refill_under_paused_time() {
        let limiters = Limiters::new(
            None,
            Some(Limit {
                per_second: 2,
                burst: 3,
            }),
        );
        let key = KeyId::of(&[1; 32]);
        for _ in 0..3 {
            assert_eq!(limiters.check_key(key), Ok(()));
        }
        let refused = limiters.check_key(key).unwrap_err();
        assert_eq!(
            refused,
            Problem::RateLimited {
                retry_after_secs: 1
            }
        );
        // One token every 500 ms: not at 499 ms, exactly at 500 ms.
        tokio::time::advance(Duration::from_millis(499)).await;
        assert!(limiters.check_key(key).is_err());
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(limiters.check_key(key), Ok(()));
        assert!(limiters.check_key(key).is_err());
        // Another key has its own bucket.
        assert_eq!(limiters.check_key(KeyId::of(&[2; 32])), Ok(()));
    }

    #[tokio::test(start_paused = true)]
    async fn idle_buckets_are_pruned() {
        let limiters = Limiters::new(
            Some(Limit {
                per_second: 10,
                burst: 10,
            }),
            None,
        );
        for i in 0..10_000u32 {
            let ip = IpAddr::from(i.to_be_bytes());
            limiters.check_ip(ip).unwrap();
        }
        assert_eq!(limiters.tracked().0, 10_000);
        tokio::time::advance(Duration::from_secs(2)).await;
        limiters.prune();
        assert_eq!(limiters.tracked().0, 0);
    }
}
