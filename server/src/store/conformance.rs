//! The store's behaviour, one suite for every backend. Each case is an `async fn` taking a fresh
//! store (or a fresh database to open stores on, for the cases that need two stores, as two server
//! processes would have on PostgreSQL); [`on_both!`] runs each on SQLite (a file in a temporary directory) and on
//! PostgreSQL (a new database on `testkit`'s server), as `store::conformance::sqlite::CASE` and
//! `store::conformance::postgres::CASE`. What only one engine has (SQLite's statement chunks and
//! read pool, PostgreSQL's concurrent migrations and query plans) is tested apart.

use super::{
    Change, Created, IgnoreAdded, Invited, Joined, NewMessage, Removal, Reported, ReviewFilter, RoomChange, Store,
    StoreError, Stored, View,
};
use app::models::{ChatMessage, RoomKind};
use app::protocol::GENERAL_ROOM_ID;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A database for one case, on one backend.
struct Database {
    url: String,
    _dir: Option<tempfile::TempDir>,
}

impl Database {
    async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self { url: format!("sqlite://{}", dir.path().join("store.db").display()), _dir: Some(dir) }
    }

    async fn postgres() -> Self {
        // The first call starts the server (about a second): off the runtime's threads.
        let url = tokio::task::spawn_blocking(|| testkit::postgres().fresh_database()).await.unwrap();
        Self { url, _dir: None }
    }

    /// A store on this database, as a server process opens it.
    async fn open(&self) -> Store {
        Store::open(&self.url, &super::StoreOptions::new(4, "NORMAL")).await.expect("the store opens")
    }

    /// Two stores, as two server processes would have. On SQLite, one store twice: one server
    /// process per file is what SQLite supports (a transaction that reads before it writes fails
    /// with SQLITE_BUSY when another process's writer committed in between).
    async fn two_stores(&self) -> [Store; 2] {
        let first = self.open().await;
        let second = if self._dir.is_some() { first.clone() } else { self.open().await };
        [first, second]
    }
}

/// Generates `mod sqlite` and `mod postgres`, each with one test per case: `stores` cases take a
/// `Store`, `databases` cases a `&Database`; `postgres_only` cases (taking a `&Database`) are in
/// `mod postgres` alone.
macro_rules! on_both {
    (
        stores: [$($store_case:ident),* $(,)?],
        databases: [$($db_case:ident),* $(,)?],
        postgres_only: [$($pg_case:ident),* $(,)?] $(,)?
    ) => {
        on_both!(@backend sqlite, [$($store_case),*], [$($db_case),*]);
        on_both!(@backend postgres, [$($store_case),*], [$($db_case,)* $($pg_case),*]);
    };
    (@backend $backend:ident, [$($store_case:ident),*], [$($db_case:ident),*]) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $store_case() {
                    let database = super::Database::$backend().await;
                    super::$store_case(database.open().await).await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $db_case() {
                    let database = super::Database::$backend().await;
                    super::$db_case(&database).await;
                }
            )*
        }
    };
}

on_both! {
    stores: [
        first_user_is_admin_and_duplicates_are_case_insensitive,
        a_taken_username_and_a_taken_email_are_told_apart,
        names_fold_ascii_letters_only_and_sort_by_byte,
        settings_keep_the_first_value,
        batches_of_any_size_keep_order_and_detect_retries,
        a_batch_of_one_statement_detects_retries_within_it_and_of_earlier_batches,
        a_blocked_senders_messages_are_refused_by_the_insert_itself,
        messages_are_refused_outside_their_senders_rooms_and_in_archived_ones,
        an_empty_batch_stores_nothing,
        history_reads_are_bounded_in_bytes_as_well_as_count,
        history_views_keep_to_their_rooms_and_leave_out_the_ignored,
        everyone_is_in_general_from_registration_on,
        public_room_names_are_unique_without_regard_to_case_and_private_ones_are_not,
        a_pair_has_one_dm_whoever_opens_it,
        the_conversation_cap_holds_for_creating_and_joining,
        rooms_as_their_viewers_see_them,
        memberships_ignores_and_room_changes,
        admin_views_and_actions,
        violations_warn_then_block_but_never_an_admin,
        blocks_revocations_and_role_changes_are_fed_whoever_makes_them,
        revoked_sessions_are_fed_kept_until_they_expire_then_pruned,
        a_block_racing_batches_refuses_every_later_message,
        the_feed_records_every_change_in_order_with_its_names,
        a_batch_names_the_newest_change_committed_before_it,
        admin_removals_and_archives_stick_until_lifted,
        invitations_wait_for_an_answer,
        owners_may_create_only_so_many_rooms,
        a_client_id_used_elsewhere_acknowledges_nothing,
        a_removed_message_keeps_its_place_without_its_text,
        reports_open_one_item_per_message_in_queue_order,
        held_messages_wait_in_the_queue_until_linked,
        expired_strikes_stop_counting,
        search_answers_as_the_matching_rules_say,
        older_messages_are_indexed_when_the_store_opens,
        edits_deletions_and_reactions_feed_their_changes_in_order,
        uploads_are_claimed_posted_read_removed_and_expired,
    ],
    databases: [
        ids_are_gapless_and_visible_in_commit_order_with_two_stores,
        simultaneous_first_registrations_make_one_admin,
        caps_hold_under_simultaneous_requests,
        account_change_seqs_are_gapless_and_in_commit_order,
        room_change_seqs_are_gapless_and_ordered_with_batches,
    ],
    postgres_only: [
        stores_opened_at_once_on_a_new_database_both_migrate,
        member_catch_up_walks_messages_in_id_order,
        every_connection_carries_the_session_settings,
        a_transaction_left_idle_frees_the_counter_for_the_other_stores,
        slow_reads_filling_the_pool_of_requests_leave_the_writer_and_the_feeds_theirs,
    ],
}

// ---------------------------------------------------------------------------------------------
// Helpers

async fn user(store: &Store, name: &str) -> i64 {
    store.create_user(name, &format!("{name}@x.io"), "h").await.unwrap().id
}

/// A message in `general`.
fn message(sender_id: i64, content: &str, client_id: Option<&str>) -> NewMessage {
    in_room(sender_id, GENERAL_ROOM_ID, content, client_id)
}

fn in_room(sender_id: i64, room_id: i64, content: &str, client_id: Option<&str>) -> NewMessage {
    NewMessage {
        sender_id,
        username: "u".into(),
        room_id,
        room: if room_id == GENERAL_ROOM_ID { "general".into() } else { format!("room {room_id}") },
        content: content.into(),
        client_id: client_id.map(Into::into),
        ..Default::default()
    }
}

/// Every stored message, oldest first.
async fn all_messages(store: &Store) -> Vec<ChatMessage> {
    let (messages, more) = store.messages_since(View::default(), 0, 1_000_000).await.unwrap();
    assert!(!more);
    messages
}

fn new_id(stored: &Stored) -> i64 {
    match stored {
        Stored::New(message) => message.id,
        _ => panic!("not stored as new"),
    }
}

/// The id of a room just created.
fn created(created: Created) -> i64 {
    match created {
        Created::Room { id, .. } => id,
        other => panic!("not created: {other:?}"),
    }
}

fn contents(messages: &[ChatMessage]) -> Vec<&str> {
    messages.iter().map(|m| m.content.as_str()).collect()
}

// ---------------------------------------------------------------------------------------------
// Accounts and settings

async fn first_user_is_admin_and_duplicates_are_case_insensitive(store: Store) {
    let first = store.create_user("Alice", "a@x.io", "h").await.unwrap();
    assert!(first.is_admin);
    let second = store.create_user("bob", "b@x.io", "h").await.unwrap();
    assert!(!second.is_admin);
    assert!(matches!(store.create_user("ALICE", "c@x.io", "h").await, Err(StoreError::DuplicateUsername)));
    assert!(matches!(store.create_user("carol", "A@X.IO", "h").await, Err(StoreError::DuplicateEmail)));
    assert_eq!(store.find_login("alice").await.unwrap().unwrap().public.id, first.id);
    assert_eq!(store.find_login("B@x.io").await.unwrap().unwrap().public.id, second.id);
}

async fn a_taken_username_and_a_taken_email_are_told_apart(store: Store) {
    let alice = store.create_user("Alice", "alice@x.io", "h").await.unwrap();
    let taken = |result: Result<_, StoreError>| match result {
        Err(StoreError::DuplicateUsername) => "username",
        Err(StoreError::DuplicateEmail) => "email",
        Err(other) => panic!("{other}"),
        Ok(_) => "created",
    };
    assert_eq!(taken(store.create_user("aLICE", "other@x.io", "h").await), "username");
    assert_eq!(taken(store.create_user("other", "ALICE@X.IO", "h").await), "email");
    // Both taken: the username is reported, on every backend.
    assert_eq!(taken(store.create_user("alice", "Alice@x.io", "h").await), "username");
    // Nothing of the refused registrations was stored, and the next one is not the first.
    let bob = store.create_user("bob", "bob@x.io", "h").await.unwrap();
    assert!(!bob.is_admin);
    let users = store.list_users(false, None, 10).await.unwrap();
    assert_eq!(users.iter().map(|u| u.id).collect::<Vec<_>>(), vec![alice.id, bob.id]);
    // Public rooms: a name taken by another, whatever its case, on creation and on renaming.
    let club = created(store.create_room(alice.id, RoomKind::Public, "Book Club", "", 50, 100).await.unwrap());
    let other = created(store.create_room(alice.id, RoomKind::Public, "other", "", 50, 100).await.unwrap());
    let rename = RoomChange { name: Some("BOOK club".into()), ..RoomChange::default() };
    assert!(matches!(store.update_room(other, &rename, None).await, Err(StoreError::DuplicateRoomName)));
    assert_eq!(store.room(other).await.unwrap().unwrap().name.as_deref(), Some("other"));
    // A room may take a new case of its own name.
    let recase = RoomChange { name: Some("BOOK CLUB".into()), ..RoomChange::default() };
    store.update_room(club, &recase, None).await.unwrap();
    assert_eq!(store.room(club).await.unwrap().unwrap().name.as_deref(), Some("BOOK CLUB"));
}

async fn names_fold_ascii_letters_only_and_sort_by_byte(store: Store) {
    let alice = store.create_user("Alice", "Alice@Example.io", "h").await.unwrap().id;
    // Lookups by any case of the username (and, for logins, of the email).
    for name in ["alice", "ALICE", "aLiCe"] {
        assert_eq!(store.find_login(name).await.unwrap().unwrap().public.id, alice);
        assert_eq!(store.user_by_username(name).await.unwrap().unwrap().public.id, alice);
    }
    assert_eq!(store.find_login("alice@EXAMPLE.IO").await.unwrap().unwrap().public.id, alice);
    assert!(store.user_by_username("alice@example.io").await.unwrap().is_none(), "never by email");
    assert!(store.set_admin("ALICE", false).await.unwrap());
    assert!(store.set_password_hash("alice", "h2").await.unwrap());
    assert!(store.unblock_by_username("aLICE").await.unwrap());
    assert!(!store.set_admin("nobody", true).await.unwrap());
    let record = store.user_by_id(alice).await.unwrap().unwrap();
    assert_eq!((record.public.is_admin, record.password_hash.as_str(), record.token_version), (false, "h2", 1));

    // Member lists sort by the lowercased name, byte by byte (punctuation before digits before
    // letters), and page from a cursor given in any case.
    let names = ["bob", "Zed", "Bo_b", "b.ob", "_xy", "BOBBY", "a-1", "carol"];
    let mut ids = HashMap::new();
    for name in names {
        ids.insert(name, user(&store, name).await);
    }
    let expected = ["_xy", "a-1", "Alice", "b.ob", "Bo_b", "bob", "BOBBY", "carol", "Zed"];
    let all = store.members(GENERAL_ROOM_ID, None, 100).await.unwrap();
    assert_eq!(all.iter().map(|m| m.username.as_str()).collect::<Vec<_>>(), expected);
    let page = store.members(GENERAL_ROOM_ID, Some("BO_B"), 2).await.unwrap();
    assert_eq!(page.iter().map(|m| m.username.as_str()).collect::<Vec<_>>(), ["bob", "BOBBY"]);
    for name in names {
        assert!(matches!(store.add_ignore(alice, ids[name], 100).await.unwrap(), IgnoreAdded::Added { .. }));
    }
    let ignored: Vec<&str> = expected.iter().copied().filter(|n| *n != "Alice").collect();
    assert_eq!(store.ignored_usernames(alice).await.unwrap(), ignored);

    // Public rooms page by id, from a cursor.
    let mut made = Vec::new();
    for name in ["beta", "Alpha", "_misc", "alpha2", "Zulu"] {
        made.push(created(store.create_room(alice, RoomKind::Public, name, "", 100, 100).await.unwrap()));
    }
    let rooms = store.public_rooms(alice, 0, 100).await.unwrap();
    let names: Vec<&str> = rooms.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["general", "beta", "Alpha", "_misc", "alpha2", "Zulu"]);
    let page = store.public_rooms(alice, made[1], 2).await.unwrap();
    assert_eq!(page.iter().map(|r| r.id).collect::<Vec<_>>(), [made[2], made[3]]);

    // Only ASCII letters fold (SQLite's NOCASE; PostgreSQL's lower() on COLLATE "C" columns):
    // 'É' and 'é' are different letters, 'C' and 'c' are not.
    created(store.create_room(alice, RoomKind::Public, "Café", "", 100, 100).await.unwrap());
    created(store.create_room(alice, RoomKind::Public, "CAFÉ", "", 100, 100).await.unwrap());
    for taken in ["café", "CAFé"] {
        let result = store.create_room(alice, RoomKind::Public, taken, "", 100, 100).await;
        assert!(matches!(result, Err(StoreError::DuplicateRoomName)), "{taken}");
    }
    store.create_user("emile", "émile@x.io", "h").await.unwrap();
    store.create_user("emile2", "Émile@x.io", "h").await.unwrap();
    assert!(matches!(store.create_user("emile3", "éMILE@X.IO", "h").await, Err(StoreError::DuplicateEmail)));
}

