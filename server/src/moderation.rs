//! Moderation service: the word filter (from `CHATTERBOX_MODERATION_WORDS` or the built-in list,
//! reloadable on SIGHUP) and the strike rule: the 1st and 2nd violation warn, the 3rd blocks the
//! account at once. Counting happens atomically in the database (`Store::record_violation`).
//! And the classifier in use: the shipped one, or one fitted on this server's review decisions
//! (`retrain`, switched to by an admin, kept in the settings table).

use moderation::classifier::train::{evaluate, held_out, Evaluation, Example, TrainOptions};
use moderation::classifier::Classifier;
use moderation::{Filter, Violation, WordList};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// Violations that block an account.
pub const MAX_WARNINGS: i64 = 3;

pub struct Moderator {
    filter: RwLock<Arc<Filter>>,
    source: Option<PathBuf>,
}

impl Moderator {
    /// Loads the word list from `source`, or the built-in list when `None`.
    pub fn load(source: Option<&Path>) -> std::io::Result<Self> {
        let filter = Self::read_filter(source)?;
        Ok(Self { filter: RwLock::new(Arc::new(filter)), source: source.map(Path::to_path_buf) })
    }

    fn read_filter(source: Option<&Path>) -> std::io::Result<Filter> {
        let list = match source {
            Some(path) => WordList::parse(&std::fs::read_to_string(path)?),
            None => WordList::default_list(),
        };
        Ok(Filter::new(&list))
    }

    /// Re-reads the word list file (the built-in list does not change); returns the word count.
    pub fn reload(&self) -> std::io::Result<()> {
        let filter = Self::read_filter(self.source.as_deref())?;
        *self.filter.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(filter);
        Ok(())
    }

    pub fn check(&self, text: &str) -> Option<Violation> {
        let filter = self.filter.read().unwrap_or_else(|e| e.into_inner()).clone();
        filter.check(text)
    }
}

/// What a violation did to the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Strike {
    pub warning_count: i64,
    pub blocked: bool,
}

/// The text of the warning frame for a strike.
pub fn warning_text(strike: Strike) -> String {
    strike_text(strike, "was not sent")
}

/// The text of the warning frame for an admin's strike on a delivered message.
pub fn removal_warning_text(strike: Strike) -> String {
    strike_text(strike, "was removed")
}

fn strike_text(strike: Strike, what_happened: &str) -> String {
    let left = MAX_WARNINGS - strike.warning_count;
    format!(
        "Your message {what_happened}: it breaks the chat rules. {left} more violation{} will block your account.",
        if left == 1 { "" } else { "s" }
    )
}

pub const BLOCKED_TEXT: &str =
    "Your account has been blocked after repeated violations of the chat rules. An admin can unblock it.";

/// The setting that holds a classifier fitted on this server's decisions (the model file,
/// hex-encoded), when an admin switched to one (`server admin classifier retrain`).
pub const CLASSIFIER_MODEL_SETTING: &str = "classifier_model";

/// Fewest review decisions a retraining learns from, and fewest of each kind among them.
pub const MIN_DECISIONS: usize = 20;
pub const MIN_DECISIONS_OF_EACH_KIND: usize = 5;

/// The classifier this server uses: the one an admin switched to, else the shipped one. A stored
/// model that cannot be read is logged and the shipped one used.
pub async fn load_classifier(store: &crate::store::Store) -> Classifier {
    match store.setting(CLASSIFIER_MODEL_SETTING).await {
        Ok(Some(hex)) => match decode_hex(&hex).and_then(|bytes| Classifier::from_bytes(&bytes).ok()) {
            Some(classifier) => {
                tracing::info!("classifier: the model fitted on this server's decisions");
                classifier
            }
            None => {
                tracing::error!("the stored classifier model cannot be read; using the shipped one");
                Classifier::shipped()
            }
        },
        Ok(None) => Classifier::shipped(),
        Err(error) => {
            tracing::error!(%error, "reading the classifier setting failed; using the shipped model");
            Classifier::shipped()
        }
    }
}

/// What a retraining found: how many decisions it learned from and measured on, and the
/// shipped model's and the fitted model's precision and recall on the decisions kept aside.
pub struct Retrained {
    pub fitted_on: usize,
    pub held_out: usize,
    pub shipped: Evaluation,
    pub retrained: Evaluation,
    pub model: Classifier,
}

/// Why a retraining could not be done.
#[derive(Debug, thiserror::Error)]
pub enum RetrainError {
    #[error(
        "not enough decisions yet: {total} ({abusive} removed or struck, {fine} approved); at least \
         {MIN_DECISIONS} are needed, {MIN_DECISIONS_OF_EACH_KIND} of each kind"
    )]
    TooFew { total: usize, abusive: usize, fine: usize },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// Fits a classifier on the review decisions (every fifth kept aside to measure both models at
/// `threshold`). Nothing changes until [`switch_classifier`].
pub async fn retrain(store: &crate::store::Store, threshold: f64) -> Result<Retrained, RetrainError> {
    let examples: Vec<Example> =
        store.review_decisions().await?.into_iter().map(|(text, abusive)| Example { text, abusive }).collect();
    let abusive = examples.iter().filter(|e| e.abusive).count();
    let fine = examples.len() - abusive;
    if examples.len() < MIN_DECISIONS || abusive < MIN_DECISIONS_OF_EACH_KIND || fine < MIN_DECISIONS_OF_EACH_KIND {
        return Err(RetrainError::TooFew { total: examples.len(), abusive, fine });
    }
    let (fit, aside) = held_out(&examples);
    let shipped = Classifier::shipped();
    let model = tokio::task::spawn_blocking(move || shipped.retrain(&fit, TrainOptions::default()))
        .await
        .unwrap_or_else(|error| std::panic::resume_unwind(error.into_panic()));
    Ok(Retrained {
        fitted_on: examples.len() - aside.len(),
        held_out: aside.len(),
        shipped: evaluate(&Classifier::shipped(), &aside, threshold),
        retrained: evaluate(&model, &aside, threshold),
        model,
    })
}

/// Makes `model` the server's classifier (from each node's next start).
pub async fn switch_classifier(
    store: &crate::store::Store,
    model: &Classifier,
) -> Result<(), crate::store::StoreError> {
    store.set_setting(CLASSIFIER_MODEL_SETTING, &encode_hex(&model.to_bytes())).await
}

/// Goes back to the shipped classifier; false when it was in use already.
pub async fn reset_classifier(store: &crate::store::Store) -> Result<bool, crate::store::StoreError> {
    store.delete_setting(CLASSIFIER_MODEL_SETTING).await
}

fn encode_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)] as char);
        out.push(DIGITS[usize::from(byte & 15)] as char);
    }
    out
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    let digits = text.as_bytes();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    let value = |d: u8| (d as char).to_digit(16);
    digits.chunks(2).map(|pair| Some((value(pair[0])? * 16 + value(pair[1])?) as u8)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_refuses_junk() {
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(decode_hex(&encode_hex(&bytes)), Some(bytes));
        assert_eq!(decode_hex("abc"), None);
        assert_eq!(decode_hex("zz"), None);
        assert_eq!(decode_hex(""), Some(Vec::new()));
    }
}
