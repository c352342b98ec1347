//! Connection set-up rate: how many new connections a gateway completes per
//! second. On a click day the crowd connects in the minutes before the
//! opening (and again after every dropped connection), so this is a
//! capacity of its own, apart from submissions per second.
//!
//! Each of `concurrency` workers opens a connection (TCP + TLS, or QUIC),
//! sets up HTTP, proves it usable with `GET /v1/time`, closes it and starts
//! over, until `duration` passes.

use crate::record::{histogram, micros};
use clickday_transport::{Gate, Protocol, Target};
use hdrhistogram::Histogram;
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The outcome of a set-up run, as printed and written with `--out`.
#[derive(Debug, Clone, Serialize)]
pub struct HandshakeResult {
    pub protocol: Protocol,
    pub concurrency: usize,
    pub seconds: f64,
    /// Connections that answered `GET /v1/time` with 200.
    pub established: u64,
    pub failed: u64,
    pub per_second: f64,
    /// From the first packet to the first answer, per connection.
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub last_error: Option<String>,
}

impl HandshakeResult {
    pub fn summary(&self) -> String {
        format!(
            "{}: {} connections set up in {:.1} s = {:.0}/s (concurrency {}), set-up p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, failed {}{}",
            self.protocol.name(),
            self.established,
            self.seconds,
            self.per_second,
            self.concurrency,
            self.p50_ms,
            self.p99_ms,
            self.max_ms,
            self.failed,
            self.last_error
                .as_deref()
                .map(|e| format!(" (last error: {e})"))
                .unwrap_or_default(),
        )
    }
}

struct WorkerTally {
    setup_us: Histogram<u64>,
    failed: u64,
    last_error: Option<String>,
}

/// Opens, proves and closes connections for `duration`.
pub async fn measure(target: &Target, concurrency: usize, duration: Duration) -> HandshakeResult {
    // Never opened: these connections are not part of a timed burst.
    let gate = Arc::new(Gate::new(Instant::now()));
    let started = Instant::now();
    let deadline = started + duration;
    let uri = target.uri("/v1/time");
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (target, gate, uri) = (target.clone(), gate.clone(), uri.clone());
        workers.spawn(async move {
            let mut tally = WorkerTally {
                setup_us: histogram(),
                failed: 0,
                last_error: None,
            };
            while Instant::now() < deadline {
                let begun = Instant::now();
                match set_up(&target, gate.clone(), &uri).await {
                    Ok(()) => {
                        let _ = tally
                            .setup_us
                            .record(micros(begun.elapsed().as_nanos() as u64));
                    }
                    Err(e) => {
                        tally.failed += 1;
                        tally.last_error = Some(e);
                    }
                }
            }
            tally
        });
    }
    let mut all = WorkerTally {
        setup_us: histogram(),
        failed: 0,
        last_error: None,
    };
    while let Some(joined) = workers.join_next().await {
        if let Ok(tally) = joined {
            let _ = all.setup_us.add(&tally.setup_us);
            all.failed += tally.failed;
            all.last_error = tally.last_error.or(all.last_error);
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let ms = |q: f64| all.setup_us.value_at_quantile(q) as f64 / 1000.0;
    HandshakeResult {
        protocol: target.protocol,
        concurrency,
        seconds,
        established: all.setup_us.len(),
        failed: all.failed,
        per_second: all.setup_us.len() as f64 / seconds,
        p50_ms: ms(0.5),
        p99_ms: ms(0.99),
        max_ms: all.setup_us.max() as f64 / 1000.0,
        last_error: all.last_error,
    }
}

async fn set_up(target: &Target, gate: Arc<Gate>, uri: &str) -> Result<(), String> {
    let connection = target.connect(gate).await.map_err(|e| e.to_string())?;
    let request = http::Request::get(uri)
        .body(bytes::Bytes::new())
        .map_err(|e| e.to_string())?;
    let answer = connection.send(request).await.map_err(|e| e.to_string())?;
    if answer.status != http::StatusCode::OK {
        return Err(format!("GET /v1/time answered {}", answer.status));
    }
    Ok(())
}
