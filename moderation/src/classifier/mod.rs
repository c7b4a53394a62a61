//! The learned second opinion: a TF-IDF vectoriser and an ensemble of Platt-calibrated linear
//! models, scoring a message for abuse in microseconds, with no I/O.
//!
//! The shipped model is alt-profanity-check 1.9.1's (MIT), exported by
//! `scripts/export-classifier.sh` into `moderation/model/` and embedded here; a scorer for any
//! other file in the same format (a model fitted on this server's own moderation decisions) is
//! built with [`Classifier::from_bytes`].
//!
//! * `model.rs`: the file format and its parser;
//! * `tokenize.rs`: scikit-learn's default tokens (Python's `\w`, not Rust's);
//! * `reading.rs`: the second, de-obfuscated reading of a message;
//! * `train.rs`: a model fitted on this server's own moderation decisions.
//!
//! [`Classifier::score`] reproduces the Python library's `predict_prob` for one string (checked
//! against the library's own answers in `tests/classifier.rs`); [`Classifier::score_message`] is
//! what the server uses: the higher of the raw text's score and the score of its de-obfuscated
//! reading (`reading.rs`: underscores cut, leet digits repaired, then the word filter's
//! normaliser), so `f4ck`, `you_are_an_idiot`, `f.u.c.k` or look-alike letters do not blind the
//! model.

mod model;
mod reading;
mod tokenize;
pub mod train;

use std::sync::{Arc, OnceLock};

pub use model::ModelError;

use model::LinearModel;

/// The shipped model file (alt-profanity-check 1.9.1).
const SHIPPED: &[u8] = include_bytes!("../../model/profanity-check-1.9.1.bin");

/// A loaded model. Cheap to clone (the model is shared); `Send + Sync`.
#[derive(Debug, Clone)]
pub struct Classifier {
    model: Arc<LinearModel>,
}

impl Classifier {
    /// The shipped model, parsed once per process.
    pub fn shipped() -> Classifier {
        static SHIPPED_MODEL: OnceLock<Classifier> = OnceLock::new();
        SHIPPED_MODEL
            .get_or_init(|| Classifier::from_bytes(SHIPPED).expect("the embedded model file is valid (tested)"))
            .clone()
    }

    /// A model in the file format of `model.rs`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Classifier, ModelError> {
        LinearModel::from_bytes(bytes).map(|model| Classifier { model: Arc::new(model) })
    }

    /// The model in its file format (what [`Classifier::from_bytes`] reads).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.model.to_bytes()
    }

    /// How many terms the vocabulary has.
    pub fn terms(&self) -> usize {
        self.model.idf.len()
    }

    /// The probability, in 0..=1, that `text` is abusive, exactly as the Python model computes it
    /// (up to the file's single-precision weights).
    pub fn score(&self, text: &str) -> f64 {
        let model = &*self.model;
        let lowered = text.to_lowercase();
        let mut found: Vec<u32> = Vec::new();
        tokenize::for_each_token(&lowered, |token| {
            if let Some(&i) = model.index.get(token) {
                found.push(i);
            }
        });
        found.sort_unstable();
        // TF-IDF over the distinct known terms, l2-normalised; then every member's decision value.
        let n = model.members.len();
        let mut decisions = vec![0.0f64; n];
        let mut norm_squared = 0.0f64;
        let mut i = 0;
        while i < found.len() {
            let term = found[i];
            let mut count = 0usize;
            while i < found.len() && found[i] == term {
                count += 1;
                i += 1;
            }
            let value = count as f64 * f64::from(model.idf[term as usize]);
            norm_squared += value * value;
            let weights = &model.weights[term as usize * n..(term as usize + 1) * n];
            for (d, &w) in decisions.iter_mut().zip(weights) {
                *d += value * f64::from(w);
            }
        }
        let norm = norm_squared.sqrt();
        let sum: f64 = model
            .members
            .iter()
            .zip(&decisions)
            .map(|(member, &dot)| {
                let decision = if norm > 0.0 { dot / norm } else { 0.0 } + member.intercept;
                1.0 / (1.0 + (member.a * decision + member.b).exp())
            })
            .sum();
        sum / n as f64
    }

    /// The score the server acts on: the higher of `text`'s and its de-obfuscated reading's.
    pub fn score_message(&self, text: &str) -> f64 {
        let raw = self.score(text);
        let reading = reading::reading(text, |word| self.model.index.contains_key(word));
        if reading.is_empty() || reading == text {
            return raw;
        }
        raw.max(self.score(&reading))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_model_loads() {
        let classifier = Classifier::shipped();
        assert_eq!(classifier.terms(), 15_442);
        assert_eq!(classifier.to_bytes(), SHIPPED, "the file round-trips");
        assert!(classifier.score("you are an idiot") > 0.9);
        assert!(classifier.score("thank you, see you tomorrow") < 0.1);
    }

    #[test]
    fn the_normalised_reading_is_scored_too() {
        let classifier = Classifier::shipped();
        // The raw model does not know "f4ck" (one unknown token); the word filter reads "fuck".
        assert!(classifier.score("f4ck y0u") < 0.1);
        assert!(classifier.score_message("f4ck y0u") > 0.9);
        assert!(classifier.score_message("f.u.c.k") > 0.9);
        assert!(classifier.score("you_are_an_idiot") < 0.1);
        assert!(classifier.score_message("you_are_an_idiot") > 0.9);
        assert!(classifier.score_message("have a nice day") < 0.1);
    }

    #[test]
    fn classifier_is_send_sync_and_clone() {
        fn assert_traits<T: Send + Sync + Clone + 'static>() {}
        assert_traits::<Classifier>();
    }
}