async fn settings_keep_the_first_value(store: Store) {
    assert_eq!(store.setting("k").await.unwrap(), None);
    assert_eq!(store.setting_or_insert("k", "one").await.unwrap(), "one");
    assert_eq!(store.setting_or_insert("k", "two").await.unwrap(), "one");
    assert_eq!(store.setting("k").await.unwrap().as_deref(), Some("one"));
}

// ---------------------------------------------------------------------------------------------
// Storing messages

async fn batches_of_any_size_keep_order_and_detect_retries(store: Store) {
    let user = user(&store, "u").await;
    store.insert_batch(&[message(user, "first", Some("a"))]).await.unwrap();
    // 300 rows (on SQLite, statements of 256, 16, 16 and 12 rows), with retries inside the batch
    // and of an earlier batch mixed in.
    let mut batch = Vec::new();
    for i in 0..300 {
        let client_id = match i % 3 {
            0 => None,
            1 => Some(format!("c{}", i / 2)),
            _ => Some("a".to_string()),
        };
        batch.push(message(user, &format!("m{i}"), client_id.as_deref()));
    }
    let stored = store.insert_batch(&batch).await.unwrap().stored;
    assert_eq!(stored.len(), 300);
    let mut last_id = 0;
    let mut seen_client_ids = HashSet::new();
    for (i, result) in stored.iter().enumerate() {
        match (i % 3, result) {
            (0, Stored::New(m)) => {
                assert_eq!(m.content, format!("m{i}"));
                assert!(m.id > last_id);
                last_id = m.id;
            }
            (1, Stored::New(m)) => {
                assert!(seen_client_ids.insert(m.client_id.clone().unwrap()), "a new client_id");
                assert!(m.id > last_id);
                last_id = m.id;
            }
            (1, Stored::Duplicate(m)) => assert!(seen_client_ids.contains(m.client_id.as_ref().unwrap())),
            (2, Stored::Duplicate(m)) => assert_eq!(m.content, "first"),
            (kind, _) => panic!("row {i} (kind {kind}) stored wrongly"),
        }
    }
    assert_eq!(all_messages(&store).await.len(), 1 + 100 + seen_client_ids.len());
}

async fn a_batch_of_one_statement_detects_retries_within_it_and_of_earlier_batches(store: Store) {
    let user = user(&store, "u").await;
    store.insert_batch(&[message(user, "first", Some("a"))]).await.unwrap();
    let batch = [message(user, "again", Some("a")), message(user, "b1", Some("b")), message(user, "b2", Some("b"))];
    let stored = store.insert_batch(&batch).await.unwrap().stored;
    match stored.as_slice() {
        [Stored::Duplicate(a), Stored::New(b1), Stored::Duplicate(b2)] => {
            assert_eq!(a.content, "first");
            assert_eq!((b1.content.as_str(), b2.id), ("b1", b1.id));
        }
        _ => panic!("stored wrongly"),
    }
    // The same client id from someone else is someone else's.
    let other = self::user(&store, "other").await;
    assert!(matches!(
        store.insert_batch(&[message(other, "mine", Some("a"))]).await.unwrap().stored[0],
        Stored::New(_)
    ));
}

async fn a_blocked_senders_messages_are_refused_by_the_insert_itself(store: Store) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    store.block_user(bob).await.unwrap();
    let batch = [
        message(alice, "a1", None),
        message(bob, "b1", None),
        message(bob, "b2", Some("bob-1")),
        message(alice, "a2", Some("alice-1")),
    ];
    let stored = store.insert_batch(&batch).await.unwrap().stored;
    match stored.as_slice() {
        [Stored::New(a1), Stored::Refused, Stored::Refused, Stored::New(a2)] => {
            assert_eq!((a1.content.as_str(), a2.content.as_str()), ("a1", "a2"));
            assert!(a2.id > a1.id);
        }
        _ => panic!("stored wrongly"),
    }
    assert!(all_messages(&store).await.iter().all(|m| m.sender_id != bob));
}

async fn messages_are_refused_outside_their_senders_rooms_and_in_archived_ones(store: Store) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let room = created(store.create_room(alice, RoomKind::Private, "private", "", 50, 100).await.unwrap());
    let archived = created(store.create_room(alice, RoomKind::Public, "old", "", 50, 100).await.unwrap());
    store.update_room(archived, &RoomChange { archived: Some(true), ..RoomChange::default() }, None).await.unwrap();
    let batch = [
        in_room(alice, room, "in", None),
        in_room(bob, room, "not a member", None),
        in_room(alice, archived, "archived", None),
        in_room(alice, 999, "no such room", None),
        // A client id left out in one room is stored in a room its sender may post in; the one
        // left out acknowledges nothing of it (it is another conversation's message).
        in_room(bob, room, "left out", Some("x")),
        in_room(bob, GENERAL_ROOM_ID, "stored", Some("x")),
    ];
    let stored = store.insert_batch(&batch).await.unwrap().stored;
    match stored.as_slice() {
        [Stored::New(a), Stored::Refused, Stored::Refused, Stored::Refused, Stored::ClientIdTaken, Stored::New(b)] => {
            assert_eq!((a.content.as_str(), b.content.as_str()), ("in", "stored"));
            assert_eq!(b.id, a.id + 1, "ids are consecutive in batch order");
        }
        _ => panic!("stored wrongly"),
    }
    // Once stored, the same client id is a duplicate in its own room only.
    let again = store.insert_batch(&[message(bob, "again", Some("x"))]).await.unwrap().stored;
    assert!(matches!(&again[0], Stored::Duplicate(m) if m.content == "stored"));
    let elsewhere = store.insert_batch(&[in_room(bob, room, "again", Some("x"))]).await.unwrap().stored;
    assert!(matches!(elsewhere[0], Stored::ClientIdTaken));
    // After a leave, the room refuses its former member.
    store.add_member(room, bob, 50).await.unwrap();
    assert!(matches!(
        store.insert_batch(&[in_room(bob, room, "joined", None)]).await.unwrap().stored[0],
        Stored::New(_)
    ));
    assert!(store.remove_member(room, bob, false, None).await.unwrap().is_some());
    assert!(matches!(
        store.insert_batch(&[in_room(bob, room, "left", None)]).await.unwrap().stored[0],
        Stored::Refused
    ));
    assert_eq!(contents(&all_messages(&store).await), ["in", "stored", "joined"]);
}

async fn an_empty_batch_stores_nothing(store: Store) {
    user(&store, "u").await;
    assert!(store.insert_batch(&[]).await.unwrap().stored.is_empty());
    assert_eq!(store.newest_message_id().await.unwrap(), 0);
}

// ---------------------------------------------------------------------------------------------
// History

async fn history_reads_are_bounded_in_bytes_as_well_as_count(store: Store) {
    let user = user(&store, "u").await;
    let big = "x".repeat(1000);
    let batch: Vec<NewMessage> = (0..100).map(|_| message(user, &big, None)).collect();
    store.insert_batch(&batch).await.unwrap();
    // A budget of 9.5 messages' JSON holds 9 of them.
    let one = serde_json::to_string(&store.latest_messages(View::default(), 1).await.unwrap()[0]).unwrap().len() + 1;
    let budget = one * 19 / 2;
    let (page, more) = store.messages_since_within(View::default(), 0, 500, budget).await.unwrap();
    assert!(more);
    assert_eq!(page.len(), 9);
    assert_eq!(page.first().unwrap().id, 1);
    let (rest, more) =
        store.messages_since_within(View::default(), page.last().unwrap().id, 500, 1_000_000).await.unwrap();
    assert!(!more);
    assert_eq!(rest.len(), 91);
    let (counted, more) = store.messages_since_within(View::default(), 0, 40, 1_000_000).await.unwrap();
    assert_eq!((counted.len(), more), (40, true));
    // A budget smaller than one message still makes progress.
    assert_eq!(store.messages_since_within(View::default(), 0, 500, 10).await.unwrap().0.len(), 1);
    let latest = store.latest_within(View::default(), 50, budget).await.unwrap();
    assert_eq!(latest.len(), 9);
    assert_eq!(latest.last().unwrap().id, 100);
}

async fn history_views_keep_to_their_rooms_and_leave_out_the_ignored(store: Store) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let carol = user(&store, "carol").await;
    let room = created(store.create_room(alice, RoomKind::Private, "side", "", 50, 100).await.unwrap());
    store.add_member(room, bob, 50).await.unwrap();
    let (dm, _) = store.dm_between(alice, carol).await.unwrap();
    let batch = [
        message(alice, "g-alice", None),
        in_room(alice, room, "side-alice", None),
        message(carol, "g-carol", None),
        in_room(bob, room, "side-bob", None),
        in_room(carol, dm, "dm-carol", None),
        in_room(alice, dm, "dm-alice", None),
    ];
    let stored = store.insert_batch(&batch).await.unwrap().stored;
    let id = |i: usize| new_id(&stored[i]);
    // The room's name as frames carry it: a DM's is `dm`.
    let dm_message = store.latest_messages(View::room(dm, carol), 1).await.unwrap();
    assert_eq!((dm_message[0].room.as_str(), dm_message[0].room_id), ("dm", dm));
    let general = store.latest_messages(View::room(GENERAL_ROOM_ID, alice), 1).await.unwrap();
    assert_eq!(general[0].room, "general");

    let all = |view| {
        let store = store.clone();
        async move { contents(&store.messages_since(view, 0, 100).await.unwrap().0).join(" ") }
    };
    assert_eq!(all(View::default()).await, "g-alice side-alice g-carol side-bob dm-carol dm-alice");
    assert_eq!(all(View::member(bob)).await, "g-alice side-alice g-carol side-bob");
    assert_eq!(all(View::member(carol)).await, "g-alice g-carol dm-carol dm-alice");
    assert_eq!(all(View::room(room, bob)).await, "side-alice side-bob");
    assert_eq!(all(View { room: Some(room), viewer: None }).await, "side-alice side-bob");
    store.add_ignore(bob, alice, 10).await.unwrap();
    assert_eq!(all(View::member(bob)).await, "g-carol side-bob");
    assert_eq!(all(View::room(room, bob)).await, "side-bob");
    assert_eq!(all(View::room(room, alice)).await, "side-alice side-bob", "ignores are one-way");

    // Pages: since (oldest first, with `more`), before and latest (newest first / oldest first).
    let (page, more) = store.messages_since(View::member(carol), id(0), 2).await.unwrap();
    assert_eq!((contents(&page), more), (vec!["g-carol", "dm-carol"], true));
    let (page, more) = store.messages_since(View::member(carol), id(4), 2).await.unwrap();
    assert_eq!((contents(&page), more), (vec!["dm-alice"], false));
    let older = store.messages_before(View::member(carol), Some(id(5)), 2).await.unwrap();
    assert_eq!(contents(&older), ["dm-carol", "g-carol"]);
    assert_eq!(contents(&store.messages_before(View::member(carol), None, 1).await.unwrap()), ["dm-alice"]);
    assert_eq!(contents(&store.latest_messages(View::member(carol), 2).await.unwrap()), ["dm-carol", "dm-alice"]);
    assert_eq!(store.newest_message_id().await.unwrap(), id(5));
}

