//! Presence: who is online (has a socket open, or closed their last one less than a grace period
//! ago, so a reload does not flap), as the `rooms` frame's snapshot and the `presence` frames that
//! follow it. Changes are coalesced: the frames of a short window go to every live connection in
//! one write each, so a crowd connecting at once costs a few writes per socket, not one per
//! arrival.

use bytes::{Bytes, BytesMut};
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

/// How long changes gather before they are sent together.
pub const PRESENCE_WINDOW: std::time::Duration = std::time::Duration::from_millis(50);

#[derive(Default)]
pub struct Presence {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Online users (including those in their grace period), by id, with their usernames.
    online: HashMap<i64, String>,
    /// Users whose last socket closed: the generation of the pending "offline".
    leaving: HashMap<i64, u64>,
    generation: u64,
    /// `presence` frames not sent yet, and whether a flush is on its way.
    outgoing: Vec<Bytes>,
    flush_due: bool,
}

impl Presence {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A user's first socket is open: true when they were offline (tell the others).
    pub fn arrive(&self, user: i64, username: &str) -> bool {
        let mut state = self.lock();
        if state.leaving.remove(&user).is_some() {
            return false;
        }
        state.online.insert(user, username.to_owned()).is_none()
    }

    /// A user's last socket closed: the generation to confirm after the grace period.
    pub fn leave(&self, user: i64) -> u64 {
        let mut state = self.lock();
        state.generation += 1;
        let generation = state.generation;
        state.leaving.insert(user, generation);
        generation
    }

    /// The grace period of `generation` is over: the username, if the user is still gone.
    pub fn confirm_leave(&self, user: i64, generation: u64) -> Option<String> {
        let mut state = self.lock();
        if state.leaving.get(&user) != Some(&generation) {
            return None;
        }
        state.leaving.remove(&user);
        state.online.remove(&user)
    }

    /// Gone at once (a blocked account): the username, if they were online.
    pub fn leave_now(&self, user: i64) -> Option<String> {
        let mut state = self.lock();
        state.leaving.remove(&user);
        state.online.remove(&user)
    }

    /// Every online username (unordered).
    pub fn online_names(&self) -> Vec<String> {
        self.lock().online.values().cloned().collect()
    }

    /// Queues a `presence` frame; true when the caller must schedule the flush.
    pub fn queue(&self, frame: Bytes) -> bool {
        let mut state = self.lock();
        state.outgoing.push(frame);
        !std::mem::replace(&mut state.flush_due, true)
    }

    /// The queued frames, back to back (empty when none).
    pub fn take(&self) -> Bytes {
        let mut state = self.lock();
        state.flush_due = false;
        let mut out = BytesMut::with_capacity(state.outgoing.iter().map(Bytes::len).sum());
        state.outgoing.drain(..).for_each(|frame| out.extend_from_slice(&frame));
        out.freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reload_within_the_grace_period_does_not_flap() {
        let presence = Presence::default();
        assert!(presence.arrive(1, "alice"));
        let generation = presence.leave(1);
        assert!(!presence.arrive(1, "alice"), "back within the grace period: no news");
        assert_eq!(presence.confirm_leave(1, generation), None, "that leave was cancelled");
        let generation = presence.leave(1);
        assert_eq!(presence.confirm_leave(1, generation).as_deref(), Some("alice"));
        assert!(presence.online_names().is_empty());
        assert!(presence.arrive(1, "alice"), "a new arrival");
        assert_eq!(presence.leave_now(1).as_deref(), Some("alice"));
    }

    #[test]
    fn frames_queued_together_go_out_in_one_flush() {
        let presence = Presence::default();
        assert!(presence.queue(Bytes::from_static(b"a")));
        assert!(!presence.queue(Bytes::from_static(b"b")), "one flush is already due");
        assert_eq!(&presence.take()[..], b"ab");
        assert!(presence.queue(Bytes::from_static(b"c")), "a new window");
    }
}
