//! Precision, recall and F1 of the word filter, the classifier and both together, on a labelled
//! set the model never saw, and the classifier's cost per message. Run by
//! `scripts/moderation-eval.sh` (which fetches the insults test set, never committed); fails
//! when a figure falls below the one recorded here and in docs/moderation.md.
#![cfg(feature = "classifier")]

mod common;

use common::unescape;

use std::time::Instant;

use moderation::classifier::train::Evaluation;
use moderation::classifier::Classifier;
use moderation::Filter;

/// The threshold `CHATTERBOX_CLASSIFIER_THRESHOLD` defaults to (chosen from this measurement).
const THRESHOLD: f64 = 0.7;

/// Recorded F1 (and precision, recall) per set and opinion, rounded down; see docs/moderation.md.
struct Recorded {
    opinion: &'static str,
    precision: f64,
    recall: f64,
    f1: f64,
}

const INSULTS: &[Recorded] = &[
    Recorded { opinion: "word filter", precision: 0.482, recall: 0.435, f1: 0.457 },
    Recorded { opinion: "classifier, raw text, 0.5 (the library)", precision: 0.511, recall: 0.748, f1: 0.607 },
    Recorded { opinion: "classifier", precision: 0.549, recall: 0.709, f1: 0.619 },
    Recorded { opinion: "both", precision: 0.53, recall: 0.746, f1: 0.62 },
];

const CHAT: &[Recorded] = &[
    Recorded { opinion: "word filter", precision: 1.0, recall: 0.333, f1: 0.5 },
    Recorded { opinion: "classifier, raw text, 0.5 (the library)", precision: 0.806, recall: 0.555, f1: 0.657 },
    Recorded { opinion: "classifier", precision: 0.921, recall: 0.777, f1: 0.843 },
    Recorded { opinion: "both", precision: 0.926, recall: 0.844, f1: 0.883 },
];

struct Example {
    text: String,
    abusive: bool,
}

/// Counts one opinion against the truth.
fn add(counts: &mut Evaluation, said: bool, truth: bool) {
    counts.examples += 1;
    match (said, truth) {
        (true, true) => counts.true_positives += 1,
        (true, false) => counts.false_positives += 1,
        (false, true) => counts.false_negatives += 1,
        (false, false) => {}
    }
}

