//! The browser's chat state, apart from the components that show it (`pages::chat`) and the
//! connection that feeds it (`chat_client`): who I am, the link's state, the banner, each
//! conversation's messages, pending sends and paging flags, keyed by the conversation's room id,
//! and the sidebar's list of conversations with their unread and mention counts, who is online,
//! and the members of the conversation on screen; and the message actions' state (the reply
//! being written, the message being edited, the one flashed after a jump) with the live changes
//! to messages (edits, deletions, reactions) and the change cursor a reconnect resumes from.

use crate::message_text::truncate_chars;
use crate::models::{Attachment, ChatMessage, Invitation, Member, PublicUser, Reaction, Room, RoomKind};
use crate::protocol::{GENERAL_ROOM_ID, REPLY_EXCERPT_CHARS, UNREAD_MAX};
use leptos::html;
use leptos::prelude::*;
use std::collections::{HashMap, HashSet};

/// Connection state shown by the indicator.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Link {
    Connecting,
    Open,
    Closed,
}

impl Link {
    pub fn as_str(self) -> &'static str {
        match self {
            Link::Connecting => "connecting",
            Link::Open => "open",
            Link::Closed => "closed",
        }
    }
}

/// A message typed here and not yet acknowledged by the server.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Pending {
    pub client_id: String,
    pub content: String,
    /// The message it answers, sent again with it after a reconnect.
    pub reply_to: Option<i64>,
    /// The files it carries (uploaded already), sent again with it after a reconnect.
    pub attachments: Vec<Attachment>,
}

/// The signed-in user, as the page needs them.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Me {
    pub id: i64,
    pub username: String,
    /// Admins may delete anyone's message.
    pub is_admin: bool,
}

/// The message a reply being written answers, as the composer's reply bar shows it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ReplyDraft {
    pub id: i64,
    pub room_id: i64,
    pub username: String,
    pub excerpt: String,
}

/// A browser notification to show for a live message.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Notice {
    /// `NAME in ROOM`.
    pub title: String,
    /// The text, at most [`NOTICE_BODY_CHARS`] characters.
    pub body: String,
    /// The message id (a deletion closes the notification of that message).
    pub tag: String,
    pub room_id: i64,
}

/// The longest text a notification shows.
pub const NOTICE_BODY_CHARS: usize = 100;

/// One conversation's messages (sorted by id, no duplicates), the sends waiting for their
/// acknowledgement, and whether older messages may be loaded.
#[derive(Clone, Copy)]
pub struct Conversation {
    pub room_id: i64,
    pub messages: RwSignal<Vec<ChatMessage>>,
    pub pending: RwSignal<Vec<Pending>>,
    pub more_older: RwSignal<bool>,
    pub loading_older: RwSignal<bool>,
    /// Who else is typing here, each until when (ms since the epoch).
    pub typing: RwSignal<Vec<(String, f64)>>,
    /// Whether the newest page of its history has arrived (asked for when first shown).
    pub loaded: RwSignal<bool>,
}

impl Conversation {
    fn new(room_id: i64) -> Self {
        Self {
            room_id,
            messages: RwSignal::new(Vec::new()),
            pending: RwSignal::new(Vec::new()),
            more_older: RwSignal::new(true),
            loading_older: RwSignal::new(false),
            typing: RwSignal::new(Vec::new()),
            loaded: RwSignal::new(false),
        }
    }

    /// The newest message id held here.
    pub fn newest_id(&self) -> Option<i64> {
        self.messages.with_untracked(|m| m.last().map(|m| m.id))
    }

    /// `username` is typing, until `until` unless renewed.
    pub fn start_typing(&self, username: String, until: f64) {
        self.typing.update(|typing| match typing.iter_mut().find(|(name, _)| *name == username) {
            Some(entry) => entry.1 = until,
            None => typing.push((username, until)),
        });
    }

    /// `username` sent their message: no longer typing.
    pub fn stop_typing(&self, username: &str) {
        if self.typing.with_untracked(|typing| typing.iter().any(|(name, _)| name == username)) {
            self.typing.update(|typing| typing.retain(|(name, _)| name != username));
        }
    }

    /// Forgets whoever has not renewed their typing by `now`.
    pub fn expire_typing(&self, now: f64) {
        if self.typing.with_untracked(|typing| typing.iter().any(|(_, until)| *until <= now)) {
            self.typing.update(|typing| typing.retain(|(_, until)| *until > now));
        }
    }

    /// "alice is typing…", "alice and bob are typing…", "several people are typing…", or none.
    pub fn typing_line(&self) -> Option<String> {
        self.typing.with(|typing| match typing.as_slice() {
            [] => None,
            [(one, _)] => Some(format!("{one} is typing…")),
            [(one, _), (two, _)] => Some(format!("{one} and {two} are typing…")),
            _ => Some("several people are typing…".to_owned()),
        })
    }
}

/// Everything the chat view and the connection share.
#[derive(Clone, Copy)]
pub struct ChatState {
    pub me: StoredValue<Me>,
    conversations: StoredValue<HashMap<i64, Conversation>>,
    /// The reactive owner the state was made under: every conversation's signals live there.
    owner: StoredValue<Option<Owner>>,
    /// The conversation on screen.
    pub current: RwSignal<i64>,
    pub link: RwSignal<Link>,
    pub banner: RwSignal<Option<(String, bool)>>,
    pub list: NodeRef<html::Ul>,
    /// The composer's text box (a reply or a finished edit puts the focus back there).
    pub composer: NodeRef<html::Textarea>,
    /// My conversations (the sidebar), as the server last told and live frames since changed.
    pub rooms: RwSignal<Vec<Room>>,
    /// Whether the first `rooms` frame has arrived.
    pub rooms_loaded: RwSignal<bool>,
    /// Who is online among the people I share a conversation with.
    pub online: RwSignal<HashSet<String>>,
    /// The members of a conversation, while its members list is open: (room id, members).
    pub members: RwSignal<Option<(i64, Vec<Member>)>>,
    /// Invitations to private rooms waiting for my answer.
    pub invitations: RwSignal<Vec<Invitation>>,
    /// The message the composer's next send answers.
    pub replying_to: RwSignal<Option<ReplyDraft>>,
    /// The message of mine being edited in place, if any.
    pub editing: RwSignal<Option<i64>>,
    /// The message flashed after a jump to it (a search result, a reply's quote).
    pub flashing: RwSignal<Option<i64>>,
    /// The newest message change seen (the `rooms` frame's `changes` and every frame's
    /// `change`): a reconnect asks for the changes after it.
    change_cursor: StoredValue<i64>,
}

