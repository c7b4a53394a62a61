//! The directory: who is in which conversation and who ignores whom, in memory, as far as this
//! node's connected users are concerned, so that the fan-out delivers a message to the members of
//! its conversation only (O(members), never a scan of every connection) and the chat use cases
//! check membership without a query per message.
//!
//! It holds the conversations (other than `general`, which is everyone's) that a user connected
//! to this node is in, each with all its members, and what those users ignore; nothing about
//! rooms nobody here is in. A user's first connection *tracks* them (their conversations and
//! ignores are read from the store), their last one leaving untracks them (and forgets the rooms
//! no other connected user is in). It changes only in the writer task: tracking, untracking and
//! the room-change feed (`fanout::feed`), in the order the database committed the changes, so
//! delivery follows the database whatever the cluster bus loses. Every change is idempotent
//! (a set insert or removal), so replaying feed entries the store's state already reflects is
//! harmless.

use crate::store::RoomRecord;
use app::models::RoomKind;
use app::protocol::GENERAL_ROOM_ID;
use std::collections::{HashMap, HashSet};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// A conversation other than `general`, as the directory knows it.
#[derive(Debug, Clone)]
pub struct RoomEntry {
    /// The name message frames carry (`dm` for a DM).
    pub name: String,
    pub archived: bool,
    pub dm_pair: Option<(i64, i64)>,
    pub members: HashSet<i64>,
}

#[derive(Default)]
struct Index {
    rooms: HashMap<i64, RoomEntry>,
    /// Users connected to this node, with how many times they are tracked.
    tracked: HashMap<i64, usize>,
    /// The tracked users whose conversations have been read (the rest are being read).
    loaded: HashSet<i64>,
    /// Tracked user → their conversations (tracked, other than `general`).
    rooms_of: HashMap<i64, HashSet<i64>>,
    /// Tracked user → the people they ignore.
    ignores: HashMap<i64, HashSet<i64>>,
    /// User → the tracked users ignoring them.
    ignored_by: HashMap<i64, HashSet<i64>>,
}

#[derive(Default)]
pub struct Directory {
    index: RwLock<Index>,
}

/// Where a user may post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Postable {
    /// A member of an open conversation: its name for the message frames, and for a DM the
    /// other person.
    Yes { room: String, peer: Option<i64> },
    /// Archived: read-only.
    Archived,
    /// Unknown, or not a member (as far as this node knows).
    No,
}

/// What the store holds for a user about to be tracked.
pub struct Loaded {
    pub user: i64,
    /// Their conversations (other than `general`), each with its members.
    pub rooms: Vec<(RoomRecord, Vec<i64>)>,
    /// The people they ignore.
    pub ignores: Vec<i64>,
}

impl Directory {
    fn read(&self) -> RwLockReadGuard<'_, Index> {
        self.index.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Index> {
        self.index.write().unwrap_or_else(|e| e.into_inner())
    }

    // ---- reading ----------------------------------------------------------------------------

    /// Whether `user` may post in `room`, and what the message frames call it.
    pub fn postable(&self, room: i64, user: i64) -> Postable {
        if room == GENERAL_ROOM_ID {
            return Postable::Yes { room: "general".into(), peer: None };
        }
        match self.read().rooms.get(&room) {
            Some(entry) if entry.members.contains(&user) => {
                if entry.archived {
                    Postable::Archived
                } else {
                    let peer = entry.dm_pair.map(|(low, high)| if low == user { high } else { low });
                    Postable::Yes { room: entry.name.clone(), peer }
                }
            }
            _ => Postable::No,
        }
    }

    /// Whether `user` is in `room` (everyone is in `general`), as far as this node knows.
    pub fn is_member(&self, room: i64, user: i64) -> bool {
        room == GENERAL_ROOM_ID || self.read().rooms.get(&room).is_some_and(|entry| entry.members.contains(&user))
    }

    /// The members of `room` (`None` for `general`, which is everyone, or a room no user of this
    /// node is in).
    pub fn members(&self, room: i64) -> Option<Vec<i64>> {
        self.read().rooms.get(&room).map(|entry| entry.members.iter().copied().collect())
    }

