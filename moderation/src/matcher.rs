//! The matcher: a trie of word-list entries run as a small automaton over the
//! token stream of [`crate::tokens`].
//!
//! The automaton keeps a set of trie positions (at most one per trie node, so
//! the work per character is bounded by the list, not the message) and for
//! every message character:
//! * follows the trie edge for each letter the character may stand for;
//! * may stay on the current node when the letter repeats ("fuuuck"), which
//!   gives "at least as many of each letter as the entry has": `ass` matches
//!   "asss" but not "as" (in a suffix an `s` may not repeat, so "assess" is
//!   not "ass" + "es");
//! * after a complete entry, may enter the suffix trie (`-s -es -ed -er -ers
//!   -ing -in -y ...`);
//! * starts entries marked `*word` at every letter, others only at word starts.
//!
//! At a word boundary every position on a complete entry (or complete suffix)
//! is a violation; positions at the end of a phrase word move on to the next
//! word; everything else is dropped. (A phrase written as one word,
//! "killyourself", is not a phrase match: "goodie" would otherwise be
//! "go die". List such spellings as words of their own.)

use std::ops::ControlFlow;

use crate::bidi::visual_order;
use crate::tokens::{Folded, Item};
use crate::wordlist::{entry_key, Entry, WordList};

/// Suffixes allowed after an entry (unless it is marked `=`).
const SUFFIXES: &[&str] = &["s", "es", "ed", "er", "ers", "ing", "ings", "in", "y", "z", "ez"];

const ANCHOR: u32 = 0;
const FLOAT: u32 = 1;
const SUFFIX: u32 = 2;
/// Label of a trie edge between two words of a phrase.
const SPACE: char = ' ';

/// What ends at a trie node.
#[derive(Debug, Clone, Copy)]
struct End {
    rule: u32,
    suffixes: bool,
    open: bool,
}

#[derive(Debug, Clone)]
struct Node {
    /// Label of the edge into this node (`'\0'` for roots).
    label: char,
    /// Set on nodes that complete an entry (or, in the suffix trie, a suffix).
    end: Option<End>,
    in_suffix: bool,
    /// Outgoing edges, sorted by label.
    children: Vec<(char, u32)>,
}

impl Node {
    fn new(label: char, in_suffix: bool) -> Node {
        Node { label, end: None, in_suffix, children: Vec::new() }
    }
}

/// The compiled word list.
#[derive(Debug)]
pub(crate) struct Compiled {
    nodes: Vec<Node>,
    rules: Vec<String>,
}

impl Compiled {
    pub(crate) fn new(list: &WordList) -> Compiled {
        let mut c = Compiled {
            nodes: vec![Node::new('\0', false), Node::new('\0', false), Node::new('\0', true)],
            rules: Vec::new(),
        };
        for entry in list.entries() {
            c.add_entry(entry);
        }
        for suffix in SUFFIXES {
            let node = c.insert(SUFFIX, &entry_key(suffix), true);
            c.nodes[node as usize].end = Some(End { rule: 0, suffixes: false, open: false });
        }
        c
    }

    fn add_entry(&mut self, entry: &Entry) {
        let root = if entry.floating { FLOAT } else { ANCHOR };
        let node = self.insert(root, &entry.key, false);
        let end = &mut self.nodes[node as usize].end;
        match end {
            Some(e) => {
                e.suffixes |= !entry.exact;
                e.open |= entry.open;
            }
            None => {
                let rule = u32::try_from(self.rules.len()).unwrap_or(u32::MAX);
                self.rules.push(entry.rule.clone());
                *end = Some(End { rule, suffixes: !entry.exact, open: entry.open });
            }
        }
    }

    /// Inserts `key` below `root`, returning the last node.
    fn insert(&mut self, root: u32, key: &str, in_suffix: bool) -> u32 {
        let mut node = root;
        for label in key.chars() {
            node = match self.edge(node, label) {
                Some(child) => child,
                None => self.add_child(node, label, in_suffix),
            };
        }
        node
    }

    fn add_child(&mut self, parent: u32, label: char, in_suffix: bool) -> u32 {
        let child = u32::try_from(self.nodes.len()).unwrap_or(u32::MAX);
        self.nodes.push(Node::new(label, in_suffix));
        let children = &mut self.nodes[parent as usize].children;
        let at = children.partition_point(|&(l, _)| l < label);
        children.insert(at, (label, child));
        child
    }