/// A form's feedback: the error text to show, and whether its call is under way.
#[derive(Clone, Copy)]
pub struct Feedback {
    pub error: RwSignal<Option<String>>,
    pub busy: RwSignal<bool>,
}

impl Feedback {
    pub fn new() -> Self {
        Self { error: RwSignal::new(None), busy: RwSignal::new(false) }
    }
}

impl Default for Feedback {
    fn default() -> Self {
        Self::new()
    }
}

/// What the connection does after a live message was applied.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AfterMessage {
    Nothing,
    /// It arrived in the conversation on screen: move my read marker there (room id, message id).
    MarkRead(i64, i64),
    /// Its conversation is not in my list (yet): fetch the list again.
    Refetch,
}

impl ChatState {
    pub fn new(me: &PublicUser) -> Self {
        let general = Conversation::new(GENERAL_ROOM_ID);
        Self {
            me: StoredValue::new(Me { id: me.id, username: me.username.clone(), is_admin: me.is_admin }),
            conversations: StoredValue::new(HashMap::from([(GENERAL_ROOM_ID, general)])),
            owner: StoredValue::new(Owner::current()),
            current: RwSignal::new(GENERAL_ROOM_ID),
            link: RwSignal::new(Link::Connecting),
            banner: RwSignal::new(None),
            list: NodeRef::new(),
            composer: NodeRef::new(),
            rooms: RwSignal::new(Vec::new()),
            rooms_loaded: RwSignal::new(false),
            online: RwSignal::new(HashSet::new()),
            members: RwSignal::new(None),
            invitations: RwSignal::new(Vec::new()),
            replying_to: RwSignal::new(None),
            editing: RwSignal::new(None),
            flashing: RwSignal::new(None),
            change_cursor: StoredValue::new(0),
        }
    }

    /// The conversation of `room_id` (made on first use).
    pub fn conversation(&self, room_id: i64) -> Conversation {
        if let Some(known) = self.conversations.with_value(|all| all.get(&room_id).copied()) {
            return known;
        }
        // Under the page's owner, not whichever component asked first (a search result, gone
        // once the panel closes, would take the conversation's signals with it).
        let made = match self.owner.get_value() {
            Some(owner) => owner.with(|| Conversation::new(room_id)),
            None => Conversation::new(room_id),
        };
        self.conversations.update_value(|all| {
            all.insert(room_id, made);
        });
        made
    }

    /// The conversation on screen.
    pub fn current_conversation(&self) -> Conversation {
        self.conversation(self.current.get_untracked())
    }

    /// Whether a message is mine (by sender id, never by name).
    pub fn is_mine(&self, message: &ChatMessage) -> bool {
        message.sender_id == self.me.with_value(|me| me.id)
    }

    /// The newest message id of every conversation: where a reconnect catches up from.
    pub fn last_message_id(&self) -> Option<i64> {
        self.conversations
            .with_value(|all| all.values().filter_map(|c| c.messages.with_untracked(|m| m.last().map(|m| m.id))).max())
    }

    /// Adds messages (any order, any conversation, duplicates ignored), each to its
    /// conversation sorted by id; drops the pending copies they acknowledge. Returns how many
    /// were new.
    pub fn merge(&self, incoming: Vec<ChatMessage>) -> usize {
        let mut added = 0;
        let mut by_room: HashMap<i64, Vec<ChatMessage>> = HashMap::new();
        for message in incoming {
            by_room.entry(message.room_id).or_default().push(message);
        }
        for (room_id, messages) in by_room {
            let conversation = self.conversation(room_id);
            let acknowledged: Vec<String> =
                messages.iter().filter(|m| self.is_mine(m)).filter_map(|m| m.client_id.clone()).collect();
            conversation.messages.update(|list| added += merge_sorted(list, messages));
            if !acknowledged.is_empty() {
                conversation.pending.update(|p| p.retain(|x| !acknowledged.contains(&x.client_id)));
            }
        }
        added
    }

    /// An admin removed message `id` of `room_id`: its text is gone here too.
    pub fn remove_message(&self, room_id: i64, id: i64) {
        self.conversation(room_id).messages.update(|list| {
            mark_removed(list, id);
        });
    }

    /// Forgets a pending message the server refused (it must not be resent on reconnect).
    pub fn drop_pending(&self, client_id: &str) {
        self.conversations.with_value(|all| {
            for conversation in all.values() {
                conversation.pending.update(|p| p.retain(|x| x.client_id != client_id));
            }
        });
    }

    /// Every pending send of every conversation (resent after a reconnect).
    pub fn all_pending(&self) -> Vec<(i64, Pending)> {
        self.conversations.with_value(|all| {
            all.values().flat_map(|c| c.pending.get_untracked().into_iter().map(move |p| (c.room_id, p))).collect()
        })
    }
}

/// The sidebar: my conversations, their unread counts, presence and members.
impl ChatState {
    /// A conversation of my list (untracked).
    pub fn room(&self, room_id: i64) -> Option<Room> {
        self.rooms.with_untracked(|rooms| rooms.iter().find(|r| r.id == room_id).cloned())
    }

