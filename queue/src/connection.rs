//! One multiplexed connection shape over a single Redis and over a Redis
//! Cluster, so every queue operation is written once. On a cluster each
//! command goes to the primary owning its key's slot (all keys of a shard
//! share the hash tag `{clickday:N}`, hence one slot); `MOVED` and `ASK`
//! during resharding or failover are followed by the cluster client.

use crate::QueueError;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};
use std::time::Duration;

/// The URL scheme of a Redis Cluster: `redis+cluster://host:port,host:port`
/// (any reachable nodes; the rest of the topology is discovered).
pub const CLUSTER_SCHEME: &str = "redis+cluster://";
/// The same over TLS.
pub const CLUSTER_TLS_SCHEME: &str = "rediss+cluster://";

/// Where the queue's Redis is.
pub(crate) enum Target {
    Single(redis::Client),
    Cluster(Box<ClusterClient>),
}

/// How long a connection waits before it gives up on an unanswered
/// connect, and on a connection that stopped answering.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

impl Target {
    /// `redis://…`, `rediss://…`, or a cluster URL listing seed nodes.
    pub fn parse(url: &str) -> Result<Target, QueueError> {
        let bad = || QueueError::BadUrl {
            url: url.to_string(),
        };
        let seeds = |rest: &str, scheme: &str| -> Result<Vec<String>, QueueError> {
            let rest = rest.trim_end_matches('/');
            let nodes: Vec<String> = rest
                .split(',')
                .map(str::trim)
                .map(|node| format!("{scheme}{node}"))
                .collect();
            if rest.is_empty() || nodes.iter().any(|n| n.len() == scheme.len()) {
                return Err(bad());
            }
            Ok(nodes)
        };
        let cluster = if let Some(rest) = url.strip_prefix(CLUSTER_SCHEME) {
            Some(seeds(rest, "redis://")?)
        } else if let Some(rest) = url.strip_prefix(CLUSTER_TLS_SCHEME) {
            Some(seeds(rest, "rediss://")?)
        } else {
            None
        };
        match cluster {
            Some(nodes) => Ok(Target::Cluster(Box::new(
                ClusterClientBuilder::new(nodes)
                    .build()
                    .map_err(|_| bad())?,
            ))),
            None => Ok(Target::Single(
                redis::Client::open(url).map_err(QueueError::unavailable)?,
            )),
        }
    }

    pub fn is_cluster(&self) -> bool {
        matches!(self, Target::Cluster(_))
    }

    /// A new multiplexed connection whose commands fail after
    /// `response_timeout` without an answer (blocking reads need more).
    pub async fn connect(&self, response_timeout: Duration) -> Result<Connection, QueueError> {
        match self {
            Target::Single(client) => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(CONNECT_TIMEOUT))
                    .set_response_timeout(Some(response_timeout))
                    .set_number_of_retries(2)
                    .set_max_delay(Duration::from_millis(500));
                client
                    .get_connection_manager_with_config(config)
                    .await
                    .map(Connection::Single)
                    .map_err(QueueError::unavailable)
            }
            Target::Cluster(client) => {
                let config = redis::cluster::ClusterConfig::new()
                    .set_connection_timeout(CONNECT_TIMEOUT)
                    .set_response_timeout(response_timeout);
                client
                    .get_async_connection_with_config(config)
                    .await
                    .map(Connection::Cluster)
                    .map_err(QueueError::unavailable)
            }
        }
    }
}

/// A multiplexed, self-healing connection to a Redis or a Redis Cluster.
#[derive(Clone)]
pub(crate) enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Connection::Single(c) => c.req_packed_command(cmd),
            Connection::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Connection::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Single(c) => c.get_db(),
            Connection::Cluster(c) => c.get_db(),
        }
    }
}
