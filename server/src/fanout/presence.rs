//! Presence: who is online (has a socket open, or closed their last one less than a grace period
//! ago, so a reload does not flap), as the `rooms` frame's snapshot and the `presence` frames that
//! follow it. Changes are coalesced: the frames of a short window go to every live connection in
//! one write each, so a crowd connecting at once costs a few writes per socket, not one per
//! arrival.
//!
//! On a cluster, a user is online when any node has them online: each node tells the others of
//! its own users' arrivals and departures (over the bus, and on the presence board in Redis,
//! whose keys expire with a node that dies), and `presence` frames go out only when the
//! cluster-wide answer changes.

use bytes::{Bytes, BytesMut};
use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

/// How long changes gather before they are sent together.
pub const PRESENCE_WINDOW: std::time::Duration = std::time::Duration::from_millis(50);

#[derive(Default)]
pub struct Presence {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Online users (including those in their grace period), by id, with their usernames.
    online: HashMap<i64, String>,
    /// Users whose last socket closed: the generation of the pending "offline".
    leaving: HashMap<i64, u64>,
    generation: u64,
    /// `presence` frames not sent yet, and whether a flush is on its way.
    outgoing: Vec<Bytes>,
    flush_due: bool,
    /// Users online on other nodes of the cluster: their usernames and those nodes.
    remote: HashMap<i64, Remote>,
}

struct Remote {
    username: String,
    nodes: HashSet<u64>,
}

/// A user's first socket on this node opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    /// They were offline on this node (the other nodes are told).
    pub here: bool,
    /// They were offline everywhere (their conversations are told).
    pub everywhere: bool,
}

/// A user went offline on this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Departure {
    pub username: String,
    /// And everywhere (their conversations are told).
    pub everywhere: bool,
}

impl State {
    fn departure(&mut self, user: i64) -> Option<Departure> {
        let username = self.online.remove(&user)?;
        Some(Departure { username, everywhere: !self.remote.contains_key(&user) })
    }

    /// Whether `user` is online on some node.
    fn anywhere(&self, user: i64) -> bool {
        self.online.contains_key(&user) || self.remote.contains_key(&user)
    }
}

impl Presence {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A user's first socket on this node is open.
    pub fn arrive(&self, user: i64, username: &str) -> Arrival {
        let mut state = self.lock();
        if state.leaving.remove(&user).is_some() {
            return Arrival { here: false, everywhere: false };
        }
        let everywhere = !state.anywhere(user);
        let here = state.online.insert(user, username.to_owned()).is_none();
        Arrival { here, everywhere: here && everywhere }
    }

    /// A user's last socket closed: the generation to confirm after the grace period.
    pub fn leave(&self, user: i64) -> u64 {
        let mut state = self.lock();
        state.generation += 1;
        let generation = state.generation;
        state.leaving.insert(user, generation);
        generation
    }

    /// The grace period of `generation` is over: the departure, if the user is still gone.
    pub fn confirm_leave(&self, user: i64, generation: u64) -> Option<Departure> {
        let mut state = self.lock();
        if state.leaving.get(&user) != Some(&generation) {
            return None;
        }
        state.leaving.remove(&user);
        state.departure(user)
    }

    /// Gone at once (a blocked account): the departure, if they were online.
    pub fn leave_now(&self, user: i64) -> Option<Departure> {
        let mut state = self.lock();
        state.leaving.remove(&user);
        state.departure(user)
    }

    /// Every online username, on any node (unordered).
    pub fn online_names(&self) -> Vec<String> {
        let state = self.lock();
        let remote = state.remote.iter().filter(|(user, _)| !state.online.contains_key(user));
        state.online.values().cloned().chain(remote.map(|(_, r)| r.username.clone())).collect()
    }

    /// `user` came online on another node: their username, when they were offline everywhere.
    pub fn remote_online(&self, node: u64, user: i64, username: &str) -> Option<String> {
        let mut state = self.lock();
        let was = state.anywhere(user);
        let remote =
            state.remote.entry(user).or_insert_with(|| Remote { username: username.to_owned(), nodes: HashSet::new() });
        remote.nodes.insert(node);
        (!was).then(|| username.to_owned())
    }

    /// `user` went offline on another node: their username, when now offline everywhere.
    pub fn remote_offline(&self, node: u64, user: i64) -> Option<String> {
        let mut state = self.lock();
        let remote = state.remote.get_mut(&user)?;
        remote.nodes.remove(&node);
        if !remote.nodes.is_empty() {
            return None;
        }
        let gone = state.remote.remove(&user)?;
        (!state.online.contains_key(&user)).then_some(gone.username)
    }