    /// How many members `room` has (0 for one this node does not track).
    pub fn member_count(&self, room: i64) -> usize {
        self.read().rooms.get(&room).map_or(0, |entry| entry.members.len())
    }

    /// Whether `user` (tracked) ignores `other`.
    pub fn ignores(&self, user: i64, other: i64) -> bool {
        self.read().ignores.get(&user).is_some_and(|ignored| ignored.contains(&other))
    }

    /// Who should see a message (or a typing frame) of `sender` in `room`: its members, less
    /// the tracked users who ignore the sender.
    pub fn audience_of(&self, room: i64, sender: i64) -> Option<Vec<i64>> {
        let index = self.read();
        let entry = index.rooms.get(&room)?;
        let ignoring = index.ignored_by.get(&sender);
        Some(entry.members.iter().copied().filter(|user| !ignoring.is_some_and(|set| set.contains(user))).collect())
    }

    /// Everyone who shares a conversation other than `general` with `user` (`user` left out), as
    /// far as this node knows: every room a user of this node is in is here with all its
    /// members, so these are all of this node's users to tell of `user` on a large server.
    pub fn peers(&self, user: i64) -> HashSet<i64> {
        let index = self.read();
        let mut peers = HashSet::new();
        for entry in index.rooms.values().filter(|entry| entry.members.contains(&user)) {
            peers.extend(entry.members.iter().copied());
        }
        peers.remove(&user);
        peers
    }

    /// The tracked users ignoring `user`.
    pub fn ignorers_of(&self, user: i64) -> Vec<i64> {
        self.read().ignored_by.get(&user).map(|set| set.iter().copied().collect()).unwrap_or_default()
    }

    /// Whether `user` is tracked (connected to this node).
    pub fn is_tracked(&self, user: i64) -> bool {
        self.read().tracked.contains_key(&user)
    }

    /// The tracked users.
    pub fn tracked_users(&self) -> Vec<i64> {
        self.read().tracked.keys().copied().collect()
    }

    /// Whether this node tracks `room`.
    pub fn knows_room(&self, room: i64) -> bool {
        self.read().rooms.contains_key(&room)
    }

    /// How many rooms are in memory (for tests and gauges).
    pub fn room_count(&self) -> usize {
        self.read().rooms.len()
    }

    /// Plans who sees what of a batch of messages, given as `(room, sender)` in order: the
    /// users whose view differs from "every `general` message" (members of the other
    /// conversations in it, and people ignoring one of its senders), each with the indices of
    /// the messages they see. Everyone else sees exactly the `general` ones.
    pub fn plan(&self, messages: &[(i64, i64)]) -> HashMap<i64, Vec<usize>> {
        let index = self.read();
        let mut special: HashSet<i64> = HashSet::new();
        for &(room, sender) in messages {
            if let Some(entry) = index.rooms.get(&room) {
                special.extend(entry.members.iter().copied());
            }
            if let Some(ignoring) = index.ignored_by.get(&sender) {
                special.extend(ignoring.iter().copied());
            }
        }
        special
            .into_iter()
            .map(|user| {
                let ignored = index.ignores.get(&user);
                let visible = messages
                    .iter()
                    .enumerate()
                    .filter(|(_, (room, sender))| {
                        let member = *room == GENERAL_ROOM_ID
                            || index.rooms.get(room).is_some_and(|entry| entry.members.contains(&user));
                        member && !ignored.is_some_and(|set| set.contains(sender))
                    })
                    .map(|(i, _)| i)
                    .collect();
                (user, visible)
            })
            .collect()
    }

    // ---- changing (the writer task only) ---------------------------------------------------

    /// Counts one more tracking of `user` if their conversations are loaded already (a second
    /// connection of theirs): true then, and nothing else is needed; false when the writer must
    /// track them ([`Directory::track`]).
    pub fn track_if_loaded(&self, user: i64) -> bool {
        let mut index = self.write();
        if !index.loaded.contains(&user) {
            return false;
        }
        *index.tracked.entry(user).or_default() += 1;
        true
    }

