//! Conversation use cases, each rule once for every door: listing, creating, joining, leaving,
//! inviting and removing, DMs, invitations, read markers, renames and archives, ignoring, and
//! the admin's view of every room. Private rooms and DMs are 404 to anyone not in them (never a
//! hint of their existence; an invitee sees the room they are invited to); admins are members of
//! nothing by being admins, but may remove members and archive any room, and what they do
//! sticks until an admin lifts it.
//!
//! Every change and every check of a name or topic draws on the account's budget of room
//! actions (429 with `Retry-After` past it); adding or inviting someone else also draws on the
//! smaller budget of invitations. A change is made in the store, which writes it to the
//! room-change feed in the same transaction; every node (this one too) applies the feed to its
//! directory and tells its own connected users (`fanout::feed`). A use case returns once this
//! node has applied its change, so the answer and the frames agree. No lock is held meanwhile.

use super::admin::Admin;
use super::paging::Page;
use super::{internal, limited, Services};
use crate::fanout::frames;
use crate::store::{Created, IgnoreAdded, Invited, Joined, RoomChange, RoomRecord, StoreError, View};
use app::domain::{RoomName, RoomTopic, ValidationError};
use app::error::ApiError;
use app::models::{AdminRoom, ChatMessage, CreateRoom, Invitation, Member, PublicUser, Room, RoomKind, UpdateRoom};
use app::protocol::{GENERAL_ROOM_ID, MAX_CONVERSATIONS_PER_USER, MAX_IGNORES, MAX_PENDING_INVITATIONS};
use std::collections::HashSet;

/// The answer to any refusal to add someone that must not say why (they ignore you, they are in
/// too many conversations or have too many invitations waiting).
pub const CANNOT_ADD: &str = "you cannot add this person";

/// How a user stands towards a conversation they asked about.
enum Standing {
    /// A member.
    Member(RoomRecord),
    /// Not a member of a public room: may see it, read it and join it.
    Visitor(RoomRecord),
    /// Invited to a private room, not answered yet: may see it, and join (accept) it.
    Invitee(RoomRecord),
}

impl Standing {
    fn room(&self) -> &RoomRecord {
        match self {
            Standing::Member(room) | Standing::Visitor(room) | Standing::Invitee(room) => room,
        }
    }
}

/// What adding someone to a room did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Added {
    /// A member now (or already): the room as the one who added them sees it.
    Member(Room),
    /// Invited to a private room: it waits for their answer (invitations need accepting).
    Invited(Room),
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

fn banned() -> ApiError {
    forbidden("an admin removed you from this room")
}

fn name_taken(error: StoreError) -> ApiError {
    match error {
        StoreError::DuplicateRoomName => ApiError::RoomNameTaken,
        other => internal(other),
    }
}

impl Services {
    /// Takes one of `user`'s room actions: every change to a room, a membership, an invitation
    /// or an ignore (and the check of the names and topics that come with it) draws on one
    /// budget per account, on every node of a cluster.
    async fn room_action(&self, user: &PublicUser) -> Result<(), ApiError> {
        self.throttles.room_actions.check(&user.id).await.map(|_| ()).map_err(limited)
    }

    /// Takes one of `user`'s invitations: adding or inviting someone else draws on a second,
    /// smaller budget.
    async fn invitation_action(&self, user: &PublicUser) -> Result<(), ApiError> {
        self.throttles.invitations.check(&user.id).await.map(|_| ()).map_err(limited)
    }

    /// Where `user` stands in room `id`: 404 for an unknown room, or a private room or DM they
    /// are not in (nor invited to).
    async fn standing(&self, user: &PublicUser, id: i64) -> Result<Standing, ApiError> {
        let room = self.store.room(id).await.map_err(internal)?.ok_or(ApiError::NotFound)?;
        if self.store.is_member(id, user.id).await.map_err(internal)? {
            Ok(Standing::Member(room))
        } else if room.kind == RoomKind::Public {
            Ok(Standing::Visitor(room))
        } else if room.kind == RoomKind::Private && self.store.has_invitation(id, user.id).await.map_err(internal)? {
            Ok(Standing::Invitee(room))
        } else {
            Err(ApiError::NotFound)
        }
    }

