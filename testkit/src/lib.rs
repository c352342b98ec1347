//! Shared test harness: real `redis-server` and PostgreSQL processes on free
//! ports in temporary directories (so tests can kill them), and an HTTP/1.1 +
//! HTTP/2 client over TLS that signs submissions the way a mini-client does.
//!
//! Test-only code: `anyhow` errors and panics on broken set-up are fine here.

pub mod attack;
pub mod browser;
pub mod client;
pub mod netns;
pub mod postgres;
pub mod process;
pub mod redis;
pub mod signer;
pub mod smtp;
pub mod submission;
pub mod webdriver;

pub use client::{Client, Proto, Reply};
pub use postgres::Postgres;
pub use redis::{RedisCluster, RedisServer};
pub use signer::Applicant;
pub use smtp::SmtpSink;
pub use submission::submission;

use std::net::TcpListener;
use std::time::{Duration, Instant};

/// A TCP port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// Polls `ready` until it returns true or `limit` passes: for waiting on an
/// external process, which offers no event to wait for.
pub fn wait_until(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for a state the test can only observe from outside (a metric, a
/// row, a file, an answer): runs `check` every 20 ms until it yields
/// `Some`, and returns that; fails the test naming `what` once `limit` has
/// passed.
pub async fn eventually<T>(
    what: &str,
    limit: Duration,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// True when this process runs as root (CI does), checked without libc.
pub fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}
