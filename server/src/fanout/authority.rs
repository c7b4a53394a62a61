//! Live authority: every open socket follows its account's current state. A block, a revoked
//! session (a password change bumps the token version) or a role change is appended to the
//! `account_changes` feed by a database trigger, whichever process made it (an admin route, the
//! three-strike rule, `server admin ...`). This task follows the feed and has the hub close the
//! affected sockets (see [`Hub::enforce`]), within one poll interval plus a query.
//!
//! The other paths close faster or leave no gap: an admin block in this process closes the
//! user's sockets at once; a connection checks its account again right after it registers (so a
//! change committed during its handshake is not missed); a token's expiry is a deadline of the
//! connection itself; and the message INSERT refuses a blocked sender atomically.

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
            if polls.is_multiple_of(240) && last > KEEP {
                if let Err(error) = store.prune_account_changes(last - KEEP).await {
                    tracing::warn!(%error, "pruning the account-change feed failed");
                }
            }
        }
    })
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
    }
    Ok(Some(newest))
}
