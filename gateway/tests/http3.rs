//! What only HTTP/3 has: the decision against 0-RTT, the QUIC connection
//! cap, Retry during a handshake flood, request streams that never send
//! their headers, and a UDP port that anyone can throw datagrams at. The behaviour
//! shared with HTTP/1.1 and HTTP/2 is tested over all three in protocol.rs
//! and resilience.rs.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use clickday_testkit::client::tls_config;
use clickday_testkit::{Applicant, Client, Proto};
use common::{Backend, TestGateway, body};
use rand::Rng as _;
use rustls::client::{ClientSessionMemoryCache, ClientSessionStore};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// A session cache that counts the TLS 1.3 tickets it is given, to tell
/// "no ticket" apart from "a ticket that does not allow early data".
#[derive(Debug)]
struct CountingTickets {
    inner: ClientSessionMemoryCache,
    tickets: AtomicUsize,
}

impl ClientSessionStore for CountingTickets {
    fn set_kx_hint(
        &self,
        server: rustls::pki_types::ServerName<'static>,
        group: rustls::NamedGroup,
    ) {
        self.inner.set_kx_hint(server, group);
    }

    fn kx_hint(&self, server: &rustls::pki_types::ServerName<'_>) -> Option<rustls::NamedGroup> {
        self.inner.kx_hint(server)
    }

    fn set_tls12_session(
        &self,
        server: rustls::pki_types::ServerName<'static>,
        value: rustls::client::Tls12ClientSessionValue,
    ) {
        self.inner.set_tls12_session(server, value);
    }

    fn tls12_session(
        &self,
        server: &rustls::pki_types::ServerName<'_>,
    ) -> Option<rustls::client::Tls12ClientSessionValue> {
        self.inner.tls12_session(server)
    }

    fn remove_tls12_session(&self, server: &rustls::pki_types::ServerName<'static>) {
        self.inner.remove_tls12_session(server);
    }

    fn insert_tls13_ticket(
        &self,
        server: rustls::pki_types::ServerName<'static>,
        value: rustls::client::Tls13ClientSessionValue,
    ) {
        self.tickets.fetch_add(1, Ordering::SeqCst);
        self.inner.insert_tls13_ticket(server, value);
    }

    fn take_tls13_ticket(
        &self,
        server: &rustls::pki_types::ServerName<'static>,
    ) -> Option<rustls::client::Tls13ClientSessionValue> {
        self.inner.take_tls13_ticket(server)
    }
}

async fn get_time(connection: quinn::Connection) -> u16 {
    let mut client = Client::over_quic(connection).await.unwrap();
    client.get("/v1/time").await.unwrap().status.as_u16()
}

#[tokio::test]
async fn zero_rtt_is_refused_even_with_a_resumption_ticket() {
    let gw = TestGateway::start(Backend::Memory, "").await;
    let quic_addr = gw.running.as_ref().unwrap().quic_addr.unwrap();
    let tickets = Arc::new(CountingTickets {
        inner: ClientSessionMemoryCache::new(8),
        tickets: AtomicUsize::new(0),
    });
    let mut tls = tls_config(&gw.ca, Proto::Http3).unwrap();
    tls.enable_early_data = true; // the client asks for it
    tls.resumption = rustls::client::Resumption::store(tickets.clone());
    let config = quinn::ClientConfig::new(Arc::new(
        quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap(),
    ));
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();

    let first = endpoint
        .connect_with(config.clone(), quic_addr, "localhost")
        .unwrap()
        .await
        .unwrap();
    assert_eq!(get_time(first.clone()).await, 200);
    clickday_testkit::eventually("a session ticket", Duration::from_secs(5), async || {
        (tickets.tickets.load(Ordering::SeqCst) > 0).then_some(())
    })
    .await;
    first.close(0u32.into(), b"");

    // Resuming is allowed; sending before the handshake completes is not.
    let connecting = endpoint
        .connect_with(config, quic_addr, "localhost")
        .unwrap();
    let connecting = match connecting.into_0rtt() {
        Ok(_) => panic!("the gateway offered 0-RTT: early data could be replayed"),
        Err(connecting) => connecting,
    };
    let second = connecting.await.unwrap();
    assert_eq!(get_time(second).await, 200, "1-RTT still works");
}

