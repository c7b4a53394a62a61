//! Reading the store's values out of result rows, written once for every backend: each backend
//! expands [`readers!`] with its row type. Both engines decode the same columns to the same Rust
//! types (SQLite's 0/1 integers and PostgreSQL's booleans both to `bool`, integers to `i64`), so
//! only the row type differs; the SQL of each backend names its columns as these readers expect.

/// Defines `user_from_row`, `message_from_row`, `record_from_row`, `room_from_row`,
/// `member_from_row`, `admin_room_from_row`, `admin_message_from_row`, `moderation_from_row`,
/// `feed_entry_from_row`, `invitation_from_row`, `review_from_row`, `appeal_from_row` and `version_from_row` for the
/// row type `$row`.
macro_rules! readers {
    ($row:ty) => {
        #[allow(unused_imports)]
        use sqlx::Row as _;

        pub(crate) fn user_from_row(row: &$row) -> Result<$crate::store::UserRecord, sqlx::Error> {
            Ok($crate::store::UserRecord {
                public: app::models::PublicUser {
                    id: row.try_get("id")?,
                    username: row.try_get("username")?,
                    email: row.try_get("email")?,
                    is_admin: row.try_get("is_admin")?,
                    is_blocked: row.try_get("is_blocked")?,
                    warning_count: row.try_get("warning_count")?,
                    created_at: row.try_get("created_at")?,
                },
                password_hash: row.try_get("password_hash")?,
                token_version: row.try_get("token_version")?,
            })
        }

        /// A message: its columns, `room`, and the message it answers (`reply_id`,
        /// `reply_username`, `reply_excerpt`, `reply_gone`; NULL when none). Its reactions are
        /// read apart (they depend on the viewer).
        pub(crate) fn message_from_row(row: &$row) -> Result<app::models::ChatMessage, sqlx::Error> {
            let reply_id: Option<i64> = row.try_get("reply_id")?;
            let reply_to = match reply_id {
                Some(id) => Some(app::models::ReplyTo {
                    id,
                    username: row.try_get::<Option<String>, _>("reply_username")?.unwrap_or_default(),
                    excerpt: row.try_get::<Option<String>, _>("reply_excerpt")?.unwrap_or_default(),
                    gone: row.try_get::<Option<bool>, _>("reply_gone")?.unwrap_or(false),
                }),
                None => None,
            };
            let mentions: String = row.try_get("mentions")?;
            let attachments: Option<String> = row.try_get("attachments")?;
            Ok(app::models::ChatMessage {
                id: row.try_get("id")?,
                sender_id: row.try_get("sender_id")?,
                username: row.try_get("username")?,
                content: row.try_get("content")?,
                timestamp: row.try_get("created_at")?,
                room: row.try_get("room")?,
                room_id: row.try_get("room_id")?,
                client_id: row.try_get("client_id")?,
                removed: row.try_get("removed")?,
                edited_at: row.try_get("edited_at")?,
                deleted: row.try_get("deleted")?,
                reply_to,
                reactions: Vec::new(),
                mentions: mentions.split_whitespace().map(str::to_owned).collect(),
                highlight: None,
                attachments: $crate::store::attachments_from_json(attachments.as_deref()),
            })
        }

        /// An upload's facts.
        pub(crate) fn upload_from_row(row: &$row) -> Result<$crate::store::UploadRecord, sqlx::Error> {
            Ok($crate::store::UploadRecord {
                id: row.try_get("id")?,
                uploader_id: row.try_get("uploader_id")?,
                name: row.try_get("name")?,
                size: row.try_get("size")?,
                content_type: row.try_get("content_type")?,
                width: row.try_get::<Option<i32>, _>("width")?.map(i64::from),
                height: row.try_get::<Option<i32>, _>("height")?.map(i64::from),
                thumbnail_type: row.try_get("thumbnail_type")?,
                created_at: row.try_get("created_at")?,
                message_id: row.try_get("message_id")?,
                room_id: row.try_get("room_id")?,
            })
        }

        /// A room as stored.
        pub(crate) fn record_from_row(row: &$row) -> Result<$crate::store::RoomRecord, sqlx::Error> {
            let dm_low: Option<i64> = row.try_get("dm_low")?;
            let dm_high: Option<i64> = row.try_get("dm_high")?;
            Ok($crate::store::RoomRecord {
                id: row.try_get("id")?,
                kind: $crate::store::room_kind(row.try_get("kind")?)?,
                name: row.try_get("name")?,
                topic: row.try_get("topic")?,
                owner_id: row.try_get("owner_id")?,
                dm_pair: dm_low.zip(dm_high),
                archived: row.try_get("archived")?,
                archived_by_admin: row.try_get("archived_by_admin")?,
            })
        }

        /// A room as one viewer sees it (a DM is named after the other person).
        pub(crate) fn room_from_row(row: &$row) -> Result<app::models::Room, sqlx::Error> {
            let kind = $crate::store::room_kind(row.try_get("kind")?)?;
            let peer: Option<String> = if kind == app::models::RoomKind::Dm { row.try_get("peer")? } else { None };
            let name: Option<String> = row.try_get("name")?;
            Ok(app::models::Room {
                id: row.try_get("id")?,
                kind,
                name: name.or_else(|| peer.clone()).unwrap_or_default(),
                topic: row.try_get("topic")?,
                member_count: row.try_get("member_count")?,
                unread: row.try_get("unread")?,
                last_message_id: row.try_get("last_message_id")?,
                last_read_id: row.try_get("last_read_id")?,
                joined: row.try_get("joined")?,
                owner: row.try_get("owner")?,
                archived: row.try_get("archived")?,
                peer,
                mentions: row.try_get("mention_count")?,
            })
        }

        /// A member as the member list shows it (presence is the fan-out's, not the store's).
        pub(crate) fn member_from_row(row: &$row) -> Result<app::models::Member, sqlx::Error> {
            Ok(app::models::Member {
                username: row.try_get("username")?,
                is_owner: row.try_get::<Option<bool>, _>("is_owner")?.unwrap_or(false),
                online: false,
            })
        }

        pub(crate) fn admin_room_from_row(row: &$row) -> Result<app::models::AdminRoom, sqlx::Error> {
            Ok(app::models::AdminRoom {
                id: row.try_get("id")?,
                kind: $crate::store::room_kind(row.try_get("kind")?)?,
                name: row.try_get::<Option<String>, _>("name")?.unwrap_or_default(),
                topic: row.try_get("topic")?,
                owner: row.try_get("owner")?,
                member_count: row.try_get("member_count")?,
                message_count: row.try_get("message_count")?,
                archived: row.try_get("archived")?,
                created_at: row.try_get("created_at")?,
            })
        }

        pub(crate) fn admin_message_from_row(row: &$row) -> Result<app::models::AdminMessage, sqlx::Error> {
            Ok(app::models::AdminMessage {
                id: row.try_get("id")?,
                sender_id: row.try_get("sender_id")?,
                username: row.try_get("username")?,
                content: row.try_get("content")?,
                timestamp: row.try_get("created_at")?,
                room: row.try_get("room")?,
                room_id: row.try_get("room_id")?,
                room_kind: $crate::store::room_kind(row.try_get("room_kind")?)?,
                removed: row.try_get("removed")?,
                edited_at: row.try_get("edited_at")?,
                deleted: row.try_get("deleted")?,
                attachments: $crate::store::attachments_from_json(
                    row.try_get::<Option<String>, _>("attachments")?.as_deref(),
                ),
            })
        }

        /// A version of a message: `kind`, `content`, `username` (who made it), `created_at`,
        /// `reason` (a removal's; NULL otherwise).
        pub(crate) fn version_from_row(row: &$row) -> Result<app::models::MessageVersion, sqlx::Error> {
            Ok(app::models::MessageVersion {
                kind: row.try_get("kind")?,
                content: row.try_get("content")?,
                username: row.try_get("username")?,
                timestamp: row.try_get("created_at")?,
                reason: row.try_get("reason")?,
            })
        }

        /// An entry of the room-change feed, with the usernames it names (`user_name`,
        /// `other_name`).
        pub(crate) fn feed_entry_from_row(row: &$row) -> Result<$crate::store::FeedEntry, sqlx::Error> {
            let kind: String = row.try_get("kind")?;
            Ok($crate::store::FeedEntry {
                seq: row.try_get("seq")?,
                change: $crate::store::Change::from_columns(
                    &kind,
                    row.try_get("room_id")?,
                    row.try_get("user_id")?,
                    row.try_get("other_id")?,
                ),
                username: row.try_get("user_name")?,
                other_username: row.try_get("other_name")?,
                detail: row.try_get("detail")?,
            })
        }

        /// An invitation: the room as its invitee sees it, and `inviter`.
        pub(crate) fn invitation_from_row(row: &$row) -> Result<app::models::Invitation, sqlx::Error> {
            Ok(app::models::Invitation { room: room_from_row(row)?, inviter: row.try_get("inviter")? })
        }

        /// A review item (its reports not attached): the item's columns, `username` (the
        /// sender's), `room`, and the message as it is now (`message_content`, `message_removed`,
        /// `message_time`, `message_client_id`: NULL while held) and `resolver`.
        pub(crate) fn review_from_row(row: &$row) -> Result<$crate::store::ReviewRecord, sqlx::Error> {
            let message_id: Option<i64> = row.try_get("message_id")?;
            let content: String = row.try_get("content")?;
            let (shown, removed, timestamp, client_id) = match message_id {
                Some(_) => (
                    row.try_get::<Option<String>, _>("message_content")?.unwrap_or_default(),
                    row.try_get::<Option<bool>, _>("message_removed")?.unwrap_or(false),
                    row.try_get::<Option<String>, _>("message_time")?.unwrap_or_default(),
                    row.try_get::<Option<String>, _>("message_client_id")?,
                ),
                None => (content.clone(), false, row.try_get("sent_at")?, row.try_get("client_id")?),
            };
            let mut sources = Vec::new();
            if row.try_get::<bool, _>("from_classifier")? {
                sources.push("classifier".to_owned());
            }
            if row.try_get::<bool, _>("from_reports")? {
                sources.push("report".to_owned());
            }
            let context: String = row.try_get("context")?;
            Ok($crate::store::ReviewRecord {
                item: app::models::ReviewItem {
                    id: row.try_get("id")?,
                    message: app::models::ChatMessage {
                        id: message_id.unwrap_or(0),
                        sender_id: row.try_get("sender_id")?,
                        username: row.try_get("username")?,
                        content: shown,
                        timestamp,
                        room: row.try_get("room")?,
                        room_id: row.try_get("room_id")?,
                        client_id,
                        removed,
                        ..Default::default()
                    },
                    sources,
                    score: row.try_get("score")?,
                    reports: Vec::new(),
                    held: row.try_get("held")?,
                    created_at: row.try_get("created_at")?,
                    content,
                    context: serde_json::from_str(&context).unwrap_or_default(),
                    state: row.try_get("state")?,
                    resolved_by: row.try_get("resolver")?,
                    resolved_at: row.try_get("resolved_at")?,
                    reason: row.try_get("reason")?,
                },
                message_id,
            })
        }

        /// An appeal: `appeal_id`, `text`, `state`, `appeal_created_at`, `decided_at`, `reason`,
        /// `decider`, and its account's user columns.
        pub(crate) fn appeal_from_row(row: &$row) -> Result<app::models::Appeal, sqlx::Error> {
            Ok(app::models::Appeal {
                id: row.try_get("appeal_id")?,
                user: user_from_row(row)?.public,
                text: row.try_get("text")?,
                state: row.try_get("state")?,
                created_at: row.try_get("appeal_created_at")?,
                decided_by: row.try_get("decider")?,
                decided_at: row.try_get("decided_at")?,
                reason: row.try_get("reason")?,
            })
        }

        pub(crate) fn moderation_from_row(row: &$row) -> Result<app::models::ModerationEntry, sqlx::Error> {
            Ok(app::models::ModerationEntry {
                id: row.try_get("id")?,
                user_id: row.try_get("user_id")?,
                username: row.try_get("username")?,
                timestamp: row.try_get("created_at")?,
                rule: row.try_get("rule")?,
                content: row.try_get("content")?,
                warning_count: row.try_get("warning_count")?,
                blocked: row.try_get("blocked")?,
            })
        }

        /// One audit-log entry, with its actor's and target's usernames.
        pub(crate) fn audit_from_row(row: &$row) -> Result<app::models::AuditEntry, sqlx::Error> {
            Ok(app::models::AuditEntry {
                id: row.try_get("id")?,
                actor_id: row.try_get("admin_id")?,
                actor: row.try_get("actor")?,
                action: row.try_get("action")?,
                target_id: row.try_get("target_user_id")?,
                target: row.try_get("target")?,
                room_id: row.try_get("room_id")?,
                message_id: row.try_get("message_id")?,
                reason: row.try_get("reason")?,
                timestamp: row.try_get("created_at")?,
            })
        }
    };
}

pub(crate) use readers;