    /// Counts one more tracking of `user`; true when it is the first (their data must be
    /// loaded with [`Directory::insert_loaded`]).
    pub fn track(&self, user: i64) -> bool {
        let mut index = self.write();
        let count = index.tracked.entry(user).or_default();
        *count += 1;
        *count == 1
    }

    /// Takes what the store holds for a newly tracked user: their rooms (those already tracked
    /// are kept as they are: the feed keeps them current) and their ignores.
    pub fn insert_loaded(&self, loaded: Loaded) {
        let mut index = self.write();
        let Loaded { user, rooms, ignores } = loaded;
        if !index.tracked.contains_key(&user) {
            // Untracked while its data was read: nothing to keep.
            return;
        }
        index.loaded.insert(user);
        for (record, members) in rooms {
            if record.id == GENERAL_ROOM_ID {
                continue;
            }
            let id = record.id;
            if !index.rooms.contains_key(&id) {
                let members: HashSet<i64> = members.into_iter().collect();
                for member in &members {
                    if index.tracked.contains_key(member) {
                        index.rooms_of.entry(*member).or_default().insert(id);
                    }
                }
                index.rooms.insert(id, entry(&record, members));
            }
            if let Some(entry) = index.rooms.get_mut(&id) {
                entry.members.insert(user);
            }
            index.rooms_of.entry(user).or_default().insert(id);
        }
        for ignored in ignores {
            index.ignores.entry(user).or_default().insert(ignored);
            index.ignored_by.entry(ignored).or_default().insert(user);
        }
    }

    /// Counts one tracking of `user` less; at the last, forgets their ignores and the rooms no
    /// other tracked user is in.
    pub fn untrack(&self, user: i64) {
        let mut index = self.write();
        let Some(count) = index.tracked.get_mut(&user) else { return };
        *count -= 1;
        if *count > 0 {
            return;
        }
        index.tracked.remove(&user);
        index.loaded.remove(&user);
        if let Some(ignored) = index.ignores.remove(&user) {
            for other in ignored {
                forget(&mut index.ignored_by, other, user);
            }
        }
        for room in index.rooms_of.remove(&user).unwrap_or_default() {
            evict_if_unwatched(&mut index, room);
        }
    }

    /// A room was created or changed (its name, archive flag): taken when tracked, with its
    /// members kept. A room nobody here is in is not kept.
    pub fn update_room(&self, room: &RoomRecord) {
        let mut index = self.write();
        if let Some(known) = index.rooms.get_mut(&room.id) {
            let members = std::mem::take(&mut known.members);
            *known = entry(room, members);
        }
    }

    /// Starts tracking a room (with its members as the store has them) that a tracked user is
    /// now in.
    pub fn insert_room(&self, room: &RoomRecord, members: Vec<i64>) {
        if room.id == GENERAL_ROOM_ID {
            return;
        }
        let mut index = self.write();
        let members: HashSet<i64> = members.into_iter().collect();
        for member in &members {
            if index.tracked.contains_key(member) {
                index.rooms_of.entry(*member).or_default().insert(room.id);
            }
        }
        index.rooms.insert(room.id, entry(room, members));
        evict_if_unwatched(&mut index, room.id);
    }

    /// `user` is in `room` now (a tracked room; one that is not is the caller's to load).
    pub fn add_member(&self, room: i64, user: i64) {
        let mut index = self.write();
        let Some(entry) = index.rooms.get_mut(&room) else { return };
        entry.members.insert(user);
        if index.tracked.contains_key(&user) {
            index.rooms_of.entry(user).or_default().insert(room);
        }
    }

    /// `user` is out of `room`; the room is forgotten once no tracked user is in it.
    pub fn remove_member(&self, room: i64, user: i64) {
        let mut index = self.write();
        if let Some(entry) = index.rooms.get_mut(&room) {
            entry.members.remove(&user);
        }
        if let Some(rooms) = index.rooms_of.get_mut(&user) {
            rooms.remove(&room);
        }
        evict_if_unwatched(&mut index, room);
    }