    /// The conversation on screen as the list knows it (tracked).
    pub fn current_room(&self) -> Option<Room> {
        let current = self.current.get();
        self.rooms.with(|rooms| rooms.iter().find(|r| r.id == current).cloned())
    }

    /// Replaces the list (the `rooms` frame, or `GET /rooms` again); a conversation on screen
    /// that is no longer in it gives way to `general`.
    pub fn set_rooms(&self, rooms: Vec<Room>) {
        let current = self.current.get_untracked();
        if current != GENERAL_ROOM_ID && !rooms.iter().any(|r| r.id == current) {
            self.current.set(GENERAL_ROOM_ID);
        }
        self.rooms.set(rooms);
        self.rooms_loaded.set(true);
    }

    /// An invitation arrived (the `invitation` frame, or `GET /invitations`): listed once.
    pub fn add_invitation(&self, invitation: Invitation) {
        self.invitations.update(|all| {
            all.retain(|known| known.room.id != invitation.room.id);
            all.push(invitation);
        });
    }

    /// The invitation to `room_id` was answered (or the room is mine now).
    pub fn drop_invitation(&self, room_id: i64) {
        if self.invitations.with_untracked(|all| all.iter().any(|i| i.room.id == room_id)) {
            self.invitations.update(|all| all.retain(|i| i.room.id != room_id));
        }
    }

    /// Adds a conversation to the list, or updates it (the `room` frame, a REST answer). What
    /// this page counted since is kept: unread counts and newest ids never go back.
    pub fn upsert_room(&self, room: Room) {
        if room.joined {
            self.drop_invitation(room.id);
        }
        self.rooms.update(|rooms| match rooms.iter_mut().find(|r| r.id == room.id) {
            Some(known) => {
                let unread = known.unread.max(room.unread);
                let mentions = known.mentions.max(room.mentions);
                let last_message_id = known.last_message_id.max(room.last_message_id);
                let last_read_id = known.last_read_id.max(room.last_read_id);
                *known = Room { unread, mentions, last_message_id, last_read_id, ..room };
            }
            None => rooms.push(room),
        });
    }

    /// I left or was removed from a conversation: it leaves the list (and the screen).
    pub fn remove_room(&self, room_id: i64) {
        if self.rooms.with_untracked(|rooms| rooms.iter().any(|r| r.id == room_id)) {
            self.rooms.update(|rooms| rooms.retain(|r| r.id != room_id));
        }
        if self.current.get_untracked() == room_id {
            self.current.set(GENERAL_ROOM_ID);
        }
        // What was said meanwhile is asked for again should I come back.
        if let Some(conversation) = self.conversations.with_value(|all| all.get(&room_id).copied()) {
            conversation.loaded.set(false);
        }
        if self.members.with_untracked(|m| m.as_ref().is_some_and(|(id, _)| *id == room_id)) {
            self.members.set(None);
        }
    }

    /// Someone joined or left a conversation I am in (the `member` frame).
    pub fn member_changed(&self, room_id: i64, username: String, joined: bool, member_count: i64) {
        self.rooms.update(|rooms| {
            if let Some(room) = rooms.iter_mut().find(|r| r.id == room_id) {
                room.member_count = member_count;
            }
        });
        if self.members.with_untracked(|m| m.as_ref().is_some_and(|(id, _)| *id == room_id)) {
            self.members.update(|open| {
                if let Some((_, members)) = open {
                    members.retain(|m| m.username != username);
                    if joined {
                        let online = self.online.with_untracked(|o| o.contains(&username));
                        members.push(Member { username, is_owner: false, online });
                        members.sort_by_key(|m| m.username.to_lowercase());
                    }
                }
            });
        }
    }

    /// Who is online (the `rooms` frame).
    pub fn set_online(&self, online: Vec<String>) {
        self.online.set(online.into_iter().collect());
    }

    /// Someone came online or went offline (the `presence` frame).
    pub fn set_presence(&self, username: String, online: bool) {
        self.online.update(|all| {
            if online {
                all.insert(username);
            } else {
                all.remove(&username);
            }
        });
    }

    /// Whether someone is online (tracked).
    pub fn is_online(&self, username: &str) -> bool {
        self.online.with(|all| all.contains(username))
    }

    /// The conversation on screen is read up to its newest message: clears its count and
    /// returns where to move my read marker (room id, message id), when it has to move.
    pub fn read_current(&self) -> Option<(i64, i64)> {
        let current = self.current.get_untracked();
        let newest_here = self.conversation(current).newest_id();
        let room = self.room(current)?;
        let newest = room.last_message_id.max(newest_here)?;
        if !room.joined || (room.unread == 0 && room.mentions == 0 && newest <= room.last_read_id) {
            return None;
        }
        self.rooms.update(|rooms| {
            if let Some(room) = rooms.iter_mut().find(|r| r.id == current) {
                room.unread = 0;
                room.mentions = 0;
                room.last_read_id = room.last_read_id.max(newest);
                room.last_message_id = room.last_message_id.max(Some(newest));
            }
        });
        Some((current, newest))
    }

