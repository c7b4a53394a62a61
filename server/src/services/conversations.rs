//! Conversation use cases, each rule once for every door: listing, creating, joining, leaving,
//! inviting and removing, DMs, read markers, renames and archives, ignoring, and the admin's
//! view of every room. Private rooms and DMs are 404 to anyone not in them (never a hint of
//! their existence); admins are members of nothing by being admins, but may remove members and
//! archive any room.
//!
//! Every membership change is serialised (one at a time, store first, then the fan-out's
//! directory) and told live to the people concerned: `room` to whoever gains or sees a changed
//! conversation, `room_left` to whoever is out, `member` to the other members.

use super::admin::Admin;
use super::paging::Page;
use super::{internal, Services};
use crate::fanout::frames;
use crate::store::{Joined, RoomChange, RoomRecord, StoreError, View};
use app::domain::{RoomName, RoomTopic, ValidationError};
use app::error::ApiError;
use app::models::{AdminRoom, ChatMessage, CreateRoom, Member, PublicUser, Room, RoomKind, ServerFrame, UpdateRoom};
use app::protocol::{GENERAL_ROOM_ID, MAX_CONVERSATIONS_PER_USER};
use std::collections::HashSet;

/// Most people one account may ignore.
pub const MAX_IGNORES: i64 = 1000;

/// How a user stands towards a conversation they asked about.
enum Standing {
    /// A member.
    Member(RoomRecord),
    /// Not a member of a public room: may see it, read it and join it.
    Visitor(RoomRecord),
}

impl Standing {
    fn room(&self) -> &RoomRecord {
        match self {
            Standing::Member(room) | Standing::Visitor(room) => room,
        }
    }
}

fn too_many(who: &str) -> ApiError {
    ApiError::Forbidden { message: format!("{who} in too many conversations (at most {MAX_CONVERSATIONS_PER_USER})") }
}

fn bad_request(message: &str) -> ApiError {
    ApiError::BadRequest { message: message.to_owned() }
}

fn forbidden(message: &str) -> ApiError {
    ApiError::Forbidden { message: message.to_owned() }
}

impl Services {
    /// Where `user` stands in room `id`: 404 for an unknown room, or a private room or DM they
    /// are not in.
    async fn standing(&self, user: &PublicUser, id: i64) -> Result<Standing, ApiError> {
        let room = self.store.room(id).await.map_err(internal)?.ok_or(ApiError::NotFound)?;
        if self.store.is_member(id, user.id).await.map_err(internal)? {
            Ok(Standing::Member(room))
        } else if room.kind == RoomKind::Public {
            Ok(Standing::Visitor(room))
        } else {
            Err(ApiError::NotFound)
        }
    }

    /// Whether `user` may read room `id` (a member, or anyone for a public room): `NotFound`
    /// otherwise, as for every route.
    pub(super) async fn may_read(&self, user: &PublicUser, id: i64) -> Result<(), ApiError> {
        self.standing(user, id).await.map(|_| ())
    }

    /// Room `id` as `user` sees it.
    async fn room_seen_by(&self, id: i64, user: i64) -> Result<Room, ApiError> {
        self.store.room_for(id, user).await.map_err(internal)?.ok_or(ApiError::NotFound)
    }

    /// A name or topic the word filter refuses: 422, and no strike (it is not a message).
    fn allowed(&self, text: &str) -> Result<(), ApiError> {
        match self.moderator.check(text) {
            Some(_) => Err(ValidationError::NotAllowed.into()),
            None => Ok(()),
        }
    }

    /// A user others may add or message: not `None`, not blocked (a blocked account has
    /// disappeared: 404 `no such user`).
    async fn reachable_user(&self, username: &str) -> Result<PublicUser, ApiError> {
        match self.store.user_by_username(username.trim()).await.map_err(internal)? {
            Some(record) if !record.public.is_blocked => Ok(record.public),
            _ => Err(ApiError::UnknownUser),
        }
    }

    // ---- telling people -------------------------------------------------------------------