    fn edge(&self, node: u32, label: char) -> Option<u32> {
        let children = &self.node(node).children;
        match children.len() {
            0 => None,
            1..=8 => children.iter().find(|e| e.0 == label).map(|e| e.1),
            _ => children.binary_search_by_key(&label, |e| e.0).ok().map(|i| children[i].1),
        }
    }

    fn node(&self, id: u32) -> &Node {
        &self.nodes[id as usize]
    }

    /// Returns the rule of the first violation in `message`, read in logical
    /// order and, if it has a right-to-left override, in display order.
    pub(crate) fn check(&self, message: &str) -> Option<&str> {
        self.check_order(message).or_else(|| self.check_order(&visual_order(message)?))
    }

    fn check_order(&self, message: &str) -> Option<&str> {
        let folded = Folded::new(message);
        let mut run = Run::new(self);
        folded.scan(&mut |item| run.feed(item));
        run.finish();
        run.found.map(|r| self.rules[r as usize].as_str())
    }
}

/// A position of the automaton: a trie node, plus the matched rule while in
/// the suffix trie.
#[derive(Debug, Clone, Copy)]
struct State {
    node: u32,
    rule: u32,
}

/// A set of states, at most one per node.
struct StateSet {
    items: Vec<State>,
    seen: Vec<bool>,
}

impl StateSet {
    fn new(nodes: usize) -> StateSet {
        StateSet { items: Vec::new(), seen: vec![false; nodes] }
    }

    fn insert(&mut self, state: State) -> bool {
        let seen = &mut self.seen[state.node as usize];
        if *seen {
            return false;
        }
        *seen = true;
        self.items.push(state);
        true
    }

    fn clear(&mut self) {
        for s in &self.items {
            self.seen[s.node as usize] = false;
        }
        self.items.clear();
    }
}

/// One run of the automaton over one message.
struct Run<'c> {
    c: &'c Compiled,
    cur: StateSet,
    next: StateSet,
    found: Option<u32>,
}