    /// Counts a live message (`added`: it was new here): the conversation on screen is read on,
    /// another one gains an unread message (not mine), and a mention when it mentions me; one
    /// not in my list is fetched.
    pub fn after_live_message(&self, message: &ChatMessage, added: bool) -> AfterMessage {
        if !self.rooms_loaded.get_untracked() {
            return AfterMessage::Nothing;
        }
        let Some(room) = self.room(message.room_id) else {
            return AfterMessage::Refetch;
        };
        let on_screen = self.current.get_untracked() == room.id;
        let counts = added && !self.is_mine(message) && message.id > room.last_read_id && !on_screen;
        let mentions_me = self.mentions_me(message);
        self.rooms.update(|rooms| {
            if let Some(room) = rooms.iter_mut().find(|r| r.id == message.room_id) {
                room.last_message_id = room.last_message_id.max(Some(message.id));
                if counts {
                    room.unread = (room.unread + 1).min(UNREAD_MAX);
                    if mentions_me {
                        room.mentions = (room.mentions + 1).min(UNREAD_MAX);
                    }
                }
            }
        });
        if !(on_screen && added && !self.is_mine(message)) {
            return AfterMessage::Nothing;
        }
        match self.read_current() {
            Some((room_id, id)) => AfterMessage::MarkRead(room_id, id),
            None => AfterMessage::Nothing,
        }
    }
}

/// Message actions: changes to messages already shown (edits, deletions, reactions, a
/// reconnect's `changes`), the change cursor, mentions of me, and what a live message notifies.
impl ChatState {
    /// Whether a message mentions me (the server lists the canonical usernames it mentions).
    pub fn mentions_me(&self, message: &ChatMessage) -> bool {
        self.me.with_value(|me| message.mentions.iter().any(|name| name.eq_ignore_ascii_case(&me.username)))
    }

    /// Whether I may delete a message: my own, or anyone's for an admin.
    pub fn can_delete(&self, message: &ChatMessage) -> bool {
        self.is_mine(message) || self.me.with_value(|me| me.is_admin)
    }

    /// Whether I may edit a message: my own, still there.
    pub fn can_edit(&self, message: &ChatMessage) -> bool {
        self.is_mine(message) && !message.deleted && !message.removed
    }

    /// Replaces a message with the version an `edited` frame (or an edit's answer) carries, in
    /// whatever conversation holds it; false when it is not loaded here.
    pub fn apply_edit(&self, message: ChatMessage) -> bool {
        let mut found = false;
        self.conversation(message.room_id).messages.update(|list| found = replace_message(list, message));
        found
    }

    /// Message `id` of `room_id` was deleted: shown as deleted, its text gone.
    pub fn apply_deletion(&self, room_id: i64, id: i64) -> bool {
        let mut found = false;
        self.conversation(room_id).messages.update(|list| found = mark_deleted(list, id));
        if self.editing.get_untracked() == Some(id) {
            self.editing.set(None);
        }
        if self.replying_to.with_untracked(|reply| reply.as_ref().is_some_and(|r| r.id == id)) {
            self.replying_to.set(None);
        }
        found
    }

    /// A `reaction` frame: `emoji` of message `id` now has `count` reactions; whether I am among
    /// them changes only when `username` is me.
    pub fn apply_reaction(&self, room_id: i64, id: i64, emoji: &str, username: &str, added: bool, count: i64) {
        let mine = self.me.with_value(|me| me.username.eq_ignore_ascii_case(username)).then_some(added);
        self.conversation(room_id).messages.update(|list| {
            if let Ok(at) = list.binary_search_by_key(&id, |m| m.id) {
                set_reaction(&mut list[at].reactions, emoji, count, mine);
            }
        });
    }

    /// A `changes` frame: each message it carries replaces the copy held here (messages not
    /// loaded here are skipped). Returns how many were replaced.
    pub fn apply_changes(&self, messages: Vec<ChatMessage>) -> usize {
        messages.into_iter().filter(|message| self.apply_edit(message.clone())).count()
    }

    /// Notes a frame's `change` (or the `rooms` frame's `changes`): the cursor keeps the highest.
    pub fn note_change(&self, change: i64) {
        self.change_cursor.update_value(|cursor| *cursor = (*cursor).max(change));
    }

    /// The newest change seen: a reconnect sends it as `changes=`.
    pub fn change_cursor(&self) -> i64 {
        self.change_cursor.get_value()
    }

    /// A `changes` frame said `more` (too many changes to send): every conversation's history
    /// is read again; returns the one on screen, whose history is to be asked for now (the
    /// others are asked for when next shown).
    pub fn forget_histories(&self) -> i64 {
        self.conversations.with_value(|all| {
            for conversation in all.values() {
                conversation.messages.set(Vec::new());
                conversation.more_older.set(true);
                conversation.loaded.set(false);
            }
        });
        self.current.get_untracked()
    }

    /// My newest message of a conversation that can still be edited (Up in an empty composer).
    pub fn last_editable_of_mine(&self, room_id: i64) -> Option<i64> {
        self.conversation(room_id)
            .messages
            .with_untracked(|list| list.iter().rev().find(|m| self.can_edit(m)).map(|m| m.id))
    }

    /// A message of a loaded conversation (untracked).
    pub fn message(&self, room_id: i64, id: i64) -> Option<ChatMessage> {
        self.conversation(room_id)
            .messages
            .with_untracked(|list| list.binary_search_by_key(&id, |m| m.id).ok().map(|at| list[at].clone()))
    }

    /// Starts a reply to a message: the composer shows it in its reply bar.
    pub fn reply_to(&self, message: &ChatMessage) {
        self.editing.set(None);
        self.replying_to.set(Some(ReplyDraft {
            id: message.id,
            room_id: message.room_id,
            username: message.username.clone(),
            excerpt: truncate_chars(&message.content, REPLY_EXCERPT_CHARS),
        }));
    }

    /// Puts the focus back in the composer (after starting a reply, or leaving an edit).
    pub fn focus_composer(&self) {
        if let Some(composer) = self.composer.get_untracked() {
            let _ = composer.focus();
        }
    }

    /// The reply being written in the conversation on screen, as the id the sent frame carries.
    pub fn reply_target(&self) -> Option<i64> {
        let current = self.current.get_untracked();
        self.replying_to.with_untracked(|reply| reply.as_ref().filter(|r| r.room_id == current).map(|r| r.id))
    }