    /// `user` started or stopped ignoring `ignored` (kept for tracked users only).
    pub fn set_ignore(&self, user: i64, ignored: i64, on: bool) {
        let mut index = self.write();
        if on {
            if !index.tracked.contains_key(&user) {
                return;
            }
            index.ignores.entry(user).or_default().insert(ignored);
            index.ignored_by.entry(ignored).or_default().insert(user);
        } else {
            if let Some(set) = index.ignores.get_mut(&user) {
                set.remove(&ignored);
            }
            forget(&mut index.ignored_by, ignored, user);
        }
    }

    /// Forgets every room and ignore but keeps who is tracked (before their data is loaded
    /// again, when the feed can no longer be followed from where this node was).
    pub fn clear_data(&self) {
        let mut index = self.write();
        index.loaded.clear();
        index.rooms.clear();
        index.rooms_of.clear();
        index.ignores.clear();
        index.ignored_by.clear();
    }
}

/// Removes `user` from the set of `key`, and the set once empty.
fn forget(map: &mut HashMap<i64, HashSet<i64>>, key: i64, user: i64) {
    if let Some(set) = map.get_mut(&key) {
        set.remove(&user);
        if set.is_empty() {
            map.remove(&key);
        }
    }
}

/// Forgets `room` when no tracked user is in it.
fn evict_if_unwatched(index: &mut Index, room: i64) {
    let watched = index
        .rooms
        .get(&room)
        .is_some_and(|entry| entry.members.iter().any(|member| index.tracked.contains_key(member)));
    if !watched {
        index.rooms.remove(&room);
    }
}

