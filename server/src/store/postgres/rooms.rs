//! Conversation queries: rooms (public, private, DMs), their members and read markers, one-way
//! ignores, and the admin's view of every room. Each change is one statement or one
//! transaction; the use cases in `services::conversations` decide who may make it. A change
//! bounded by a cap locks the user's row before counting, so simultaneous requests (on any
//! server) are counted one after the other.

use super::feed::record;
use super::rows::{admin_room_from_row, invitation_from_row, member_from_row, record_from_row, room_from_row};
use super::{store_error, PgStore};
use crate::store::{now_rfc3339, Change, Created, IgnoreAdded, Invited, Joined, RoomChange, RoomRecord, StoreError};
use app::models::{AdminRoom, Invitation, Member, Room, RoomKind};
use app::protocol::{GENERAL_ROOM_ID, UNREAD_MAX};
use sqlx::postgres::PgConnection;
use sqlx::Row;

const ROOM_COLUMNS: &str =
    "r.id, r.kind, r.name, r.topic, r.owner_id, r.dm_low, r.dm_high, r.archived, r.archived_by_admin";

/// A room as one viewer (`$1`) sees it: counts, read marker, the DM's other person. `order` may
/// name the output columns (`last_message_id`).
fn viewer_select(filter: &str, order: &str) -> String {
    format!(
        "SELECT * FROM (SELECT r.id, r.kind, r.name, r.topic, r.archived, o.username AS owner, \
           (SELECT COUNT(*) FROM room_members c WHERE c.room_id = r.id) AS member_count, \
           (SELECT MAX(m.id) FROM messages m WHERE m.room_id = r.id) AS last_message_id, \
           me.user_id IS NOT NULL AS joined, COALESCE(me.last_read_id, 0) AS last_read_id, \
           (SELECT p.username FROM users p \
             WHERE p.id = CASE WHEN r.dm_low = $1 THEN r.dm_high ELSE r.dm_low END) AS peer, \
           CASE WHEN me.user_id IS NULL THEN 0 ELSE \
             (SELECT COUNT(*) FROM (SELECT 1 FROM messages m \
               WHERE m.room_id = r.id AND m.id > me.last_read_id AND m.sender_id != $1 \
                 AND m.sender_id NOT IN (SELECT ignored_id FROM ignores WHERE user_id = $1) \
               LIMIT {UNREAD_MAX}) AS unread) END AS unread, \
           CASE WHEN me.user_id IS NULL THEN 0 ELSE \
             (SELECT COUNT(*) FROM (SELECT 1 FROM message_mentions mm JOIN messages m ON m.id = mm.message_id \
               WHERE mm.user_id = $1 AND mm.room_id = r.id AND mm.message_id > me.last_read_id \
                 AND NOT m.deleted AND NOT m.removed \
                 AND m.sender_id NOT IN (SELECT ignored_id FROM ignores WHERE user_id = $1) \
               LIMIT {UNREAD_MAX}) AS mentioned) END AS mention_count \
         FROM rooms r LEFT JOIN users o ON o.id = r.owner_id \
           LEFT JOIN room_members me ON me.room_id = r.id AND me.user_id = $1 \
         WHERE {filter}) AS v {order}"
    )
}

/// Locks `user`'s row until the transaction ends, so a count of the user's conversations or
/// ignores stays true until the insert it allows. `NO KEY UPDATE`: it does not wait for (or
/// hold up) message batches, whose foreign keys take only `KEY SHARE` on the row.
async fn lock_user(tx: &mut PgConnection, user: i64) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE").bind(user).execute(tx).await?;
    Ok(())
}

