//! `search`: K searches, one after the other, over a database already holding many messages
//! (`scripts/bench.sh` seeds 1M with [`word`]'s vocabulary, see `seed_search` there), timed from
//! sending the request to having the whole answer. Two kinds, alternating: one word (a word of
//! the vocabulary, common or rare), and operators (a phrase of two words, `from:`, `in:`,
//! `before:`/`after:` with a word). The first few samples warm the server's caches.

use super::{Common, Meter};
use crate::args::Args;
use crate::http::{encode_query_value, get};
use crate::stats::{round3, Histogram};
use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// The syllables the seeded vocabulary is made of; `scripts/bench.sh` spells the same string.
pub const SYLLABLES: &str = "kalominerusativozupedagohijakulemonuripo";
/// Words in the seeded vocabulary.
pub const VOCABULARY: u64 = 2000;

/// Word `i` of the seeded vocabulary: three syllables (`scripts/bench.sh` makes the same words).
pub fn word(i: u64) -> String {
    let syllable = |n: u64| {
        let at = (n % 20) as usize * 2;
        &SYLLABLES[at..at + 2]
    };
    format!("{}{}{}", syllable(i), syllable(i / 20), syllable(i / 400))
}

#[derive(Clone, Debug)]
pub struct Params {
    pub samples: usize,
    pub warmup: usize,
    /// The username that sent the seeded messages (for `from:`).
    pub from: String,
}

impl Params {
    pub fn from_args(args: &Args) -> Result<Self> {
        let params = Self {
            samples: args.get("samples", 1000)?,
            warmup: args.get("warmup", 20)?,
            from: args.get("from", "seed".to_string())?,
        };
        ensure!((1..=100_000).contains(&params.samples), "--samples must be 1..=100000");
        ensure!(params.warmup <= 10_000, "--warmup must be at most 10000");
        Ok(params)
    }
}

/// A small deterministic generator (xorshift), so runs ask the same queries.
struct Picker(u64);

impl Picker {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn word(&mut self) -> String {
        word(self.next() % VOCABULARY)
    }
}

/// Query `i`: even ones a single word, odd ones with operators.
fn query(i: usize, picker: &mut Picker, from: &str) -> (bool, String) {
    if i.is_multiple_of(2) {
        return (false, picker.word());
    }
    let q = match (i / 2) % 5 {
        0 => format!("\"{} {}\"", picker.word(), picker.word()),
        1 => format!("from:{from} {}", picker.word()),
        2 => format!("in:general {}", picker.word()),
        3 => format!("{} after:2000-01-01", picker.word()),
        _ => format!("{} {} before:2999-01-01", picker.word(), picker.word()),
    };
    (true, q)
}

/// `loadgen search`.
pub async fn run(common: &Common, params: Params) -> Result<Value> {
    let accounts = common.accounts(1).await?;
    let token = accounts.token(0);
    let (words, operators) = (Histogram::default(), Histogram::default());
    let mut picker = Picker(0x9E37_79B9_7F4A_7C15);
    let (mut found, mut empty) = (0u64, 0u64);
    let started = Instant::now();
    let mut meter = None;
    for i in 0..params.warmup + params.samples {
        if i == params.warmup {
            meter = Some(Meter::start(common.server));
        }
        let (with_operators, q) = query(i, &mut picker, &params.from);
        let path = format!("/search?q={}", encode_query_value(&q));
        let sent = Instant::now();
        let response = get(common.addr, &path, token, Duration::from_secs(30)).await.with_context(|| q.clone())?;
        let took = sent.elapsed();
        ensure!(response.status == 200, "{q}: {} {}", response.status, response.body);
        let results = response.json()?["results"].as_array().map_or(0, Vec::len);
        if i >= params.warmup {
            let histogram = if with_operators { &operators } else { &words };
            histogram.record(took.as_nanos() as u64);
            if results > 0 {
                found += 1;
            } else {
                empty += 1;
            }
        }
    }
    let (words, operators) = (words.snapshot(), operators.snapshot());
    eprintln!("  one word: {}", words.describe());
    eprintln!("  operators: {}", operators.describe());
    eprintln!("  {found} searches found something, {empty} nothing");
    let mut fields = words.to_json("word_");
    fields.extend(operators.to_json("operators_"));
    fields.insert("with_results".into(), json!(found));
    fields.insert("without_results".into(), json!(empty));
    fields.insert("warmup".into(), json!(params.warmup));
    if let Some(meter) = meter {
        fields.extend(meter.fields(params.samples as u64, "search"));
    }
    fields.insert("total_s".into(), json!(round3(started.elapsed().as_secs_f64())));
    common.emit("search", "search".into(), fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vocabulary_is_three_syllables_and_distinct() {
        assert_eq!(word(0), "kakaka");
        assert_eq!(word(1), "lokaka");
        assert_eq!(word(421), "lololo");
        let all: std::collections::HashSet<String> = (0..VOCABULARY).map(word).collect();
        assert_eq!(all.len(), VOCABULARY as usize);
    }

    #[test]
    fn queries_alternate_words_and_operators() {
        let mut picker = Picker(1);
        let kinds: Vec<bool> = (0..4).map(|i| query(i, &mut picker, "seed").0).collect();
        assert_eq!(kinds, [false, true, false, true]);
        let (_, q) = query(3, &mut Picker(1), "seed");
        assert!(q.starts_with("from:seed "), "{q}");
    }
}
