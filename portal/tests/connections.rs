//! The portal's own connection budget (issue 13, F5): one address holds
//! its share, silent and idle connections are closed at their deadlines,
//! and a body that never ends gets 408 — so a flood of portal visitors
//! costs a bounded number of descriptors and wakes nobody else.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use clickday_testkit::attack;
use common::{Backend, TestPortal};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_holds_its_share_of_connections() {
    let portal = TestPortal::start(
        Backend::Sqlite,
        "max_connections_per_ip = 4\nfirst_request_timeout_ms = 60000",
    )
    .await;
    let mut silent = attack::idle_connections(attack::ATTACKER, portal.addr, 10).await;
    assert_eq!(
        attack::closed_by_server(&mut silent, Duration::from_secs(2)).await,
        6,
        "the six over the share are closed at once, the four kept"
    );
    let mut visitor = portal.browser().await;
    assert_eq!(
        visitor.get("/").await.status,
        200,
        "another address is served"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_idle_connections_are_closed_at_their_deadlines() {
    let portal = TestPortal::start(
        Backend::Sqlite,
        "first_request_timeout_ms = 300\nidle_timeout_ms = 300",
    )
    .await;
    let mut silent = attack::idle_connections(attack::ATTACKER, portal.addr, 8).await;
    assert_eq!(
        attack::closed_by_server(&mut silent, Duration::from_secs(10)).await,
        8
    );
    // A keep-alive connection that asked once and then says nothing.
    let mut kept = attack::connect_from(attack::ATTACKER, portal.addr)
        .await
        .unwrap();
    kept.write_all(b"GET / HTTP/1.1\r\nHost: portal\r\n\r\n")
        .await
        .unwrap();
    let mut answer = vec![0u8; 64 * 1024];
    let n = kept.read(&mut answer).await.unwrap();
    assert!(answer[..n].starts_with(b"HTTP/1.1 200"));
    assert_eq!(
        attack::closed_by_server(std::slice::from_mut(&mut kept), Duration::from_secs(10)).await,
        1,
        "closed after idle_timeout_ms"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_never_ends_is_answered_408() {
    let portal = TestPortal::start(Backend::Sqlite, "request_timeout_ms = 500").await;
    let mut slow = attack::connect_from(attack::ATTACKER, portal.addr)
        .await
        .unwrap();
    slow.write_all(
        b"POST /accesso HTTP/1.1\r\nHost: portal\r\n\
          Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nemail=",
    )
    .await
    .unwrap();
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), slow.read(&mut answer))
        .await
        .expect("an answer within 10 s")
        .unwrap();
    assert!(
        answer[..n].starts_with(b"HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&answer[..n])
    );
}
