//! How far this computer's clock is from the gateway's, NTP-style: for
//! each sample, offset = server time − midpoint of sending and receiving
//! (PROTOCOL.md, `GET /v1/time`); the sample with the shortest round trip
//! is the most trustworthy, as in NTP's clock filter.

use anyhow::Context;
use clickday_transport::Connection;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Beyond this the user is warned: sends are scheduled on the corrected
/// clock anyway.
pub const WARN_ABOVE: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, Copy)]
pub struct Estimate {
    /// Gateway time minus this computer's, nanoseconds.
    pub offset_nanos: i64,
    pub round_trip: Duration,
    pub samples: usize,
}

impl Estimate {
    /// This computer's now, corrected to the gateway's clock.
    pub fn now_nanos(&self) -> i64 {
        local_nanos() + self.offset_nanos
    }

    pub fn needs_warning(&self) -> bool {
        self.offset_nanos.unsigned_abs() > WARN_ABOVE.as_nanos() as u64
    }
}

pub fn local_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// `samples` round trips on a warm connection to the gateway.
pub async fn estimate(gateway: &Connection, uri: &str, samples: usize) -> anyhow::Result<Estimate> {
    let mut best: Option<(Duration, i64)> = None;
    for _ in 0..samples.max(1) {
        let request = http::Request::get(uri).body(bytes::Bytes::new())?;
        let sent = local_nanos();
        let started = std::time::Instant::now();
        let answer = gateway.send(request).await.context("GET /v1/time")?;
        let round_trip = started.elapsed();
        let received = local_nanos();
        let server: i64 = serde_json::from_slice::<serde_json::Value>(&answer.body)
            .ok()
            .and_then(|v| v["unix_nanos"].as_i64())
            .context("the gateway's /v1/time answer has no unix_nanos")?;
        let offset = server - (sent + (received - sent) / 2);
        if best.is_none_or(|(rtt, _)| round_trip < rtt) {
            best = Some((round_trip, offset));
        }
    }
    let (round_trip, offset_nanos) = best.context("no sample")?;
    Ok(Estimate {
        offset_nanos,
        round_trip,
        samples: samples.max(1),
    })
}