// ---------------------------------------------------------------------------------------------
// Conversations

async fn everyone_is_in_general_from_registration_on(store: Store) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let rooms = store.rooms_of(bob).await.unwrap();
    assert_eq!(rooms.len(), 1);
    assert_eq!((rooms[0].id, rooms[0].name.as_str(), rooms[0].member_count), (GENERAL_ROOM_ID, "general", 2));
    assert!(store.is_member(GENERAL_ROOM_ID, alice).await.unwrap());
}

async fn public_room_names_are_unique_without_regard_to_case_and_private_ones_are_not(store: Store) {
    let alice = user(&store, "alice").await;
    created(store.create_room(alice, RoomKind::Public, "Book Club", "", 500, 100).await.unwrap());
    for name in ["book club", "GENERAL"] {
        let taken = store.create_room(alice, RoomKind::Public, name, "", 500, 100).await;
        assert!(matches!(taken, Err(StoreError::DuplicateRoomName)), "{name}");
    }
    // A private room's name is its members' business: taking one that exists reveals nothing.
    let private = created(store.create_room(alice, RoomKind::Private, "book club", "", 500, 100).await.unwrap());
    created(store.create_room(alice, RoomKind::Private, "Book Club", "", 500, 100).await.unwrap());
    let rename = RoomChange { name: Some("general".into()), ..RoomChange::default() };
    store.update_room(private, &rename, None).await.unwrap();
    // And a public room may take the name of a private one.
    created(store.create_room(alice, RoomKind::Private, "secret plans", "", 500, 100).await.unwrap());
    created(store.create_room(alice, RoomKind::Public, "Secret Plans", "", 500, 100).await.unwrap());
}

async fn a_pair_has_one_dm_whoever_opens_it(store: Store) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let (first, created) = store.dm_between(alice, bob).await.unwrap();
    assert!(created.is_some());
    assert_eq!(store.dm_between(bob, alice).await.unwrap(), (first, None));
    let seen_by_bob = store.room_for(first, bob).await.unwrap().unwrap();
    assert_eq!((seen_by_bob.kind, seen_by_bob.name.as_str()), (RoomKind::Dm, "alice"));
    assert_eq!(seen_by_bob.peer.as_deref(), Some("alice"));
    let record = store.room(first).await.unwrap().unwrap();
    assert_eq!((record.dm_pair, record.name.as_deref(), record.peer_of(bob)), (Some((alice, bob)), None, Some(alice)));
    assert!(store.is_member(first, alice).await.unwrap() && store.is_member(first, bob).await.unwrap());
}

async fn the_conversation_cap_holds_for_creating_and_joining(store: Store) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let room = created(store.create_room(alice, RoomKind::Public, "one", "", 2, 100).await.unwrap());
    assert_eq!(
        store.create_room(alice, RoomKind::Public, "two", "", 2, 100).await.unwrap(),
        Created::TooManyConversations
    );
    assert!(matches!(store.add_member(room, bob, 2).await.unwrap(), Joined::Added { .. }));
    assert_eq!(store.add_member(room, bob, 2).await.unwrap(), Joined::Already);
    let other = created(store.create_room(bob, RoomKind::Public, "three", "", 3, 100).await.unwrap());
    assert_eq!(store.add_member(other, alice, 2).await.unwrap(), Joined::Full);
}

async fn rooms_as_their_viewers_see_them(store: Store) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let carol = user(&store, "carol").await;
    let quiet = created(store.create_room(alice, RoomKind::Public, "quiet", "shh", 10, 100).await.unwrap());
    let busy = created(store.create_room(alice, RoomKind::Private, "busy", "", 10, 100).await.unwrap());
    assert!(matches!(store.add_member(busy, bob, 10).await.unwrap(), Joined::Added { .. }));
    let stored = store
        .insert_batch(&[
            in_room(alice, busy, "a1", None),
            in_room(alice, busy, "a2", None),
            in_room(bob, busy, "b1", None),
            message(carol, "c1", None),
        ])
        .await
        .unwrap()
        .stored;
    let names = |rooms: Vec<app::models::Room>| rooms.into_iter().map(|r| r.name).collect::<Vec<_>>();
    // `general` first, then the most recently active, then rooms without messages.
    assert_eq!(names(store.rooms_of(alice).await.unwrap()), ["general", "busy", "quiet"]);
    store.insert_batch(&[in_room(alice, quiet, "q1", None)]).await.unwrap();
    assert_eq!(names(store.rooms_of(alice).await.unwrap()), ["general", "quiet", "busy"]);

    let busy_for_bob = store.room_for(busy, bob).await.unwrap().unwrap();
    assert_eq!(
        (busy_for_bob.member_count, busy_for_bob.unread, busy_for_bob.last_read_id, busy_for_bob.joined),
        (2, 2, 0, true),
        "his own message is not unread"
    );
    assert_eq!(busy_for_bob.last_message_id, Some(new_id(&stored[2])));
    assert_eq!((busy_for_bob.owner.as_deref(), busy_for_bob.kind), (Some("alice"), RoomKind::Private));
    let quiet_for_bob = store.room_for(quiet, bob).await.unwrap().unwrap();
    assert_eq!((quiet_for_bob.joined, quiet_for_bob.unread, quiet_for_bob.topic.as_str()), (false, 0, "shh"));
    assert!(store.room_for(999, bob).await.unwrap().is_none());

    // Read markers move forward only, and never past the room's newest message.
    store.mark_read(busy, bob, 1_000_000).await.unwrap();
    let marked = store.room_for(busy, bob).await.unwrap().unwrap();
    assert_eq!((marked.last_read_id, marked.unread), (new_id(&stored[2]), 0));
    store.mark_read(busy, bob, 1).await.unwrap();
    assert_eq!(store.room_for(busy, bob).await.unwrap().unwrap().last_read_id, new_id(&stored[2]));
    // Ignored people's messages are not unread; a late joiner has read what came before.
    let general_for_bob = store.room_for(GENERAL_ROOM_ID, bob).await.unwrap().unwrap();
    assert_eq!(general_for_bob.unread, 1);
    store.add_ignore(bob, carol, 10).await.unwrap();
    assert_eq!(store.room_for(GENERAL_ROOM_ID, bob).await.unwrap().unwrap().unread, 0);
    store.add_member(busy, carol, 10).await.unwrap();
    let busy_for_carol = store.room_for(busy, carol).await.unwrap().unwrap();
    assert_eq!((busy_for_carol.last_read_id, busy_for_carol.unread), (new_id(&stored[2]), 0));

    // Archived rooms leave the public list.
    assert_eq!(names(store.public_rooms(bob, 0, 100).await.unwrap()), ["general", "quiet"]);
    store.update_room(quiet, &RoomChange { archived: Some(true), ..RoomChange::default() }, None).await.unwrap();
    assert_eq!(names(store.public_rooms(bob, 0, 100).await.unwrap()), ["general"]);
    assert!(store.room_for(quiet, alice).await.unwrap().unwrap().archived);
}

async fn memberships_ignores_and_room_changes(store: Store) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let carol = user(&store, "carol").await;
    let room = created(store.create_room(alice, RoomKind::Public, "room", "", 10, 100).await.unwrap());
    store.add_member(room, bob, 10).await.unwrap();
    let (dm, _) = store.dm_between(bob, carol).await.unwrap();
    let members = store.members(room, None, 10).await.unwrap();
    let listed: Vec<(&str, bool)> = members.iter().map(|m| (m.username.as_str(), m.is_owner)).collect();
    assert_eq!(listed, [("alice", true), ("bob", false)]);
    assert!(store.members(dm, None, 10).await.unwrap().iter().all(|m| !m.is_owner));

    let conversations = store.conversations_of(bob).await.unwrap();
    let seen: Vec<(i64, Vec<i64>)> = conversations
        .iter()
        .map(|(room, members)| {
            let mut members = members.clone();
            members.sort_unstable();
            (room.id, members)
        })
        .collect();
    assert_eq!(seen, [(room, vec![alice, bob]), (dm, vec![bob, carol])], "all but general, with their members");
    assert_eq!((conversations[0].0.owner_id, conversations[1].0.kind), (Some(alice), RoomKind::Dm));
    let mut members = store.member_ids(room).await.unwrap();
    members.sort_unstable();
    assert_eq!(members, [alice, bob]);

    // Leaving, and a removal by an admin (audited).
    assert!(store.remove_member(room, bob, false, None).await.unwrap().is_some());
    assert!(store.remove_member(room, bob, false, None).await.unwrap().is_none());
    assert!(!store.is_member(room, bob).await.unwrap());
    store.add_member(room, carol, 10).await.unwrap();
    assert!(store.remove_member(room, carol, true, Some(alice)).await.unwrap().is_some());
    assert_eq!(store.members(room, None, 10).await.unwrap().len(), 1);

    // Renames and topics; a change of nothing changes nothing.
    let change = RoomChange { name: Some("Renamed".into()), topic: Some("new topic".into()), archived: None };
    store.update_room(room, &change, Some(alice)).await.unwrap();
    store.update_room(room, &RoomChange::default(), None).await.unwrap();
    let record = store.room(room).await.unwrap().unwrap();
    assert_eq!((record.name.as_deref(), record.topic.as_str(), record.archived), (Some("Renamed"), "new topic", false));
    store.update_room(room, &RoomChange { archived: Some(true), ..RoomChange::default() }, Some(alice)).await.unwrap();
    store.update_room(room, &RoomChange { archived: Some(false), ..RoomChange::default() }, Some(alice)).await.unwrap();
    assert!(!store.room(room).await.unwrap().unwrap().archived);

    // Ignores: one-way, capped, idempotent.
    assert!(matches!(store.add_ignore(carol, alice, 1).await.unwrap(), IgnoreAdded::Added { .. }));
    assert_eq!(store.add_ignore(carol, alice, 1).await.unwrap(), IgnoreAdded::Already);
    assert_eq!(store.add_ignore(carol, bob, 1).await.unwrap(), IgnoreAdded::Full, "at the cap");
    assert!(store.ignores(carol, alice).await.unwrap() && !store.ignores(alice, carol).await.unwrap());
    assert_eq!(store.ignored_ids(carol).await.unwrap(), [alice]);
    assert!(store.remove_ignore(carol, alice).await.unwrap().is_some());
    assert_eq!(store.remove_ignore(carol, alice).await.unwrap(), None, "not ignored any more");
    assert!(!store.ignores(carol, alice).await.unwrap());
    assert!(matches!(store.add_ignore(carol, bob, 1).await.unwrap(), IgnoreAdded::Added { .. }));
}

// ---------------------------------------------------------------------------------------------
// Administration