/// Adds `user` to `room` with its read marker at the room's newest message (what was said before
/// is history, not unread), and records it in the feed: unless a member already, in
/// `max_conversations` already, or removed by an admin. Locks the user's row first, so the count
/// stays true until the insert.
async fn join(tx: &mut PgConnection, room: i64, user: i64, max_conversations: i64) -> Result<Joined, sqlx::Error> {
    lock_user(&mut *tx, user).await?;
    let row = sqlx::query(
        "SELECT EXISTS (SELECT 1 FROM room_members WHERE room_id = $1 AND user_id = $2) AS member, \
                (SELECT COUNT(*) FROM room_members WHERE user_id = $2) AS count, \
                EXISTS (SELECT 1 FROM room_bans WHERE room_id = $1 AND user_id = $2) AS banned",
    )
    .bind(room)
    .bind(user)
    .fetch_one(&mut *tx)
    .await?;
    if row.try_get::<bool, _>("member")? {
        return Ok(Joined::Already);
    }
    if row.try_get::<bool, _>("banned")? {
        return Ok(Joined::Banned);
    }
    if row.try_get::<i64, _>("count")? >= max_conversations {
        return Ok(Joined::Full);
    }
    sqlx::query(
        "INSERT INTO room_members (room_id, user_id, last_read_id, joined_at) \
         VALUES ($1, $2, COALESCE((SELECT MAX(id) FROM messages WHERE room_id = $1), 0), $3)",
    )
    .bind(room)
    .bind(user)
    .bind(now_rfc3339())
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM room_invitations WHERE room_id = $1 AND user_id = $2")
        .bind(room)
        .bind(user)
        .execute(&mut *tx)
        .await?;
    Ok(Joined::Added { seq: record(tx, Change::Joined { room, user }).await? })
}

impl PgStore {
    /// A room by id.
    pub async fn room(&self, id: i64) -> Result<Option<RoomRecord>, StoreError> {
        let sql = format!("SELECT {ROOM_COLUMNS} FROM rooms r WHERE r.id = $1");
        let row = sqlx::query(&sql).bind(id).fetch_optional(self.pool()).await?;
        row.map(|row| record_from_row(&row)).transpose().map_err(Into::into)
    }

