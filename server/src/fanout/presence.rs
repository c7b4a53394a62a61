//! Presence: who is online (has a socket open, or closed their last one less than a grace period
//! ago, so a reload does not flap), as the `rooms` frame's snapshot and the frames that follow it.
//!
//! While at most `list_max` users are online, everyone is told of everyone (everyone shares
//! `general`): changes are coalesced, and the frames of a short window go to every live connection
//! in one write each, so a crowd connecting at once costs a few writes per socket, not one per
//! arrival. Above `list_max` presence is *summarised*: a change goes only to the people who share a
//! conversation other than `general` with the user (a handful, never the whole server), and every
//! connection is told the number online (`presence_summary`) at most every
//! [`PRESENCE_SUMMARY_MS`](app::protocol::PRESENCE_SUMMARY_MS). When the server starts or stops
//! summarising, each connection is sent what it is told about from then on (a `presence_summary`
//! with its `online` list). The threshold has hysteresis, so a count hovering around it does not
//! flip the mode back and forth.
//!
//! Decisions are taken under the state's lock and handed, in that order, to one sender task
//! (`Sender`), which does every write: frames reach each socket in the order of the changes.
//!
//! On a cluster, a user is online when any node has them online: each node tells the others of
//! its own users' arrivals and departures (over the bus, and on the presence board in Redis,
//! whose keys expire with a node that dies), and frames go out only when the cluster-wide answer
//! changes.

use super::frames;
use super::hub::Registry;
use app::models::ServerFrame;
use app::protocol::PRESENCE_SUMMARY_MS;
use bytes::{Bytes, BytesMut};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// How long changes gather before they are sent together (while everyone is told of everyone).
pub const PRESENCE_WINDOW: Duration = Duration::from_millis(50);
/// How often at most the number online is sent while presence is summarised.
const SUMMARY_EVERY: Duration = Duration::from_millis(PRESENCE_SUMMARY_MS);

pub struct Presence {
    state: Mutex<State>,
    /// Everyone is told of everyone while at most this many are online.
    list_max: usize,
    /// Presence is summarised again only once at most this many are online (hysteresis).
    list_again: usize,
    /// What the sender task writes, in the order it was decided.
    out: mpsc::UnboundedSender<Out>,
}

#[derive(Default)]
struct State {
    /// Online users (including those in their grace period), by id, with their usernames.
    online: HashMap<i64, String>,
    /// Users whose last socket closed: the generation of the pending "offline".
    leaving: HashMap<i64, u64>,
    generation: u64,
    /// Users online on other nodes of the cluster: their usernames and those nodes.
    remote: HashMap<i64, Remote>,
    /// Whether presence is summarised (more than `list_max` online).
    summarised: bool,
    /// Whether a `presence_summary` with the number online is on its way.
    count_due: bool,
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

/// A change of presence the cluster-wide answer makes: `(user, username)`.
pub type Named = (i64, String);

/// What the sender task is asked to write.
#[derive(Debug, PartialEq)]
enum Out {
    /// A `presence` frame for everyone (coalesced within [`PRESENCE_WINDOW`]).
    Everyone(Bytes),
    /// A `presence` frame about `user` for the people sharing a conversation other than
    /// `general` with them.
    Peers { user: i64, frame: Bytes },
    /// Presence is summarised from now on: each connection gets the people it is told about
    /// (of those online now) and the number online.
    Summarise { online: HashMap<i64, String> },
    /// Everyone is told of everyone from now on: this list, for every connection.
    List(Vec<String>),
    /// The number online is due (while summarised) after [`SUMMARY_EVERY`].
    CountDue,
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

    /// The users online on any node.
    fn count(&self) -> usize {
        self.online.len() + self.remote.keys().filter(|user| !self.online.contains_key(user)).count()
    }

    /// The username of `user`, if they are online on some node.
    fn name(&self, user: i64) -> Option<&str> {
        self.online.get(&user).or_else(|| self.remote.get(&user).map(|r| &r.username)).map(String::as_str)
    }

    /// Everyone online, on any node, by id.
    fn everyone(&self) -> HashMap<i64, String> {
        let remote = self.remote.iter().map(|(user, r)| (*user, r.username.clone()));
        remote.chain(self.online.iter().map(|(user, name)| (*user, name.clone()))).collect()
    }
}

impl Presence {
    /// Presence that tells everyone of everyone while at most `list_max` users are online,
    /// writing to `registry`'s connections from a task of its own.
    pub fn start(list_max: usize, registry: Arc<Registry>) -> Arc<Self> {
        let (presence, rx) = Self::new(list_max);
        let presence = Arc::new(presence);
        tokio::spawn(Sender { presence: Arc::downgrade(&presence), registry, everyone: Vec::new() }.run(rx));
        presence
    }

