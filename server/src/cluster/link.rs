//! One shared command connection to Redis for the node (publishing, presence, shared limits),
//! made on first use and made again after Redis comes back; callers that find Redis unreachable
//! go on without it (every cluster feature has a fallback that needs no Redis). The link also
//! names things in Redis: every key and channel of a cluster is `chatterbox:{cluster}:...`
//! ([`RedisLink::key`]), so clusters sharing one Redis never touch each other's.

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Longest wait for one command, and for a connection.
pub const COMMAND_TIMEOUT: Duration = Duration::from_millis(500);
/// After a failed connection attempt, how long callers go without Redis before the next one.
const RETRY_AFTER: Duration = Duration::from_millis(250);

#[derive(Clone)]
pub struct RedisLink {
    client: redis::Client,
    /// The cluster's id (`config::valid_cluster_id`: no `:` and no pattern characters).
    cluster: Arc<str>,
    state: Arc<tokio::sync::Mutex<State>>,
}

#[derive(Default)]
struct State {
    connection: Option<ConnectionManager>,
    failed_at: Option<Instant>,
}

impl RedisLink {
    /// The link of a node of `cluster` (a valid cluster id).
    pub fn new(client: redis::Client, cluster: &str) -> Self {
        debug_assert!(crate::config::valid_cluster_id(cluster), "{cluster:?}");
        Self { client, cluster: cluster.into(), state: Arc::default() }
    }

    pub fn client(&self) -> &redis::Client {
        &self.client
    }

    /// The cluster this node is one of.
    pub fn cluster(&self) -> &str {
        &self.cluster
    }

    /// The name in Redis of this cluster's `name` (a key, a pattern or a channel):
    /// `chatterbox:{cluster}:{name}`.
    pub fn key(&self, name: &str) -> String {
        format!("chatterbox:{}:{name}", self.cluster)
    }

    /// The connection, if Redis can be reached (without waiting again for a Redis that was
    /// just found down). It reconnects by itself after a dropped connection.
    pub async fn connection(&self) -> Option<ConnectionManager> {
        let mut state = self.state.lock().await;
        if let Some(connection) = &state.connection {
            return Some(connection.clone());
        }
        if state.failed_at.is_some_and(|at| at.elapsed() < RETRY_AFTER) {
            return None;
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(COMMAND_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        match self.client.get_connection_manager_with_config(config).await {
            Ok(connection) => {
                state.failed_at = None;
                state.connection = Some(connection.clone());
                Some(connection)
            }
            Err(error) => {
                tracing::debug!(%error, "Redis unreachable");
                state.failed_at = Some(Instant::now());
                None
            }
        }
    }

    /// Runs `command`, if Redis can be reached; `None` when it cannot or the command fails.
    pub async fn run<T: redis::FromRedisValue>(&self, command: &redis::Cmd) -> Option<T> {
        let mut connection = self.connection().await?;
        match command.query_async(&mut connection).await {
            Ok(value) => Some(value),
            Err(error) => {
                tracing::debug!(%error, "Redis command failed");
                None
            }
        }
    }

    /// Runs `pipeline`, if Redis can be reached; false when it cannot or the commands fail.
    pub async fn run_pipeline(&self, pipeline: &redis::Pipeline) -> bool {
        let Some(mut connection) = self.connection().await else { return false };
        match pipeline.query_async::<()>(&mut connection).await {
            Ok(()) => true,
            Err(error) => {
                tracing::debug!(%error, "Redis pipeline failed");
                false
            }
        }
    }
}
