//! Conversation queries: rooms (public, private, DMs), their members and read markers, one-way
//! ignores, and the admin's view of every room. Each change is one statement or one
//! transaction on the single writer; the use cases in `services::conversations` decide who may
//! make it.

use super::rows::{admin_room_from_row, member_from_row, record_from_row, room_from_row};
use super::SqliteStore;
use crate::store::{now_rfc3339, Joined, RoomChange, RoomRecord, StoreError};
use app::models::{AdminRoom, Member, Room, RoomKind};
use app::protocol::{GENERAL_ROOM_ID, UNREAD_MAX};
use sqlx::Row;

const ROOM_COLUMNS: &str = "r.id, r.kind, r.name, r.topic, r.owner_id, r.dm_low, r.dm_high, r.archived";

/// A room as one viewer (`?1`) sees it: counts, read marker, the DM's other person.
fn viewer_select(filter: &str, order: &str) -> String {
    format!(
        "SELECT r.id, r.kind, r.name, r.topic, r.archived, o.username AS owner, \
           (SELECT COUNT(*) FROM room_members c WHERE c.room_id = r.id) AS member_count, \
           (SELECT MAX(m.id) FROM messages m WHERE m.room_id = r.id) AS last_message_id, \
           me.user_id IS NOT NULL AS joined, COALESCE(me.last_read_id, 0) AS last_read_id, \
           (SELECT p.username FROM users p \
             WHERE p.id = CASE WHEN r.dm_low = ?1 THEN r.dm_high ELSE r.dm_low END) AS peer, \
           CASE WHEN me.user_id IS NULL THEN 0 ELSE \
             (SELECT COUNT(*) FROM (SELECT 1 FROM messages m \
               WHERE m.room_id = r.id AND m.id > me.last_read_id AND m.sender_id != ?1 \
                 AND m.sender_id NOT IN (SELECT ignored_id FROM ignores WHERE user_id = ?1) \
               LIMIT {UNREAD_MAX})) END AS unread \
         FROM rooms r LEFT JOIN users o ON o.id = r.owner_id \
           LEFT JOIN room_members me ON me.room_id = r.id AND me.user_id = ?1 \
         WHERE {filter} {order}"
    )
}

impl SqliteStore {
    /// A room by id.
    pub async fn room(&self, id: i64) -> Result<Option<RoomRecord>, StoreError> {
        let sql = format!("SELECT {ROOM_COLUMNS} FROM rooms r WHERE r.id = ?1");
        let row = sqlx::query(&sql).bind(id).fetch_optional(self.reader()).await?;
        row.map(|row| record_from_row(&row)).transpose().map_err(Into::into)
    }

    /// Every room (the fan-out's directory is loaded from this at start).
    pub async fn all_rooms(&self) -> Result<Vec<RoomRecord>, StoreError> {
        let sql = format!("SELECT {ROOM_COLUMNS} FROM rooms r ORDER BY r.id");
        let rows = sqlx::query(&sql).fetch_all(self.reader()).await?;
        rows.iter().map(record_from_row).collect::<Result<_, _>>().map_err(Into::into)
    }

    /// Every membership but `general`'s (everyone is in it): `(room, user)`.
    pub async fn all_memberships(&self) -> Result<Vec<(i64, i64)>, StoreError> {
        let rows: Vec<(i64, i64)> = sqlx::query_as("SELECT room_id, user_id FROM room_members WHERE room_id != ?1")
            .bind(GENERAL_ROOM_ID)
            .fetch_all(self.reader())
            .await?;
        Ok(rows)
    }

    /// Every ignore: `(user, ignored)`.
    pub async fn all_ignores(&self) -> Result<Vec<(i64, i64)>, StoreError> {
        Ok(sqlx::query_as("SELECT user_id, ignored_id FROM ignores").fetch_all(self.reader()).await?)
    }

    /// Room `id` as `viewer` sees it (whether or not a member).
    pub async fn room_for(&self, id: i64, viewer: i64) -> Result<Option<Room>, StoreError> {
        let sql = viewer_select("r.id = ?2", "");
        let row = sqlx::query(&sql).bind(viewer).bind(id).fetch_optional(self.reader()).await?;
        row.map(|row| room_from_row(&row)).transpose().map_err(Into::into)
    }

    /// The conversations `viewer` is in: `general` first, then the most recently active.
    pub async fn rooms_of(&self, viewer: i64) -> Result<Vec<Room>, StoreError> {
        let sql = viewer_select(
            "me.user_id IS NOT NULL",
            "ORDER BY r.id = 1 DESC, last_message_id IS NULL, last_message_id DESC, r.id DESC",
        );
        let rows = sqlx::query(&sql).bind(viewer).fetch_all(self.reader()).await?;
        rows.iter().map(room_from_row).collect::<Result<_, _>>().map_err(Into::into)
    }

