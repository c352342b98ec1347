//! The gateway as one of many: its claim on `node_id` in the queue (stamps
//! carry the node, so two live gateways sharing one would issue colliding
//! stamps), and its clock measured against the queue server's, the one
//! reference every gateway of a deployment talks to.

use crate::{Gateway, GatewayError};
use clickday_queue::Queue;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// This process's claim on its node id.
pub(crate) struct NodeClaim {
    queue: Arc<dyn Queue>,
    node: u16,
    /// Who holds it: host, process and a random part, so a restarted
    /// process is a new holder.
    holder: String,
    lease: Duration,
}

impl NodeClaim {
    /// Claims `node`. A claim held by another waits up to one lease (and a
    /// fifth) to lapse — a killed predecessor's does; a live gateway keeps
    /// renewing its own, and then this one refuses to start.
    pub async fn take(
        queue: Arc<dyn Queue>,
        node: u16,
        lease: Duration,
    ) -> Result<NodeClaim, GatewayError> {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "host".to_string());
        let holder = format!(
            "{host}/pid-{}/{:08x}",
            std::process::id(),
            rand::random::<u32>()
        );
        let deadline = Instant::now() + lease + lease / 5;
        let mut told = false;
        loop {
            match queue.claim_node(node, &holder, lease).await? {
                None => {
                    tracing::info!(node, holder = %holder, lease = ?lease, "claimed node_id");
                    return Ok(NodeClaim {
                        queue,
                        node,
                        holder,
                        lease,
                    });
                }
                Some(other) if Instant::now() >= deadline => {
                    return Err(GatewayError::NodeTaken {
                        node,
                        holder: other,
                    });
                }
                Some(other) => {
                    if !told {
                        tracing::info!(node, holder = %other, "node_id is claimed; waiting for that claim to be renewed or to lapse");
                        told = true;
                    }
                    tokio::time::sleep(lease / 10).await;
                }
            }
        }
    }

    /// Renews the claim every third of the lease until `shutdown`. A claim
    /// found in another's hands (this process could not renew in time and
    /// another gateway took the node id) stops this gateway: it must not
    /// stamp beside the other.
    pub async fn keep(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(self.lease / 3) => {}
            }
            match self
                .queue
                .claim_node(self.node, &self.holder, self.lease)
                .await
            {
                Ok(None) => {}
                Ok(Some(other)) => {
                    tracing::error!(node = self.node, holder = %other, "another gateway took this node_id while its claim could not be renewed; stopping");
                    shutdown.cancel();
                    return;
                }
                Err(e) => {
                    tracing::warn!(node = self.node, error = %e, "cannot renew the node_id claim; retrying")
                }
            }
        }
    }

    /// Ends the claim, so a restart need not wait for it to lapse.
    pub async fn release(&self) {
        if let Err(e) = self.queue.release_node(self.node, &self.holder).await {
            tracing::warn!(node = self.node, error = %e, "cannot release the node_id claim; it lapses by itself");
        }
    }
}

/// How often the clock is compared with the queue server's.
const CLOCK_CHECK_EVERY: Duration = Duration::from_secs(5);

/// Measures, NTP-style, how far the queue server's clock is from this
/// gateway's stamping clock (`reference − local`, at the midpoint of the
/// round trip), every [`CLOCK_CHECK_EVERY`], into
/// `clickday_gateway_clock_offset_seconds`; warns when it passes `bound`
/// by more than the measurement's own uncertainty (half the round trip).
/// Ends at once for an embedded queue, which has no clock of its own.
pub(crate) async fn watch_clock(
    gateway: Arc<Gateway>,
    bound: Duration,
    shutdown: CancellationToken,
) {
    let (clock, metrics) = (&gateway.clock, &gateway.metrics);
    let mut warned = false;
    loop {
        let sent = clock();
        let reference = match gateway.queue.server_time().await {
            Ok(None) => return,
            Ok(Some(reference)) => reference,
            Err(e) => {
                tracing::debug!(error = %e, "cannot read the queue server's clock");
                0
            }
        };
        let received = clock();
        if reference > 0 {
            let midpoint = i128::from(sent) + (i128::from(received) - i128::from(sent)) / 2;
            let offset = i128::from(reference) - midpoint;
            let uncertainty = (i128::from(received) - i128::from(sent)) / 2;
            metrics.clock_offset_seconds.set(offset as f64 / 1e9);
            metrics
                .clock_offset_uncertainty_seconds
                .set(uncertainty as f64 / 1e9);
            let beyond = offset.abs() > bound.as_nanos() as i128 + uncertainty;
            if beyond && !warned {
                tracing::warn!(
                    offset_ms = offset as f64 / 1e6,
                    bound_ms = bound.as_millis() as u64,
                    "this gateway's clock is off from the queue server's (the deployment's reference): arrival order across gateways is only as good as their clocks; check chrony"
                );
            } else if !beyond && warned {
                tracing::info!(
                    offset_ms = offset as f64 / 1e6,
                    "clock back within bound of the queue server's"
                );
            }
            warned = beyond;
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(CLOCK_CHECK_EVERY) => {}
        }
    }
}
