//! Following the room-change feed (`room_changes`): how a node learns, in commit order, every
//! change to a conversation, its members and who ignores whom, whichever node (or process) made
//! it, and what it does about each: it changes the [`Directory`] (who gets which message) and
//! tells its own connected users (`room`, `room_left`, `member`, `invitation`, and the message
//! changes: `removed`, `edited`, `deleted`, `reaction` frames). The node
//! that made a change learns of it the same way as every other node, so a frame is sent once per
//! node and the cluster bus only hints that there is something to read: a lost hint costs
//! latency, never privacy.
//!
//! The writer task owns the follower, so a change and the messages around it are handled in one
//! order: before the writer delivers a batch of messages it applies the feed up to the newest
//! entry committed before that batch (the store gives it with the batch). Entries are gapless:
//! one that is missing means the store pruned entries this node never read, and the directory is
//! loaded again.

use super::directory::{Directory, Loaded};
use super::frames;
use super::hub::Registry;
use crate::store::{Change, FeedEntry, Store, StoreError};
use app::models::{RoomKind, ServerFrame};
use app::protocol::GENERAL_ROOM_ID;
use tokio::sync::watch;

/// Entries read per query.
const PAGE: i64 = 512;
/// Entries kept behind the newest one applied (for nodes that lag); older ones are pruned now and
/// then.
const KEEP: i64 = 10_000;
/// How many catch-ups between two prunings.
const PRUNE_EVERY: u64 = 2_000;

/// The feed as one node follows it (on the store's feed connections).
pub struct Follower {
    store: Store,
    applied: i64,
    /// Tells the use cases waiting for their change how far the node has applied the feed.
    progress: watch::Sender<i64>,
    catch_ups: u64,
}

impl Follower {
    /// Starts after `applied` (the newest entry when the node started: the directory tracks
    /// nobody yet, so nothing before it matters).
    pub fn new(store: Store, applied: i64, progress: watch::Sender<i64>) -> Self {
        progress.send_replace(applied);
        Self { store, applied, progress, catch_ups: 0 }
    }

    /// The store it reads (also what tracking a user reads).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The newest entry applied.
    pub fn applied(&self) -> i64 {
        self.applied
    }

    /// Reads and applies every entry after the newest applied, up to the store's newest.
    pub async fn catch_up(&mut self, registry: &Registry) -> Result<(), StoreError> {
        let store = self.store.clone();
        let store = &store;
        loop {
            let page = store.room_changes_after(self.applied, PAGE).await?;
            let full = page.len() as i64 == PAGE;
            if page.first().is_some_and(|first| first.seq != self.applied + 1) {
                // Pruned before this node read them: start again from what the store has now.
                tracing::warn!(applied = self.applied, "room changes missed; reloading the directory");
                self.reload(registry).await?;
                continue;
            }
            for entry in page {
                self.applied = entry.seq;
                if let Err(error) = apply(&entry, store, registry).await {
                    // Not applied: read it again next time.
                    self.applied = entry.seq - 1;
                    self.progress.send_replace(self.applied);
                    return Err(error);
                }
            }
            self.progress.send_replace(self.applied);
            if !full {
                break;
            }
        }
        self.catch_ups += 1;
        if self.catch_ups.is_multiple_of(PRUNE_EVERY) && self.applied > KEEP {
            if let Err(error) = store.prune_room_changes(self.applied - KEEP).await {
                tracing::warn!(%error, "pruning the room-change feed failed");
            }
        }
        Ok(())
    }

    /// Loads every tracked user's conversations again, and goes on from the store's newest entry.
    async fn reload(&mut self, registry: &Registry) -> Result<(), StoreError> {
        let store = &self.store;
        let head = store.latest_room_change().await?;
        let directory = &registry.directory;
        let mut loaded = Vec::new();
        for user in directory.tracked_users() {
            loaded.push(load(store, user).await?);
        }
        directory.clear_data();
        for data in loaded {
            directory.insert_loaded(data);
        }
        self.applied = head;
        Ok(())
    }
}