    /// Sends `user` the conversation as they now see it (a `room` frame).
    async fn tell_room(&self, room: i64, user: i64) {
        match self.store.room_for(room, user).await {
            Ok(Some(seen)) => {
                self.hub.tell(Some(&[user]), &[], &ServerFrame::Room { room: seen });
            }
            Ok(None) => {}
            Err(error) => tracing::error!(%error, "reading a room to announce failed"),
        }
    }

    fn tell_left(&self, room: i64, user: i64, reason: &str) {
        self.hub.tell(Some(&[user]), &[], &ServerFrame::RoomLeft { room_id: room, reason: reason.to_owned() });
    }

    /// Tells the members of `room` but `who` that `who` joined or left.
    fn tell_members(&self, room: i64, who: &PublicUser, joined: bool) {
        let members = self.hub.directory().members(room).unwrap_or_default();
        let frame = ServerFrame::Member {
            room_id: room,
            username: who.username.clone(),
            joined,
            member_count: members.len() as i64,
        };
        self.hub.tell(Some(&members), &[who.id], &frame);
    }

    /// Re-reads a room into the directory after a change.
    async fn refresh_directory(&self, room: i64) -> Result<(), ApiError> {
        if let Some(record) = self.store.room(room).await.map_err(internal)? {
            self.hub.room_changed(&record);
        }
        Ok(())
    }

    // ---- listing ----------------------------------------------------------------------------

    /// `user`'s conversations: `general` first, then the most recently active.
    pub async fn my_rooms(&self, user: &PublicUser) -> Result<Vec<Room>, ApiError> {
        self.store.rooms_of(user.id).await.map_err(internal)
    }

    /// Every public room that is not archived.
    pub async fn public_rooms(&self, user: &PublicUser) -> Result<Vec<Room>, ApiError> {
        self.store.public_rooms(user.id).await.map_err(internal)
    }

    /// One conversation, if `user` may see it.
    pub async fn room(&self, user: &PublicUser, id: i64) -> Result<Room, ApiError> {
        self.standing(user, id).await?;
        self.room_seen_by(id, user.id).await
    }