async fn admin_views_and_actions(store: Store) {
    let admin = store.create_user("root", "root@x.io", "h").await.unwrap();
    assert!(admin.is_admin);
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let (dm, _) = store.dm_between(bob, alice).await.unwrap();
    let room = created(store.create_room(alice, RoomKind::Public, "lounge", "", 10, 100).await.unwrap());
    let stored = store
        .insert_batch(&[
            message(alice, "hello", None),
            in_room(bob, dm, "psst", None),
            in_room(alice, room, "hi", None),
        ])
        .await
        .unwrap()
        .stored;

    // Messages, newest first and from a cursor; a DM is named after its two people.
    let monitor = store.admin_messages(None, 10).await.unwrap();
    let seen: Vec<(&str, &str, RoomKind)> =
        monitor.iter().map(|m| (m.content.as_str(), m.room.as_str(), m.room_kind)).collect();
    assert_eq!(
        seen,
        [
            ("hi", "lounge", RoomKind::Public),
            ("psst", "alice & bob", RoomKind::Dm),
            ("hello", "general", RoomKind::Public)
        ]
    );
    assert_eq!(monitor[1].username, "bob");
    assert_eq!(store.admin_messages(Some(new_id(&stored[1])), 10).await.unwrap().len(), 1);
    let exported = store.admin_messages_after(new_id(&stored[0]), 1).await.unwrap();
    assert_eq!(contents_of_admin(&exported), ["psst"]);

    // Rooms, by id from a cursor.
    let rooms = store.admin_rooms(None, 10).await.unwrap();
    let listed: Vec<(&str, i64, i64, Option<&str>)> =
        rooms.iter().map(|r| (r.name.as_str(), r.member_count, r.message_count, r.owner.as_deref())).collect();
    assert_eq!(listed, [("general", 3, 1, None), ("alice & bob", 2, 1, None), ("lounge", 1, 1, Some("alice"))]);
    assert_eq!(store.admin_rooms(Some(dm), 10).await.unwrap().len(), 1);
    assert_eq!(store.admin_room(dm).await.unwrap().unwrap().kind, RoomKind::Dm);
    assert!(store.admin_room(999).await.unwrap().is_none());

    // Blocks and unblocks by an admin.
    let blocked = store.set_blocked_by_admin(admin.id, bob, true).await.unwrap().unwrap();
    assert!(blocked.is_blocked);
    let token_version = store.user_by_id(bob).await.unwrap().unwrap().token_version;
    assert_eq!(token_version, 1);
    store.set_blocked_by_admin(admin.id, bob, true).await.unwrap();
    assert_eq!(store.user_by_id(bob).await.unwrap().unwrap().token_version, 1, "revoked once");
    assert!(store.set_blocked_by_admin(admin.id, 999, true).await.unwrap().is_none());
    let list = |blocked_only, after| {
        let store = store.clone();
        async move { store.list_users(blocked_only, after, 10).await.unwrap().iter().map(|u| u.id).collect::<Vec<_>>() }
    };
    assert_eq!(list(true, None).await, [bob]);
    assert_eq!(list(false, None).await, [admin.id, alice, bob]);
    assert_eq!(list(false, Some(alice)).await, [bob]);
    assert_eq!(store.users_after(admin.id, 1).await.unwrap().iter().map(|u| u.id).collect::<Vec<_>>(), [alice]);
    let overview = store.overview().await.unwrap();
    assert_eq!((overview.users, overview.blocked, overview.messages_today, overview.violations_today), (3, 1, 3, 0));
    let unblocked = store.set_blocked_by_admin(admin.id, bob, false).await.unwrap().unwrap();
    assert!(!unblocked.is_blocked);
    assert!(list(true, None).await.is_empty());
    assert!(store.unblock_by_username("BOB").await.unwrap());
    assert!(!store.unblock_by_username("nobody").await.unwrap());
}

fn contents_of_admin(messages: &[app::models::AdminMessage]) -> Vec<&str> {
    messages.iter().map(|m| m.content.as_str()).collect()
}

async fn violations_warn_then_block_but_never_an_admin(store: Store) {
    let admin = user(&store, "root").await;
    let bob = user(&store, "bob").await;
    assert_eq!(store.record_violation(bob, "word", "bad 1", None, 3, None).await.unwrap(), (1, false));
    assert_eq!(store.record_violation(bob, "word", "bad 2", None, 3, None).await.unwrap(), (2, false));
    assert_eq!(store.record_violation(bob, "word", "bad 3", None, 3, None).await.unwrap(), (3, true));
    assert_eq!(store.record_violation(bob, "word", "bad 4", None, 3, None).await.unwrap(), (4, true));
    let record = store.user_by_id(bob).await.unwrap().unwrap();
    assert_eq!((record.public.is_blocked, record.public.warning_count, record.token_version), (true, 4, 1));
    for n in 1..=4 {
        assert_eq!(store.record_violation(admin, "word", "mine", None, 3, None).await.unwrap(), (n, false));
    }
    assert!(!store.user_by_id(admin).await.unwrap().unwrap().public.is_blocked);
    let log = store.moderation_log(None, 100).await.unwrap();
    assert_eq!(log.len(), 8);
    assert_eq!((log[0].username.as_str(), log[0].content.as_str(), log[0].blocked), ("root", "mine", false));
    let bob_last = &log[4];
    assert_eq!(
        (bob_last.user_id, bob_last.rule.as_str(), bob_last.warning_count, bob_last.blocked),
        (bob, "word", 4, true)
    );
    assert_eq!(store.moderation_log(Some(bob_last.id), 100).await.unwrap().len(), 3);
    assert_eq!(store.overview().await.unwrap().violations_today, 8);
}

async fn blocks_revocations_and_role_changes_are_fed_whoever_makes_them(store: Store) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let start = store.latest_account_change().await.unwrap();
    store.set_admin("bob", true).await.unwrap();
    store.set_password_hash("alice", "h2").await.unwrap();
    store.block_user(bob).await.unwrap();
    // Not a change of authority: nothing is fed.
    store.record_violation(alice, "word", "bad", None, 100, None).await.unwrap();
    store.setting_or_insert("k", "v").await.unwrap();
    let changes = store.account_changes_after(start, 100).await.unwrap();
    assert_eq!(changes.iter().map(|c| c.1).collect::<Vec<_>>(), vec![bob, alice, bob]);
    let last = changes.last().unwrap().0;
    assert_eq!(store.latest_account_change().await.unwrap(), last);
    assert_eq!(store.account_changes_after(start, 1).await.unwrap(), changes[..1]);
    store.prune_account_changes(last).await.unwrap();
    assert!(store.account_changes_after(start, 100).await.unwrap().is_empty());
}

async fn revoked_sessions_are_fed_kept_until_they_expire_then_pruned(store: Store) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let (first, second, third) = ("0".repeat(32), "1".repeat(32), "2".repeat(32));
    let start = store.latest_account_change().await.unwrap();
    assert!(!store.session_revoked(&first).await.unwrap());
    assert!(store.revoke_session(&first, alice, 1_000).await.unwrap());
    assert!(store.revoke_session(&second, bob, 2_000).await.unwrap());
    assert!(store.revoke_session(&third, alice, 3_000).await.unwrap());
    // Revoking again changes nothing, and feeds nothing.
    assert!(!store.revoke_session(&first, alice, 9_000).await.unwrap());
    for session in [&first, &second, &third] {
        assert!(store.session_revoked(session).await.unwrap());
    }
    assert!(!store.session_revoked(&"3".repeat(32)).await.unwrap());
    // What authenticating reads, in one query: the user, and whether the session was revoked.
    let in_session = |id: i64, session: Option<String>| {
        let store = store.clone();
        async move {
            let found = store.user_in_session(id, session.as_deref()).await.unwrap();
            found.map(|(record, revoked)| (record.public.id, revoked))
        }
    };
    assert_eq!(in_session(alice, Some(first.clone())).await, Some((alice, true)));
    assert_eq!(in_session(alice, Some("3".repeat(32))).await, Some((alice, false)));
    assert_eq!(in_session(alice, None).await, Some((alice, false)), "a token without a session");
    assert_eq!(in_session(9_999, None).await, None, "no such user");
    // Every revocation is an account change of its user, in order.
    let changes = store.account_changes_after(start, 100).await.unwrap();
    assert_eq!(changes.iter().map(|c| c.1).collect::<Vec<_>>(), vec![alice, bob, alice]);

    // Pruning forgets exactly the sessions whose tokens have all expired: bounded by time.
    assert_eq!(store.prune_revoked_sessions(999).await.unwrap(), 0);
    assert_eq!(store.prune_revoked_sessions(2_000).await.unwrap(), 2);
    assert!(!store.session_revoked(&first).await.unwrap());
    assert!(!store.session_revoked(&second).await.unwrap());
    assert!(store.session_revoked(&third).await.unwrap());
    assert_eq!(store.prune_revoked_sessions(i64::MAX).await.unwrap(), 1);
    assert!(!store.session_revoked(&third).await.unwrap());
}

// ---------------------------------------------------------------------------------------------
// Concurrency: what SQLite's single writer gives, PostgreSQL must keep with its locks.

/// A block committed while batches stream in: no message of the blocked sender commits after it
/// (every id of theirs is at most the newest id once the block returned), and every message
/// reported stored is stored (and no other).
async fn a_block_racing_batches_refuses_every_later_message(store: Store) {
    let steady = user(&store, "steady").await;
    let mut doomed = Vec::new();
    for i in 0..24 {
        doomed.push(user(&store, &format!("doomed{i}")).await);
    }
    let senders: Vec<i64> = std::iter::once(steady).chain(doomed.iter().copied()).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..2usize {
        let (store, senders, stop) = (store.clone(), senders.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut stored: HashMap<i64, usize> = HashMap::new();
            let mut n = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let batch: Vec<NewMessage> = (0..100)
                    .map(|i| message(senders[(n + i + w) % senders.len()], &format!("w{w} n{n} i{i}"), None))
                    .collect();
                for result in store.insert_batch(&batch).await.unwrap().stored {
                    if let Stored::New(m) = result {
                        *stored.entry(m.sender_id).or_default() += 1;
                    }
                }
                n += 1;
            }
            stored
        }));
    }
    let mut newest_at_block = HashMap::new();
    for &user in &doomed {
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert!(store.block_user(user).await.unwrap());
        newest_at_block.insert(user, store.newest_message_id().await.unwrap());
    }
    // Batches go on after the last block.
    let newest_after_blocks = store.newest_message_id().await.unwrap();
    while store.newest_message_id().await.unwrap() < newest_after_blocks + 100 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut reported: HashMap<i64, usize> = HashMap::new();
    for writer in writers {
        for (user, count) in writer.await.unwrap() {
            *reported.entry(user).or_default() += count;
        }
    }
    let messages = all_messages(&store).await;
    let mut counted: HashMap<i64, usize> = HashMap::new();
    for m in &messages {
        *counted.entry(m.sender_id).or_default() += 1;
        if let Some(&newest) = newest_at_block.get(&m.sender_id) {
            assert!(
                m.id <= newest,
                "message {} of user {} committed after the block (newest {newest})",
                m.id,
                m.sender_id
            );
        }
    }
    assert_eq!(reported, counted);
    assert!(doomed.iter().filter(|u| counted.contains_key(u)).count() >= 12, "blocks came mid-stream");
}

/// Two stores (two server processes) insert batches at once while a reader follows: ids are
/// 1, 2, 3... with no gap, and a reader never sees an id before a smaller one commits.
async fn ids_are_gapless_and_visible_in_commit_order_with_two_stores(database: &Database) {
    let stores = database.two_stores().await;
    let mut senders = Vec::new();
    for i in 0..4 {
        senders.push(user(&stores[0], &format!("sender{i}")).await);
    }
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (store, done) = (stores[1].clone(), done.clone());
        tokio::spawn(async move {
            let mut last = 0;
            let mut reads = 0;
            loop {
                let finished = done.load(Ordering::Acquire);
                let (page, more) = store.messages_since(View::default(), last, 500).await.unwrap();
                for m in &page {
                    assert_eq!(m.id, last + 1, "read {} after {last}", m.id);
                    last = m.id;
                }
                reads += 1;
                if finished && !more {
                    return (last, reads);
                }
                if page.is_empty() {
                    tokio::task::yield_now().await;
                }
            }
        })
    };
    let mut writers = Vec::new();
    for (w, store) in stores.iter().enumerate() {
        for task in 0..2usize {
            let (store, senders) = (store.clone(), senders.clone());
            writers.push(tokio::spawn(async move {
                let mut inserted = 0usize;
                for n in 0..100usize {
                    let size = 1 + (n * 7 + w * 13 + task * 5) % 50;
                    let batch: Vec<NewMessage> = (0..size)
                        .map(|i| message(senders[(i + n) % senders.len()], &format!("{w}.{task}.{n}.{i}"), None))
                        .collect();
                    let stored = store.insert_batch(&batch).await.unwrap().stored;
                    let ids: Vec<i64> = stored.iter().map(new_id).collect();
                    assert!(ids.windows(2).all(|pair| pair[1] == pair[0] + 1), "a batch's ids are consecutive");
                    inserted += ids.len();
                }
                inserted
            }));
        }
    }
    let mut total = 0;
    for writer in writers {
        total += writer.await.unwrap() as i64;
    }
    done.store(true, Ordering::Release);
    let (last, reads) = reader.await.unwrap();
    assert_eq!(last, total);
    assert!(reads > 10, "the reader followed the writers ({reads} reads)");
    let ids: Vec<i64> = all_messages(&stores[0]).await.iter().map(|m| m.id).collect();
    assert_eq!(ids, (1..=total).collect::<Vec<_>>());
    assert_eq!(stores[0].newest_message_id().await.unwrap(), total);
}

