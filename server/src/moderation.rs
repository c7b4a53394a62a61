//! Moderation service: the word filter (from `CHATTERBOX_MODERATION_WORDS` or the built-in list,
//! reloadable on SIGHUP) and the strike rule: the 1st and 2nd violation warn, the 3rd blocks the
//! account at once. Counting happens atomically in the database (`Store::record_violation`).

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
    let left = MAX_WARNINGS - strike.warning_count;
    format!(
        "Your message was not sent: it breaks the chat rules. {left} more violation{} will block your account.",
        if left == 1 { "" } else { "s" }
    )
}

pub const BLOCKED_TEXT: &str =
    "Your account has been blocked after repeated violations of the chat rules. An admin can unblock it.";
