//! The directory: who is in which conversation and who ignores whom, in memory, so that the
//! fan-out delivers a message to the members of its conversation only (O(members), never a scan
//! of every connection) and the chat use cases check membership without a query per message.
//!
//! It mirrors the store: loaded from it at start, then changed by the conversation use cases
//! right after each change commits (they serialise those changes, so the two never disagree for
//! long; the message INSERT re-checks membership itself, so a message can never be stored in a
//! conversation its sender has just left). On a cluster, the other nodes' changes come over the
//! bus, in the order they were published (so before the messages that follow them), and the
//! whole directory is read again whenever the bus comes back after an outage, when changes may
//! have been lost. `general` is not listed: everyone is in it.

use crate::store::{RoomRecord, Store, StoreError};
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
    /// user → the people they ignore.
    ignores: HashMap<i64, HashSet<i64>>,
    /// user → the people ignoring them.
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
    /// Unknown, or not a member.
    No,
}

impl Directory {
    /// The directory as the store has it now.
    pub async fn load(store: &Store) -> Result<Self, StoreError> {
        let mut index = Index::default();
        for room in store.all_rooms().await? {
            if room.id != GENERAL_ROOM_ID {
                index.rooms.insert(room.id, entry(&room, HashSet::new()));
            }
        }
        for (room, user) in store.all_memberships().await? {
            if let Some(entry) = index.rooms.get_mut(&room) {
                entry.members.insert(user);
            }
        }
        for (user, ignored) in store.all_ignores().await? {
            index.ignores.entry(user).or_default().insert(ignored);
            index.ignored_by.entry(ignored).or_default().insert(user);
        }
        Ok(Self { index: RwLock::new(index) })
    }

    /// Replaces everything with what the store has now (after the bus lost changes).
    pub async fn reload(&self, store: &Store) -> Result<(), StoreError> {
        let fresh = Self::load(store).await?;
        *self.write() = fresh.index.into_inner().unwrap_or_else(|e| e.into_inner());
        Ok(())
    }

    fn read(&self) -> RwLockReadGuard<'_, Index> {
        self.index.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Index> {
        self.index.write().unwrap_or_else(|e| e.into_inner())
    }

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

    /// Whether `user` is in `room` (everyone is in `general`).
    pub fn is_member(&self, room: i64, user: i64) -> bool {
        room == GENERAL_ROOM_ID || self.read().rooms.get(&room).is_some_and(|entry| entry.members.contains(&user))
    }

    /// The members of `room` (`None` for `general`, which is everyone, or an unknown room).
    pub fn members(&self, room: i64) -> Option<Vec<i64>> {
        self.read().rooms.get(&room).map(|entry| entry.members.iter().copied().collect())
    }

    /// Whether `user` ignores `other`.
    pub fn ignores(&self, user: i64, other: i64) -> bool {
        self.read().ignores.get(&user).is_some_and(|ignored| ignored.contains(&other))
    }

    /// Who of `users` should see a message (or a typing frame) of `sender` in `room`: its
    /// members, less those who ignore the sender.
    pub fn audience_of(&self, room: i64, sender: i64) -> Option<Vec<i64>> {
        let index = self.read();
        let entry = index.rooms.get(&room)?;
        let ignoring = index.ignored_by.get(&sender);
        Some(entry.members.iter().copied().filter(|user| !ignoring.is_some_and(|set| set.contains(user))).collect())
    }

    /// Everyone who shares a conversation other than `general` with `user` (`user` left out):
    /// whom presence tells of `user` on a large server.
    pub fn peers(&self, user: i64) -> HashSet<i64> {
        let index = self.read();
        let mut peers = HashSet::new();
        for entry in index.rooms.values().filter(|entry| entry.members.contains(&user)) {
            peers.extend(entry.members.iter().copied());
        }
        peers.remove(&user);
        peers
    }

    /// The people ignoring `user`.
    pub fn ignorers_of(&self, user: i64) -> Vec<i64> {
        self.read().ignored_by.get(&user).map(|set| set.iter().copied().collect()).unwrap_or_default()
    }

    /// A room was created or changed (its name, archive flag); its members are kept.
    pub fn upsert_room(&self, room: &RoomRecord) {
        if room.id == GENERAL_ROOM_ID {
            return;
        }
        let mut index = self.write();
        let members = index.rooms.remove(&room.id).map(|entry| entry.members).unwrap_or_default();
        index.rooms.insert(room.id, entry(room, members));
    }

    pub fn add_member(&self, room: i64, user: i64) {
        if let Some(entry) = self.write().rooms.get_mut(&room) {
            entry.members.insert(user);
        }
    }

    pub fn remove_member(&self, room: i64, user: i64) {
        if let Some(entry) = self.write().rooms.get_mut(&room) {
            entry.members.remove(&user);
        }
    }

    pub fn set_ignore(&self, user: i64, ignored: i64, on: bool) {
        let mut index = self.write();
        if on {
            index.ignores.entry(user).or_default().insert(ignored);
            index.ignored_by.entry(ignored).or_default().insert(user);
        } else {
            if let Some(set) = index.ignores.get_mut(&user) {
                set.remove(&ignored);
            }
            if let Some(set) = index.ignored_by.get_mut(&ignored) {
                set.remove(&user);
            }
        }
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
        }
    }

    #[test]
    fn members_post_where_they_belong_and_nowhere_else() {
        let directory = Directory::default();
        directory.upsert_room(&room(5, RoomKind::Private));
        directory.add_member(5, 1);
        assert_eq!(directory.postable(5, 1), Postable::Yes { room: "r5".into(), peer: None });
        assert_eq!(directory.postable(5, 2), Postable::No);
        assert_eq!(directory.postable(9, 1), Postable::No, "an unknown room");
        assert!(directory.is_member(GENERAL_ROOM_ID, 42), "everyone is in general");
        directory.upsert_room(&RoomRecord { archived: true, ..room(5, RoomKind::Private) });
        assert_eq!(directory.postable(5, 1), Postable::Archived, "members are kept, the room is read-only");
        directory.remove_member(5, 1);
        assert_eq!(directory.postable(5, 1), Postable::No);
    }

    #[test]
    fn a_dm_knows_the_other_person() {
        let directory = Directory::default();
        directory.upsert_room(&room(7, RoomKind::Dm));
        directory.add_member(7, 1);
        directory.add_member(7, 2);
        assert_eq!(directory.postable(7, 2), Postable::Yes { room: "dm".into(), peer: Some(1) });
    }

    #[test]
    fn a_plan_singles_out_only_members_and_ignorers() {
        let directory = Directory::default();
        directory.upsert_room(&room(5, RoomKind::Public));
        directory.add_member(5, 1);
        directory.add_member(5, 2);
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
    }
}