    /// Where `user` stands in room `id`, an invitee counting as a stranger (404).
    async fn standing_in(&self, user: &PublicUser, id: i64) -> Result<Standing, ApiError> {
        match self.standing(user, id).await? {
            Standing::Invitee(_) => Err(ApiError::NotFound),
            standing => Ok(standing),
        }
    }

    /// Whether `user` may read room `id` (a member, or anyone for a public room): `NotFound`
    /// otherwise, as for every route.
    pub(super) async fn may_read(&self, user: &PublicUser, id: i64) -> Result<(), ApiError> {
        self.standing_in(user, id).await.map(|_| ())
    }

    /// Room `id` as `user` sees it.
    async fn room_seen_by(&self, id: i64, user: i64) -> Result<Room, ApiError> {
        self.store.room_for(id, user).await.map_err(internal)?.ok_or(ApiError::NotFound)
    }

    /// A name or topic the word filter refuses: 422, and no strike (it is not a message; the
    /// room-action budget keeps it from being a free oracle for the filter).
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

    // ---- listing ----------------------------------------------------------------------------

    /// `user`'s conversations: `general` first, then the most recently active.
    pub async fn my_rooms(&self, user: &PublicUser) -> Result<Vec<Room>, ApiError> {
        self.store.rooms_of(user.id).await.map_err(internal)
    }

    /// A page of the public rooms that are not archived, in id order.
    pub async fn public_rooms(&self, user: &PublicUser, page: Page) -> Result<Vec<Room>, ApiError> {
        self.store.public_rooms(user.id, page.after.unwrap_or(0), page.limit).await.map_err(internal)
    }