    /// The browser notification a live message deserves: one that mentions me or arrives in a
    /// direct message, not mine and still there (people I ignore are never delivered).
    pub fn notice_for(&self, message: &ChatMessage) -> Option<Notice> {
        if self.is_mine(message) || message.deleted || message.removed {
            return None;
        }
        let room = self.room(message.room_id);
        let in_dm = room.as_ref().is_some_and(|r| r.kind == RoomKind::Dm);
        if !in_dm && !self.mentions_me(message) {
            return None;
        }
        let place = match &room {
            Some(room) if room.kind == RoomKind::Dm => "a direct message".to_owned(),
            Some(room) => room.name.clone(),
            None => message.room.clone(),
        };
        Some(Notice {
            title: format!("{} in {place}", message.username),
            body: truncate_chars(&message.content, NOTICE_BODY_CHARS),
            tag: message.id.to_string(),
            room_id: message.room_id,
        })
    }
}

/// The sidebar's two groups: rooms (`general` first, then by name) and direct messages (the
/// most recently active first).
pub fn sidebar_groups(rooms: &[Room]) -> (Vec<Room>, Vec<Room>) {
    let (mut dms, mut named): (Vec<Room>, Vec<Room>) = rooms.iter().cloned().partition(|r| r.kind == RoomKind::Dm);
    named.sort_by_key(|r| (r.id != GENERAL_ROOM_ID, r.name.to_lowercase(), r.id));
    dms.sort_by_key(|r| (std::cmp::Reverse(r.last_message_id.unwrap_or(0)), r.name.to_lowercase()));
    (named, dms)
}

/// The text of an unread badge: the count, `999+` at the cap.
pub fn unread_label(unread: i64) -> String {
    if unread >= UNREAD_MAX {
        format!("{}+", UNREAD_MAX - 1)
    } else {
        unread.to_string()
    }
}

/// Inserts `incoming` into `list` (sorted by id), skipping ids already present (but taking a
/// removal they carry); returns how many were inserted.
pub fn merge_sorted(list: &mut Vec<ChatMessage>, incoming: Vec<ChatMessage>) -> usize {
    let mut added = 0;
    for message in incoming {
        match list.binary_search_by_key(&message.id, |m| m.id) {
            Err(at) => {
                list.insert(at, message);
                added += 1;
            }
            Ok(at) if (message.removed && !list[at].removed) || (message.deleted && !list[at].deleted) => {
                list[at] = message
            }
            Ok(_) => {}
        }
    }
    added
}

/// Shows message `id` of `list` as removed (its text gone); false when it is not there.
pub fn mark_removed(list: &mut [ChatMessage], id: i64) -> bool {
    match list.binary_search_by_key(&id, |m| m.id) {
        Ok(at) => {
            list[at].content.clear();
            list[at].removed = true;
            true
        }
        Err(_) => false,
    }
}

/// Replaces the message of the same id in `list` (sorted by id); false when it is not there.
pub fn replace_message(list: &mut [ChatMessage], message: ChatMessage) -> bool {
    match list.binary_search_by_key(&message.id, |m| m.id) {
        Ok(at) => {
            list[at] = message;
            true
        }
        Err(_) => false,
    }
}

/// Shows message `id` of `list` as deleted (its text, reply and reactions gone); false when it
/// is not there. A removed message keeps showing its removal.
pub fn mark_deleted(list: &mut [ChatMessage], id: i64) -> bool {
    match list.binary_search_by_key(&id, |m| m.id) {
        Ok(at) => {
            let message = &mut list[at];
            message.content.clear();
            message.deleted = true;
            message.reactions.clear();
            message.mentions.clear();
            true
        }
        Err(_) => false,
    }
}

/// Sets one emoji's reactions to `count` (the chip goes at 0; a new emoji is appended, keeping
/// the order of first use); `mine`: whether I am among them now, `None` to leave that as it is.
pub fn set_reaction(reactions: &mut Vec<Reaction>, emoji: &str, count: i64, mine: Option<bool>) {
    match reactions.iter().position(|r| r.emoji == emoji) {
        Some(_) if count <= 0 => reactions.retain(|r| r.emoji != emoji),
        Some(at) => {
            reactions[at].count = count;
            if let Some(mine) = mine {
                reactions[at].me = mine;
            }
        }
        None if count > 0 => reactions.push(Reaction { emoji: emoji.to_owned(), count, me: mine.unwrap_or(false) }),
        None => {}
    }
}

