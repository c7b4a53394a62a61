//! The order of delivery on a node of a cluster. Several nodes commit messages to one database;
//! their ids are gapless and visible in commit order (the PostgreSQL backend numbers each batch
//! under one lock), and each node learns of the others' commits from the cluster bus, which may
//! lose, delay, repeat or reorder them. The sequencer turns that into one exact stream: it
//! delivers a committed id range only when it continues what was delivered last, drops what it
//! delivered already, and names the gap to read from the database when a range is missing for
//! longer than a short grace (a lost bus message, or a node that died between its commit and its
//! publication). A probe of the newest id in the database covers the silence after the last
//! range. Pure state: the writer task feeds it and does the reading.

use super::outbox::Delivery;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// What has been delivered, and what waits for the ids before it.
pub struct Sequencer {
    /// Every id up to this one has been delivered (or was found empty).
    delivered: i64,
    /// Committed ranges that cannot go yet, by first id: the last id and the messages.
    pending: BTreeMap<i64, (i64, Vec<Delivery>)>,
    /// The newest id the database was seen to hold.
    newest_seen: i64,
    /// Since when the delivery has been stuck behind a gap.
    stuck_since: Option<Instant>,
}

impl Sequencer {
    /// Starts after `delivered`: the newest id when the node started.
    pub fn new(delivered: i64) -> Self {
        Self { delivered, pending: BTreeMap::new(), newest_seen: delivered, stuck_since: None }
    }

    pub fn delivered(&self) -> i64 {
        self.delivered
    }

    /// Takes the committed range `lo..=hi` with its messages (ascending ids within it); returns
    /// what may be delivered now, in id order: nothing while an earlier range is missing.
    pub fn offer(&mut self, lo: i64, hi: i64, deliveries: Vec<Delivery>, now: Instant) -> Vec<Delivery> {
        if hi > self.delivered && lo <= hi {
            let entry = self.pending.entry(lo).or_insert((hi, Vec::new()));
            if hi >= entry.0 {
                *entry = (hi, deliveries);
            }
        }
        self.newest_seen = self.newest_seen.max(hi);
        self.drain(now)
    }

    /// The database holds ids up to `newest` (a probe's answer).
    pub fn saw_newest(&mut self, newest: i64, now: Instant) {
        self.newest_seen = self.newest_seen.max(newest);
        self.note_stuck(now);
    }

    /// The ids to read from the database now, `(after, up_to)`, once a gap has waited `grace`.
    pub fn gap_due(&self, now: Instant, grace: Duration) -> Option<(i64, i64)> {
        let since = self.stuck_since?;
        (now.duration_since(since) >= grace).then(|| (self.delivered, self.gap_end()))
    }

    /// When the gap (if any) will be due.
    pub fn gap_deadline(&self, grace: Duration) -> Option<Instant> {
        self.stuck_since.map(|since| since + grace)
    }

    /// The messages read from the database after the delivered mark, ascending, and the id they
    /// reach (`up_to`: every id up to it has been read); returns what may be delivered now.
    pub fn filled(&mut self, up_to: i64, read: Vec<Delivery>, now: Instant) -> Vec<Delivery> {
        let mut out: Vec<Delivery> = read.into_iter().filter(|d| d.id > self.delivered && d.id <= up_to).collect();
        self.delivered = self.delivered.max(up_to);
        self.stuck_since = None;
        out.extend(self.drain(now));
        out
    }

    /// The last id of the gap after the delivered mark: just before the next pending range, or
    /// the newest id seen.
    fn gap_end(&self) -> i64 {
        match self.pending.first_key_value() {
            Some((&lo, _)) => lo - 1,
            None => self.newest_seen,
        }
    }

    /// Delivers every pending range that continues the delivered mark.
    fn drain(&mut self, now: Instant) -> Vec<Delivery> {
        let mut out = Vec::new();
        while let Some(entry) = self.pending.first_entry() {
            if *entry.key() > self.delivered + 1 {
                break;
            }
            let (hi, deliveries) = entry.remove();
            let delivered = self.delivered;
            out.extend(deliveries.into_iter().filter(|d| d.id > delivered));
            self.delivered = self.delivered.max(hi);
        }
        self.note_stuck(now);
        out
    }