    /// One conversation, if `user` may see it (an invitee sees the room they are invited to).
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
        self.standing_in(user, id).await?;
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
        self.standing_in(user, id).await?;
        self.page_of(View::room(id, user.id), page).await
    }

    /// The invitations waiting for `user`'s answer.
    pub async fn invitations(&self, user: &PublicUser) -> Result<Vec<Invitation>, ApiError> {
        self.store.invitations_of(user.id).await.map_err(internal)
    }

    // ---- changing -------------------------------------------------------------------------

    /// Creates a public or private room owned by `user`, its first member.
    pub async fn create_room(&self, user: &PublicUser, request: CreateRoom) -> Result<Room, ApiError> {
        self.room_action(user).await?;
        if request.kind == RoomKind::Dm {
            return Err(ApiError::InvalidInput { message: "kind must be \"public\" or \"private\"".into() });
        }
        let name = RoomName::parse(&request.name)?;
        let topic = RoomTopic::parse(request.topic.as_deref().unwrap_or(""))?;
        self.allowed(name.as_str())?;
        self.allowed(topic.as_str())?;
        let max_owned = i64::from(self.config.max_rooms_per_account);
        let created = self
            .store
            .create_room(user.id, request.kind, name.as_str(), topic.as_str(), MAX_CONVERSATIONS_PER_USER, max_owned)
            .await
            .map_err(name_taken)?;
        let id = match created {
            Created::Room { id, seq } => {
                self.hub.changed(seq).await;
                id
            }
            Created::TooManyConversations => return Err(too_many("you are")),
            Created::TooManyOwned => {
                return Err(ApiError::Forbidden {
                    message: format!("you have created as many rooms as you may (at most {max_owned})"),
                })
            }
        };
        tracing::info!(room_id = id, kind = request.kind.as_str(), "room created");
        self.room_seen_by(id, user.id).await
    }

    /// Joins a public room, or accepts the invitation to a private one (a member already: no
    /// change).
    pub async fn join(&self, user: &PublicUser, id: i64) -> Result<Room, ApiError> {
        self.room_action(user).await?;
        let joined = match self.standing(user, id).await? {
            Standing::Member(_) => Ok(Joined::Already),
            Standing::Visitor(room) | Standing::Invitee(room) if room.archived => {
                return Err(bad_request("this room is archived"))
            }
            Standing::Visitor(_) => self.store.add_member(id, user.id, MAX_CONVERSATIONS_PER_USER).await,
            Standing::Invitee(_) => self
                .store
                .accept_invitation(id, user.id, MAX_CONVERSATIONS_PER_USER)
                .await
                .map(|joined| joined.unwrap_or(Joined::Already)),
        }
        .map_err(internal)?;
        self.joined(joined, "you are").await?;
        self.room_seen_by(id, user.id).await
    }

    /// What a membership change means for its caller: applied here, or refused.
    async fn joined(&self, joined: Joined, who: &str) -> Result<(), ApiError> {
        match joined {
            Joined::Added { seq } => {
                self.hub.changed(seq).await;
                Ok(())
            }
            Joined::Already => Ok(()),
            Joined::Full => Err(too_many(who)),
            Joined::Banned => Err(banned()),
        }
    }

    /// Leaves a room (`general` and DMs cannot be left). Anyone may leave a room they were
    /// added to; an owner who leaves stays its owner.
    pub async fn leave(&self, user: &PublicUser, id: i64) -> Result<(), ApiError> {
        self.room_action(user).await?;
        let standing = self.standing_in(user, id).await?;
        refuse_for_general_and_dms(standing.room(), "left")?;
        if let Standing::Visitor(_) = standing {
            return Err(bad_request("you are not in this room"));
        }
        if let Some(seq) = self.store.remove_member(id, user.id, false, None).await.map_err(internal)? {
            self.hub.changed(seq).await;
        }
        Ok(())
    }

    /// Adds `username` to a room `user` is in (any member may), or, for a private room when
    /// invitations need accepting, invites them. Someone who ignores `user` cannot be added by
    /// them: the same 403 as any refusal that must not say why.
    pub async fn invite(&self, user: &PublicUser, id: i64, username: &str) -> Result<Added, ApiError> {
        self.room_action(user).await?;
        let standing = self.standing_in(user, id).await?;
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
        if invitee.id != user.id {
            self.invitation_action(user).await?;
            if self.store.ignores(invitee.id, user.id).await.map_err(internal)? {
                return Err(forbidden(CANNOT_ADD));
            }
        }
        if room.kind == RoomKind::Private && self.config.invitations_need_accept && invitee.id != user.id {
            return match self.store.invite(id, invitee.id, user.id, MAX_PENDING_INVITATIONS).await.map_err(internal)? {
                Invited::Pending { seq } => {
                    self.hub.changed(seq).await;
                    Ok(Added::Invited(self.room_seen_by(id, user.id).await?))
                }
                Invited::Already => Ok(Added::Invited(self.room_seen_by(id, user.id).await?)),
                Invited::Member => Ok(Added::Member(self.room_seen_by(id, user.id).await?)),
                Invited::Banned => Err(forbidden("an admin removed this person from this room")),
                Invited::TooMany => Err(forbidden(CANNOT_ADD)),
            };
        }
        match self.store.add_member(id, invitee.id, MAX_CONVERSATIONS_PER_USER).await.map_err(internal)? {
            Joined::Full => return Err(forbidden(CANNOT_ADD)),
            Joined::Banned => return Err(forbidden("an admin removed this person from this room")),
            joined => self.joined(joined, "they are").await?,
        }
        Ok(Added::Member(self.room_seen_by(id, user.id).await?))
    }

    /// Declines the invitation to room `id` (404 when none waits).
    pub async fn decline(&self, user: &PublicUser, id: i64) -> Result<(), ApiError> {
        self.room_action(user).await?;
        if self.store.decline_invitation(id, user.id).await.map_err(internal)? {
            Ok(())
        } else {
            Err(ApiError::NotFound)
        }
    }

    /// Removes `username` from a room: the owner (a member), an admin, or the member themself.
    /// An admin's removal of someone else sticks until an admin lifts it.
    pub async fn remove_member(&self, user: &PublicUser, id: i64, username: &str) -> Result<(), ApiError> {
        self.room_action(user).await?;
        let (room, is_member) = match self.standing_in(user, id).await {
            Ok(Standing::Member(room)) => (room, true),
            Ok(standing) => (standing.room().clone(), false),
            // An admin may remove members of rooms they are not in.
            Err(ApiError::NotFound) if user.is_admin => {
                (self.store.room(id).await.map_err(internal)?.ok_or(ApiError::NotFound)?, false)
            }
            Err(error) => return Err(error),
        };
        refuse_for_general_and_dms(&room, "left")?;
        let target =
            self.store.user_by_username(username.trim()).await.map_err(internal)?.ok_or(ApiError::UnknownUser)?;
        let target = target.public;
        let is_owner = room.owner_id == Some(user.id) && is_member;
        if target.id != user.id && !is_owner && !user.is_admin {
            return Err(forbidden("only the room's owner or an admin can remove someone else"));
        }
        let audited = (user.is_admin && target.id != user.id && !is_owner).then_some(user.id);
        let removed = target.id != user.id;
        match self.store.remove_member(id, target.id, removed, audited).await.map_err(internal)? {
            Some(seq) => {
                self.hub.changed(seq).await;
                Ok(())
            }
            None => Err(ApiError::UnknownUser),
        }
    }

    /// The DM of `user` and `username`: the same conversation every time, created on first use.
    pub async fn open_dm(&self, user: &PublicUser, username: &str) -> Result<Room, ApiError> {
        self.room_action(user).await?;
        let peer = self.reachable_user(username).await?;
        if peer.id == user.id {
            return Err(bad_request("you cannot message yourself"));
        }
        if self.store.ignores(peer.id, user.id).await.map_err(internal)? {
            return Err(forbidden(frames::NOT_ACCEPTING));
        }
        let (id, created) = self.store.dm_between(user.id, peer.id).await.map_err(internal)?;
        if let Some(seq) = created {
            self.hub.changed(seq).await;
        }
        self.room_seen_by(id, user.id).await
    }

    /// Renames a room, sets its topic, or archives it (or brings it back). Members only, but
    /// for an admin's archive; a body that asks for no change is a 400.
    pub async fn update_room(&self, user: &PublicUser, id: i64, request: UpdateRoom) -> Result<Room, ApiError> {
        self.room_action(user).await?;
        if request.name.is_none() && request.topic.is_none() && request.archived.is_none() {
            return Err(bad_request("nothing to change: give name, topic or archived"));
        }
        let admin_archive = user.is_admin && request.name.is_none() && request.topic.is_none();
        let room = match self.standing_in(user, id).await {
            Ok(Standing::Member(room)) => room,
            Ok(Standing::Visitor(room)) if admin_archive => room,
            Ok(_) => return Err(forbidden("join the room before changing it")),
            Err(ApiError::NotFound) if admin_archive => {
                self.store.room(id).await.map_err(internal)?.ok_or(ApiError::NotFound)?
            }
            Err(error) => return Err(error),
        };
        let change = self.checked_change(user, &room, request)?;
        let audited = (change.archived.is_some() && user.is_admin && room.owner_id != Some(user.id)).then_some(user.id);
        let seq = self.store.update_room(id, &change, audited).await.map_err(name_taken)?;
        self.hub.changed(seq).await;
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
        if request.archived == Some(false) && room.archived_by_admin && !user.is_admin {
            return Err(forbidden("an admin archived this room: only an admin can bring it back"));
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

    /// Moves `user`'s read marker in a room forward.
    pub async fn mark_read(&self, user: &PublicUser, id: i64, last_read_id: i64) -> Result<(), ApiError> {
        if last_read_id < 0 {
            return Err(ApiError::InvalidInput { message: "last_read_id must be 0 or more".into() });
        }
        if let Standing::Visitor(_) = self.standing_in(user, id).await? {
            return Err(bad_request("you are not in this room"));
        }
        self.store.mark_read(id, user.id, last_read_id).await.map_err(internal)
    }

    // ---- ignoring ---------------------------------------------------------------------------

    pub async fn ignored(&self, user: &PublicUser) -> Result<Vec<String>, ApiError> {
        self.store.ignored_usernames(user.id).await.map_err(internal)
    }

    /// `user` stops seeing `username`'s messages; `username` can no longer open or write to a
    /// DM with them, nor add them to a room.
    pub async fn ignore(&self, user: &PublicUser, username: &str) -> Result<(), ApiError> {
        self.room_action(user).await?;
        let other =
            self.store.user_by_username(username.trim()).await.map_err(internal)?.ok_or(ApiError::UnknownUser)?;
        if other.public.id == user.id {
            return Err(bad_request("you cannot ignore yourself"));
        }
        match self.store.add_ignore(user.id, other.public.id, MAX_IGNORES).await.map_err(internal)? {
            IgnoreAdded::Added { seq } => self.hub.changed(seq).await,
            IgnoreAdded::Already => {}
            IgnoreAdded::Full => {
                return Err(ApiError::Forbidden {
                    message: format!("you ignore too many people (at most {MAX_IGNORES})"),
                })
            }
        }
        Ok(())
    }

    pub async fn unignore(&self, user: &PublicUser, username: &str) -> Result<(), ApiError> {
        self.room_action(user).await?;
        let other =
            self.store.user_by_username(username.trim()).await.map_err(internal)?.ok_or(ApiError::UnknownUser)?;
        if let Some(seq) = self.store.remove_ignore(user.id, other.public.id).await.map_err(internal)? {
            self.hub.changed(seq).await;
        }
        Ok(())
    }

    // ---- admin ------------------------------------------------------------------------------

    /// Every room, by id.
    pub async fn rooms_page(&self, _admin: &Admin, page: Page) -> Result<Vec<AdminRoom>, ApiError> {
        self.store.admin_rooms(page.after, page.limit).await.map_err(internal)
    }

    /// Archives any room but `general` (audited); it stays archived until an admin brings it
    /// back.
    pub async fn archive_room(&self, admin: &Admin, id: i64) -> Result<AdminRoom, ApiError> {
        self.set_archived(admin, id, true).await
    }

    /// Brings back a room an admin (or its owner) archived (audited).
    pub async fn unarchive_room(&self, admin: &Admin, id: i64) -> Result<AdminRoom, ApiError> {
        self.set_archived(admin, id, false).await
    }

    async fn set_archived(&self, admin: &Admin, id: i64, archived: bool) -> Result<AdminRoom, ApiError> {
        let room = self.store.room(id).await.map_err(internal)?.ok_or(ApiError::NotFound)?;
        if room.id == GENERAL_ROOM_ID {
            return Err(bad_request("general cannot be renamed or archived"));
        }
        let change = RoomChange { archived: Some(archived), ..RoomChange::default() };
        let seq = self.store.update_room(id, &change, Some(admin.user().id)).await.map_err(internal)?;
        self.hub.changed(seq).await;
        self.store.admin_room(id).await.map_err(internal)?.ok_or(ApiError::NotFound)
    }

    /// Removes a member from any room but `general` and DMs (audited); they stay out until an
    /// admin lifts it.
    pub async fn remove_member_as_admin(&self, admin: &Admin, id: i64, username: &str) -> Result<(), ApiError> {
        self.remove_member(admin.user(), id, username).await
    }

    /// The usernames an admin removed from room `id` (and did not let back).
    pub async fn room_bans(&self, _admin: &Admin, id: i64) -> Result<Vec<String>, ApiError> {
        self.store.room(id).await.map_err(internal)?.ok_or(ApiError::NotFound)?;
        self.store.room_bans(id).await.map_err(internal)
    }

    /// Lets someone an admin removed from room `id` join or be added again (404 when they were
    /// not removed by an admin).
    pub async fn lift_room_ban(&self, _admin: &Admin, id: i64, username: &str) -> Result<(), ApiError> {
        let target =
            self.store.user_by_username(username.trim()).await.map_err(internal)?.ok_or(ApiError::UnknownUser)?;
        if self.store.lift_ban(id, target.public.id).await.map_err(internal)? {
            Ok(())
        } else {
            Err(ApiError::NotFound)
        }
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
