//! The accept step every TCP listener shares: room in the budget first,
//! then the kernel's next connection, then its address's share.

use crate::budget::{ConnectionBudget, Slot};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

/// What [`Listener::next`] took from the kernel.
#[derive(Debug)]
pub enum Accepted {
    /// A connection with its slot in the budget.
    Admitted {
        stream: TcpStream,
        peer: SocketAddr,
        slot: Slot,
    },
    /// A connection from an address already holding its share: closed
    /// (dropped) at once, reported for metrics and logs.
    OverShare(SocketAddr),
}

/// A TCP listener under a [`ConnectionBudget`].
#[derive(Debug)]
pub struct Listener {
    listener: TcpListener,
    budget: Arc<ConnectionBudget>,
}

impl Listener {
    pub fn new(listener: TcpListener, budget: Arc<ConnectionBudget>) -> Self {
        Listener { listener, budget }
    }

    pub fn budget(&self) -> &Arc<ConnectionBudget> {
        &self.budget
    }

    /// The next connection, waiting for room under the total first (past
    /// it, clients wait in the kernel's backlog instead of exhausting file
    /// descriptors). `counted` says whether a peer is charged to its
    /// address (a trusted proxy, carrying everyone, is not). `None` once
    /// the budget is closed. Cancel-safe: a connection is never taken from
    /// the kernel and then lost.
    pub async fn next(&self, counted: impl Fn(IpAddr) -> bool) -> Option<Accepted> {
        loop {
            let room = self.budget.room().await?;
            match self.listener.accept().await {
                Ok((stream, peer)) => {
                    let ip = counted(peer.ip()).then_some(peer.ip());
                    return Some(match self.budget.admit(room, ip) {
                        Some(slot) => Accepted::Admitted { stream, peer, slot },
                        None => Accepted::OverShare(peer),
                    });
                }
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    drop(room);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }
}
