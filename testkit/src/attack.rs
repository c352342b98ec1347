//! Reusable attackers, so every listener can be attacked the same way:
//! connections that never speak, handshakes that never finish, bodies that
//! never come. Each is bounded (a count, not a loop) and runs on loopback;
//! a source address other than 127.0.0.1 (any 127.0.0.0/8 address works on
//! Linux) lets a test tell the attacker from its victim.

use crate::client::Client;
use bytes::Bytes;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;

/// A second loopback address: the attacker's, when the victim uses 127.0.0.1.
pub const ATTACKER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));

/// Opens a TCP connection to `target` from `from` (port chosen by the kernel).
pub async fn connect_from(from: IpAddr, target: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = match from {
        IpAddr::V4(_) => TcpSocket::new_v4()?,
        IpAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.bind(SocketAddr::new(from, 0))?;
    socket.connect(target).await
}

/// `n` connections from `from` that send nothing at all: the slowloris of
/// the TLS age (F2, F5). Connections the kernel queued but the server never
/// accepted are open too, from the attacker's side.
pub async fn idle_connections(from: IpAddr, target: SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut open = Vec::with_capacity(n);
    for _ in 0..n {
        match connect_from(from, target).await {
            Ok(stream) => open.push(stream),
            Err(e) => panic!("attacker could not connect to {target}: {e}"),
        }
    }
    open
}

/// `n` connections that start a TLS handshake and stall: a record header
/// announcing a ClientHello, then the first bytes of it, then silence. The
/// server has accepted each and waits for the rest inside its handshake.
pub async fn stalled_handshakes(from: IpAddr, target: SocketAddr, n: usize) -> Vec<TcpStream> {
    use tokio::io::AsyncWriteExt;
    // Handshake record, TLS 1.0 legacy version, 512 bytes to come; then the
    // ClientHello's own header announcing 508 bytes, and nothing more.
    const STALLED_HELLO: [u8; 9] = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc];
    let mut open = idle_connections(from, target, n).await;
    for stream in &mut open {
        let _ = stream.write_all(&STALLED_HELLO).await;
    }
    open
}

/// How many of `streams` the server closes (a read sees the end, or a
/// reset) within `within`; all are watched at once.
pub async fn closed_by_server(streams: &mut [TcpStream], within: Duration) -> usize {
    let deadline = tokio::time::Instant::now() + within;
    let watches = streams.iter_mut().map(|stream| async move {
        let mut buf = [0u8; 4096];
        loop {
            match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => continue, // an alert or a 408: wait for the end
                Err(_) => return false,
            }
        }
    });
    futures_util::future::join_all(watches)
        .await
        .into_iter()
        .filter(|closed| *closed)
        .count()
}

/// An answer not yet awaited.
pub type PendingReply =
    std::pin::Pin<Box<dyn Future<Output = anyhow::Result<crate::Reply>> + Send>>;

/// Streams announcing a body that never comes (F1): each holds the sender
/// of its body open, and the answer's future. Dropping them ends the attack.
pub struct SilentBodies {
    pub held: Vec<(mpsc::Sender<Bytes>, PendingReply)>,
}

/// `streams` submissions on `client` whose headers say a body follows and
/// whose body never does.
pub fn silent_bodies(
    client: &mut Client,
    applicant: &crate::Applicant,
    streams: usize,
) -> anyhow::Result<SilentBodies> {
    let mut held = Vec::with_capacity(streams);
    for n in 0..streams {
        let payload = format!(r#"{{"never":{n}}}"#);
        let request = client.submission(applicant, payload.as_bytes());
        let (body, reply) = client.send_streaming(request)?;
        held.push((body, Box::pin(reply) as PendingReply));
    }
    Ok(SilentBodies { held })
}

/// `attempts` sign-ins on the portal as `email` with wrong passwords, from
/// `browser` (F7: a stranger trying to lock the owner out); the statuses.
pub async fn login_flood(
    browser: &mut crate::browser::Browser,
    email: &str,
    attempts: usize,
) -> Vec<u16> {
    let mut statuses = Vec::with_capacity(attempts);
    for n in 0..attempts {
        let guess = format!("guess-{n}");
        let reply = browser
            .submit("/accesso", &[("email", email), ("password", &guess)])
            .await;
        statuses.push(reply.status.as_u16());
    }
    statuses
}