async fn simultaneous_first_registrations_make_one_admin(database: &Database) {
    let stores = database.two_stores().await;
    let registrations: Vec<_> = (0..10)
        .map(|i| {
            let store = stores[i % 2].clone();
            tokio::spawn(async move { store.create_user(&format!("user{i}"), &format!("u{i}@x.io"), "h").await })
        })
        .collect();
    let mut admins = 0;
    for registration in registrations {
        admins += usize::from(registration.await.unwrap().unwrap().is_admin);
    }
    assert_eq!(admins, 1);
}

async fn caps_hold_under_simultaneous_requests(database: &Database) {
    let stores = database.two_stores().await;
    let owner = user(&stores[0], "owner").await;
    let mut others = Vec::new();
    for i in 0..12 {
        others.push(user(&stores[0], &format!("other{i}")).await);
    }
    // In `general` already: 4 more conversations fit under a cap of 5.
    let creations: Vec<_> = (0..12)
        .map(|i| {
            let store = stores[i % 2].clone();
            tokio::spawn(async move { store.create_room(owner, RoomKind::Public, &format!("r{i}"), "", 5, 100).await })
        })
        .collect();
    let mut made = 0;
    for creation in creations {
        made += usize::from(matches!(creation.await.unwrap().unwrap(), Created::Room { .. }));
    }
    assert_eq!(made, 4);
    assert_eq!(stores[0].rooms_of(owner).await.unwrap().len(), 5);

    let joiner = others[0];
    let mut rooms = Vec::new();
    for (i, &other) in others.iter().enumerate().skip(1) {
        rooms.push(created(
            stores[0].create_room(other, RoomKind::Public, &format!("o{i}"), "", 50, 100).await.unwrap(),
        ));
    }
    let joins: Vec<_> = rooms
        .iter()
        .enumerate()
        .map(|(i, &room)| {
            let store = stores[i % 2].clone();
            tokio::spawn(async move { store.add_member(room, joiner, 5).await })
        })
        .collect();
    let mut added = 0;
    for join in joins {
        added += usize::from(matches!(join.await.unwrap().unwrap(), Joined::Added { .. }));
    }
    assert_eq!(added, 4);

    let ignores: Vec<_> = others
        .iter()
        .enumerate()
        .map(|(i, &other)| {
            let store = stores[i % 2].clone();
            tokio::spawn(async move { store.add_ignore(owner, other, 3).await })
        })
        .collect();
    let mut ignored = 0;
    for ignore in ignores {
        ignored += usize::from(matches!(ignore.await.unwrap().unwrap(), IgnoreAdded::Added { .. }));
    }
    assert_eq!(ignored, 3);
    assert_eq!(stores[1].ignored_usernames(owner).await.unwrap().len(), 3);
}

/// Blocks and unblocks from two stores at once while a reader follows the feed: sequence numbers
/// are 1, 2, 3... with no gap, each visible only after every smaller one.
async fn account_change_seqs_are_gapless_and_in_commit_order(database: &Database) {
    let stores = database.two_stores().await;
    let mut users = Vec::new();
    for i in 0..8 {
        users.push(user(&stores[0], &format!("user{i}")).await);
    }
    assert_eq!(stores[0].latest_account_change().await.unwrap(), 0);
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (store, done) = (stores[1].clone(), done.clone());
        tokio::spawn(async move {
            let mut last = 0;
            loop {
                let finished = done.load(Ordering::Acquire);
                let changes = store.account_changes_after(last, 1000).await.unwrap();
                for &(seq, _) in &changes {
                    assert_eq!(seq, last + 1, "change {seq} read after {last}");
                    last = seq;
                }
                if finished && changes.is_empty() {
                    return last;
                }
                if changes.is_empty() {
                    tokio::task::yield_now().await;
                }
            }
        })
    };
    // Each task toggles its own users: every call is one change.
    let tasks: Vec<_> = users
        .chunks(2)
        .enumerate()
        .map(|(t, mine)| {
            let (store, mine) = (stores[t % 2].clone(), mine.to_vec());
            tokio::spawn(async move {
                let mut changes = 0;
                for round in 0..25 {
                    for &user in &mine {
                        let record = store.user_by_id(user).await.unwrap().unwrap();
                        if round % 2 == 0 {
                            assert!(store.block_user(user).await.unwrap());
                        } else {
                            assert!(store.unblock_by_username(&record.public.username).await.unwrap());
                        }
                        changes += 1;
                    }
                }
                changes
            })
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap();
    }
    done.store(true, Ordering::Release);
    assert_eq!(reader.await.unwrap(), total);
    let seqs: Vec<i64> = stores[0].account_changes_after(0, 10_000).await.unwrap().iter().map(|c| c.0).collect();
    assert_eq!(seqs, (1..=total).collect::<Vec<_>>());
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL only

/// Two servers starting at once on a new database: sqlx's advisory lock makes one migrate and
/// the other find it migrated.
async fn stores_opened_at_once_on_a_new_database_both_migrate(database: &Database) {
    let (a, b) = tokio::join!(database.open(), database.open());
    let alice = a.create_user("alice", "a@x.io", "h").await.unwrap();
    assert_eq!(b.user_by_username("alice").await.unwrap().unwrap().public.id, alice.id);
    assert!(alice.is_admin);
}

/// The catch-up read of every conversation a member is in walks `messages` in id order from the
/// cursor (the primary key), probing the member's rooms per row, with no sort: on a few hundred
/// thousand rows, for custom and generic plans (a prepared statement's, after five runs).
async fn member_catch_up_walks_messages_in_id_order(database: &Database) {
    let Store::Postgres(store) = database.open().await else { unreachable!() };
    let seed = [
        "INSERT INTO users (username, email, password_hash, created_at) \
         SELECT 'user' || g, 'u' || g || '@x.io', 'h', 't' FROM generate_series(1, 1000) g",
        "INSERT INTO rooms (kind, name, owner_id, created_at) \
         SELECT 'public', 'room' || g, 1, 't' FROM generate_series(1, 50) g",
        "INSERT INTO room_members (room_id, user_id, joined_at) \
         SELECT 2 + (u.id * 7 + k * 13) % 50, u.id, 't' FROM users u, generate_series(1, 3) k ON CONFLICT DO NOTHING",
        // A tenth of the messages in `general`, the rest spread over the 50 rooms.
        "INSERT INTO messages (id, sender_id, room_id, content, created_at) \
         SELECT g, 1 + g % 1000, CASE WHEN g % 10 = 0 THEN 1 ELSE 2 + g % 50 END, 'message ' || g, 't' \
         FROM generate_series(1, 300000) g",
        "UPDATE counters SET value = 300000 WHERE name = 'messages'",
        "ANALYZE",
    ];
    for sql in seed {
        sqlx::query(sql).execute(store.pool()).await.unwrap();
    }
    let viewer = 5;
    let rooms: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM room_members WHERE user_id = $1")
        .bind(viewer)
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(rooms, 4, "general and three rooms, about a sixth of the messages");
    let mut connection = store.pool().acquire().await.unwrap();
    let sql = super::postgres::since_sql(View::member(viewer));
    sqlx::query(&format!("PREPARE catch_up (bigint, bigint, bigint) AS {sql}"))
        .execute(&mut *connection)
        .await
        .unwrap();
    for mode in ["force_custom_plan", "force_generic_plan"] {
        sqlx::query(&format!("SET plan_cache_mode = {mode}")).execute(&mut *connection).await.unwrap();
        for since in [0, 150_000] {
            let plan: Vec<String> =
                sqlx::query_scalar(&format!("EXPLAIN (COSTS OFF) EXECUTE catch_up ({since}, 33, {viewer})"))
                    .fetch_all(&mut *connection)
                    .await
                    .unwrap();
            let plan = plan.join("\n");
            assert!(plan.contains("Index Scan using messages_pkey on messages m"), "{mode}, since {since}:\n{plan}");
            assert!(!plan.contains("Sort"), "{mode}, since {since}:\n{plan}");
        }
    }
    let (page, more) = database.open().await.messages_since(View::member(viewer), 0, 32).await.unwrap();
    assert_eq!((page.len(), more), (32, true));
}

// ---------------------------------------------------------------------------------------------
// The room-change feed, sticky admin actions, invitations (issue 22)

/// The changes of the feed after `seq`.
async fn changes_after(store: &Store, seq: i64) -> Vec<Change> {
    store.room_changes_after(seq, 1000).await.unwrap().into_iter().map(|entry| entry.change.unwrap()).collect()
}

async fn the_feed_records_every_change_in_order_with_its_names(store: Store) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let carol = user(&store, "carol").await;
    assert_eq!(store.latest_room_change().await.unwrap(), 0, "registrations are not room changes");
    let room = created(store.create_room(alice, RoomKind::Public, "room", "", 10, 10).await.unwrap());
    let Joined::Added { seq: joined } = store.add_member(room, bob, 10).await.unwrap() else { panic!("not added") };
    assert_eq!(store.add_member(room, bob, 10).await.unwrap(), Joined::Already, "no entry for no change");
    let rename = RoomChange { name: Some("den".into()), ..RoomChange::default() };
    let renamed = store.update_room(room, &rename, None).await.unwrap();
    let (dm, Some(_)) = store.dm_between(carol, alice).await.unwrap() else { panic!("not created") };
    assert!(store.remove_member(room, bob, false, None).await.unwrap().is_some());
    assert_eq!(store.remove_member(room, bob, false, None).await.unwrap(), None);
    store.add_member(room, carol, 10).await.unwrap();
    store.remove_member(room, carol, true, Some(alice)).await.unwrap();
    store.add_ignore(bob, carol, 10).await.unwrap();
    store.remove_ignore(bob, carol).await.unwrap();
    let private = created(store.create_room(alice, RoomKind::Private, "inner", "", 10, 10).await.unwrap());
    store.invite(private, bob, alice, 10).await.unwrap();
    assert_eq!(
        changes_after(&store, 0).await,
        [
            Change::Created { room, owner: alice },
            Change::Joined { room, user: bob },
            Change::Room { room },
            Change::Dm { room: dm, low: alice, high: carol },
            Change::Left { room, user: bob, removed: false },
            Change::Joined { room, user: carol },
            Change::Left { room, user: carol, removed: true },
            Change::Ignored { user: bob, ignored: carol, on: true },
            Change::Ignored { user: bob, ignored: carol, on: false },
            Change::Created { room: private, owner: alice },
            Change::Invited { room: private, user: bob, inviter: alice },
        ]
    );
    let entries = store.room_changes_after(0, 1000).await.unwrap();
    let seqs: Vec<i64> = entries.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=11).collect::<Vec<_>>(), "gapless from 1");
    assert_eq!((entries[1].seq, entries[2].seq), (joined, renamed));
    assert_eq!(entries[1].username.as_deref(), Some("bob"));
    assert_eq!((entries[10].username.as_deref(), entries[10].other_username.as_deref()), (Some("bob"), Some("alice")));
    assert_eq!(store.latest_room_change().await.unwrap(), 11);
    // Paged, and pruned from the oldest.
    assert_eq!(store.room_changes_after(3, 2).await.unwrap().iter().map(|e| e.seq).collect::<Vec<_>>(), [4, 5]);
    store.prune_room_changes(5).await.unwrap();
    assert_eq!(store.room_changes_after(0, 1000).await.unwrap().first().map(|e| e.seq), Some(6));
    assert_eq!(store.latest_room_change().await.unwrap(), 11, "pruning keeps the numbering");
}

async fn a_batch_names_the_newest_change_committed_before_it(store: Store) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let first = store.insert_batch(&[message(alice, "before any change", None)]).await.unwrap();
    assert_eq!(first.feed, 0);
    let room = created(store.create_room(alice, RoomKind::Public, "room", "", 10, 10).await.unwrap());
    let Joined::Added { seq } = store.add_member(room, bob, 10).await.unwrap() else { panic!("not added") };
    let batch = store.insert_batch(&[in_room(bob, room, "after the join", None)]).await.unwrap();
    assert_eq!(batch.feed, seq, "the join is the newest change before the batch");
    // Large batches (several statements, or one transaction) name it too.
    let many: Vec<NewMessage> = (0..300).map(|i| message(alice, &format!("m{i}"), None)).collect();
    let big = store.insert_batch(&many).await.unwrap();
    assert_eq!((big.stored.len(), big.feed), (300, seq));
}