fn entry(room: &RoomRecord, members: HashSet<i64>) -> RoomEntry {
    let name = match room.kind {
        RoomKind::Dm => "dm".to_owned(),
        _ => room.name.clone().unwrap_or_default(),
    };
    RoomEntry { name, archived: room.archived, dm_pair: room.dm_pair, members }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(id: i64, kind: RoomKind) -> RoomRecord {
        RoomRecord {
            id,
            kind,
            name: (kind != RoomKind::Dm).then(|| format!("r{id}")),
            topic: String::new(),
            owner_id: None,
            dm_pair: (kind == RoomKind::Dm).then_some((1, 2)),
            archived: false,
            archived_by_admin: false,
        }
    }

    /// A directory tracking `users`, each with `rooms` (room, kind, members).
    fn tracking(users: &[i64], rooms: &[(i64, RoomKind, &[i64])]) -> Directory {
        let directory = Directory::default();
        for &user in users {
            assert!(directory.track(user));
            let mine = rooms
                .iter()
                .filter(|(_, _, members)| members.contains(&user))
                .map(|(id, kind, members)| (room(*id, *kind), members.to_vec()))
                .collect();
            directory.insert_loaded(Loaded { user, rooms: mine, ignores: Vec::new() });
        }
        directory
    }

    #[test]
    fn members_post_where_they_belong_and_nowhere_else() {
        let directory = tracking(&[1], &[(5, RoomKind::Private, &[1])]);
        assert_eq!(directory.postable(5, 1), Postable::Yes { room: "r5".into(), peer: None });
        assert_eq!(directory.postable(5, 2), Postable::No);
        assert_eq!(directory.postable(9, 1), Postable::No, "an unknown room");
        assert!(directory.is_member(GENERAL_ROOM_ID, 42), "everyone is in general");
        directory.update_room(&RoomRecord { archived: true, ..room(5, RoomKind::Private) });
        assert_eq!(directory.postable(5, 1), Postable::Archived, "members are kept, the room is read-only");
        directory.remove_member(5, 1);
        assert_eq!(directory.postable(5, 1), Postable::No);
        assert!(!directory.knows_room(5), "nobody here is in it any more: forgotten");
    }

    #[test]
    fn a_dm_knows_the_other_person() {
        let directory = tracking(&[2], &[(7, RoomKind::Dm, &[1, 2])]);
        assert_eq!(directory.postable(7, 2), Postable::Yes { room: "dm".into(), peer: Some(1) });
    }

    #[test]
    fn only_the_rooms_of_connected_users_are_kept() {
        let directory = tracking(&[1, 2], &[(5, RoomKind::Public, &[1, 3]), (6, RoomKind::Public, &[1, 2])]);
        assert_eq!(directory.room_count(), 2);
        // A room created elsewhere by someone not connected here is never kept.
        directory.update_room(&room(8, RoomKind::Public));
        assert!(!directory.knows_room(8));
        directory.untrack(1);
        assert!(!directory.knows_room(5), "only user 1 of this node was in room 5");
        assert!(directory.knows_room(6), "user 2 still is in room 6");
        assert_eq!(directory.members(6).map(|m| m.len()), Some(2), "members are kept whole");
        directory.untrack(2);
        assert_eq!(directory.room_count(), 0);
        // Tracked twice (two connections): the data stays until the last goes.
        assert!(directory.track(3));
        assert!(!directory.track(3));
        directory.insert_loaded(Loaded {
            user: 3,
            rooms: vec![(room(5, RoomKind::Public), vec![1, 3])],
            ignores: vec![9],
        });
        directory.untrack(3);
        assert!(directory.knows_room(5) && directory.ignores(3, 9));
        directory.untrack(3);
        assert!(!directory.knows_room(5) && !directory.ignores(3, 9));
    }

    #[test]
    fn a_second_connection_is_counted_at_once_only_once_the_first_has_loaded() {
        let directory = Directory::default();
        assert!(!directory.track_if_loaded(1), "nobody tracked: the writer loads");
        assert!(directory.track(1));
        assert!(!directory.track_if_loaded(1), "tracked but still being read: the writer again");
        directory.insert_loaded(Loaded { user: 1, rooms: vec![(room(5, RoomKind::Public), vec![1])], ignores: vec![] });
        assert!(directory.track_if_loaded(1));
        // Two trackings: the data stays until the second untracking.
        directory.untrack(1);
        assert!(directory.knows_room(5));
        directory.untrack(1);
        assert!(!directory.knows_room(5));
        assert!(!directory.track_if_loaded(1), "gone with the last");
    }

    #[test]
    fn a_member_joining_a_tracked_room_is_added_and_a_removed_one_goes() {
        let directory = tracking(&[1], &[(5, RoomKind::Public, &[1])]);
        directory.add_member(5, 4);
        assert_eq!(directory.member_count(5), 2);
        // Replays are harmless: sets.
        directory.add_member(5, 4);
        directory.remove_member(5, 4);
        directory.remove_member(5, 4);
        assert_eq!(directory.member_count(5), 1);
        // A tracked user joining a room this node does not know is the caller's to load.
        directory.add_member(9, 1);
        assert!(!directory.knows_room(9));
        directory.insert_room(&room(9, RoomKind::Private), vec![1, 7]);
        assert_eq!(directory.postable(9, 1), Postable::Yes { room: "r9".into(), peer: None });
        directory.remove_member(9, 1);
        assert!(!directory.knows_room(9), "its only tracked member left");
    }

    #[test]
    fn a_plan_singles_out_only_members_and_ignorers() {
        let directory = tracking(&[1, 2, 3], &[(5, RoomKind::Public, &[1, 2])]);
        directory.set_ignore(3, 2, true);
        // general from 4, room 5 from 2, general from 2.
        let plan = directory.plan(&[(GENERAL_ROOM_ID, 4), (5, 2), (GENERAL_ROOM_ID, 2)]);
        assert_eq!(plan.len(), 3, "members 1 and 2, and 3 who ignores 2: {plan:?}");
        assert_eq!(plan[&1], vec![0, 1, 2]);
        assert_eq!(plan[&2], vec![0, 1, 2]);
        assert_eq!(plan[&3], vec![0], "neither the room nor the ignored sender");
        assert!(directory.plan(&[(GENERAL_ROOM_ID, 4)]).is_empty(), "general alone is everyone's");
        directory.set_ignore(3, 2, false);
        assert!(directory.plan(&[(GENERAL_ROOM_ID, 2)]).is_empty());
        assert_eq!(
            directory.audience_of(5, 2).map(|mut v| {
                v.sort();
                v
            }),
            Some(vec![1, 2])
        );
        // Ignores of users not connected here are not kept.
        directory.set_ignore(8, 2, true);
        assert!(!directory.ignores(8, 2));
    }
}