    /// Only the nodes of `alive` are up: the usernames of those who went offline everywhere
    /// with the others.
    pub fn nodes_alive(&self, alive: &HashSet<u64>) -> Vec<String> {
        let mut state = self.lock();
        let mut gone = Vec::new();
        let State { remote, online, .. } = &mut *state;
        remote.retain(|user, entry| {
            entry.nodes.retain(|node| alive.contains(node));
            let keep = !entry.nodes.is_empty();
            if !keep && !online.contains_key(user) {
                gone.push(entry.username.clone());
            }
            keep
        });
        gone
    }

    /// The other nodes' users as the board has them: replaces what this node believed; the
    /// usernames that came online and went offline everywhere by it.
    pub fn remote_snapshot(&self, nodes: HashMap<u64, HashMap<i64, String>>) -> (Vec<String>, Vec<String>) {
        let mut fresh: HashMap<i64, Remote> = HashMap::new();
        for (node, users) in nodes {
            for (user, username) in users {
                fresh.entry(user).or_insert_with(|| Remote { username, nodes: HashSet::new() }).nodes.insert(node);
            }
        }
        let mut state = self.lock();
        let online = &state.online;
        let arrived = fresh
            .iter()
            .filter(|(user, _)| !online.contains_key(user) && !state.remote.contains_key(user))
            .map(|(_, r)| r.username.clone())
            .collect();
        let left = state
            .remote
            .iter()
            .filter(|(user, _)| !online.contains_key(user) && !fresh.contains_key(user))
            .map(|(_, r)| r.username.clone())
            .collect();
        state.remote = fresh;
        (arrived, left)
    }

    /// Queues a `presence` frame; true when the caller must schedule the flush.
    pub fn queue(&self, frame: Bytes) -> bool {
        let mut state = self.lock();
        state.outgoing.push(frame);
        !std::mem::replace(&mut state.flush_due, true)
    }

    /// The queued frames, back to back (empty when none).
    pub fn take(&self) -> Bytes {
        let mut state = self.lock();
        state.flush_due = false;
        let mut out = BytesMut::with_capacity(state.outgoing.iter().map(Bytes::len).sum());
        state.outgoing.drain(..).for_each(|frame| out.extend_from_slice(&frame));
        out.freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reload_within_the_grace_period_does_not_flap() {
        let presence = Presence::default();
        assert!(presence.arrive(1, "alice").everywhere);
        let generation = presence.leave(1);
        assert!(!presence.arrive(1, "alice").here, "back within the grace period: no news");
        assert_eq!(presence.confirm_leave(1, generation), None, "that leave was cancelled");
        let generation = presence.leave(1);
        let gone = presence.confirm_leave(1, generation).unwrap();
        assert_eq!((gone.username.as_str(), gone.everywhere), ("alice", true));
        assert!(presence.online_names().is_empty());
        assert!(presence.arrive(1, "alice").everywhere, "a new arrival");
        assert_eq!(presence.leave_now(1).map(|d| d.username).as_deref(), Some("alice"));
    }

    #[test]
    fn a_user_is_online_while_any_node_has_them() {
        let presence = Presence::default();
        assert_eq!(presence.remote_online(7, 1, "alice").as_deref(), Some("alice"), "news everywhere");
        assert_eq!(presence.remote_online(8, 1, "alice"), None, "online already");
        let arrival = presence.arrive(1, "alice");
        assert_eq!(arrival, Arrival { here: true, everywhere: false }, "the other nodes are told, nobody else");
        assert_eq!(presence.online_names(), ["alice"]);
        assert_eq!(presence.remote_offline(7, 1), None);
        assert_eq!(presence.remote_offline(8, 1), None, "still online here");
        let gone = presence.leave_now(1).unwrap();
        assert!(gone.everywhere);
        presence.remote_online(7, 2, "bob");
        presence.remote_online(8, 3, "carol");
        assert_eq!(presence.nodes_alive(&HashSet::from([8])), ["bob"], "bob went with node 7");
        let (arrived, left) = presence.remote_snapshot(HashMap::from([(9, HashMap::from([(4, "dan".to_string())]))]));
        assert_eq!((arrived, left), (vec!["dan".to_string()], vec!["carol".to_string()]));
        assert_eq!(presence.online_names(), ["dan"]);
    }

    #[test]
    fn frames_queued_together_go_out_in_one_flush() {
        let presence = Presence::default();
        assert!(presence.queue(Bytes::from_static(b"a")));
        assert!(!presence.queue(Bytes::from_static(b"b")), "one flush is already due");
        assert_eq!(&presence.take()[..], b"ab");
        assert!(presence.queue(Bytes::from_static(b"c")), "a new window");
    }
}
