//! A benchmark helper: forwards TCP and UDP from one address to another,
//! holding every chunk and datagram for a fixed one-way delay in each
//! direction. It stands in for a long network path (the office DSL line, the
//! mobile link) where the kernel's netem is not available, so connection
//! set-up can be compared by round trips rather than by CPU.
//!
//!     delay-proxy LISTEN UPSTREAM ONE_WAY_MS
//!
//! Order is kept per connection and per UDP flow; nothing is dropped. The
//! proxy completes a client's TCP handshake locally, so a TCP connection's
//! first bytes wait one more round trip, the SYN / SYN-ACK a real path
//! costs; a QUIC connection's handshake is its datagrams, delayed as such.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{Mutex, mpsc};
use tokio::time::Instant;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, listen, upstream, delay_ms] = args.as_slice() else {
        eprintln!("usage: delay-proxy LISTEN UPSTREAM ONE_WAY_MS");
        std::process::exit(64);
    };
    let parse = |what: &str, value: &str| -> SocketAddr {
        value.parse().unwrap_or_else(|e| {
            eprintln!("delay-proxy: {what} {value:?}: {e}");
            std::process::exit(64)
        })
    };
    let (listen, upstream) = (parse("LISTEN", listen), parse("UPSTREAM", upstream));
    let delay = Duration::from_millis(delay_ms.parse().unwrap_or_else(|e| {
        eprintln!("delay-proxy: ONE_WAY_MS {delay_ms:?}: {e}");
        std::process::exit(64)
    }));
    let tcp = TcpListener::bind(listen).await?;
    let udp = Arc::new(UdpSocket::bind(listen).await?);
    tokio::spawn(udp_forward(udp, upstream, delay));
    loop {
        let (client, _) = tcp.accept().await?;
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(upstream).await else {
                return;
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let (client_read, client_write) = client.into_split();
            let (server_read, server_write) = server.into_split();
            // The proxy accepted at once; the client's first bytes also
            // wait the SYN / SYN-ACK round trip a real path costs.
            tokio::spawn(tcp_one_way(client_read, server_write, delay, 2 * delay));
            tcp_one_way(server_read, client_write, delay, Duration::ZERO).await;
        });
    }
}

/// Copies `from` to `to`, each chunk written `delay` after it was read
/// (the first one `first_extra` later still).
async fn tcp_one_way(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
    first_extra: Duration,
) {
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let writer = tokio::spawn(async move {
        while let Some((due, chunk)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    });
    let mut buf = vec![0u8; 64 * 1024];
    let opened = Instant::now();
    while let Ok(n) = from.read(&mut buf).await {
        // Never before the first chunk's slot: order is kept.
        let due = (Instant::now() + delay).max(opened + delay + first_extra);
        if n == 0 || tx.send((due, buf[..n].to_vec())).is_err() {
            break;
        }
    }
    drop(tx);
    let _ = writer.await;
}

/// Where a flow's datagrams go, each with the instant it is due.
type Delayed = mpsc::UnboundedSender<(Instant, Vec<u8>)>;

/// One upstream socket per client address; datagrams each way are sent
/// `delay` after they arrived.
async fn udp_forward(listen: Arc<UdpSocket>, upstream: SocketAddr, delay: Duration) {
    let flows: Arc<Mutex<HashMap<SocketAddr, Delayed>>> = Arc::default();
    let mut buf = vec![0u8; 65_536];
    loop {
        let Ok((n, client)) = listen.recv_from(&mut buf).await else {
            continue;
        };
        let due = Instant::now() + delay;
        let mut flows_guard = flows.lock().await;
        let flow = match flows_guard.get(&client) {
            Some(flow) => flow.clone(),
            None => {
                let Ok(flow) = open_flow(listen.clone(), client, upstream, delay).await else {
                    continue;
                };
                flows_guard.insert(client, flow.clone());
                flow
            }
        };
        drop(flows_guard);
        let _ = flow.send((due, buf[..n].to_vec()));
    }
}

async fn open_flow(
    listen: Arc<UdpSocket>,
    client: SocketAddr,
    upstream: SocketAddr,
    delay: Duration,
) -> std::io::Result<Delayed> {
    let local: SocketAddr = if upstream.is_ipv4() {
        "0.0.0.0:0".parse().expect("valid address")
    } else {
        "[::]:0".parse().expect("valid address")
    };
    let socket = Arc::new(UdpSocket::bind(local).await?);
    socket.connect(upstream).await?;
    let (to_server, mut outbound) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let sender = socket.clone();
    tokio::spawn(async move {
        while let Some((due, datagram)) = outbound.recv().await {
            tokio::time::sleep_until(due).await;
            let _ = sender.send(&datagram).await;
        }
    });
    let (to_client, mut inbound) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    tokio::spawn(async move {
        while let Some((due, datagram)) = inbound.recv().await {
            tokio::time::sleep_until(due).await;
            let _ = listen.send_to(&datagram, client).await;
        }
    });
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        while let Ok(n) = socket.recv(&mut buf).await {
            if to_client
                .send((Instant::now() + delay, buf[..n].to_vec()))
                .is_err()
            {
                return;
            }
        }
    });
    Ok(to_server)
}
