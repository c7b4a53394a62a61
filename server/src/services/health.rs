//! Readiness: whether this node can serve, for a load balancer or an orchestrator
//! (`GET /readyz`). Liveness (`GET /healthz`) needs no use case: a process that answers is alive.

use super::Services;
use std::time::Duration;

/// Longest wait for the database's answer before the node counts as not ready.
const DATABASE_PROBE: Duration = Duration::from_secs(2);

/// One check: its name and whether it passed.
pub type Check = (&'static str, bool);

impl Services {
    /// The node's own checks: the database answers, every migration of this build is applied,
    /// (on a cluster) the bus is connected, and it is not shutting down.
    pub async fn readiness(&self) -> Vec<Check> {
        let (database, migrations) = match tokio::time::timeout(DATABASE_PROBE, self.store.migrations_applied()).await {
            Ok(Ok(applied)) => (true, applied),
            Ok(Err(error)) => {
                tracing::warn!(%error, "readiness: the database did not answer");
                (false, false)
            }
            Err(_) => {
                tracing::warn!("readiness: the database did not answer in time");
                (false, false)
            }
        };
        let mut checks = vec![("database", database), ("migrations", migrations)];
        if let Some(up) = self.hub.bus_up() {
            checks.push(("bus", up));
        }
        checks.push(("serving", !self.hub.is_shutting_down()));
        checks
    }
}