async fn admin_removals_and_archives_stick_until_lifted(store: Store) {
    let admin = user(&store, "admin").await;
    let owner = user(&store, "owner").await;
    let bob = user(&store, "bob").await;
    let room = created(store.create_room(owner, RoomKind::Public, "room", "", 10, 10).await.unwrap());
    store.add_member(room, bob, 10).await.unwrap();
    // An owner's removal is not a ban.
    store.remove_member(room, bob, true, None).await.unwrap();
    assert!(!store.is_banned(room, bob).await.unwrap());
    assert!(matches!(store.add_member(room, bob, 10).await.unwrap(), Joined::Added { .. }));
    // An admin's is, until an admin lifts it.
    store.remove_member(room, bob, true, Some(admin)).await.unwrap();
    assert!(store.is_banned(room, bob).await.unwrap());
    assert_eq!(store.add_member(room, bob, 10).await.unwrap(), Joined::Banned);
    assert_eq!(store.invite(room, bob, owner, 10).await.unwrap(), Invited::Banned);
    assert_eq!(store.room_bans(room).await.unwrap(), ["bob"]);
    assert!(store.lift_ban(room, bob).await.unwrap());
    assert!(!store.lift_ban(room, bob).await.unwrap());
    assert!(matches!(store.add_member(room, bob, 10).await.unwrap(), Joined::Added { .. }));

    let archive = |archived| RoomChange { archived: Some(archived), ..RoomChange::default() };
    store.update_room(room, &archive(true), Some(admin)).await.unwrap();
    let record = store.room(room).await.unwrap().unwrap();
    assert!(record.archived && record.archived_by_admin, "an admin's archive is marked");
    store.update_room(room, &archive(false), Some(admin)).await.unwrap();
    let record = store.room(room).await.unwrap().unwrap();
    assert!(!record.archived && !record.archived_by_admin, "and lifted by an admin");
    store.update_room(room, &archive(true), None).await.unwrap();
    assert!(!store.room(room).await.unwrap().unwrap().archived_by_admin, "an owner's archive is not");
    // An admin's archive brought back by an admin who owns the room clears the mark too.
    store.update_room(room, &archive(true), Some(admin)).await.unwrap();
    store.update_room(room, &archive(false), None).await.unwrap();
    assert!(!store.room(room).await.unwrap().unwrap().archived_by_admin);
}

async fn invitations_wait_for_an_answer(store: Store) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let carol = user(&store, "carol").await;
    let room = created(store.create_room(alice, RoomKind::Private, "inner", "topic", 10, 10).await.unwrap());
    let other = created(store.create_room(carol, RoomKind::Private, "other", "", 10, 10).await.unwrap());
    assert!(matches!(store.invite(room, bob, alice, 2).await.unwrap(), Invited::Pending { .. }));
    assert_eq!(store.invite(room, bob, alice, 2).await.unwrap(), Invited::Already);
    assert_eq!(store.invite(room, alice, alice, 2).await.unwrap(), Invited::Member);
    assert!(store.has_invitation(room, bob).await.unwrap() && !store.is_member(room, bob).await.unwrap());
    let third = created(store.create_room(carol, RoomKind::Private, "third", "", 10, 10).await.unwrap());
    assert!(matches!(store.invite(other, bob, carol, 2).await.unwrap(), Invited::Pending { .. }));
    assert_eq!(store.invite(third, bob, carol, 2).await.unwrap(), Invited::TooMany, "two may wait at once");
    let waiting = store.invitations_of(bob).await.unwrap();
    let seen: Vec<(i64, &str, &str, bool)> =
        waiting.iter().map(|i| (i.room.id, i.room.name.as_str(), i.inviter.as_str(), i.room.joined)).collect();
    assert_eq!(seen, [(room, "inner", "alice", false), (other, "other", "carol", false)]);
    // Accepting makes a member (once); declining forgets it.
    assert!(matches!(store.accept_invitation(room, bob, 10).await.unwrap(), Some(Joined::Added { .. })));
    assert_eq!(store.accept_invitation(room, bob, 10).await.unwrap(), None, "nothing waits any more");
    assert!(store.is_member(room, bob).await.unwrap() && !store.has_invitation(room, bob).await.unwrap());
    assert!(store.decline_invitation(other, bob).await.unwrap());
    assert!(!store.decline_invitation(other, bob).await.unwrap());
    assert!(store.invitations_of(bob).await.unwrap().is_empty());
    // Joining by any other way answers a waiting invitation too.
    store.invite(other, alice, carol, 2).await.unwrap();
    store.add_member(other, alice, 10).await.unwrap();
    assert!(!store.has_invitation(other, alice).await.unwrap());
}

async fn owners_may_create_only_so_many_rooms(store: Store) {
    let alice = user(&store, "alice").await;
    let first = created(store.create_room(alice, RoomKind::Public, "one", "", 100, 2).await.unwrap());
    created(store.create_room(alice, RoomKind::Private, "two", "", 100, 2).await.unwrap());
    assert_eq!(store.create_room(alice, RoomKind::Public, "three", "", 100, 2).await.unwrap(), Created::TooManyOwned);
    // Leaving a room does not give its place back: it is still hers.
    store.remove_member(first, alice, false, None).await.unwrap();
    assert_eq!(store.create_room(alice, RoomKind::Public, "three", "", 100, 2).await.unwrap(), Created::TooManyOwned);
}

async fn a_client_id_used_elsewhere_acknowledges_nothing(store: Store) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let room = created(store.create_room(alice, RoomKind::Private, "secret", "", 10, 10).await.unwrap());
    store.add_member(room, bob, 10).await.unwrap();
    let original = store.insert_batch(&[in_room(bob, room, "inside", Some("c-1"))]).await.unwrap();
    assert!(matches!(original.stored[0], Stored::New(_)));
    // The same client_id in another conversation: refused, the original not shown.
    let elsewhere = store.insert_batch(&[message(bob, "outside", Some("c-1"))]).await.unwrap();
    assert!(matches!(elsewhere.stored[0], Stored::ClientIdTaken));
    // A retry where it was sent is acknowledged with the original...
    let retry = store.insert_batch(&[in_room(bob, room, "inside", Some("c-1"))]).await.unwrap();
    assert!(matches!(&retry.stored[0], Stored::Duplicate(m) if m.content == "inside"));
    // ... until the sender is no longer in that conversation.
    store.remove_member(room, bob, true, None).await.unwrap();
    let after = store.insert_batch(&[in_room(bob, room, "inside", Some("c-1"))]).await.unwrap();
    assert!(matches!(after.stored[0], Stored::ClientIdTaken));
    assert_eq!(contents(&all_messages(&store).await), ["inside"]);
}

/// Joins and leaves from two stores at once while a reader follows the feed and batches commit:
/// sequence numbers are 1, 2, 3... with no gap, each visible only after every smaller one, and
/// every batch names an entry no newer than the feed's newest when it committed.
async fn room_change_seqs_are_gapless_and_ordered_with_batches(database: &Database) {
    let stores = database.two_stores().await;
    let owner = user(&stores[0], "owner").await;
    let room = created(stores[0].create_room(owner, RoomKind::Public, "busy", "", 500, 10).await.unwrap());
    let mut users = Vec::new();
    for i in 0..6 {
        users.push(user(&stores[0], &format!("user{i}")).await);
    }
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (store, done) = (stores[1].clone(), done.clone());
        tokio::spawn(async move {
            let mut last = store.latest_room_change().await.unwrap();
            loop {
                let finished = done.load(Ordering::Acquire);
                let entries = store.room_changes_after(last, 1000).await.unwrap();
                for entry in &entries {
                    assert_eq!(entry.seq, last + 1, "entry {} read after {last}", entry.seq);
                    last = entry.seq;
                }
                if finished && entries.is_empty() {
                    return last;
                }
                if entries.is_empty() {
                    tokio::task::yield_now().await;
                }
            }
        })
    };
    let writer = {
        let (store, done) = (stores[0].clone(), done.clone());
        tokio::spawn(async move {
            let mut feeds = Vec::new();
            while !done.load(Ordering::Acquire) {
                let batch = store.insert_batch(&[message(owner, "m", None)]).await.unwrap();
                feeds.push(batch.feed);
            }
            feeds
        })
    };
    let tasks: Vec<_> = users
        .chunks(2)
        .enumerate()
        .map(|(t, mine)| {
            let (store, mine) = (stores[t % 2].clone(), mine.to_vec());
            tokio::spawn(async move {
                let mut changes = 0;
                for _ in 0..10 {
                    for &user in &mine {
                        assert!(matches!(store.add_member(room, user, 500).await.unwrap(), Joined::Added { .. }));
                        assert!(store.remove_member(room, user, false, None).await.unwrap().is_some());
                        changes += 2;
                    }
                }
                changes
            })
        })
        .collect();
    let mut total = 1;
    for task in tasks {
        total += task.await.unwrap();
    }
    done.store(true, Ordering::Release);
    assert_eq!(reader.await.unwrap(), total);
    let feeds = writer.await.unwrap();
    assert!(feeds.windows(2).all(|pair| pair[0] <= pair[1]), "batches name entries in commit order");
    assert!(feeds.iter().all(|feed| *feed <= total));
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL's pools and sessions: who waits for whom.

impl Database {
    /// A store on this database whose sessions carry `session`.
    async fn open_with(&self, session: super::PgSession) -> Store {
        let options = super::StoreOptions { pg: session, ..super::StoreOptions::new(2, "NORMAL") };
        Store::open(&self.url, &options).await.expect("the store opens")
    }
}

/// What `future` gives, which must be within 3 s (`what` it is, if not).
async fn quickly<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    let answer = tokio::time::timeout(Duration::from_secs(3), future).await;
    answer.unwrap_or_else(|_| panic!("{what} waited for the pool of requests"))
}

/// The value of `name` in a session of `pool`, in the setting's own unit (`pg_settings`).
async fn setting_of(pool: &sqlx::PgPool, name: &str) -> String {
    sqlx::query_scalar("SELECT setting FROM pg_settings WHERE name = $1").bind(name).fetch_one(pool).await.unwrap()
}

async fn every_connection_carries_the_session_settings(database: &Database) {
    let session = super::PgSession {
        statement_timeout: Duration::from_secs(7),
        lock_timeout: Duration::from_millis(3500),
        idle_in_transaction_timeout: Duration::from_secs(2),
        keepalive: Duration::from_secs(9),
    };
    let store = database.open_with(session).await;
    let writer = store.for_writer();
    let feeds = store.for_feeds();
    let lanes = [
        ("requests", store.as_postgres().unwrap().pool(), 4),
        ("writer", writer.as_postgres().unwrap().pool(), 2),
        ("feeds", feeds.as_postgres().unwrap().pool(), 2),
    ];
    for (lane, pool, size) in lanes {
        assert_eq!(pool.options().get_max_connections(), size, "{lane}");
        let settings = [
            ("statement_timeout", "7000"),
            ("lock_timeout", "3500"),
            ("idle_in_transaction_session_timeout", "2000"),
            ("tcp_keepalives_idle", "9"),
            ("tcp_keepalives_interval", "3"),
            ("tcp_keepalives_count", "3"),
            ("tcp_user_timeout", "18000"),
        ];
        for (name, value) in settings {
            assert_eq!(setting_of(pool, name).await, value, "{lane}: {name}");
        }
        let name = setting_of(pool, "application_name").await;
        assert_eq!(name, format!("chatterbox {lane} pid {}", std::process::id()));
    }
}

