//! Serving one connection under its deadlines.

use crate::activity::Activity;
use hyper_util::server::graceful::GracefulConnection;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long a connection may stay without work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// From accept to the first request's headers (the TLS handshake
    /// included): a connection that never asks for anything is closed.
    pub first_request: Duration,
    /// From a request's end to the next one's start: keep-alive pings
    /// (HTTP/2) and empty lines do not count as work.
    pub idle: Duration,
    /// After a graceful close is started (GOAWAY, `Connection: close`),
    /// how long open requests have before the connection is dropped.
    pub grace: Duration,
}

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The client closed it, or the protocol ended it.
    Closed,
    /// No request within `first_request` of the accept.
    FirstRequestMissed,
    /// No request within `idle` of the last one.
    Idle,
    /// The server is shutting down.
    Shutdown,
}

impl Ended {
    /// The label for metrics, `None` for a normal close.
    pub fn reason(self) -> Option<&'static str> {
        match self {
            Ended::Closed => None,
            Ended::FirstRequestMissed => Some("first_request_timeout"),
            Ended::Idle => Some("idle_timeout"),
            Ended::Shutdown => Some("shutdown"),
        }
    }
}

/// Runs `conn` until it ends by itself, or closes it gracefully when it
/// has been quiet past its deadline or `shutdown` fires; a connection still
/// open `grace` after that is dropped.
pub async fn drive<C>(
    conn: C,
    activity: &Activity,
    deadlines: Deadlines,
    shutdown: &CancellationToken,
) -> (Ended, Result<(), C::Error>)
where
    C: GracefulConnection,
{
    tokio::pin!(conn);
    let ended = tokio::select! {
        result = conn.as_mut() => return (Ended::Closed, result),
        ended = activity.quiet_for(deadlines.first_request, deadlines.idle) => ended,
        () = shutdown.cancelled() => Ended::Shutdown,
    };
    conn.as_mut().graceful_shutdown();
    match tokio::time::timeout(deadlines.grace, conn).await {
        Ok(result) => (ended, result),
        Err(_) => (ended, Ok(())),
    }
}