impl<'c> Run<'c> {
    fn new(c: &'c Compiled) -> Run<'c> {
        let mut cur = StateSet::new(c.nodes.len());
        cur.insert(State { node: ANCHOR, rule: 0 });
        Run { c, cur, next: StateSet::new(c.nodes.len()), found: None }
    }

    /// Consumes one item; breaks once a violation is found.
    fn feed(&mut self, item: Item<'_>) -> ControlFlow<()> {
        match item {
            Item::Letter { alts, skippable, .. } => self.letter(alts.as_slice(), skippable),
            Item::Gap { joinable } => self.gap(joinable),
            Item::Number(_) => {
                self.gap(false);
                self.cur.clear();
                self.push_cur(ANCHOR, 0);
            }
        }
        if self.found.is_some() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }

    /// Checks the last word at the end of the message.
    fn finish(&mut self) {
        if self.found.is_none() {
            self.gap(false);
        }
    }

    fn letter(&mut self, alts: &[char], skippable: bool) {
        self.next.clear();
        let float = State { node: FLOAT, rule: 0 };
        for i in 0..=self.cur.items.len() {
            let state = self.cur.items.get(i).copied().unwrap_or(float);
            for &letter in alts {
                self.advance(state, letter);
            }
        }
        if skippable {
            self.keep_and_break();
        }
        std::mem::swap(&mut self.cur, &mut self.next);
    }

    /// A gap: a word boundary, and for a joinable gap also "no gap".
    fn gap(&mut self, joinable: bool) {
        self.next.clear();
        if joinable {
            self.keep_and_break();
        } else {
            self.word_break();
        }
        std::mem::swap(&mut self.cur, &mut self.next);
    }

    fn keep_and_break(&mut self) {
        for i in 0..self.cur.items.len() {
            let s = self.cur.items[i];
            self.next.insert(s);
        }
        self.word_break();
    }

    /// Moves `state` over one letter into `next`.
    fn advance(&mut self, state: State, letter: char) {
        let node = self.c.node(state.node);
        if let Some(child) = self.c.edge(state.node, letter) {
            self.push_next(child, state.rule);
        }
        if node.label == letter && !(node.in_suffix && letter == 's') {
            self.push_next(state.node, state.rule);
        }
        if let Some(end) = node.end.filter(|e| e.suffixes && !node.in_suffix) {
            if let Some(child) = self.c.edge(SUFFIX, letter) {
                self.push_next(child, end.rule);
            }
        }
    }

    /// Word boundary: report completed entries, carry phrases over, restart.
    fn word_break(&mut self) {
        for i in 0..self.cur.items.len() {
            let state = self.cur.items[i];
            let node = self.c.node(state.node);
            match node.end {
                Some(_) if node.in_suffix => self.report(state.rule),
                Some(end) => self.report(end.rule),
                None => {}
            }
            if let Some(next) = self.c.edge(state.node, SPACE) {
                self.push_next(next, state.rule);
            }
        }
        self.push_next(ANCHOR, 0);
    }

    fn push_next(&mut self, node: u32, rule: u32) {
        if self.next.insert(State { node, rule }) {
            self.entered(node);
        }
    }

    fn push_cur(&mut self, node: u32, rule: u32) {
        self.cur.insert(State { node, rule });
    }

    /// Reports open entries (`word*`) as soon as they are complete.
    fn entered(&mut self, node: u32) {
        let n = self.c.node(node);
        if let Some(end) = n.end.filter(|e| e.open && !n.in_suffix) {
            self.report(end.rule);
        }
    }

    fn report(&mut self, rule: u32) {
        self.found.get_or_insert(rule);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(list: &str, message: &str) -> Option<String> {
        Compiled::new(&WordList::parse(list)).check(message).map(str::to_owned)
    }

    #[test]
    fn whole_words_only() {
        assert_eq!(check("ass", "you ass"), Some("ass".into()));
        for clean in ["assassin", "class", "bass", "as", "a s", "passport"] {
            assert_eq!(check("ass", clean), None, "{clean}");
        }
    }

    #[test]
    fn repeated_letters() {
        assert!(check("bad", "baaaad").is_some());
        assert!(check("ass", "asssss").is_some());
        assert!(check("ass", "aas").is_none());
    }

    #[test]
    fn suffixes() {
        for word in ["fucks", "fucking", "fucker", "fuckers", "fucked", "fuckin", "fuckkkinggg"] {
            assert!(check("fuck", word).is_some(), "{word}");
        }
        assert!(check("ass", "asses").is_some());
        assert!(check("ass", "assess").is_none());
        assert!(check("shit", "shittyyy").is_some());
        assert!(check("go die", "goodie").is_none());
        assert!(check("fuck", "fuckface").is_none());
        assert!(check("=spic", "spicy").is_none());
        assert!(check("=spic", "spic").is_some());
    }

    #[test]
    fn open_and_floating_entries() {
        assert!(check("fuck*", "fuckface").is_some());
        assert!(check("fuck*", "motherfucker").is_none());
        assert!(check("*fuck*", "motherfucker").is_some());
        assert!(check("*shit", "bullshit").is_some());
        assert!(check("*shit", "bullshitting").is_some());
        assert!(check("*shit", "shitake").is_none());
    }

    #[test]
    fn phrases() {
        let list = "kill yourself";
        for msg in [
            "kill yourself",
            "KILL   yourself",
            "kill. yourself!",
            "kill-yourself",
            "k i l l y o u r s e l f",
            "go kill yourself now",
        ] {
            assert!(check(list, msg).is_some(), "{msg}");
        }
        for msg in ["kill", "yourself", "kill 2 yourself", "skill yourself", "killyourself"] {
            assert!(check(list, msg).is_none(), "{msg}");
        }
    }

    #[test]
    fn first_rule_found_is_reported() {
        assert_eq!(check("foo\nbar", "bar foo"), Some("bar".into()));
    }

    #[test]
    fn empty_list_matches_nothing() {
        assert_eq!(check("", "anything at all"), None);
    }

    #[test]
    fn leet_alternatives() {
        assert!(check("kill", "k1ll").is_some());
        assert!(check("lol", "l0l").is_some());
        assert!(check("lol", "10l").is_some()); // a short word: digits are letters
        assert!(check("lol", "L01").is_none()); // a model number: digits stay digits
        assert!(check("lollol", "1011o1").is_none()); // long, and more digits than letters
        assert!(check("fuck", "fuck!!!").is_some());
        assert!(check("shit", "sh!t").is_some());
        assert!(check("fuck", "f*ck").is_some());
    }
}