/// What the store holds for `user`, to start tracking them.
pub async fn load(store: &Store, user: i64) -> Result<Loaded, StoreError> {
    Ok(Loaded { user, rooms: store.conversations_of(user).await?, ignores: store.ignored_ids(user).await? })
}

/// Applies one entry to the directory and tells this node's users concerned.
async fn apply(entry: &FeedEntry, store: &Store, registry: &Registry) -> Result<(), StoreError> {
    let directory = &registry.directory;
    let Some(change) = entry.change else { return Ok(()) };
    match change {
        Change::Created { room, owner } => {
            if directory.is_tracked(owner) {
                start_tracking(store, directory, room).await?;
                tell_room(store, registry, room, owner).await?;
            }
        }
        Change::Dm { room, low, high } => {
            if directory.is_tracked(low) || directory.is_tracked(high) {
                start_tracking(store, directory, room).await?;
            }
            for user in [low, high] {
                tell_room(store, registry, room, user).await?;
            }
        }
        Change::Room { room } => {
            if directory.knows_room(room) {
                if let Some(record) = store.room(room).await? {
                    directory.update_room(&record);
                    tell_changed(store, registry, room, record.kind).await?;
                }
            }
        }
        Change::Joined { room, user } => {
            if directory.knows_room(room) {
                directory.add_member(room, user);
            } else if directory.is_tracked(user) {
                start_tracking(store, directory, room).await?;
            }
            tell_room(store, registry, room, user).await?;
            tell_members(registry, room, user, entry.username.as_deref(), true);
        }
        Change::Left { room, user, removed } => {
            // The other members are told while the room is still known (the last tracked member
            // leaving forgets it).
            let members = directory.members(room).unwrap_or_default();
            directory.remove_member(room, user);
            let reason = if removed { "removed" } else { "left" };
            let frame = ServerFrame::RoomLeft { room_id: room, reason: reason.to_owned() };
            registry.send_live(Some(&[user]), &[], &frames::text(&frame));
            if let Some(username) = &entry.username {
                let count = members.iter().filter(|member| **member != user).count();
                let frame = ServerFrame::Member {
                    room_id: room,
                    username: username.clone(),
                    joined: false,
                    member_count: count as i64,
                };
                registry.send_live(Some(&members), &[user], &frames::text(&frame));
            }
        }
        Change::Invited { room, user, .. } => {
            if registry.is_connected(user) {
                if let (Some(seen), Some(inviter)) = (store.room_for(room, user).await?, &entry.other_username) {
                    let frame = ServerFrame::Invitation { room: seen, inviter: inviter.clone() };
                    registry.send_live(Some(&[user]), &[], &frames::text(&frame));
                }
            }
        }
        Change::Ignored { user, ignored, on } => directory.set_ignore(user, ignored, on),
        Change::MessageRemoved { room, message } => {
            tell_room_members(registry, room, &frames::text(&ServerFrame::Removed { id: message, room_id: room }));
        }
        Change::MessageEdited { room, message, .. } => tell_edited(store, registry, room, message, entry.seq).await?,
        Change::MessageDeleted { room, message, .. } => {
            let frame = ServerFrame::Deleted { id: message, room_id: room, change: entry.seq };
            tell_room_members(registry, room, &frames::text(&frame));
        }
        Change::Reacted { room, message, added, .. } => {
            let (Some(emoji), Some(username)) = (&entry.detail, &entry.username) else { return Ok(()) };
            if room != GENERAL_ROOM_ID && directory.members(room).is_none() {
                return Ok(());
            }
            let count = store.reaction_count(message, emoji).await?;
            let frame = ServerFrame::Reaction {
                id: message,
                room_id: room,
                emoji: emoji.clone(),
                username: username.clone(),
                added,
                count,
                change: entry.seq,
            };
            tell_room_members(registry, room, &frames::text(&frame));
        }
    }
    Ok(())
}

/// Sends `frame` to the members of `room` connected here (everyone, for `general`).
fn tell_room_members(registry: &Registry, room: i64, frame: &bytes::Bytes) {
    if room == GENERAL_ROOM_ID {
        registry.send_live(None, &[], frame);
    } else if let Some(members) = registry.directory.members(room) {
        registry.send_live(Some(&members), &[], frame);
    }
}