/// A store whose transaction stalls while it holds the `messages` counter (a node frozen inside a
/// commit) loses it after the idle-in-transaction timeout; another store's batch, waiting for
/// the lock meanwhile, then commits (its lock timeout is longer), and the stalled one's next
/// statement fails: nothing of its transaction was stored.
async fn a_transaction_left_idle_frees_the_counter_for_the_other_stores(database: &Database) {
    let session = super::PgSession {
        idle_in_transaction_timeout: Duration::from_secs(1),
        lock_timeout: Duration::from_secs(5),
        ..super::PgSession::default()
    };
    let [stalled, other] = [database.open_with(session).await, database.open_with(session).await];
    let alice = user(&other, "alice").await;
    let mut held = stalled.as_postgres().unwrap().writer_pool().begin().await.unwrap();
    sqlx::query("SELECT value FROM counters WHERE name = 'messages' FOR UPDATE").execute(&mut *held).await.unwrap();
    sqlx::query("UPDATE counters SET value = value + 1 WHERE name = 'messages'").execute(&mut *held).await.unwrap();
    let started = std::time::Instant::now();
    let stored = tokio::time::timeout(Duration::from_secs(10), other.insert_batch(&[message(alice, "hi", Some("c"))]))
        .await
        .expect("the batch commits once the stalled transaction is ended")
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(900), "it waited for the lock: {:?}", started.elapsed());
    assert!(matches!(&stored.stored[..], [Stored::New(m)] if m.id == 1), "stored as message 1");
    assert!(sqlx::query("SELECT 1").execute(&mut *held).await.is_err(), "the stalled session was ended");
    drop(held);
    assert_eq!(other.newest_message_id().await.unwrap(), 1, "the stalled counter move was rolled back");
}