    /// Members of a conversation `user` may see, by username, with who is online.
    pub async fn members(
        &self,
        user: &PublicUser,
        id: i64,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Member>, ApiError> {
        self.standing(user, id).await?;
        let mut members = self.store.members(id, after, limit).await.map_err(internal)?;
        let online: HashSet<String> = self.hub.online_names().into_iter().collect();
        for member in &mut members {
            member.online = online.contains(&member.username);
        }
        Ok(members)
    }

    /// A page of a conversation's messages `user` may read (newest first, or oldest first
    /// after `page.after`), without the people they ignore.
    pub async fn room_messages(&self, user: &PublicUser, id: i64, page: Page) -> Result<Vec<ChatMessage>, ApiError> {
        self.standing(user, id).await?;
        self.page_of(View::room(id, user.id), page).await
    }

    // ---- changing -------------------------------------------------------------------------

    /// Creates a public or private room owned by `user`, its first member.
    pub async fn create_room(&self, user: &PublicUser, request: CreateRoom) -> Result<Room, ApiError> {
        if request.kind == RoomKind::Dm {
            return Err(ApiError::InvalidInput { message: "kind must be \"public\" or \"private\"".into() });
        }
        let name = RoomName::parse(&request.name)?;
        let topic = RoomTopic::parse(request.topic.as_deref().unwrap_or(""))?;
        self.allowed(name.as_str())?;
        self.allowed(topic.as_str())?;
        let _serial = self.membership.lock().await;
        let created = self
            .store
            .create_room(user.id, request.kind, name.as_str(), topic.as_str(), MAX_CONVERSATIONS_PER_USER)
            .await
            .map_err(|error| match error {
                StoreError::DuplicateRoomName => ApiError::RoomNameTaken,
                other => internal(other),
            })?;
        let id = created.ok_or_else(|| too_many("you are"))?;
        self.refresh_directory(id).await?;
        self.hub.membership_changed(id, user.id, true);
        tracing::info!(room_id = id, kind = request.kind.as_str(), "room created");
        self.tell_room(id, user.id).await;
        self.room_seen_by(id, user.id).await
    }

    /// Joins a public room (a member already: no change).
    pub async fn join(&self, user: &PublicUser, id: i64) -> Result<Room, ApiError> {
        let _serial = self.membership.lock().await;
        if let Standing::Visitor(room) = self.standing(user, id).await? {
            if room.archived {
                return Err(bad_request("this room is archived"));
            }
            self.add(user, id).await?;
        }
        self.room_seen_by(id, user.id).await
    }

    /// Adds `who` to room `id` and tells everyone concerned (with the membership lock held).
    async fn add(&self, who: &PublicUser, id: i64) -> Result<(), ApiError> {
        match self.store.add_member(id, who.id, MAX_CONVERSATIONS_PER_USER).await.map_err(internal)? {
            Joined::Already => return Ok(()),
            Joined::Full => return Err(too_many(&format!("{} is", who.username))),
            Joined::Added => {}
        }
        self.hub.membership_changed(id, who.id, true);
        self.tell_room(id, who.id).await;
        self.tell_members(id, who, true);
        Ok(())
    }

    /// Takes `who` out of room `id` and tells everyone concerned (with the membership lock
    /// held); false when they were not in it.
    async fn remove(&self, who: &PublicUser, id: i64, reason: &str, admin: Option<i64>) -> Result<bool, ApiError> {
        if !self.store.remove_member(id, who.id, admin).await.map_err(internal)? {
            return Ok(false);
        }
        self.hub.membership_changed(id, who.id, false);
        self.tell_left(id, who.id, reason);
        self.tell_members(id, who, false);
        Ok(true)
    }

    /// Leaves a room (`general` and DMs cannot be left).
    pub async fn leave(&self, user: &PublicUser, id: i64) -> Result<(), ApiError> {
        let _serial = self.membership.lock().await;
        let standing = self.standing(user, id).await?;
        refuse_for_general_and_dms(standing.room(), "left")?;
        if let Standing::Visitor(_) = standing {
            return Err(bad_request("you are not in this room"));
        }
        self.remove(user, id, "left", None).await?;
        Ok(())
    }

    /// Adds `username` to a room `user` is in (private rooms: any member invites).
    pub async fn invite(&self, user: &PublicUser, id: i64, username: &str) -> Result<Room, ApiError> {
        let _serial = self.membership.lock().await;
        let standing = self.standing(user, id).await?;
        let room = standing.room();
        if room.kind == RoomKind::Dm {
            return Err(bad_request("a direct message has exactly two people"));
        }
        if let Standing::Visitor(_) = standing {
            return Err(forbidden("join the room before adding people to it"));
        }
        if room.archived {
            return Err(bad_request("this room is archived"));
        }
        let invitee = self.reachable_user(username).await?;
        self.add(&invitee, id).await?;
        self.room_seen_by(id, user.id).await
    }

    /// Removes `username` from a room: the owner, an admin, or the member themself.
    pub async fn remove_member(&self, user: &PublicUser, id: i64, username: &str) -> Result<(), ApiError> {
        let _serial = self.membership.lock().await;
        let room = match self.standing(user, id).await {
            Ok(standing) => standing.room().clone(),
            // An admin may remove members of rooms they are not in.
            Err(ApiError::NotFound) if user.is_admin => {
                self.store.room(id).await.map_err(internal)?.ok_or(ApiError::NotFound)?
            }
            Err(error) => return Err(error),
        };
        refuse_for_general_and_dms(&room, "left")?;
        let target =
            self.store.user_by_username(username.trim()).await.map_err(internal)?.ok_or(ApiError::UnknownUser)?;
        let target = target.public;
        let is_owner = room.owner_id == Some(user.id) && self.hub.directory().is_member(id, user.id);
        if target.id != user.id && !is_owner && !user.is_admin {
            return Err(forbidden("only the room's owner or an admin can remove someone else"));
        }
        let audited = (user.is_admin && target.id != user.id && !is_owner).then_some(user.id);
        let reason = if target.id == user.id { "left" } else { "removed" };
        if !self.remove(&target, id, reason, audited).await? {
            return Err(ApiError::UnknownUser);
        }
        Ok(())
    }

    /// The DM of `user` and `username`: the same conversation every time, created on first use.
    pub async fn open_dm(&self, user: &PublicUser, username: &str) -> Result<Room, ApiError> {
        let peer = self.reachable_user(username).await?;
        if peer.id == user.id {
            return Err(bad_request("you cannot message yourself"));
        }
        if self.hub.directory().ignores(peer.id, user.id) {
            return Err(forbidden(frames::NOT_ACCEPTING));
        }
        let _serial = self.membership.lock().await;
        let (id, created) = self.store.dm_between(user.id, peer.id).await.map_err(internal)?;
        if created {
            self.refresh_directory(id).await?;
            self.hub.membership_changed(id, user.id, true);
            self.hub.membership_changed(id, peer.id, true);
            self.tell_room(id, user.id).await;
            self.tell_room(id, peer.id).await;
        }
        self.room_seen_by(id, user.id).await
    }

    /// Renames a room, sets its topic, or archives it (or brings it back).
    pub async fn update_room(&self, user: &PublicUser, id: i64, request: UpdateRoom) -> Result<Room, ApiError> {
        let _serial = self.membership.lock().await;
        let room = match self.standing(user, id).await {
            Ok(Standing::Member(room)) => room,
            Ok(Standing::Visitor(room)) if user.is_admin || request.topic.is_none() => room,
            Ok(Standing::Visitor(_)) => return Err(forbidden("join the room before changing its topic")),
            Err(ApiError::NotFound) if user.is_admin && request.name.is_none() && request.topic.is_none() => {
                self.store.room(id).await.map_err(internal)?.ok_or(ApiError::NotFound)?
            }
            Err(error) => return Err(error),
        };
        let change = self.checked_change(user, &room, request)?;
        let audited = (change.archived.is_some() && user.is_admin && room.owner_id != Some(user.id)).then_some(user.id);
        self.apply_change(id, &change, audited).await?;
        self.room_seen_by(id, user.id).await
    }

    /// What a change request may change, by whom, checked.
    fn checked_change(
        &self,
        user: &PublicUser,
        room: &RoomRecord,
        request: UpdateRoom,
    ) -> Result<RoomChange, ApiError> {
        let owner_or_admin = room.owner_id == Some(user.id) || user.is_admin;
        if room.id == GENERAL_ROOM_ID && (request.name.is_some() || request.archived.is_some()) {
            return Err(bad_request("general cannot be renamed or archived"));
        }
        if room.kind == RoomKind::Dm && (request.name.is_some() || request.topic.is_some()) {
            return Err(bad_request("a direct message has no name or topic"));
        }
        if (request.name.is_some() || request.archived.is_some()) && !owner_or_admin {
            return Err(forbidden("only the room's owner or an admin can rename or archive it"));
        }
        if room.id == GENERAL_ROOM_ID && request.topic.is_some() && !user.is_admin {
            return Err(forbidden("only an admin can change general's topic"));
        }
        let name = request.name.as_deref().map(RoomName::parse).transpose()?;
        let topic = request.topic.as_deref().map(RoomTopic::parse).transpose()?;
        if let Some(name) = &name {
            self.allowed(name.as_str())?;
        }
        if let Some(topic) = &topic {
            self.allowed(topic.as_str())?;
        }
        Ok(RoomChange {
            name: name.map(RoomName::into_inner),
            topic: topic.map(RoomTopic::into_inner),
            archived: request.archived,
        })
    }

    /// Stores a change and tells every member (with the membership lock held).
    async fn apply_change(&self, id: i64, change: &RoomChange, audited: Option<i64>) -> Result<(), ApiError> {
        self.store.update_room(id, change, audited).await.map_err(|error| match error {
            StoreError::DuplicateRoomName => ApiError::RoomNameTaken,
            other => internal(other),
        })?;
        self.refresh_directory(id).await?;
        for member in self.hub.directory().members(id).unwrap_or_default() {
            self.tell_room(id, member).await;
        }
        Ok(())
    }

    /// Moves `user`'s read marker in a room forward.
    pub async fn mark_read(&self, user: &PublicUser, id: i64, last_read_id: i64) -> Result<(), ApiError> {
        if last_read_id < 0 {
            return Err(ApiError::InvalidInput { message: "last_read_id must be 0 or more".into() });
        }
        if let Standing::Visitor(_) = self.standing(user, id).await? {
            return Err(bad_request("you are not in this room"));
        }
        self.store.mark_read(id, user.id, last_read_id).await.map_err(internal)
    }

    // ---- ignoring ---------------------------------------------------------------------------

    pub async fn ignored(&self, user: &PublicUser) -> Result<Vec<String>, ApiError> {
        self.store.ignored_usernames(user.id).await.map_err(internal)
    }

    /// `user` stops seeing `username`'s messages; `username` can no longer open or write to a
    /// DM with them.
    pub async fn ignore(&self, user: &PublicUser, username: &str) -> Result<(), ApiError> {
        let other =
            self.store.user_by_username(username.trim()).await.map_err(internal)?.ok_or(ApiError::UnknownUser)?;
        if other.public.id == user.id {
            return Err(bad_request("you cannot ignore yourself"));
        }
        let _serial = self.membership.lock().await;
        if !self.store.add_ignore(user.id, other.public.id, MAX_IGNORES).await.map_err(internal)? {
            return Err(ApiError::Forbidden { message: format!("you ignore too many people (at most {MAX_IGNORES})") });
        }
        self.hub.ignore_changed(user.id, other.public.id, true);
        Ok(())
    }

    pub async fn unignore(&self, user: &PublicUser, username: &str) -> Result<(), ApiError> {
        let other =
            self.store.user_by_username(username.trim()).await.map_err(internal)?.ok_or(ApiError::UnknownUser)?;
        let _serial = self.membership.lock().await;
        self.store.remove_ignore(user.id, other.public.id).await.map_err(internal)?;
        self.hub.ignore_changed(user.id, other.public.id, false);
        Ok(())
    }

    // ---- admin ------------------------------------------------------------------------------

    /// Every room, by id.
    pub async fn rooms_page(&self, _admin: &Admin, page: Page) -> Result<Vec<AdminRoom>, ApiError> {
        self.store.admin_rooms(page.after, page.limit).await.map_err(internal)
    }

    /// Archives any room but `general` (audited).
    pub async fn archive_room(&self, admin: &Admin, id: i64) -> Result<AdminRoom, ApiError> {
        let _serial = self.membership.lock().await;
        let room = self.store.room(id).await.map_err(internal)?.ok_or(ApiError::NotFound)?;
        if room.id == GENERAL_ROOM_ID {
            return Err(bad_request("general cannot be renamed or archived"));
        }
        let change = RoomChange { archived: Some(true), ..RoomChange::default() };
        self.apply_change(id, &change, Some(admin.user().id)).await?;
        self.store.admin_room(id).await.map_err(internal)?.ok_or(ApiError::NotFound)
    }

    /// Removes a member from any room but `general` and DMs (audited).
    pub async fn remove_member_as_admin(&self, admin: &Admin, id: i64, username: &str) -> Result<(), ApiError> {
        self.remove_member(admin.user(), id, username).await
    }
}

/// `general` is everyone's and a DM is two people's: neither loses a member.
fn refuse_for_general_and_dms(room: &RoomRecord, verb: &str) -> Result<(), ApiError> {
    if room.id == GENERAL_ROOM_ID {
        return Err(bad_request(&format!("general cannot be {verb}")));
    }
    if room.kind == RoomKind::Dm {
        return Err(bad_request(&format!("a direct message cannot be {verb}")));
    }
    Ok(())
}