#[tokio::test]
async fn quic_connections_beyond_max_connections_are_refused() {
    let gw = TestGateway::start(Backend::Memory, "max_connections = 1").await;
    let mut first = gw.client(Proto::Http3).await;
    assert_eq!(first.get("/healthz").await.unwrap().status, 200);
    let second = tokio::time::timeout(Duration::from_secs(3), gw.try_client(Proto::Http3)).await;
    assert!(
        matches!(second, Ok(Err(_))),
        "refused at once, not left waiting: {:?}",
        second.map(|r| r.map(|_| ()))
    );
    // TCP has its own allowance: HTTP/2 still gets in.
    let mut tcp = gw.client(Proto::Http2).await;
    assert_eq!(tcp.get("/healthz").await.unwrap().status, 200);
    drop(first);
    let mut c = clickday_testkit::eventually("the slot back", Duration::from_secs(5), async || {
        gw.try_client(Proto::Http3).await.ok()
    })
    .await;
    assert_eq!(c.get("/healthz").await.unwrap().status, 200);
}

#[tokio::test]
async fn garbage_datagrams_leave_the_quic_port_serving() {
    let gw = TestGateway::start(Backend::Sqlite, "").await;
    let quic_addr = gw.running.as_ref().unwrap().quic_addr.unwrap();
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut rng = rand::thread_rng();
    for i in 0..2_000 {
        let len = [1, 20, 1200, 1500][i % 4];
        let mut datagram: Vec<u8> = (0..len).map(|_| rng.r#gen()).collect();
        if i % 2 == 0 {
            // A long header claiming QUIC v1: parsed further than noise.
            datagram[0] |= 0xc0;
            if len > 5 {
                datagram[1..5].copy_from_slice(&1u32.to_be_bytes());
            }
        }
        socket.send_to(&datagram, quic_addr).await.unwrap();
    }
    let mut c = gw.client(Proto::Http3).await;
    let r = c
        .submit(&Applicant::new(1), &body("after-noise"))
        .await
        .unwrap();
    assert_eq!(r.status, 202, "{:?}", r.body);
    assert_eq!(gw.records().await.len(), 1);
}

#[tokio::test]
async fn no_http3_without_tls() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = clickday_config::Config::from_toml(
        &common::config(dir.path(), "tls = false"),
        std::iter::empty(),
        0,
    )
    .unwrap();
    assert!(!cfg.gateway.http3, "QUIC has no plain-text mode");
    let cfg = clickday_config::Config::from_toml(
        &common::config(dir.path(), "http3 = false"),
        std::iter::empty(),
        0,
    )
    .unwrap();
    assert!(!cfg.gateway.http3);
    let gw = TestGateway::start(Backend::Memory, "http3 = false").await;
    assert!(gw.running.as_ref().unwrap().quic_addr.is_none());
    let mut c = gw.client(Proto::Http2).await;
    let r = c.get("/v1/time").await.unwrap();
    assert_eq!(r.header("alt-svc"), None, "no HTTP/3 advertised when off");
    let quic = tokio::time::timeout(
        Duration::from_secs(2),
        Client::connect(gw.addr(), Proto::Http3, Some(&gw.ca)),
    )
    .await;
    assert!(!matches!(quic, Ok(Ok(_))), "nothing answers over UDP");
}

#[tokio::test]
async fn a_request_stream_without_headers_is_ended_at_the_header_timeout() {
    let gw = TestGateway::start(Backend::Memory, "header_read_timeout_ms = 300").await;
    let quic_addr = gw.running.as_ref().unwrap().quic_addr.unwrap();
    let tls = tls_config(&gw.ca, Proto::Http3).unwrap();
    let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    endpoint.set_default_client_config(quinn::ClientConfig::new(Arc::new(
        quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap(),
    )));
    let connection = endpoint
        .connect(quic_addr, "localhost")
        .unwrap()
        .await
        .unwrap();
    // A request stream that starts a HEADERS frame and never finishes it.
    let (mut send, mut recv) = connection.open_bi().await.unwrap();
    send.write_all(&[0x01]).await.unwrap();
    let started = std::time::Instant::now();
    let ended = tokio::time::timeout(Duration::from_secs(5), recv.read_to_end(4096)).await;
    assert!(ended.is_ok(), "the stream was left open");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(250),
        "ended before the timeout: {waited:?}"
    );
    // The connection itself still serves.
    assert_eq!(get_time(connection).await, 200);
}

#[tokio::test]
async fn past_the_handshake_limit_a_client_first_proves_its_address() {
    for (limit, retries) in [(0, 1), (1024, 0)] {
        let gw = TestGateway::start(
            Backend::Memory,
            &format!("quic_retry_above_handshakes = {limit}"),
        )
        .await;
        // The client follows the Retry on its own and gets in.
        let mut c = gw.client(Proto::Http3).await;
        let r = c
            .submit(&Applicant::new(1), &body("retried"))
            .await
            .unwrap();
        assert_eq!(r.status, 202, "limit {limit}");
        let metrics = c.get("/metrics").await.unwrap();
        let metrics = String::from_utf8_lossy(&metrics.body);
        assert!(
            metrics.contains(&format!("clickday_gateway_quic_retries_total {retries}\n")),
            "limit {limit}: {metrics}"
        );
    }
}