/// Tells the members of `room` connected here (not those ignoring its sender) that `message`
/// was edited: the message as it is now, each reactor's own reactions marked `me`.
async fn tell_edited(store: &Store, registry: &Registry, room: i64, message: i64, seq: i64) -> Result<(), StoreError> {
    let directory = &registry.directory;
    let audience = match directory.members(room) {
        _ if room == GENERAL_ROOM_ID => None,
        Some(members) => Some(members),
        None => return Ok(()),
    };
    let Some(edited) = store.message_by_id(message).await? else { return Ok(()) };
    if edited.deleted || edited.removed {
        // Deleted since: its own entry tells.
        return Ok(());
    }
    let ignorers = directory.ignorers_of(edited.sender_id);
    let mut reactions_of: std::collections::HashMap<i64, Vec<String>> = std::collections::HashMap::new();
    if !edited.reactions.is_empty() {
        for (user, emoji) in store.reactors(message).await? {
            reactions_of.entry(user).or_default().push(emoji);
        }
    }
    let mut except = ignorers.clone();
    except.extend(reactions_of.keys().copied());
    let frame = ServerFrame::Edited { message: edited.clone(), change: seq };
    registry.send_live(audience.as_deref(), &except, &frames::text(&frame));
    for (user, emojis) in reactions_of {
        let hears = audience.as_ref().is_none_or(|members| members.contains(&user));
        if ignorers.contains(&user) || !hears || !registry.is_connected(user) {
            continue;
        }
        let mut theirs = edited.clone();
        for reaction in &mut theirs.reactions {
            reaction.me = emojis.contains(&reaction.emoji);
        }
        let frame = ServerFrame::Edited { message: theirs, change: seq };
        registry.send_live(Some(&[user]), &[], &frames::text(&frame));
    }
    Ok(())
}

/// Starts tracking `room` (a tracked user is in it now), with its members as the store has them.
async fn start_tracking(store: &Store, directory: &Directory, room: i64) -> Result<(), StoreError> {
    if let Some(record) = store.room(room).await? {
        let members = store.member_ids(room).await?;
        directory.insert_room(&record, members);
    }
    Ok(())
}

/// Sends `user`, if connected here, the conversation as they see it (a `room` frame).
async fn tell_room(store: &Store, registry: &Registry, room: i64, user: i64) -> Result<(), StoreError> {
    if registry.is_connected(user) {
        if let Some(seen) = store.room_for(room, user).await? {
            registry.send_live(Some(&[user]), &[], &frames::text(&ServerFrame::Room { room: seen }));
        }
    }
    Ok(())
}

/// Tells the members of `room` connected here but `who` that `who` joined.
fn tell_members(registry: &Registry, room: i64, who: i64, username: Option<&str>, joined: bool) {
    let (Some(members), Some(username)) = (registry.directory.members(room), username) else { return };
    let frame = ServerFrame::Member {
        room_id: room,
        username: username.to_owned(),
        joined,
        member_count: members.len() as i64,
    };
    registry.send_live(Some(&members), &[who], &frames::text(&frame));
}

/// Tells the members of `room` connected here that it changed (renamed, new topic, archived or
/// back). One frame, built once, for every member: the room's own fields, `joined` true, and no
/// counts of anyone's (`unread` and `last_read_id` 0: keep your own). A DM's name is the other
/// person's, so each of its two people gets their own.
async fn tell_changed(store: &Store, registry: &Registry, room: i64, kind: RoomKind) -> Result<(), StoreError> {
    let members = registry.directory.members(room).unwrap_or_default();
    let here: Vec<i64> = members.into_iter().filter(|member| registry.is_connected(*member)).collect();
    if here.is_empty() {
        return Ok(());
    }
    if kind == RoomKind::Dm {
        for member in here {
            tell_room(store, registry, room, member).await?;
        }
        return Ok(());
    }
    let Some(mut seen) = store.room_for(room, 0).await? else { return Ok(()) };
    seen.joined = true;
    seen.unread = 0;
    seen.last_read_id = 0;
    registry.send_live(Some(&here), &[], &frames::text(&ServerFrame::Room { room: seen }));
    Ok(())
}