    /// Presence without its sender: what it decides to write arrives on the receiver.
    fn new(list_max: usize) -> (Self, mpsc::UnboundedReceiver<Out>) {
        let (out, rx) = mpsc::unbounded_channel();
        let list_again = list_max.saturating_sub((list_max / 10).max(1));
        (Self { state: Mutex::default(), list_max, list_again, out }, rx)
    }

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
        self.lock().everyone().into_values().collect()
    }

    /// What a connection of `user` going live is told (the `rooms` frame's `online` and
    /// `online_count`): everyone online, or while presence is summarised, `user` and the people
    /// of `peers` who are online, with the number online.
    pub fn snapshot_for(&self, user: i64, peers: impl FnOnce() -> HashSet<i64>) -> (Vec<String>, Option<usize>) {
        let state = self.lock();
        if !state.summarised {
            return (state.everyone().into_values().collect(), None);
        }
        let mut names: Vec<String> = state.name(user).map(str::to_owned).into_iter().collect();
        names.extend(peers().into_iter().filter_map(|peer| state.name(peer).map(str::to_owned)));
        (names, Some(state.count()))
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

    /// Only the nodes of `alive` are up: those who went offline everywhere with the others.
    pub fn nodes_alive(&self, alive: &HashSet<u64>) -> Vec<Named> {
        let mut state = self.lock();
        let mut gone = Vec::new();
        let State { remote, online, .. } = &mut *state;
        remote.retain(|user, entry| {
            entry.nodes.retain(|node| alive.contains(node));
            let keep = !entry.nodes.is_empty();
            if !keep && !online.contains_key(user) {
                gone.push((*user, entry.username.clone()));
            }
            keep
        });
        gone
    }

    /// The other nodes' users as the board has them: replaces what this node believed; those
    /// who came online and went offline everywhere by it.
    pub fn remote_snapshot(&self, nodes: HashMap<u64, HashMap<i64, String>>) -> (Vec<Named>, Vec<Named>) {
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
            .map(|(user, r)| (*user, r.username.clone()))
            .collect();
        let left = state
            .remote
            .iter()
            .filter(|(user, _)| !online.contains_key(user) && !fresh.contains_key(user))
            .map(|(user, r)| (*user, r.username.clone()))
            .collect();
        state.remote = fresh;
        (arrived, left)
    }

    /// Tells the people concerned that `user` (`username`) came online or went offline
    /// everywhere: everyone, or while presence is summarised, the people sharing a conversation
    /// other than `general` with them, and everyone the number online. Call it after the change
    /// (`arrive`, `confirm_leave`, ...) has been made.
    pub fn announce(&self, user: i64, username: &str, online: bool) {
        let frame = frames::text(&ServerFrame::Presence { username: username.to_owned(), online });
        let mut state = self.lock();
        let count = state.count();
        let send = |out| {
            let _ = self.out.send(out);
        };
        if !state.summarised && count > self.list_max {
            state.summarised = true;
            // Those who share a conversation with `user` learn of the change from the lists.
            send(Out::Summarise { online: state.everyone() });
        } else if state.summarised && count <= self.list_again {
            state.summarised = false;
            send(Out::List(state.everyone().into_values().collect()));
        } else if state.summarised {
            send(Out::Peers { user, frame });
        } else {
            send(Out::Everyone(frame));
        }
        if state.summarised && !std::mem::replace(&mut state.count_due, true) {
            send(Out::CountDue);
        }
    }

    /// Whether presence is summarised now, and the number online (taking the count that is due).
    fn count_now(&self) -> (bool, usize) {
        let mut state = self.lock();
        state.count_due = false;
        (state.summarised, state.count())
    }
}

/// The task that writes every presence frame, in the order the changes were decided.
struct Sender {
    presence: Weak<Presence>,
    registry: Arc<Registry>,
    /// `presence` frames for everyone, waiting for the end of their window.
    everyone: Vec<Bytes>,
}

impl Sender {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Out>) {
        let mut window_ends: Option<Instant> = None;
        let mut count_at: Option<Instant> = None;
        loop {
            let window = tokio::time::sleep_until(window_ends.unwrap_or_else(Instant::now));
            let count = tokio::time::sleep_until(count_at.unwrap_or_else(Instant::now));
            tokio::select! {
                out = rx.recv() => match out {
                    None => return,
                    Some(Out::Everyone(frame)) => {
                        self.everyone.push(frame);
                        window_ends.get_or_insert_with(|| Instant::now() + PRESENCE_WINDOW);
                    }
                    Some(Out::CountDue) => {
                        count_at.get_or_insert_with(|| Instant::now() + SUMMARY_EVERY);
                    }
                    Some(other) => {
                        // What was decided before goes out before.
                        window_ends = None;
                        self.flush();
                        self.write(other);
                    }
                },
                _ = window, if window_ends.is_some() => {
                    window_ends = None;
                    self.flush();
                }
                _ = count, if count_at.is_some() => {
                    count_at = None;
                    let Some(presence) = self.presence.upgrade() else { return };
                    let (summarised, online_count) = presence.count_now();
                    if summarised {
                        let frame = frames::text(&ServerFrame::PresenceSummary { online_count, online: None });
                        self.registry.send_live(None, &[], &frame);
                    }
                }
            }
        }
    }

