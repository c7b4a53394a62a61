//! Live authority: every open socket follows its account's current state. A block, revoked
//! tokens (a password change bumps the token version), a role change or a logout (one session
//! revoked, in `revoked_sessions`) is appended to the `account_changes` feed by a database
//! trigger, whichever process made it (an admin route, the three-strike rule, `server admin
//! ...`, a logout on any node). This task follows the feed and has the hub close the affected
//! sockets (see [`Hub::enforce`] and [`Hub::end_session`]), within one poll interval plus a few
//! queries. Now and then it prunes the feed and the revoked sessions that have expired.
//!
//! The other paths close faster or leave no gap: an admin block or a logout in this process
//! closes the sockets at once; a connection checks its account and session again right after it
//! registers (so a change committed during its handshake is not missed); a token's expiry is a
//! deadline of the connection itself; and the message INSERT refuses a blocked sender
//! atomically.

use super::hub::Hub;
use crate::store::Store;
use std::collections::BTreeSet;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// How often the feed is read.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// Changes read per query.
const BATCH: i64 = 1000;
/// Changes kept behind the newest one acted on (for other nodes sharing the database to read);
/// older ones are pruned now and then.
const KEEP: i64 = 10_000;

/// Follows the feed after `start_seq` (the newest change when the server started, read before
/// any socket was accepted) until the hub is gone.
pub fn start(store: Store, hub: &Arc<Hub>, start_seq: i64) -> tokio::task::JoinHandle<()> {
    let hub = Arc::downgrade(hub);
    tokio::spawn(async move {
        let mut last = start_seq;
        let mut polls: u64 = 0;
        loop {
            tokio::time::sleep(POLL_INTERVAL).await;
            match follow(&store, &hub, last).await {
                Ok(Some(seq)) => last = seq,
                Ok(None) => {}
                Err(Gone) => return,
            }
            polls += 1;
            if polls.is_multiple_of(PRUNE_EVERY) {
                prune(&store, last).await;
            }
        }
    })
}

/// Polls between two prunings (a minute).
const PRUNE_EVERY: u64 = 240;

/// Forgets the feed's changes older than [`KEEP`] behind `last`, and the revoked sessions whose
/// tokens have all expired (every node does it; deleting twice is harmless).
async fn prune(store: &Store, last: i64) {
    if last > KEEP {
        if let Err(error) = store.prune_account_changes(last - KEEP).await {
            tracing::warn!(%error, "pruning the account-change feed failed");
        }
    }
    let now = i64::try_from(crate::auth::unix_now()).unwrap_or(i64::MAX);
    match store.prune_revoked_sessions(now).await {
        Ok(0) => {}
        Ok(pruned) => tracing::debug!(pruned, "expired revoked sessions pruned"),
        Err(error) => tracing::warn!(%error, "pruning the revoked sessions failed"),
    }
}

struct Gone;

/// Acts on the changes after `last`; returns the newest one acted on, if any.
async fn follow(store: &Store, hub: &Weak<Hub>, last: i64) -> Result<Option<i64>, Gone> {
    let changes = match store.account_changes_after(last, BATCH).await {
        Ok(changes) => changes,
        Err(error) => {
            tracing::warn!(%error, "reading the account-change feed failed");
            return Ok(None);
        }
    };
    let Some(&(newest, _)) = changes.last() else {
        return hub.upgrade().map(|_| None).ok_or(Gone);
    };
    let users: BTreeSet<i64> = changes.into_iter().map(|(_, user_id)| user_id).collect();
    for user_id in users {
        let connected = hub.upgrade().ok_or(Gone)?.is_connected(user_id);
        if !connected {
            continue;
        }
        match store.user_by_id(user_id).await {
            Ok(current) => hub.upgrade().ok_or(Gone)?.enforce(user_id, current.as_ref()),
            Err(error) => {
                // Not acted on: read the same changes again next time.
                tracing::warn!(%error, user_id, "reading a changed account failed");
                return Ok(None);
            }
        }
        // The sessions its sockets were opened under (at most one per socket, so bounded by
        // the sockets per account): those logged out end.
        let sessions = hub.upgrade().ok_or(Gone)?.sessions_of(user_id);
        for session in sessions {
            match store.session_revoked(&session.to_string()).await {
                Ok(true) => hub.upgrade().ok_or(Gone)?.end_session(user_id, session),
                Ok(false) => {}
                Err(error) => {
                    tracing::warn!(%error, user_id, "reading a session's revocation failed");
                    return Ok(None);
                }
            }
        }
    }
    Ok(Some(newest))
}