    /// Every public room that is not archived, by name, as `viewer` sees it.
    pub async fn public_rooms(&self, viewer: i64) -> Result<Vec<Room>, StoreError> {
        let sql = viewer_select("r.kind = 'public' AND r.archived = 0", "ORDER BY r.name");
        let rows = sqlx::query(&sql).bind(viewer).fetch_all(self.reader()).await?;
        rows.iter().map(room_from_row).collect::<Result<_, _>>().map_err(Into::into)
    }

    /// Creates a public or private room with its owner as first member (if the owner is in
    /// fewer than `max_conversations`). `None` when the owner is in too many already.
    pub async fn create_room(
        &self,
        owner: i64,
        kind: RoomKind,
        name: &str,
        topic: &str,
        max_conversations: i64,
    ) -> Result<Option<i64>, StoreError> {
        let mut tx = self.writer().begin().await?;
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM room_members WHERE user_id = ?1")
            .bind(owner)
            .fetch_one(&mut *tx)
            .await?;
        if count >= max_conversations {
            return Ok(None);
        }
        let now = now_rfc3339();
        let inserted = sqlx::query_scalar(
            "INSERT INTO rooms (kind, name, topic, owner_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
        )
        .bind(kind.as_str())
        .bind(name)
        .bind(topic)
        .bind(owner)
        .bind(&now)
        .fetch_one(&mut *tx)
        .await;
        // Rooms have one unique constraint a new public or private room can break: its name.
        let id: i64 = match inserted {
            Ok(id) => id,
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => return Err(StoreError::DuplicateRoomName),
            Err(error) => return Err(error.into()),
        };
        sqlx::query("INSERT INTO room_members (room_id, user_id, last_read_id, joined_at) VALUES (?1, ?2, 0, ?3)")
            .bind(id)
            .bind(owner)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(id))
    }

    /// The DM of two people, created (with both as members) if they have none. Returns its id
    /// and whether it was created now.
    pub async fn dm_between(&self, a: i64, b: i64) -> Result<(i64, bool), StoreError> {
        let (low, high) = if a < b { (a, b) } else { (b, a) };
        let mut tx = self.writer().begin().await?;
        let now = now_rfc3339();
        let created: Option<i64> = sqlx::query_scalar(
            "INSERT INTO rooms (kind, dm_low, dm_high, created_at) VALUES ('dm', ?1, ?2, ?3) \
             ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(low)
        .bind(high)
        .bind(&now)
        .fetch_optional(&mut *tx)
        .await?;
        let id = match created {
            Some(id) => {
                for user in [low, high] {
                    sqlx::query(
                        "INSERT INTO room_members (room_id, user_id, last_read_id, joined_at) VALUES (?1, ?2, 0, ?3)",
                    )
                    .bind(id)
                    .bind(user)
                    .bind(&now)
                    .execute(&mut *tx)
                    .await?;
                }
                id
            }
            None => {
                sqlx::query_scalar("SELECT id FROM rooms WHERE kind = 'dm' AND dm_low = ?1 AND dm_high = ?2")
                    .bind(low)
                    .bind(high)
                    .fetch_one(&mut *tx)
                    .await?
            }
        };
        tx.commit().await?;
        Ok((id, created.is_some()))
    }

    /// Adds `user` to `room`, its read marker at the room's newest message (what was said
    /// before is history, not unread), unless the user is in `max_conversations` already.
    pub async fn add_member(&self, room: i64, user: i64, max_conversations: i64) -> Result<Joined, StoreError> {
        let mut tx = self.writer().begin().await?;
        let row = sqlx::query(
            "SELECT EXISTS (SELECT 1 FROM room_members WHERE room_id = ?1 AND user_id = ?2) AS member, \
                    (SELECT COUNT(*) FROM room_members WHERE user_id = ?2) AS count",
        )
        .bind(room)
        .bind(user)
        .fetch_one(&mut *tx)
        .await?;
        if row.try_get::<bool, _>("member")? {
            return Ok(Joined::Already);
        }
        if row.try_get::<i64, _>("count")? >= max_conversations {
            return Ok(Joined::Full);
        }
        sqlx::query(
            "INSERT INTO room_members (room_id, user_id, last_read_id, joined_at) \
             VALUES (?1, ?2, COALESCE((SELECT MAX(id) FROM messages WHERE room_id = ?1), 0), ?3)",
        )
        .bind(room)
        .bind(user)
        .bind(now_rfc3339())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Joined::Added)
    }

    /// Takes `user` out of `room`; false when not a member. With `admin`, the removal is
    /// recorded in the audit log in the same transaction.
    pub async fn remove_member(&self, room: i64, user: i64, admin: Option<i64>) -> Result<bool, StoreError> {
        let mut tx = self.writer().begin().await?;
        let done = sqlx::query("DELETE FROM room_members WHERE room_id = ?1 AND user_id = ?2")
            .bind(room)
            .bind(user)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        if let Some(admin) = admin {
            audit(&mut tx, admin, "remove_member", Some(user), room).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Whether `user` is in `room`.
    pub async fn is_member(&self, room: i64, user: i64) -> Result<bool, StoreError> {
        let member: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM room_members WHERE room_id = ?1 AND user_id = ?2)")
                .bind(room)
                .bind(user)
                .fetch_one(self.reader())
                .await?;
        Ok(member)
    }

    /// Members of `room` by username (case-insensitive), after `after`, at most `limit`.
    pub async fn members(&self, room: i64, after: Option<&str>, limit: i64) -> Result<Vec<Member>, StoreError> {
        let rows = sqlx::query(
            "SELECT u.username, u.id = r.owner_id AS is_owner FROM room_members rm \
             JOIN users u ON u.id = rm.user_id JOIN rooms r ON r.id = rm.room_id \
             WHERE rm.room_id = ?1 AND u.username > ?2 ORDER BY u.username LIMIT ?3",
        )
        .bind(room)
        .bind(after.unwrap_or(""))
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(member_from_row).collect::<Result<_, _>>().map_err(Into::into)
    }

    /// Changes a room's name, topic or archive flag; with `admin`, audited. Errors with
    /// `DuplicateRoomName` when the new name is taken.
    pub async fn update_room(&self, room: i64, change: &RoomChange, admin: Option<i64>) -> Result<(), StoreError> {
        let mut tx = self.writer().begin().await?;
        let updated = sqlx::query(
            "UPDATE rooms SET name = COALESCE(?2, name), topic = COALESCE(?3, topic), \
             archived = COALESCE(?4, archived) WHERE id = ?1",
        )
        .bind(room)
        .bind(&change.name)
        .bind(&change.topic)
        .bind(change.archived)
        .execute(&mut *tx)
        .await;
        match updated {
            Ok(_) => {}
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => return Err(StoreError::DuplicateRoomName),
            Err(error) => return Err(error.into()),
        }
        if let (Some(admin), Some(archived)) = (admin, change.archived) {
            audit(&mut tx, admin, if archived { "archive_room" } else { "unarchive_room" }, None, room).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Moves `user`'s read marker in `room` forward to `last_read_id`, never past the room's
    /// newest message and never back.
    pub async fn mark_read(&self, room: i64, user: i64, last_read_id: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE room_members SET last_read_id = MAX(last_read_id, \
               MIN(?3, COALESCE((SELECT MAX(id) FROM messages WHERE room_id = ?1), 0))) \
             WHERE room_id = ?1 AND user_id = ?2",
        )
        .bind(room)
        .bind(user)
        .bind(last_read_id)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// Ignores `ignored` for `user` (at most `max` ignores each); false when at the cap.
    pub async fn add_ignore(&self, user: i64, ignored: i64, max: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO ignores (user_id, ignored_id) SELECT ?1, ?2 \
             WHERE (SELECT COUNT(*) FROM ignores WHERE user_id = ?1) < ?3 ON CONFLICT DO NOTHING",
        )
        .bind(user)
        .bind(ignored)
        .bind(max)
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected() == 1 || self.ignores(user, ignored).await?)
    }

    /// Whether `user` ignores `ignored`.
    pub async fn ignores(&self, user: i64, ignored: i64) -> Result<bool, StoreError> {
        let found: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM ignores WHERE user_id = ?1 AND ignored_id = ?2)")
                .bind(user)
                .bind(ignored)
                .fetch_one(self.writer())
                .await?;
        Ok(found)
    }

    pub async fn remove_ignore(&self, user: i64, ignored: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM ignores WHERE user_id = ?1 AND ignored_id = ?2")
            .bind(user)
            .bind(ignored)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    /// The usernames `user` ignores, by name.
    pub async fn ignored_usernames(&self, user: i64) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT u.username FROM ignores i JOIN users u ON u.id = i.ignored_id WHERE i.user_id = ?1 \
             ORDER BY u.username",
        )
        .bind(user)
        .fetch_all(self.reader())
        .await?)
    }

    /// A page of every room by id, for admins.
    pub async fn admin_rooms(&self, after: Option<i64>, limit: i64) -> Result<Vec<AdminRoom>, StoreError> {
        let rows = sqlx::query(&format!("{ADMIN_ROOM_SELECT} WHERE r.id > ?1 ORDER BY r.id LIMIT ?2"))
            .bind(after.unwrap_or(0))
            .bind(limit)
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(admin_room_from_row).collect::<Result<_, _>>().map_err(Into::into)
    }

    /// One room as admins see it.
    pub async fn admin_room(&self, id: i64) -> Result<Option<AdminRoom>, StoreError> {
        let row =
            sqlx::query(&format!("{ADMIN_ROOM_SELECT} WHERE r.id = ?1")).bind(id).fetch_optional(self.reader()).await?;
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
    tx: &mut sqlx::SqliteConnection,
    admin: i64,
    action: &str,
    target_user: Option<i64>,
    room: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_log (admin_id, action, target_user_id, room_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
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