    /// Sends the `presence` frames of the window to every live connection, back to back.
    fn flush(&mut self) {
        if self.everyone.is_empty() {
            return;
        }
        let mut out = BytesMut::with_capacity(self.everyone.iter().map(Bytes::len).sum());
        self.everyone.drain(..).for_each(|frame| out.extend_from_slice(&frame));
        self.registry.send_live(None, &[], &out.freeze());
    }

    fn write(&mut self, out: Out) {
        let directory = &self.registry.directory;
        match out {
            Out::Peers { user, frame } => {
                let peers: Vec<i64> = directory.peers(user).into_iter().collect();
                if !peers.is_empty() {
                    self.registry.send_live(Some(&peers), &[], &frame);
                }
            }
            Out::Summarise { online } => {
                let online_count = online.len();
                for user in self.registry.users() {
                    let peers = directory.peers(user);
                    let mut names: Vec<String> = online.get(&user).cloned().into_iter().collect();
                    names.extend(peers.iter().filter_map(|peer| online.get(peer).cloned()));
                    let summary = ServerFrame::PresenceSummary { online_count, online: Some(names) };
                    self.registry.send_live(Some(&[user]), &[], &frames::text(&summary));
                }
            }
            Out::List(online) => {
                let summary = ServerFrame::PresenceSummary { online_count: online.len(), online: Some(online) };
                self.registry.send_live(None, &[], &frames::text(&summary));
            }
            Out::Everyone(_) | Out::CountDue => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn presence(list_max: usize) -> Presence {
        Presence::new(list_max).0
    }

    #[test]
    fn a_reload_within_the_grace_period_does_not_flap() {
        let presence = presence(100);
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
        let presence = presence(100);
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
        assert_eq!(presence.nodes_alive(&HashSet::from([8])), [(2, "bob".to_string())], "bob went with node 7");
        let (arrived, left) = presence.remote_snapshot(HashMap::from([(9, HashMap::from([(4, "dan".to_string())]))]));
        assert_eq!((arrived, left), (vec![(4, "dan".to_string())], vec![(3, "carol".to_string())]));
        assert_eq!(presence.online_names(), ["dan"]);
    }

    /// Everything `rx` holds now.
    fn decided(rx: &mut mpsc::UnboundedReceiver<Out>) -> Vec<Out> {
        std::iter::from_fn(|| rx.try_recv().ok()).collect()
    }

    fn arrive(presence: &Presence, user: i64) {
        let name = format!("u{user}");
        presence.arrive(user, &name);
        presence.announce(user, &name, true);
    }

    fn depart(presence: &Presence, user: i64) {
        let gone = presence.leave_now(user).unwrap();
        presence.announce(user, &gone.username, false);
    }

    #[test]
    fn everyone_is_told_of_everyone_up_to_the_list_max() {
        let (presence, mut rx) = Presence::new(3);
        for user in 1..=3 {
            arrive(&presence, user);
        }
        let out = decided(&mut rx);
        assert_eq!(out.len(), 3);
        assert!(out.iter().all(|o| matches!(o, Out::Everyone(_))), "{out:?}");
        let (online, count) = presence.snapshot_for(1, || panic!("peers are not needed"));
        assert_eq!((online.len(), count), (3, None));
    }

    #[test]
    fn above_the_list_max_presence_is_summarised_until_the_count_falls_well_below_it() {
        let (presence, mut rx) = Presence::new(20);
        for user in 1..=20 {
            arrive(&presence, user);
        }
        assert_eq!(decided(&mut rx).len(), 20);
        // The 21st: everyone gets their own list once, and the count is due.
        arrive(&presence, 21);
        let out = decided(&mut rx);
        assert!(matches!(&out[..], [Out::Summarise { online }, Out::CountDue] if online.len() == 21), "{out:?}");
        // From now on a change goes to the user's peers alone; the count is due once per period.
        arrive(&presence, 22);
        depart(&presence, 22);
        let out = decided(&mut rx);
        assert!(matches!(&out[..], [Out::Peers { user: 22, .. }, Out::Peers { user: 22, .. }]), "{out:?}");
        let (online, count) = presence.snapshot_for(3, || HashSet::from([5, 99]));
        assert_eq!((online, count), (vec!["u3".to_string(), "u5".to_string()], Some(21)), "me and my online peers");
        assert_eq!(presence.count_now(), (true, 21));
        // 19 online is above 90 % of 20: still summarised. 18 is not.
        depart(&presence, 21);
        depart(&presence, 20);
        assert!(decided(&mut rx).iter().all(|o| matches!(o, Out::Peers { .. } | Out::CountDue)));
        depart(&presence, 19);
        let out = decided(&mut rx);
        assert!(matches!(&out[..], [Out::List(online)] if online.len() == 18), "{out:?}");
        assert_eq!(presence.snapshot_for(3, HashSet::new).1, None);
    }
}
