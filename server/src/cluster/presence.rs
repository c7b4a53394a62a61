//! Presence across nodes, kept in Redis with a time to live, so that a node that dies takes its
//! users offline with it. Each node keeps two keys alive: `chatterbox:{cluster}:node:{id}` (it is
//! up) and `chatterbox:{cluster}:presence:{id}` (a hash of its online users; see
//! `RedisLink::key`), both expiring unless refreshed every
//! third of the TTL. Changes are written as they happen and published on the bus; every refresh
//! rewrites the whole hash (so a Redis that restarted empty is whole again within a third of the
//! TTL) and reports which nodes are still alive. After a (re)subscription it also reports a
//! snapshot of every live node's users, since changes published meanwhile were lost.

use super::link::RedisLink;
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tokio::sync::mpsc;

/// A change of this node's online users.
#[derive(Debug)]
pub enum Change {
    Online {
        user: i64,
        username: String,
    },
    Offline {
        user: i64,
    },
    /// The bus is back: report a snapshot.
    Resync,
}

/// What the board tells the node.
#[derive(Debug, PartialEq)]
pub enum Report {
    /// The nodes that are up now.
    Alive(HashSet<u64>),
    /// Every live node's online users (this node's left out).
    Snapshot(HashMap<u64, HashMap<i64, String>>),
}

/// This node's end of the presence board.
#[derive(Clone)]
pub struct Board {
    changes: mpsc::Sender<Change>,
}

const CHANGES: usize = 4096;

/// The prefixes of the two keys of a node (in its cluster's names), each followed by the
/// node's id in hex.
const NODE: &str = "node:";
const USERS: &str = "presence:";

fn node_key(link: &RedisLink, node: u64) -> String {
    link.key(&format!("{NODE}{node:016x}"))
}

fn users_key(link: &RedisLink, node: u64) -> String {
    link.key(&format!("{USERS}{node:016x}"))
}

impl Board {
    /// Starts keeping `node`'s presence with `ttl`; reports go to `reports`.
    pub fn start(link: RedisLink, node: u64, ttl: Duration, reports: mpsc::Sender<Report>) -> Self {
        let (changes, queue) = mpsc::channel(CHANGES);
        tokio::spawn(Keeper { link, node, ttl, mine: HashMap::new(), reports }.run(queue));
        Self { changes }
    }

    /// Records a change (best effort: a lost one is repaired by the next full rewrite).
    pub fn change(&self, change: Change) {
        if self.changes.try_send(change).is_err() {
            tracing::warn!("presence change dropped (queue full); the next refresh repairs it");
        }
    }
}

struct Keeper {
    link: RedisLink,
    node: u64,
    ttl: Duration,
    /// This node's online users.
    mine: HashMap<i64, String>,
    reports: mpsc::Sender<Report>,
}

impl Keeper {
    async fn run(mut self, mut queue: mpsc::Receiver<Change>) {
        let mut refresh = tokio::time::interval(self.ttl / 3);
        refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut snapshot_due = true;
        loop {
            tokio::select! {
                change = queue.recv() => match change {
                    Some(Change::Resync) => {
                        snapshot_due = true;
                        refresh.reset_immediately();
                    }
                    Some(change) => self.write(change).await,
                    None => return,
                },
                _ = refresh.tick() => {
                    if self.refresh().await && snapshot_due {
                        snapshot_due = !self.snapshot().await;
                    }
                }
            }
        }
    }

    fn ttl_ms(&self) -> u64 {
        self.ttl.as_millis() as u64
    }

    /// Writes one change at once.
    async fn write(&mut self, change: Change) {
        let key = users_key(&self.link, self.node);
        let mut pipeline = redis::pipe();
        match change {
            Change::Online { user, username } => {
                pipeline.hset(&key, user, &username).ignore();
                self.mine.insert(user, username);
            }
            Change::Offline { user } => {
                pipeline.hdel(&key, user).ignore();
                self.mine.remove(&user);
            }
            Change::Resync => return,
        }
        pipeline.pexpire(&key, self.ttl_ms() as i64).ignore();
        self.link.run_pipeline(&pipeline).await;
    }

    /// Rewrites this node's keys and reports the live nodes; false when Redis is unreachable.
    async fn refresh(&mut self) -> bool {
        let key = users_key(&self.link, self.node);
        let mut pipeline = redis::pipe();
        pipeline.atomic();
        pipeline.cmd("SET").arg(node_key(&self.link, self.node)).arg(1).arg("PX").arg(self.ttl_ms()).ignore();
        pipeline.del(&key).ignore();
        if !self.mine.is_empty() {
            let pairs: Vec<(i64, &str)> = self.mine.iter().map(|(user, name)| (*user, name.as_str())).collect();
            pipeline.hset_multiple(&key, &pairs).ignore();
            pipeline.pexpire(&key, self.ttl_ms() as i64).ignore();
        }
        if !self.link.run_pipeline(&pipeline).await {
            return false;
        }
        let prefix = self.link.key(NODE);
        let Some(keys) = self.scan(&format!("{prefix}*")).await else { return false };
        let alive: HashSet<u64> = keys.iter().filter_map(|key| node_of(key, &prefix)).collect();
        let _ = self.reports.send(Report::Alive(alive)).await;
        true
    }

    /// Reports every other live node's users; false when Redis is unreachable.
    async fn snapshot(&mut self) -> bool {
        let prefix = self.link.key(USERS);
        let Some(keys) = self.scan(&format!("{prefix}*")).await else { return false };
        let mut all = HashMap::new();
        for key in keys {
            let Some(node) = node_of(&key, &prefix) else { continue };
            if node == self.node {
                continue;
            }
            let Some(users) = self.link.run::<HashMap<i64, String>>(redis::cmd("HGETALL").arg(&key)).await else {
                return false;
            };
            all.insert(node, users);
        }
        let _ = self.reports.send(Report::Snapshot(all)).await;
        true
    }

    /// Every key matching `pattern` (SCAN, never the blocking KEYS). A cluster's patterns match
    /// its keys alone: a cluster id has no `:` and no pattern characters.
    async fn scan(&self, pattern: &str) -> Option<Vec<String>> {
        let mut keys = Vec::new();
        let mut cursor = 0u64;
        loop {
            let (next, page): (u64, Vec<String>) =
                self.link.run(redis::cmd("SCAN").arg(cursor).arg("MATCH").arg(pattern).arg("COUNT").arg(500)).await?;
            keys.extend(page);
            if next == 0 {
                return Some(keys);
            }
            cursor = next;
        }
    }
}

/// The node named by `key` after `prefix`.
fn node_of(key: &str, prefix: &str) -> Option<u64> {
    u64::from_str_radix(key.strip_prefix(prefix)?, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(cluster: &str) -> RedisLink {
        RedisLink::new(redis::Client::open("redis://127.0.0.1:1").unwrap(), cluster)
    }

    #[test]
    fn keys_name_their_cluster_and_node() {
        let (blue, red) = (link("blue"), link("red"));
        let node = 0x00ab_cdef_1234_5679;
        assert_eq!(node_key(&blue, node), "chatterbox:blue:node:00abcdef12345679");
        assert_eq!(users_key(&blue, node), "chatterbox:blue:presence:00abcdef12345679");
        assert_eq!(node_of(&node_key(&blue, node), &blue.key(NODE)), Some(node));
        assert_eq!(node_of(&users_key(&blue, node), &blue.key(USERS)), Some(node));
        assert_eq!(node_of(&node_key(&red, node), &blue.key(NODE)), None, "another cluster's");
        assert_eq!(node_of("chatterbox:blue:node:zz", &blue.key(NODE)), None);
    }
}
