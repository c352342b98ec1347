//! F3 (issue 13): 150 sign-ins, each naming a different 1 MB email. Before,
//! the limiter kept every raw email (portal memory 42 → 232 MB, still 207
//! MB 75 s later); now a username costs a 32-byte hash. Its own test binary,
//! so no other test's allocations move the resident size measured.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use common::{Backend, TestPortal};

/// Resident set size of this process, from `/proc/self/statm`.
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_usernames_cost_the_limiter_a_fixed_size_each() {
    let portal = TestPortal::start(Backend::Sqlite, "login_attempts_per_minute = 100000").await;
    let mut attacker = portal.browser().await;
    let mut attempt = async |n: u32| {
        let email = format!("{n:03}{}", "x".repeat(1 << 20));
        let reply = attacker
            .submit("/accesso", &[("email", &email), ("password", "guess")])
            .await;
        assert!(
            [401, 413, 422].contains(&reply.status.as_u16()),
            "attempt {n}: {}",
            reply.status
        );
    };
    // The first attempts settle the working set of 1 MB requests and
    // pages (on both sides of the socket, in this one process): measured
    // from 136 MB on, flat from the 25th attempt to the 150th.
    for n in 0..25 {
        attempt(n).await;
    }
    let before = rss_bytes();
    for n in 25..150 {
        attempt(n).await;
    }
    let grown = rss_bytes().saturating_sub(before);
    // Kept raw, 125 more usernames of 1 MB would be 125 MB more.
    assert!(
        grown < 16 << 20,
        "resident size grew {} MB over 125 MB of new usernames",
        grown >> 20
    );
}
