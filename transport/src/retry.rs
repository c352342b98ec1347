//! When to send the same bytes again: the waits every client of the
//! gateway shares, so the mini-client and loadgen resend alike.

use std::time::Duration;

/// `Retry-After` in seconds (PROTOCOL.md), 1 s when absent or unreadable,
/// at most a minute.
pub fn retry_after(headers: &crate::Headers) -> Duration {
    let seconds = headers
        .get_str("retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(1);
    Duration::from_secs(seconds.min(60))
}

/// Up to one more `wait`, different for every request and attempt: a
/// crowd told "retry in 1 s" must not come back in the same millisecond,
/// which would only make the next wave of 503s.
pub fn jitter(wait: Duration, index: usize, attempt: u32) -> Duration {
    let mixed = (index as u64 ^ (u64::from(attempt) << 40)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    wait.mul_f64((mixed >> 11) as f64 / (1u64 << 53) as f64)
}

/// After a connection failure: 50 ms doubling to 2 s.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(50u64 << attempt.min(6)).min(Duration::from_secs(2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_read_in_seconds_and_capped() {
        let waits = |value: Option<&'static str>| {
            let mut map = http::HeaderMap::new();
            if let Some(value) = value {
                map.insert("retry-after", http::HeaderValue::from_static(value));
            }
            retry_after(&map.into())
        };
        assert_eq!(waits(None), Duration::from_secs(1));
        assert_eq!(waits(Some("3")), Duration::from_secs(3));
        assert_eq!(waits(Some("86400")), Duration::from_secs(60));
        assert_eq!(
            waits(Some("Wed, 21 Oct 2015 07:28:00 GMT")),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn retry_waits_spread_over_one_more_retry_after() {
        let wait = Duration::from_secs(1);
        let spread: Vec<Duration> = (0..1000).map(|i| jitter(wait, i, 1)).collect();
        assert!(spread.iter().all(|j| *j < wait));
        let early = spread.iter().filter(|j| **j < wait / 2).count();
        assert!((400..600).contains(&early), "{early}");
        assert_ne!(jitter(wait, 7, 1), jitter(wait, 7, 2));
    }

    #[test]
    fn backoff_doubles_up_to_two_seconds() {
        assert_eq!(backoff(0), Duration::from_millis(50));
        assert_eq!(backoff(1), Duration::from_millis(100));
        assert_eq!(backoff(30), Duration::from_secs(2));
    }
}