/// A reaction chip's next state when I click it: I take mine back, or add it (the count moves
/// by one; the server's `reaction` frame then gives the exact count).
pub fn toggled_reaction(reactions: &[Reaction], emoji: &str) -> (bool, i64) {
    match reactions.iter().find(|r| r.emoji == emoji) {
        Some(r) if r.me => (false, r.count - 1),
        Some(r) => (true, r.count + 1),
        None => (true, 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(id: i64, sender_id: i64, room_id: i64) -> ChatMessage {
        ChatMessage {
            id,
            sender_id,
            username: format!("u{sender_id}"),
            content: format!("m{id}"),
            timestamp: "2026-01-01T00:00:00.000Z".into(),
            room: "general".into(),
            room_id,
            client_id: Some(format!("c{id}")),
            ..Default::default()
        }
    }

    fn me() -> PublicUser {
        PublicUser {
            id: 7,
            username: "me".into(),
            email: "me@x.io".into(),
            is_admin: false,
            is_blocked: false,
            warning_count: 0,
            created_at: String::new(),
        }
    }

    #[test]
    fn a_removal_replaces_the_text_live_and_in_a_catch_up() {
        let mut list = vec![msg(1, 1, 1), msg(2, 1, 1)];
        assert!(mark_removed(&mut list, 2));
        assert!(!mark_removed(&mut list, 3));
        assert_eq!((list[1].content.as_str(), list[1].removed), ("", true));
        let mut removed = msg(1, 1, 1);
        removed.content.clear();
        removed.removed = true;
        assert_eq!(merge_sorted(&mut list, vec![removed, msg(2, 1, 1)]), 0);
        assert!(list[0].removed && list[0].content.is_empty(), "a catch-up carries a removal");
        assert!(list[1].removed, "a stale copy never brings removed text back");
    }

    #[test]
    fn merge_keeps_order_and_drops_duplicates() {
        let mut list = vec![msg(2, 1, 1), msg(5, 1, 1)];
        merge_sorted(&mut list, vec![msg(7, 1, 1), msg(1, 1, 1), msg(5, 1, 1), msg(3, 1, 1), msg(7, 1, 1)]);
        let ids: Vec<i64> = list.iter().map(|m| m.id).collect();
        assert_eq!(ids, vec![1, 2, 3, 5, 7]);
    }

    #[test]
    fn messages_go_to_their_conversation_and_mine_is_decided_by_id() {
        let owner = Owner::new();
        owner.with(|| {
            let state = ChatState::new(&me());
            state.conversation(GENERAL_ROOM_ID).pending.set(vec![Pending {
                client_id: "c3".into(),
                content: "m3".into(),
                reply_to: None,
                attachments: Vec::new(),
            }]);
            // Someone else named "me" would not count as me: only the id does.
            state.merge(vec![msg(3, 7, GENERAL_ROOM_ID), msg(4, 8, 9), msg(2, 8, GENERAL_ROOM_ID)]);
            let general = state.conversation(GENERAL_ROOM_ID);
            assert_eq!(general.messages.get_untracked().iter().map(|m| m.id).collect::<Vec<_>>(), vec![2, 3]);
            assert!(general.pending.get_untracked().is_empty(), "my message acknowledged its pending copy");
            assert_eq!(state.conversation(9).messages.get_untracked().len(), 1);
            assert_eq!(state.last_message_id(), Some(4));
            assert!(state.is_mine(&msg(1, 7, 1)) && !state.is_mine(&msg(1, 8, 1)));
        });
    }

    #[test]
    fn typing_is_shown_until_it_expires_or_the_message_arrives() {
        let owner = Owner::new();
        owner.with(|| {
            let room = Conversation::new(GENERAL_ROOM_ID);
            assert_eq!(room.typing_line(), None);
            room.start_typing("alice".into(), 1000.0);
            assert_eq!(room.typing_line().as_deref(), Some("alice is typing…"));
            room.start_typing("bob".into(), 2000.0);
            room.start_typing("alice".into(), 3000.0);
            assert_eq!(room.typing_line().as_deref(), Some("alice and bob are typing…"));
            room.expire_typing(2500.0);
            assert_eq!(room.typing_line().as_deref(), Some("alice is typing…"), "bob's ran out, alice renewed");
            room.stop_typing("alice");
            assert_eq!(room.typing_line(), None);
        });
    }

    fn room(id: i64, kind: RoomKind, name: &str) -> Room {
        Room {
            id,
            kind,
            name: name.into(),
            topic: String::new(),
            member_count: 2,
            unread: 0,
            last_message_id: None,
            last_read_id: 0,
            joined: true,
            owner: None,
            archived: false,
            peer: (kind == RoomKind::Dm).then(|| name.to_owned()),
            mentions: 0,
        }
    }

    #[test]
    fn the_sidebar_shows_general_first_then_rooms_by_name_and_dms_by_activity() {
        let mut old_dm = room(5, RoomKind::Dm, "zed");
        old_dm.last_message_id = Some(10);
        let mut new_dm = room(6, RoomKind::Dm, "amy");
        new_dm.last_message_id = Some(20);
        let rooms = vec![
            room(3, RoomKind::Private, "zoo"),
            old_dm,
            room(GENERAL_ROOM_ID, RoomKind::Public, "general"),
            room(4, RoomKind::Public, "Apples"),
            new_dm,
        ];
        let (named, dms) = sidebar_groups(&rooms);
        assert_eq!(named.iter().map(|r| r.id).collect::<Vec<_>>(), vec![GENERAL_ROOM_ID, 4, 3]);
        assert_eq!(dms.iter().map(|r| r.id).collect::<Vec<_>>(), vec![6, 5]);
        assert_eq!((unread_label(3), unread_label(UNREAD_MAX)), ("3".to_owned(), "999+".to_owned()));
    }

    #[test]
    fn other_conversations_count_unread_and_the_one_on_screen_is_read_on() {
        let owner = Owner::new();
        owner.with(|| {
            let state = ChatState::new(&me());
            let unknown = msg(1, 8, 9);
            assert_eq!(state.after_live_message(&unknown, true), AfterMessage::Nothing, "before the list");
            state.set_rooms(vec![room(GENERAL_ROOM_ID, RoomKind::Public, "general"), room(9, RoomKind::Private, "x")]);
            for message in [msg(2, 8, 9), msg(3, 8, 9), msg(4, 7, 9)] {
                let added = state.merge(vec![message.clone()]) > 0;
                assert_eq!(state.after_live_message(&message, added), AfterMessage::Nothing);
            }
            // A duplicate is not counted again; my own message is not counted.
            assert_eq!(state.after_live_message(&msg(3, 8, 9), false), AfterMessage::Nothing);
            assert_eq!(state.room(9).unwrap().unread, 2);
            assert_eq!(state.room(9).unwrap().last_message_id, Some(4));
            // Shown: read up to the newest, then read on as messages arrive.
            state.current.set(9);
            assert_eq!(state.read_current(), Some((9, 4)));
            assert_eq!(state.room(9).unwrap().unread, 0);
            assert_eq!(state.read_current(), None, "nothing new to mark");
            let next = msg(5, 8, 9);
            assert_eq!(state.after_live_message(&next, true), AfterMessage::MarkRead(9, 5));
            assert_eq!(state.after_live_message(&msg(6, 8, 77), true), AfterMessage::Refetch);
        });
    }

    #[test]
    fn live_frames_update_the_list() {
        let owner = Owner::new();
        owner.with(|| {
            let state = ChatState::new(&me());
            let mut counted = room(3, RoomKind::Public, "r");
            counted.unread = 4;
            state.set_rooms(vec![room(GENERAL_ROOM_ID, RoomKind::Public, "general"), counted]);
            let mut renamed = room(3, RoomKind::Public, "renamed");
            renamed.topic = "t".into();
            state.upsert_room(renamed);
            let known = state.room(3).unwrap();
            assert_eq!((known.name.as_str(), known.topic.as_str(), known.unread), ("renamed", "t", 4));
            state.upsert_room(room(8, RoomKind::Dm, "amy"));
            assert_eq!(state.rooms.get_untracked().len(), 3);

            state.current.set(3);
            state.members.set(Some((3, vec![Member { username: "zed".into(), is_owner: true, online: false }])));
            state.set_online(vec!["amy".into()]);
            state.member_changed(3, "amy".into(), true, 3);
            let (_, members) = state.members.get_untracked().unwrap();
            assert_eq!(
                members.iter().map(|m| (m.username.as_str(), m.online)).collect::<Vec<_>>(),
                [("amy", true), ("zed", false)]
            );
            assert_eq!(state.room(3).unwrap().member_count, 3);
            state.set_presence("amy".into(), false);
            state.set_presence("zed".into(), true);
            assert!(state.online.with_untracked(|o| o.contains("zed") && !o.contains("amy")));

            state.remove_room(3);
            assert_eq!(state.current.get_untracked(), GENERAL_ROOM_ID, "back to general");
            assert!(state.room(3).is_none() && state.members.get_untracked().is_none());
            // A list without the conversation on screen also goes back to general.
            state.current.set(8);
            state.set_rooms(vec![room(GENERAL_ROOM_ID, RoomKind::Public, "general")]);
            assert_eq!(state.current.get_untracked(), GENERAL_ROOM_ID);
        });
    }

    fn reaction(emoji: &str, count: i64, me: bool) -> Reaction {
        Reaction { emoji: emoji.into(), count, me }
    }

    #[test]
    fn a_reaction_frame_sets_the_count_and_mine_only_when_it_was_me() {
        let mut chips = vec![reaction("👍", 1, false)];
        set_reaction(&mut chips, "👍", 2, Some(true));
        set_reaction(&mut chips, "🎉", 1, None);
        assert_eq!(chips, vec![reaction("👍", 2, true), reaction("🎉", 1, false)], "a new emoji goes last");
        set_reaction(&mut chips, "👍", 3, None);
        assert_eq!(chips[0], reaction("👍", 3, true), "someone else's reaction leaves mine");
        set_reaction(&mut chips, "👍", 0, Some(false));
        set_reaction(&mut chips, "😮", 0, None);
        assert_eq!(chips, vec![reaction("🎉", 1, false)], "a chip at 0 goes; a 0 for an unknown one adds none");
        assert_eq!(toggled_reaction(&chips, "🎉"), (true, 2));
        assert_eq!(toggled_reaction(&[reaction("🎉", 2, true)], "🎉"), (false, 1));
        assert_eq!(toggled_reaction(&[], "👀"), (true, 1));
    }

    #[test]
    fn live_changes_reach_the_message_in_whichever_conversation_holds_it() {
        let owner = Owner::new();
        owner.with(|| {
            let state = ChatState::new(&me());
            state.merge(vec![msg(1, 8, 9), msg(2, 7, 9), msg(3, 8, 4)]);
            let mut edited = msg(1, 8, 9);
            edited.content = "fixed".into();
            edited.edited_at = Some("2026-01-01T00:01:00.000Z".into());
            assert!(state.apply_edit(edited.clone()));
            assert!(!state.apply_edit(msg(99, 8, 9)), "a message not loaded here is skipped");
            assert_eq!(state.message(9, 1), Some(edited));
            assert_eq!(state.conversation(9).messages.get_untracked().len(), 2, "an edit adds nothing");

            state.apply_reaction(9, 2, "👍", "someone", true, 1);
            state.apply_reaction(9, 2, "👍", "ME", true, 2);
            state.apply_reaction(9, 2, "❤️", "someone", true, 1);
            assert_eq!(state.message(9, 2).unwrap().reactions, vec![reaction("👍", 2, true), reaction("❤️", 1, false)]);
            state.apply_reaction(9, 2, "👍", "me", false, 1);
            assert_eq!(state.message(9, 2).unwrap().reactions[0], reaction("👍", 1, false));

            state.editing.set(Some(2));
            state.reply_to(&state.message(9, 2).unwrap());
            assert!(state.apply_deletion(9, 2));
            let deleted = state.message(9, 2).unwrap();
            assert!(deleted.deleted && deleted.content.is_empty() && deleted.reactions.is_empty());
            assert_eq!((state.editing.get_untracked(), state.replying_to.get_untracked()), (None, None));

            let mut changed = msg(3, 8, 4);
            changed.deleted = true;
            changed.content.clear();
            assert_eq!(state.apply_changes(vec![changed, msg(50, 8, 4)]), 1);
            assert!(state.message(4, 3).unwrap().deleted);
            // A stale copy in a history page never brings deleted text back.
            state.merge(vec![msg(3, 8, 4)]);
            assert!(state.message(4, 3).unwrap().deleted);
        });
    }

    #[test]
    fn the_change_cursor_keeps_the_highest_change_seen() {
        let owner = Owner::new();
        owner.with(|| {
            let state = ChatState::new(&me());
            assert_eq!(state.change_cursor(), 0);
            state.note_change(12);
            state.note_change(5);
            assert_eq!(state.change_cursor(), 12, "a late frame never moves it back");
            state.note_change(13);
            assert_eq!(state.change_cursor(), 13);
        });
    }

    #[test]
    fn too_many_changes_reload_every_history() {
        let owner = Owner::new();
        owner.with(|| {
            let state = ChatState::new(&me());
            state.merge(vec![msg(1, 8, 9), msg(2, 8, GENERAL_ROOM_ID)]);
            state.conversation(9).loaded.set(true);
            state.conversation(9).more_older.set(false);
            state.current.set(9);
            assert_eq!(state.forget_histories(), 9);
            let room = state.conversation(9);
            assert!(room.messages.get_untracked().is_empty() && !room.loaded.get_untracked());
            assert!(room.more_older.get_untracked());
            assert!(state.conversation(GENERAL_ROOM_ID).messages.get_untracked().is_empty());
        });
    }

    #[test]
    fn mentions_of_me_count_elsewhere_and_reading_clears_them() {
        let owner = Owner::new();
        owner.with(|| {
            let state = ChatState::new(&me());
            state.set_rooms(vec![room(GENERAL_ROOM_ID, RoomKind::Public, "general"), room(9, RoomKind::Public, "x")]);
            let mut mention = msg(2, 8, 9);
            mention.mentions = vec!["Me".into()];
            let mut other = msg(3, 8, 9);
            other.mentions = vec!["someone".into()];
            let mut mine = msg(4, 7, 9);
            mine.mentions = vec!["me".into()];
            for message in [mention.clone(), other, mine] {
                let added = state.merge(vec![message.clone()]) > 0;
                state.after_live_message(&message, added);
            }
            state.after_live_message(&mention, false);
            let counted = state.room(9).unwrap();
            assert_eq!((counted.unread, counted.mentions), (2, 1), "a duplicate and my own are not counted");
            // A `room` frame with older counts keeps what this page counted.
            state.upsert_room(room(9, RoomKind::Public, "x"));
            assert_eq!(state.room(9).unwrap().mentions, 1);
            state.current.set(9);
            assert_eq!(state.read_current(), Some((9, 4)));
            assert_eq!(state.room(9).unwrap().mentions, 0);
            // A mention in the conversation on screen is read at once.
            let mut seen = msg(5, 8, 9);
            seen.mentions = vec!["me".into()];
            state.merge(vec![seen.clone()]);
            assert_eq!(state.after_live_message(&seen, true), AfterMessage::MarkRead(9, 5));
            assert_eq!(state.room(9).unwrap().mentions, 0);
        });
    }

    #[test]
    fn a_room_with_only_mentions_left_is_still_read() {
        let owner = Owner::new();
        owner.with(|| {
            let state = ChatState::new(&me());
            let mut mentioned = room(9, RoomKind::Public, "x");
            (mentioned.mentions, mentioned.last_message_id, mentioned.last_read_id) = (1, Some(4), 4);
            state.set_rooms(vec![mentioned]);
            state.current.set(9);
            assert_eq!(state.read_current(), Some((9, 4)));
            assert_eq!(state.room(9).unwrap().mentions, 0);
        });
    }

    #[test]
    fn notifications_are_for_mentions_of_me_and_direct_messages_from_others() {
        let owner = Owner::new();
        owner.with(|| {
            let state = ChatState::new(&me());
            state.set_rooms(vec![room(3, RoomKind::Public, "plans"), room(8, RoomKind::Dm, "amy")]);
            let mut mention = msg(1, 8, 3);
            mention.mentions = vec!["me".into()];
            mention.content = "x".repeat(150);
            let notice = state.notice_for(&mention).unwrap();
            assert_eq!((notice.title.as_str(), notice.tag.as_str(), notice.room_id), ("u8 in plans", "1", 3));
            assert_eq!(notice.body.chars().count(), NOTICE_BODY_CHARS);
            let direct = msg(2, 8, 8);
            assert_eq!(state.notice_for(&direct).unwrap().title, "u8 in a direct message");
            assert_eq!(state.notice_for(&msg(3, 8, 3)), None, "a plain room message");
            assert_eq!(state.notice_for(&msg(4, 7, 8)), None, "my own");
            let mut gone = direct.clone();
            gone.deleted = true;
            assert_eq!(state.notice_for(&gone), None);
        });
    }

    #[test]
    fn up_edits_my_last_message_and_a_reply_belongs_to_its_conversation() {
        let owner = Owner::new();
        owner.with(|| {
            let state = ChatState::new(&me());
            let mut deleted = msg(4, 7, 9);
            deleted.deleted = true;
            state.merge(vec![msg(1, 7, 9), msg(2, 7, 9), msg(3, 8, 9), deleted]);
            assert_eq!(state.last_editable_of_mine(9), Some(2));
            assert_eq!(state.last_editable_of_mine(5), None);
            assert!(state.can_delete(&msg(2, 7, 9)) && !state.can_delete(&msg(3, 8, 9)));
            let mut long = msg(3, 8, 9);
            long.content = "y".repeat(300);
            state.reply_to(&long);
            let draft = state.replying_to.get_untracked().unwrap();
            assert_eq!((draft.id, draft.username.as_str()), (3, "u8"));
            assert_eq!(draft.excerpt.chars().count(), REPLY_EXCERPT_CHARS);
            state.current.set(9);
            assert_eq!(state.reply_target(), Some(3));
            state.current.set(GENERAL_ROOM_ID);
            assert_eq!(state.reply_target(), None, "never sent into another conversation");
            let admin = ChatState::new(&PublicUser { is_admin: true, ..me() });
            assert!(admin.can_delete(&msg(3, 8, 9)) && !admin.can_edit(&msg(3, 8, 9)));
        });
    }
}
