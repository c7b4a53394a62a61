//! The Rust scorer against the Python library it was exported from: every line of
//! `data/classifier_parity.jsonl` holds a string and the score alt-profanity-check 1.9.1 gave it
//! (written by `scripts/export-classifier.py`, from the same model file the crate embeds).
#![cfg(feature = "classifier")]

use moderation::classifier::Classifier;

/// The file stores single-precision weights; the scores agree far closer than any threshold
/// an admin would set.
const TOLERANCE: f64 = 1e-5;

#[test]
fn scores_match_the_python_library() {
    let classifier = Classifier::shipped();
    let text = include_str!("data/classifier_parity.jsonl");
    let mut checked = 0;
    let mut worst = 0.0f64;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let case: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        let input = case["text"].as_str().expect("text");
        let expected = case["score"].as_f64().expect("score");
        let got = classifier.score(input);
        let diff = (got - expected).abs();
        worst = worst.max(diff);
        assert!(diff < TOLERANCE, "{input:?}: Rust {got}, Python {expected}");
        checked += 1;
    }
    assert!(checked >= 50, "only {checked} parity cases");
    println!("{checked} strings, largest difference {worst:e}");
}

#[test]
fn a_damaged_model_file_is_refused() {
    assert!(Classifier::from_bytes(b"").is_err());
    assert!(Classifier::from_bytes(b"CBXLIN01\x01\x00\x00\x00\x01\x00\x00\x00").is_err());
}