/// Slow reads taking every connection of the pool of requests hold up neither the writer's
/// commits and reads nor the feeds' reads.
async fn slow_reads_filling_the_pool_of_requests_leave_the_writer_and_the_feeds_theirs(database: &Database) {
    let store = database.open().await;
    let alice = user(&store, "alice").await;
    let requests = store.as_postgres().unwrap().pool().clone();
    let slow: Vec<_> = (0..requests.options().get_max_connections())
        .map(|_| {
            let pool = requests.clone();
            tokio::spawn(async move { sqlx::query("SELECT pg_sleep(10)").execute(&pool).await })
        })
        .collect();
    while requests.size() < requests.options().get_max_connections() || requests.num_idle() > 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let writer = store.for_writer();
    let batch = [message(alice, "hi", None)];
    let stored = quickly("a commit", writer.insert_batch(&batch)).await.unwrap();
    assert!(matches!(&stored.stored[..], [Stored::New(_)]), "stored");
    assert_eq!(quickly("the probe", writer.newest_message_id()).await.unwrap(), 1);
    let gap = quickly("a gap read", writer.messages_since(View::default(), 0, 10)).await.unwrap();
    assert_eq!(gap.0.len(), 1);
    // Account-change reads are the feeds', whichever the handle; the feeds' task reads the rest
    // on them too.
    quickly("the feed", store.account_changes_after(0, 10)).await.unwrap();
    let changed = quickly("a changed account", store.for_feeds().user_by_id(alice)).await.unwrap();
    assert!(changed.is_some());
    assert!(slow.iter().all(|read| !read.is_finished()), "the slow reads held the pool throughout");
    sqlx::query("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(10)'")
        .execute(store.for_writer().as_postgres().unwrap().pool())
        .await
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// Trust and safety

async fn a_removed_message_keeps_its_place_without_its_text(store: Store) {
    let admin = user(&store, "root").await;
    let alice = user(&store, "alice").await;
    let batch =
        store.insert_batch(&[message(alice, "keep", None), message(alice, "remove me", Some("c2"))]).await.unwrap();
    let (kept, removed) = (new_id(&batch.stored[0]), new_id(&batch.stored[1]));
    let before = store.latest_room_change().await.unwrap();

    let Removal::Removed { room, seq } = store.remove_message(removed, admin, "spam").await.unwrap() else {
        panic!("not removed")
    };
    assert_eq!((room, seq), (GENERAL_ROOM_ID, before + 1));
    let entry = store.room_changes_after(before, 10).await.unwrap();
    assert_eq!(entry.len(), 1);
    assert_eq!(entry[0].change, Some(Change::MessageRemoved { room: GENERAL_ROOM_ID, message: removed }));
    assert_eq!(store.remove_message(removed, admin, "again").await.unwrap(), Removal::Already { room });
    assert_eq!(store.remove_message(removed + 100, admin, "none").await.unwrap(), Removal::NotFound);
    assert_eq!(store.latest_room_change().await.unwrap(), seq, "nothing else was fed");

    // Every history keeps its place, with no text; the other message is untouched.
    let all = all_messages(&store).await;
    let shown: Vec<(i64, &str, bool)> = all.iter().map(|m| (m.id, m.content.as_str(), m.removed)).collect();
    assert_eq!(shown, [(kept, "keep", false), (removed, "", true)]);
    let latest = store.latest_messages(View::room(GENERAL_ROOM_ID, alice), 10).await.unwrap();
    assert!(latest.iter().any(|m| m.id == removed && m.removed && m.content.is_empty()));
    let admin_view = store.admin_messages(None, 10).await.unwrap();
    assert!(admin_view.iter().any(|m| m.id == removed && m.removed && m.content.is_empty()));
    let export = store.admin_messages_after(0, 10).await.unwrap();
    assert!(export.iter().any(|m| m.id == removed && m.removed && m.content.is_empty()));
    // A retry of its client id acknowledges the removed message as it now is.
    let retried = store.insert_batch(&[message(alice, "remove me", Some("c2"))]).await.unwrap();
    match &retried.stored[0] {
        Stored::Duplicate(original) => assert!(original.removed && original.content.is_empty()),
        _ => panic!("a retry of a stored client id"),
    }
}

async fn reports_open_one_item_per_message_in_queue_order(store: Store) {
    let admin = user(&store, "root").await;
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let carol = user(&store, "carol").await;
    let dave = user(&store, "dave").await;
    let room = created(store.create_room(alice, RoomKind::Private, "den", "", 500, 100).await.unwrap());
    store.add_member(room, bob, 500).await.unwrap();
    let batch = store
        .insert_batch(&[
            message(alice, "first", None),
            message(alice, "second", None),
            in_room(alice, room, "private", None),
        ])
        .await
        .unwrap();
    let (first, second, private) = (new_id(&batch.stored[0]), new_id(&batch.stored[1]), new_id(&batch.stored[2]));
    let open = || store.review_items(ReviewFilter::Open { before: None, limit: 100 });

    assert_eq!(store.report_message(private, carol, "", 1.0, 3.0).await.unwrap(), Reported::Unreadable);
    assert_eq!(store.report_message(first + 1000, bob, "", 1.0, 3.0).await.unwrap(), Reported::Unreadable);
    assert_eq!(store.report_message(first, alice, "", 1.0, 3.0).await.unwrap(), Reported::Own);
    let Reported::Recorded { item: first_item } = store.report_message(first, bob, "rude", 1.0, 3.0).await.unwrap()
    else {
        panic!("recorded")
    };
    assert_eq!(store.report_message(first, bob, "again", 1.0, 3.0).await.unwrap(), Reported::Already);
    assert!(matches!(store.report_message(private, bob, "", 1.0, 3.0).await.unwrap(), Reported::Recorded { .. }));
    assert!(matches!(store.report_message(second, bob, "", 1.0, 3.0).await.unwrap(), Reported::Recorded { .. }));
    let order = |items: Vec<super::ReviewRecord>| items.into_iter().map(|r| r.message_id.unwrap()).collect::<Vec<_>>();
    assert_eq!(order(open().await.unwrap()), [second, private, first], "newest item first");

    // The first item's reports reach 3: it moves to the front; its reports come with it.
    store.report_message(first, carol, "", 1.0, 3.0).await.unwrap();
    assert_eq!(order(open().await.unwrap()), [second, private, first], "2 of 3");
    store.report_message(first, dave, "", 1.0, 3.0).await.unwrap();
    let items = open().await.unwrap();
    assert_eq!(order(items.clone()), [first, second, private]);
    let front = &items[0].item;
    assert_eq!(front.id, first_item);
    let reporters: Vec<&str> = front.reports.iter().map(|r| r.username.as_str()).collect();
    assert_eq!(reporters.len(), 3);
    assert!(reporters.contains(&"bob") && reporters.contains(&"carol") && reporters.contains(&"dave"));
    assert_eq!(front.sources, ["report"]);
    assert_eq!(front.content, "first");
    let context: Vec<&str> = front.context.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(context, ["second"], "the room's messages around it");
    // Paging behind an item follows the queue's order.
    let behind = store.review_items(ReviewFilter::Open { before: Some(first_item), limit: 1 }).await.unwrap();
    assert_eq!(order(behind), [second]);

    // Resolved once; an approved item reopens on a new report.
    assert_eq!(store.resolve_review(first_item, admin, "approved", "fine").await.unwrap(), Some(true));
    assert_eq!(store.resolve_review(first_item, admin, "removed", "").await.unwrap(), Some(false));
    assert_eq!(store.resolve_review(first_item + 1000, admin, "removed", "").await.unwrap(), None);
    assert_eq!(order(open().await.unwrap()), [second, private]);
    let one = store.review_items(ReviewFilter::One(first_item)).await.unwrap();
    assert_eq!(one[0].item.state, "approved");
    assert_eq!(one[0].item.resolved_by.as_deref(), Some("root"));
    let eve = user(&store, "eve").await;
    store.report_message(first, eve, "", 0.5, 3.0).await.unwrap();
    let reopened = store.review_items(ReviewFilter::One(first_item)).await.unwrap();
    assert_eq!((reopened[0].item.state.as_str(), reopened[0].item.resolved_by.as_deref()), ("open", None));

    // Flagged by the classifier too: one item, both sources, the score kept.
    store.flag_message(second, GENERAL_ROOM_ID, 0.93).await.unwrap();
    let second_item = open().await.unwrap().into_iter().find(|r| r.message_id == Some(second)).unwrap();
    assert_eq!(second_item.item.sources, ["classifier", "report"]);
    assert_eq!(second_item.item.score, Some(0.93));
}

async fn held_messages_wait_in_the_queue_until_linked(store: Store) {
    let alice = user(&store, "alice").await;
    store.insert_batch(&[message(alice, "before", None)]).await.unwrap();
    let held = message(alice, "held text", Some("h1"));
    let item = store.hold(&held, 0.91).await.unwrap();
    assert_eq!(store.hold(&held, 0.91).await.unwrap(), item, "a retry of its client id is the same item");
    assert_eq!(contents(&all_messages(&store).await), ["before"], "not a message");
    let open = store.review_items(ReviewFilter::Open { before: None, limit: 10 }).await.unwrap();
    assert_eq!(open.len(), 1);
    let record = &open[0];
    assert_eq!((record.message_id, record.item.held, record.item.message.id), (None, true, 0));
    assert_eq!(record.item.message.content, "held text");
    assert_eq!(record.item.message.client_id.as_deref(), Some("h1"));
    assert_eq!(record.item.message.room, "general");
    assert_eq!(record.item.context.iter().map(|m| m.content.as_str()).collect::<Vec<_>>(), ["before"]);
    let stored = store.insert_batch(&[held]).await.unwrap();
    let id = new_id(&stored.stored[0]);
    store.link_review(item, id).await.unwrap();
    let linked = store.review_items(ReviewFilter::One(item)).await.unwrap();
    assert_eq!((linked[0].message_id, linked[0].item.message.id), (Some(id), id));
}

async fn expired_strikes_stop_counting(store: Store) {
    user(&store, "root").await;
    let bob = user(&store, "bob").await;
    assert_eq!(store.record_violation(bob, "word", "a", Some(1), 3, None).await.unwrap(), (1, false));
    assert_eq!(store.record_violation(bob, "word", "b", Some(1), 3, None).await.unwrap(), (2, false));
    // Counting from a time after both: they have expired; this one is the first that counts.
    let later = "2999-01-01T00:00:00.000Z";
    assert_eq!(store.record_violation(bob, "word", "c", Some(1), 3, Some(later)).await.unwrap(), (1, false));
    let history = store.standing_history(bob, Some(later)).await.unwrap();
    assert_eq!(history.iter().map(|h| h.counted).collect::<Vec<_>>(), [false, false, false]);
    // Counting from long before: all three count, and this fourth blocks.
    let earlier = "2000-01-01T00:00:00.000Z";
    assert_eq!(store.record_violation(bob, "word", "d", Some(1), 3, Some(earlier)).await.unwrap(), (4, true));
    let history = store.standing_history(bob, Some(earlier)).await.unwrap();
    assert_eq!(history.len(), 4);
    assert!(history.iter().all(|h| h.counted));
    assert_eq!(history[0].rule, "word");
    assert_eq!(history[0].room_id, Some(1));
    // An unblock resets the count: what came before no longer counts, whatever the expiry.
    assert!(store.unblock_by_username("bob").await.unwrap());
    let history = store.standing_history(bob, None).await.unwrap();
    assert!(history.iter().all(|h| !h.counted));
}

/// Texts that try the matching rules: accents, case, width, punctuation, CJK runs, short words,
/// words inside words, phrases across spaces and lines, markup, and empty-looking text.
const SEARCH_CORPUS: &[&str] = &[
    "The Café opens at nine",
    "CAFE OPENS AT TEN",
    "café-bar on the corner",
    "Ｆｕｌｌ ｗｉｄｔｈ text",
    "go team",
    "a good plan, goal set",
    "東京都に行きます",
    "京都は美しい",
    "서울에 갑니다",
    "naïve résumé for the coöperative",
    "deployment <b>finished</b> & ok",
    "multi\nline   spaced\ttext",
    "ÅNGSTRÖM and angstrom",
    "it's 50% done_now",
    "ok",
    "😀 emoji only 😀",
    "Straße in Köln",
    "ﬁne print",
];

/// Queries over [`SEARCH_CORPUS`], each with its answers checked against the rules as Rust
/// states them (`Query::matches`), the same on every backend.
const SEARCH_QUERIES: &[&str] = &[
    "cafe",
    "CAFÉ",
    "opens",
    "\"opens at\"",
    "\"at nine\"",
    "go",
    "goo",
    "goal",
    "東京",
    "京都",
    "京",
    "서울",
    "naive",
    "resume coop",
    "finished",
    "<b>",
    "line spaced",
    "angstrom",
    "50%",
    "done_now",
    "ok",
    "o",
    "strasse",
    "straße",
    "köln",
    "fine",
    "full width",
    "ｗｉｄｔｈ",
    "emoji",
    "\"team\"",
    "it's",
];

async fn search_answers_as_the_matching_rules_say(store: Store) {
    let alice = user(&store, "alice").await;
    let batch: Vec<NewMessage> = SEARCH_CORPUS.iter().map(|text| message(alice, text, None)).collect();
    let stored = store.insert_batch(&batch).await.unwrap();
    let ids: Vec<i64> = stored.stored.iter().map(new_id).collect();
    for text in SEARCH_QUERIES {
        let query = crate::search::parse(text).unwrap_or_else(|error| panic!("{text}: {error}"));
        let mut expected: Vec<i64> =
            SEARCH_CORPUS.iter().zip(&ids).filter(|(content, _)| query.matches(content)).map(|(_, id)| *id).collect();
        expected.reverse();
        let request =
            super::SearchRequest { query, viewer: alice, room: None, public: false, before: None, limit: 100 };
        let found: Vec<i64> = store.search(&request).await.unwrap().iter().map(|m| m.id).collect();
        assert_eq!(found, expected, "{text}");
    }
    // The rules find what a person would expect of them.
    let count = |text: &str| SEARCH_CORPUS.iter().filter(|c| crate::search::parse(text).unwrap().matches(c)).count();
    assert_eq!(count("cafe"), 3);
    assert_eq!(count("go"), 1, "a short word is a whole word");
    assert_eq!(count("京都"), 2, "inside 東京都 too");
}

async fn older_messages_are_indexed_when_the_store_opens(store: Store) {
    let alice = user(&store, "alice").await;
    store.insert_batch(&[message(alice, "Über older news", None), message(alice, "newer", None)]).await.unwrap();
    // As a database from before search: nothing indexed.
    match &store {
        Store::Sqlite(sqlite) => {
            sqlx::query("UPDATE messages SET search_text = NULL, search_words = NULL")
                .execute(sqlite.writer())
                .await
                .unwrap();
            sqlx::query("INSERT INTO message_trigrams (message_trigrams) VALUES ('rebuild')")
                .execute(sqlite.writer())
                .await
                .unwrap();
            sqlx::query("INSERT INTO message_words (message_words) VALUES ('rebuild')")
                .execute(sqlite.writer())
                .await
                .unwrap();
        }
        Store::Postgres(pg) => {
            sqlx::query("UPDATE messages SET search_text = NULL, search_words = NULL")
                .execute(pg.pool())
                .await
                .unwrap();
        }
    }
    let query = || super::SearchRequest {
        query: crate::search::parse("uber").unwrap(),
        viewer: alice,
        room: None,
        public: false,
        before: None,
        limit: 10,
    };
    assert!(store.search(&query()).await.unwrap().is_empty(), "not indexed yet");
    assert_eq!(store.index_for_search(1).await.unwrap(), 1);
    assert_eq!(store.index_for_search(10).await.unwrap(), 1);
    assert_eq!(store.index_for_search(10).await.unwrap(), 0, "all done");
    let found = store.search(&query()).await.unwrap();
    assert_eq!(found.iter().map(|m| m.content.as_str()).collect::<Vec<_>>(), ["Über older news"]);
}

async fn edits_deletions_and_reactions_feed_their_changes_in_order(store: Store) {
    let admin = user(&store, "root").await;
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let batch = store.insert_batch(&[message(alice, "one", None), message(alice, "two", None)]).await.unwrap();
    let (one, two) = (new_id(&batch.stored[0]), new_id(&batch.stored[1]));
    let before = store.latest_room_change().await.unwrap();
    let edit = NewMessage { content: "one, edited".into(), room_id: GENERAL_ROOM_ID, ..Default::default() };
    assert_eq!(store.edit_message(one, bob, &edit, 0).await.unwrap(), super::Edit::NotSender);
    let super::Edit::Edited { message, seq } = store.edit_message(one, alice, &edit, 0).await.unwrap() else {
        panic!("not edited")
    };
    assert_eq!((message.content.as_str(), seq), ("one, edited", before + 1));
    assert!(message.edited_at.is_some());
    assert!(matches!(store.edit_message(one, alice, &edit, 0).await.unwrap(), super::Edit::Unchanged(_)));
    assert_eq!(store.react(two, bob, "👍", true, 20).await.unwrap(), super::Reacting::Changed { seq: before + 2 });
    assert_eq!(store.react(two, bob, "👍", true, 20).await.unwrap(), super::Reacting::Unchanged);
    assert_eq!(store.react(two, alice, "🎉", true, 1).await.unwrap(), super::Reacting::TooMany);
    assert_eq!(store.delete_message(two, bob, false).await.unwrap(), super::Deletion::Forbidden);
    assert_eq!(
        store.delete_message(two, admin, true).await.unwrap(),
        super::Deletion::Deleted { room: 1, seq: before + 3 }
    );
    assert_eq!(store.delete_message(two, alice, false).await.unwrap(), super::Deletion::Already);
    assert_eq!(store.react(two, alice, "🎉", true, 20).await.unwrap(), super::Reacting::NotFound);

    let fed: Vec<(Option<Change>, Option<String>)> =
        store.room_changes_after(before, 10).await.unwrap().into_iter().map(|e| (e.change, e.detail)).collect();
    assert_eq!(
        fed,
        [
            (Some(Change::MessageEdited { room: 1, message: one, user: alice }), None),
            (Some(Change::Reacted { room: 1, message: two, user: bob, added: true }), Some("👍".into())),
            (Some(Change::MessageDeleted { room: 1, message: two, user: admin }), None),
        ]
    );
    // The catch-up gives each changed message once, as it is now, in the order of its last change.
    let (changed, more) = store.changes_since(bob, before, two, 10).await.unwrap();
    assert!(!more);
    let shown: Vec<(i64, &str, bool)> = changed.iter().map(|m| (m.id, m.content.as_str(), m.deleted)).collect();
    assert_eq!(shown, [(one, "one, edited", false), (two, "", true)]);
    assert!(store.changes_since(bob, before + 3, two, 10).await.unwrap().0.is_empty());
    assert!(store.changes_since(bob, before, one, 10).await.unwrap().0.iter().all(|m| m.id <= one), "only held ones");
    let versions = store.message_versions(two).await.unwrap().unwrap();
    let kinds: Vec<(&str, &str)> = versions.versions.iter().map(|v| (v.kind.as_str(), v.content.as_str())).collect();
    assert_eq!(kinds, [("original", "two"), ("delete", "two")]);
}

/// An upload of `user` created at `created_at`.
fn upload_of(user: i64, id: &str, created_at: &str) -> super::UploadRecord {
    super::UploadRecord {
        id: id.into(),
        uploader_id: user,
        name: format!("{id}.txt"),
        size: 10,
        content_type: "application/octet-stream".into(),
        width: None,
        height: None,
        thumbnail_type: None,
        created_at: created_at.into(),
        message_id: None,
        room_id: None,
    }
}

async fn uploads_are_claimed_posted_read_removed_and_expired(store: Store) {
    let admin = user(&store, "root").await;
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let now = super::now_rfc3339();
    let (past, fresh) = ("2000-01-01T00:00:00.000Z", "2001-01-01T00:00:00.000Z");
    let [a, b, c, old] = ["a", "b", "c", "d"].map(|x| x.repeat(32));
    for id in [&a, &b, &c] {
        store.create_upload(&upload_of(alice, id, &now)).await.unwrap();
    }
    store.create_upload(&upload_of(alice, &old, past)).await.unwrap();
    assert_eq!(store.upload_bytes_of(alice).await.unwrap(), 40);
    assert!(store.readable_upload(&a, alice).await.unwrap().is_some());
    assert!(store.readable_upload(&a, bob).await.unwrap().is_none(), "not posted: its uploader's only");

    // A claim takes only the uploader's unposted, unexpired files; another claim waits.
    let ids = vec![a.clone(), b.clone()];
    assert!(store.claim_uploads(bob, &ids, "bob", fresh, fresh).await.unwrap().is_empty());
    assert!(
        store.claim_uploads(alice, std::slice::from_ref(&old), "x", fresh, fresh).await.unwrap().is_empty(),
        "expired"
    );
    assert_eq!(store.claim_uploads(alice, &ids, "one", fresh, fresh).await.unwrap().len(), 2);
    assert!(store.claim_uploads(alice, &ids, "two", fresh, &now).await.unwrap().is_empty(), "claimed");
    assert!(matches!(store.delete_own_upload(&a, alice, fresh).await.unwrap(), super::OwnUploadDeletion::Posted));

    // The message's INSERT links them and carries them.
    let attachments: Vec<_> = [&a, &b].iter().map(|id| upload_of(alice, id, &now).attachment()).collect();
    let posting =
        NewMessage { attachments: attachments.clone(), claim: Some("one".into()), ..message(alice, "files", None) };
    let batch = store.insert_batch(&[posting]).await.unwrap();
    let id = new_id(&batch.stored[0]);
    let read = store.message_by_id(id).await.unwrap().unwrap();
    assert_eq!(read.attachments, attachments);
    assert_eq!(store.readable_upload(&a, bob).await.unwrap().unwrap().message_id, Some(id), "bob is in general");
    store.release_claim("one").await.unwrap();
    assert!(store.claim_uploads(alice, &ids, "three", fresh, fresh).await.unwrap().is_empty(), "posted");

    // An admin's removal takes one out of its message, fed as an edit.
    let before = store.latest_room_change().await.unwrap();
    let removal = store.remove_upload(&a, admin).await.unwrap().unwrap();
    assert_eq!(removal.seq, Some(before + 1));
    assert_eq!(store.message_by_id(id).await.unwrap().unwrap().attachments, attachments[1..].to_vec());
    assert!(store.upload(&a).await.unwrap().is_none());
    assert!(store.remove_upload(&a, admin).await.unwrap().is_none());

    // Deleting the message expires its files; the sweep takes them and the old one, not `c`.
    store.delete_message(id, alice, false).await.unwrap();
    assert!(store.message_by_id(id).await.unwrap().unwrap().attachments.is_empty());
    assert!(store.readable_upload(&b, alice).await.unwrap().is_none());
    let mut swept: Vec<String> =
        store.take_expired_uploads(fresh, 10).await.unwrap().into_iter().map(|u| u.id).collect();
    swept.sort();
    assert_eq!(swept, [b.clone(), old.clone()]);
    let usage = store.upload_usage(10).await.unwrap();
    assert_eq!((usage.len(), usage[0].count, usage[0].bytes), (1, 1, 10));
    assert_eq!(store.uploads_of(alice, 10).await.unwrap()[0].attachment.id, c);
    assert!(matches!(store.delete_own_upload(&c, bob, fresh).await.unwrap(), super::OwnUploadDeletion::NotFound));
    assert!(matches!(store.delete_own_upload(&c, alice, fresh).await.unwrap(), super::OwnUploadDeletion::Deleted(_)));
}