    /// Starts (or ends) the wait for a gap.
    fn note_stuck(&mut self, now: Instant) {
        let stuck = !self.pending.is_empty() || self.newest_seen > self.delivered;
        self.stuck_since = match (stuck, self.stuck_since) {
            (false, _) => None,
            (true, Some(since)) => Some(since),
            (true, None) => Some(now),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn range(lo: i64, hi: i64) -> Vec<Delivery> {
        (lo..=hi).map(|id| Delivery { id, room_id: 1, sender_id: 1, frame: Bytes::new() }).collect()
    }

    fn ids(deliveries: &[Delivery]) -> Vec<i64> {
        deliveries.iter().map(|d| d.id).collect()
    }

    const GRACE: Duration = Duration::from_millis(5);

    #[test]
    fn ranges_that_continue_the_mark_go_at_once() {
        let now = Instant::now();
        let mut sequencer = Sequencer::new(10);
        assert_eq!(ids(&sequencer.offer(11, 12, range(11, 12), now)), [11, 12]);
        assert_eq!(ids(&sequencer.offer(13, 13, range(13, 13), now)), [13]);
        assert_eq!(sequencer.delivered(), 13);
        assert_eq!(sequencer.gap_deadline(GRACE), None);
    }

    #[test]
    fn a_range_waits_for_the_one_before_it_and_both_go_in_order() {
        let now = Instant::now();
        let mut sequencer = Sequencer::new(0);
        assert!(sequencer.offer(4, 6, range(4, 6), now).is_empty());
        assert_eq!(sequencer.gap_due(now, GRACE), None, "not before the grace");
        assert_eq!(ids(&sequencer.offer(1, 3, range(1, 3), now)), [1, 2, 3, 4, 5, 6]);
        assert_eq!(sequencer.gap_deadline(GRACE), None);
    }

    #[test]
    fn duplicates_and_overlaps_are_delivered_once() {
        let now = Instant::now();
        let mut sequencer = Sequencer::new(0);
        assert_eq!(ids(&sequencer.offer(1, 3, range(1, 3), now)), [1, 2, 3]);
        assert!(sequencer.offer(1, 3, range(1, 3), now).is_empty(), "a repeat");
        assert!(sequencer.offer(2, 2, range(2, 2), now).is_empty(), "a part of what went");
        assert_eq!(ids(&sequencer.offer(2, 5, range(2, 5), now)), [4, 5], "an overlap goes from the mark on");
    }

    #[test]
    fn a_gap_is_read_after_the_grace_and_releases_what_waited() {
        let start = Instant::now();
        let mut sequencer = Sequencer::new(0);
        assert!(sequencer.offer(6, 7, range(6, 7), start).is_empty());
        assert_eq!(sequencer.gap_due(start + GRACE, GRACE), Some((0, 5)));
        let out = sequencer.filled(5, range(1, 5), start + GRACE);
        assert_eq!(ids(&out), [1, 2, 3, 4, 5, 6, 7]);
        // The lost range arriving late is a duplicate now.
        assert!(sequencer.offer(1, 5, range(1, 5), start + GRACE).is_empty());
    }

    #[test]
    fn a_partial_read_leaves_the_rest_of_the_gap_due() {
        let start = Instant::now();
        let mut sequencer = Sequencer::new(0);
        sequencer.offer(101, 101, range(101, 101), start);
        let out = sequencer.filled(40, range(1, 40), start + GRACE);
        assert_eq!(out.len(), 40);
        assert_eq!(sequencer.gap_due(start + GRACE * 2, GRACE), Some((40, 100)));
        assert_eq!(sequencer.filled(100, range(41, 100), start + GRACE * 2).len(), 61);
        assert_eq!(sequencer.delivered(), 101);
    }

    #[test]
    fn the_probe_finds_what_no_range_announced() {
        let start = Instant::now();
        let mut sequencer = Sequencer::new(3);
        sequencer.saw_newest(3, start);
        assert_eq!(sequencer.gap_deadline(GRACE), None, "nothing new");
        sequencer.saw_newest(9, start);
        assert_eq!(sequencer.gap_due(start + GRACE, GRACE), Some((3, 9)));
        assert_eq!(ids(&sequencer.filled(9, range(4, 9), start + GRACE)), [4, 5, 6, 7, 8, 9]);
    }

    #[test]
    fn an_empty_read_still_moves_the_mark() {
        let start = Instant::now();
        let mut sequencer = Sequencer::new(0);
        sequencer.offer(3, 3, range(3, 3), start);
        // Ids 1 and 2 hold nothing this node may read (never the case on a gapless backend, but
        // the mark must not stick on it).
        assert_eq!(ids(&sequencer.filled(2, Vec::new(), start + GRACE)), [3]);
    }
}