    /// The conversations (other than `general`) `user` is in, each with its members' ids.
    pub async fn conversations_of(&self, user: i64) -> Result<Vec<(RoomRecord, Vec<i64>)>, StoreError> {
        let sql = format!(
            "SELECT {ROOM_COLUMNS} FROM rooms r JOIN room_members me ON me.room_id = r.id \
             WHERE me.user_id = $1 AND r.id != $2 ORDER BY r.id"
        );
        let rows = sqlx::query(&sql).bind(user).bind(GENERAL_ROOM_ID).fetch_all(self.pool()).await?;
        let rooms: Vec<RoomRecord> = rows.iter().map(record_from_row).collect::<Result<_, _>>()?;
        let pairs: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT m.room_id, m.user_id FROM room_members m \
             WHERE m.room_id IN (SELECT room_id FROM room_members WHERE user_id = $1) AND m.room_id != $2 \
             ORDER BY m.room_id",
        )
        .bind(user)
        .bind(GENERAL_ROOM_ID)
        .fetch_all(self.pool())
        .await?;
        Ok(crate::store::with_members(rooms, pairs))
    }

    /// The ids of `room`'s members.
    pub async fn member_ids(&self, room: i64) -> Result<Vec<i64>, StoreError> {
        Ok(sqlx::query_scalar("SELECT user_id FROM room_members WHERE room_id = $1")
            .bind(room)
            .fetch_all(self.pool())
            .await?)
    }

    /// The ids of the people `user` ignores.
    pub async fn ignored_ids(&self, user: i64) -> Result<Vec<i64>, StoreError> {
        Ok(sqlx::query_scalar("SELECT ignored_id FROM ignores WHERE user_id = $1")
            .bind(user)
            .fetch_all(self.pool())
            .await?)
    }

    /// Room `id` as `viewer` sees it (whether or not a member).
    pub async fn room_for(&self, id: i64, viewer: i64) -> Result<Option<Room>, StoreError> {
        let sql = viewer_select("r.id = $2", "");
        let row = sqlx::query(&sql).bind(viewer).bind(id).fetch_optional(self.pool()).await?;
        row.map(|row| room_from_row(&row)).transpose().map_err(Into::into)
    }

    /// The conversations `viewer` is in: `general` first, then the most recently active.
    pub async fn rooms_of(&self, viewer: i64) -> Result<Vec<Room>, StoreError> {
        let sql = viewer_select(
            "me.user_id IS NOT NULL",
            "ORDER BY v.id = 1 DESC, v.last_message_id IS NULL, v.last_message_id DESC, v.id DESC",
        );
        let rows = sqlx::query(&sql).bind(viewer).fetch_all(self.pool()).await?;
        rows.iter().map(room_from_row).collect::<Result<_, _>>().map_err(Into::into)
    }

    /// A page of the public rooms that are not archived, by id, as `viewer` sees them.
    pub async fn public_rooms(&self, viewer: i64, after: i64, limit: i64) -> Result<Vec<Room>, StoreError> {
        let sql = viewer_select("r.kind = 'public' AND NOT r.archived AND r.id > $2", "ORDER BY v.id LIMIT $3");
        let rows = sqlx::query(&sql).bind(viewer).bind(after).bind(limit).fetch_all(self.pool()).await?;
        rows.iter().map(room_from_row).collect::<Result<_, _>>().map_err(Into::into)
    }

    /// Creates a public or private room with its owner as first member, unless the owner is in
    /// `max_conversations` already or has created `max_owned` rooms (whether still in them or not).
    /// The owner's row is locked first, so simultaneous requests are counted one after the other.
    pub async fn create_room(
        &self,
        owner: i64,
        kind: RoomKind,
        name: &str,
        topic: &str,
        max_conversations: i64,
        max_owned: i64,
    ) -> Result<Created, StoreError> {
        let mut tx = self.pool().begin().await?;
        lock_user(&mut tx, owner).await?;
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM room_members WHERE user_id = $1) AS conversations, \
                    (SELECT COUNT(*) FROM rooms WHERE owner_id = $1) AS owned",
        )
        .bind(owner)
        .fetch_one(&mut *tx)
        .await?;
        if row.try_get::<i64, _>("conversations")? >= max_conversations {
            return Ok(Created::TooManyConversations);
        }
        if row.try_get::<i64, _>("owned")? >= max_owned {
            return Ok(Created::TooManyOwned);
        }
        let now = now_rfc3339();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO rooms (kind, name, topic, owner_id, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(kind.as_str())
        .bind(name)
        .bind(topic)
        .bind(owner)
        .bind(&now)
        .fetch_one(&mut *tx)
        .await
        .map_err(store_error)?;
        sqlx::query("INSERT INTO room_members (room_id, user_id, last_read_id, joined_at) VALUES ($1, $2, 0, $3)")
            .bind(id)
            .bind(owner)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        let seq = record(&mut tx, Change::Created { room: id, owner }).await?;
        tx.commit().await?;
        Ok(Created::Room { id, seq })
    }

    /// The DM of two people, created (with both as members) if they have none. Returns its id
    /// and, when it was created now, its feed entry. Two simultaneous first opens: the second
    /// INSERT waits for the first to commit and then does nothing, and the SELECT after it sees
    /// the first's room.
    pub async fn dm_between(&self, a: i64, b: i64) -> Result<(i64, Option<i64>), StoreError> {
        let (low, high) = if a < b { (a, b) } else { (b, a) };
        let mut tx = self.pool().begin().await?;
        let now = now_rfc3339();
        let created: Option<i64> = sqlx::query_scalar(
            "INSERT INTO rooms (kind, dm_low, dm_high, created_at) VALUES ('dm', $1, $2, $3) \
             ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(low)
        .bind(high)
        .bind(&now)
        .fetch_optional(&mut *tx)
        .await?;
        let (id, seq) = match created {
            Some(id) => {
                sqlx::query(
                    "INSERT INTO room_members (room_id, user_id, last_read_id, joined_at) \
                     VALUES ($1, $2, 0, $4), ($1, $3, 0, $4)",
                )
                .bind(id)
                .bind(low)
                .bind(high)
                .bind(&now)
                .execute(&mut *tx)
                .await?;
                (id, Some(record(&mut tx, Change::Dm { room: id, low, high }).await?))
            }
            None => {
                let id = sqlx::query_scalar("SELECT id FROM rooms WHERE kind = 'dm' AND dm_low = $1 AND dm_high = $2")
                    .bind(low)
                    .bind(high)
                    .fetch_one(&mut *tx)
                    .await?;
                (id, None)
            }
        };
        tx.commit().await?;
        Ok((id, seq))
    }

    /// Adds `user` to `room` (see [`join`]).
    pub async fn add_member(&self, room: i64, user: i64, max_conversations: i64) -> Result<Joined, StoreError> {
        let mut tx = self.pool().begin().await?;
        let joined = join(&mut tx, room, user, max_conversations).await?;
        tx.commit().await?;
        Ok(joined)
    }

    /// Takes `user` out of `room` (`removed`: by someone else); `None` when not a member. With
    /// `admin`, the removal is audited and sticks (a ban) until an admin lifts it. (A trigger
    /// takes the `messages` counter's lock: no message of the user in that room commits after
    /// this.)
    pub async fn remove_member(
        &self,
        room: i64,
        user: i64,
        removed: bool,
        admin: Option<i64>,
    ) -> Result<Option<i64>, StoreError> {
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query("DELETE FROM room_members WHERE room_id = $1 AND user_id = $2")
            .bind(room)
            .bind(user)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        if let Some(admin) = admin {
            audit(&mut tx, admin, "remove_member", Some(user), room).await?;
            sqlx::query(
                "INSERT INTO room_bans (room_id, user_id, admin_id, created_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(room)
            .bind(user)
            .bind(admin)
            .bind(now_rfc3339())
            .execute(&mut *tx)
            .await?;
        }
        let seq = record(&mut tx, Change::Left { room, user, removed }).await?;
        tx.commit().await?;
        Ok(Some(seq))
    }

    /// Whether `user` is in `room`.
    pub async fn is_member(&self, room: i64, user: i64) -> Result<bool, StoreError> {
        let member: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM room_members WHERE room_id = $1 AND user_id = $2)")
                .bind(room)
                .bind(user)
                .fetch_one(self.pool())
                .await?;
        Ok(member)
    }

    /// Members of `room` by username (case-insensitive), after `after`, at most `limit`.
    pub async fn members(&self, room: i64, after: Option<&str>, limit: i64) -> Result<Vec<Member>, StoreError> {
        let rows = sqlx::query(
            "SELECT u.username, u.id = r.owner_id AS is_owner FROM room_members rm \
             JOIN users u ON u.id = rm.user_id JOIN rooms r ON r.id = rm.room_id \
             WHERE rm.room_id = $1 AND lower(u.username) > lower($2) ORDER BY lower(u.username) LIMIT $3",
        )
        .bind(room)
        .bind(after.unwrap_or(""))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(member_from_row).collect::<Result<_, _>>().map_err(Into::into)
    }

    /// Changes a room's name, topic or archive flag; with `admin` (an admin who is not the
    /// owner), audited, and an archive sticks until an admin brings the room back. Errors with
    /// `DuplicateRoomName` when the new name is taken. (Archiving takes the `messages` counter's
    /// lock in a trigger: no message in the room commits after this.)
    pub async fn update_room(&self, room: i64, change: &RoomChange, admin: Option<i64>) -> Result<i64, StoreError> {
        let mut tx = self.pool().begin().await?;
        let by_admin = admin.and(change.archived);
        sqlx::query(
            "UPDATE rooms SET name = COALESCE($2, name), topic = COALESCE($3, topic), \
             archived = COALESCE($4, archived), \
             archived_by_admin = COALESCE($5, CASE WHEN COALESCE($4, archived) THEN archived_by_admin ELSE FALSE END) \
             WHERE id = $1",
        )
        .bind(room)
        .bind(&change.name)
        .bind(&change.topic)
        .bind(change.archived)
        .bind(by_admin)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        if let (Some(admin), Some(archived)) = (admin, change.archived) {
            audit(&mut tx, admin, if archived { "archive_room" } else { "unarchive_room" }, None, room).await?;
        }
        let seq = record(&mut tx, Change::Room { room }).await?;
        tx.commit().await?;
        Ok(seq)
    }

    /// Moves `user`'s read marker in `room` forward to `last_read_id`, never past the room's
    /// newest message and never back.
    pub async fn mark_read(&self, room: i64, user: i64, last_read_id: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE room_members SET last_read_id = GREATEST(last_read_id, \
               LEAST($3, COALESCE((SELECT MAX(id) FROM messages WHERE room_id = $1), 0))) \
             WHERE room_id = $1 AND user_id = $2",
        )
        .bind(room)
        .bind(user)
        .bind(last_read_id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Ignores `ignored` for `user` (at most `max` ignores each; the user's row is locked first,
    /// so simultaneous requests are counted one after the other).
    pub async fn add_ignore(&self, user: i64, ignored: i64, max: i64) -> Result<IgnoreAdded, StoreError> {
        let mut tx = self.pool().begin().await?;
        lock_user(&mut tx, user).await?;
        let row = sqlx::query(
            "SELECT EXISTS (SELECT 1 FROM ignores WHERE user_id = $1 AND ignored_id = $2) AS already, \
                    (SELECT COUNT(*) FROM ignores WHERE user_id = $1) AS count",
        )
        .bind(user)
        .bind(ignored)
        .fetch_one(&mut *tx)
        .await?;
        if row.try_get::<bool, _>("already")? {
            return Ok(IgnoreAdded::Already);
        }
        if row.try_get::<i64, _>("count")? >= max {
            return Ok(IgnoreAdded::Full);
        }
        sqlx::query("INSERT INTO ignores (user_id, ignored_id) VALUES ($1, $2)")
            .bind(user)
            .bind(ignored)
            .execute(&mut *tx)
            .await?;
        let seq = record(&mut tx, Change::Ignored { user, ignored, on: true }).await?;
        tx.commit().await?;
        Ok(IgnoreAdded::Added { seq })
    }

    /// Whether `user` ignores `ignored`.
    pub async fn ignores(&self, user: i64, ignored: i64) -> Result<bool, StoreError> {
        let found: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM ignores WHERE user_id = $1 AND ignored_id = $2)")
                .bind(user)
                .bind(ignored)
                .fetch_one(self.pool())
                .await?;
        Ok(found)
    }

    /// Stops ignoring; the feed entry, or `None` when `user` did not ignore `ignored`.
    pub async fn remove_ignore(&self, user: i64, ignored: i64) -> Result<Option<i64>, StoreError> {
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query("DELETE FROM ignores WHERE user_id = $1 AND ignored_id = $2")
            .bind(user)
            .bind(ignored)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        let seq = record(&mut tx, Change::Ignored { user, ignored, on: false }).await?;
        tx.commit().await?;
        Ok(Some(seq))
    }

    /// Whether an admin removed `user` from `room` and has not lifted it.
    pub async fn is_banned(&self, room: i64, user: i64) -> Result<bool, StoreError> {
        let found: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM room_bans WHERE room_id = $1 AND user_id = $2)")
                .bind(room)
                .bind(user)
                .fetch_one(self.pool())
                .await?;
        Ok(found)
    }

    /// The usernames an admin removed from `room`, by name (case-insensitive).
    pub async fn room_bans(&self, room: i64) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT u.username FROM room_bans b JOIN users u ON u.id = b.user_id WHERE b.room_id = $1 \
             ORDER BY lower(u.username)",
        )
        .bind(room)
        .fetch_all(self.pool())
        .await?)
    }

    /// Lifts an admin's removal; false when there was none.
    pub async fn lift_ban(&self, room: i64, user: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM room_bans WHERE room_id = $1 AND user_id = $2")
            .bind(room)
            .bind(user)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Invites `user` to `room` on behalf of `inviter` (at most `max_pending` invitations waiting
    /// per invitee; the invitee's row is locked first, so simultaneous invitations count in turn).
    pub async fn invite(&self, room: i64, user: i64, inviter: i64, max_pending: i64) -> Result<Invited, StoreError> {
        let mut tx = self.pool().begin().await?;
        lock_user(&mut tx, user).await?;
        let row = sqlx::query(
            "SELECT EXISTS (SELECT 1 FROM room_members WHERE room_id = $1 AND user_id = $2) AS member, \
                    EXISTS (SELECT 1 FROM room_invitations WHERE room_id = $1 AND user_id = $2) AS pending, \
                    EXISTS (SELECT 1 FROM room_bans WHERE room_id = $1 AND user_id = $2) AS banned, \
                    (SELECT COUNT(*) FROM room_invitations WHERE user_id = $2) AS count",
        )
        .bind(room)
        .bind(user)
        .fetch_one(&mut *tx)
        .await?;
        if row.try_get::<bool, _>("member")? {
            return Ok(Invited::Member);
        }
        if row.try_get::<bool, _>("pending")? {
            return Ok(Invited::Already);
        }
        if row.try_get::<bool, _>("banned")? {
            return Ok(Invited::Banned);
        }
        if row.try_get::<i64, _>("count")? >= max_pending {
            return Ok(Invited::TooMany);
        }
        sqlx::query("INSERT INTO room_invitations (room_id, user_id, inviter_id, created_at) VALUES ($1, $2, $3, $4)")
            .bind(room)
            .bind(user)
            .bind(inviter)
            .bind(now_rfc3339())
            .execute(&mut *tx)
            .await?;
        let seq = record(&mut tx, Change::Invited { room, user, inviter }).await?;
        tx.commit().await?;
        Ok(Invited::Pending { seq })
    }

    /// The invitations waiting for `user`'s answer, oldest first, each room as they see it.
    pub async fn invitations_of(&self, user: i64) -> Result<Vec<Invitation>, StoreError> {
        let sql = format!(
            "SELECT v.*, i.inviter FROM ({}) AS v JOIN (SELECT room_id, created_at, \
               (SELECT username FROM users WHERE id = inviter_id) AS inviter \
               FROM room_invitations WHERE user_id = $1) AS i ON i.room_id = v.id ORDER BY i.created_at, v.id",
            viewer_select("r.id IN (SELECT room_id FROM room_invitations WHERE user_id = $1)", "")
        );
        let rows = sqlx::query(&sql).bind(user).fetch_all(self.pool()).await?;
        rows.iter().map(invitation_from_row).collect::<Result<_, _>>().map_err(Into::into)
    }

    /// Whether an invitation to `room` waits for `user`.
    pub async fn has_invitation(&self, room: i64, user: i64) -> Result<bool, StoreError> {
        let found: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM room_invitations WHERE room_id = $1 AND user_id = $2)")
                .bind(room)
                .bind(user)
                .fetch_one(self.pool())
                .await?;
        Ok(found)
    }

    /// Accepts the invitation to `room`: `None` when none was waiting.
    pub async fn accept_invitation(
        &self,
        room: i64,
        user: i64,
        max_conversations: i64,
    ) -> Result<Option<Joined>, StoreError> {
        let mut tx = self.pool().begin().await?;
        let pending: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM room_invitations WHERE room_id = $1 AND user_id = $2 FOR UPDATE")
                .bind(room)
                .bind(user)
                .fetch_optional(&mut *tx)
                .await?;
        if pending.is_none() {
            return Ok(None);
        }
        let joined = join(&mut tx, room, user, max_conversations).await?;
        tx.commit().await?;
        Ok(Some(joined))
    }

    /// Declines the invitation to `room`; false when none was waiting.
    pub async fn decline_invitation(&self, room: i64, user: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM room_invitations WHERE room_id = $1 AND user_id = $2")
            .bind(room)
            .bind(user)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The usernames `user` ignores, by name (case-insensitive).
    pub async fn ignored_usernames(&self, user: i64) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT u.username FROM ignores i JOIN users u ON u.id = i.ignored_id WHERE i.user_id = $1 \
             ORDER BY lower(u.username)",
        )
        .bind(user)
        .fetch_all(self.pool())
        .await?)
    }

    /// A page of every room by id, for admins.
    pub async fn admin_rooms(&self, after: Option<i64>, limit: i64) -> Result<Vec<AdminRoom>, StoreError> {
        let rows = sqlx::query(&format!("{ADMIN_ROOM_SELECT} WHERE r.id > $1 ORDER BY r.id LIMIT $2"))
            .bind(after.unwrap_or(0))
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(admin_room_from_row).collect::<Result<_, _>>().map_err(Into::into)
    }

    /// One room as admins see it.
    pub async fn admin_room(&self, id: i64) -> Result<Option<AdminRoom>, StoreError> {
        let row =
            sqlx::query(&format!("{ADMIN_ROOM_SELECT} WHERE r.id = $1")).bind(id).fetch_optional(self.pool()).await?;
        row.map(|row| admin_room_from_row(&row)).transpose().map_err(Into::into)
    }
}

const ADMIN_ROOM_SELECT: &str = "SELECT r.id, r.kind, r.topic, r.archived, r.created_at, o.username AS owner, \
     COALESCE(r.name, (SELECT lo.username || ' & ' || hi.username FROM users lo, users hi \
                       WHERE lo.id = r.dm_low AND hi.id = r.dm_high)) AS name, \
     (SELECT COUNT(*) FROM room_members c WHERE c.room_id = r.id) AS member_count, \
     (SELECT COUNT(*) FROM messages m WHERE m.room_id = r.id) AS message_count \
     FROM rooms r LEFT JOIN users o ON o.id = r.owner_id";

/// Records an admin's action on a room in the audit log.
async fn audit(
    tx: &mut PgConnection,
    admin: i64,
    action: &str,
    target_user: Option<i64>,
    room: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_log (admin_id, action, target_user_id, room_id, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(admin)
    .bind(action)
    .bind(target_user)
    .bind(room)
    .bind(now_rfc3339())
    .execute(tx)
    .await?;
    Ok(())
}