/// The set's comments are Python string literals in double quotes (`\n`, `\xNN` for UTF-8
/// bytes, `\uNNNN`, `\\`): decoded as Python's `unicode_escape` then UTF-8 would.
fn decode_comment(raw: &str) -> String {
    let inner = raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')).unwrap_or(raw);
    let mut bytes = Vec::with_capacity(inner.len());
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buf = [0; 4];
            bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let hex = |chars: &mut std::iter::Peekable<std::str::Chars>, n: usize| {
            let digits: String = (0..n).filter_map(|_| chars.next()).collect();
            u32::from_str_radix(&digits, 16).ok()
        };
        match chars.next() {
            Some('n') => bytes.push(b'\n'),
            Some('t') => bytes.push(b'\t'),
            Some('r') => bytes.push(b'\r'),
            Some('x') => bytes.extend(hex(&mut chars, 2).map(|b| b as u8)),
            Some('u') => {
                let c = hex(&mut chars, 4).and_then(char::from_u32).unwrap_or('\u{FFFD}');
                let mut buf = [0; 4];
                bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
            Some(other) => {
                let mut buf = [0; 4];
                bytes.extend_from_slice(other.encode_utf8(&mut buf).as_bytes());
            }
            None => bytes.push(b'\\'),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn insults_set() -> Vec<Example> {
    let path = std::env::var("CHATTERBOX_INSULTS_CSV")
        .expect("CHATTERBOX_INSULTS_CSV names the insults test set: run scripts/moderation-eval.sh");
    let mut reader = csv::Reader::from_path(&path).expect("the insults test set opens");
    let mut examples = Vec::new();
    for record in reader.records() {
        let record = record.expect("a CSV record");
        examples.push(Example { text: decode_comment(&record[2]), abusive: &record[0] == "1" });
    }
    assert_eq!(examples.len(), 2647, "the 2012 test set has 2,647 comments");
    examples
}

fn chat_set() -> Vec<Example> {
    include_str!("data/chat_labelled.tsv")
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|line| {
            let (label, text) = line.split_once('\t').expect("label<TAB>text");
            Example { text: unescape(text), abusive: label == "1" }
        })
        .collect()
}

struct Scored {
    abusive: bool,
    filter: bool,
    raw: f64,
    message: f64,
}

fn score(set: &[Example], filter: &Filter, classifier: &Classifier) -> (Vec<Scored>, f64) {
    let started = Instant::now();
    for example in set {
        std::hint::black_box(classifier.score_message(&example.text));
    }
    let micros_per_message = started.elapsed().as_secs_f64() * 1e6 / set.len() as f64;
    let scored = set
        .iter()
        .map(|e| Scored {
            abusive: e.abusive,
            filter: filter.check(&e.text).is_some(),
            raw: classifier.score(&e.text),
            message: classifier.score_message(&e.text),
        })
        .collect();
    (scored, micros_per_message)
}

fn opinions(scored: &[Scored], threshold: f64) -> Vec<(&'static str, Evaluation)> {
    let mut filter = Evaluation::default();
    let mut bare = Evaluation::default();
    let mut classifier = Evaluation::default();
    let mut both = Evaluation::default();
    for s in scored {
        add(&mut filter, s.filter, s.abusive);
        add(&mut bare, s.raw >= 0.5, s.abusive);
        add(&mut classifier, s.message >= threshold, s.abusive);
        add(&mut both, s.filter || s.message >= threshold, s.abusive);
    }
    vec![
        ("word filter", filter),
        ("classifier, raw text, 0.5 (the library)", bare),
        ("classifier", classifier),
        ("both", both),
    ]
}

fn report(name: &str, scored: &[Scored], micros: f64, recorded: &[Recorded]) -> Vec<String> {
    println!(
        "\n{name}: {} messages ({} abusive); classifier {micros:.1} us per message",
        scored.len(),
        scored.iter().filter(|s| s.abusive).count()
    );
    println!("| opinion | precision | recall | F1 |\n|---|---|---|---|");
    let mut failures = Vec::new();
    for ((opinion, counts), floor) in opinions(scored, THRESHOLD).into_iter().zip(recorded) {
        assert_eq!(opinion, floor.opinion);
        let (p, r, f1) = (counts.precision(), counts.recall(), counts.f1());
        println!("| {opinion} | {p:.4} | {r:.4} | {f1:.4} |");
        for (what, got, floor) in [("precision", p, floor.precision), ("recall", r, floor.recall), ("F1", f1, floor.f1)]
        {
            if got + 1e-9 < floor {
                failures.push(format!("{name}, {opinion}: {what} {got:.4} below the recorded {floor:.3}"));
            }
        }
    }
    if std::env::var_os("CHATTERBOX_EVAL_SWEEP").is_some() {
        for t in [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95] {
            let row: Vec<String> = opinions(scored, t)
                .iter()
                .skip(2)
                .map(|(o, c)| format!("{o} P {:.3} R {:.3} F1 {:.3}", c.precision(), c.recall(), c.f1()))
                .collect();
            println!("threshold {t}: {}", row.join("; "));
        }
    }
    failures
}

#[test]
#[ignore = "needs the insults test set: scripts/moderation-eval.sh"]
fn the_recorded_figures_hold() {
    let filter = Filter::default();
    let classifier = Classifier::shipped();
    let (insults, insults_micros) = score(&insults_set(), &filter, &classifier);
    let (chat, chat_micros) = score(&chat_set(), &filter, &classifier);
    let mut failures = report("insults test set (2012)", &insults, insults_micros, INSULTS);
    failures.extend(report("ChatterBox chat set", &chat, chat_micros, CHAT));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn comments_decode_as_python_does() {
    assert_eq!(decode_comment(r#""a\\nb""#.replace("\\\\", "\\").as_str()), "a\nb");
    assert_eq!(decode_comment(r#""Holder\xe2\x80\x99s""#), "Holder\u{2019}s");
    assert_eq!(decode_comment(r#""\u00e9t\u00e9""#), "été");
    assert_eq!(decode_comment("plain"), "plain");
}
