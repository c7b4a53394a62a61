//! Running the server for real: what deleting an account does, how long a shutdown may take,
//! and who may read the metrics. Flattened into [`super::Config`] (the same file keys and
//! environment variables as every other setting).

use serde::Deserialize;

/// What happens to the messages of an account its owner deletes (`CHATTERBOX_ACCOUNT_DELETION`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountDeletion {
    /// They stay in their conversations, shown as from "deleted user".
    #[default]
    Anonymise,
    /// They are deleted (as their sender deleting each one), their earlier versions with them.
    Erase,
}

impl std::str::FromStr for AccountDeletion {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        match text {
            "anonymise" | "anonymize" => Ok(Self::Anonymise),
            "erase" => Ok(Self::Erase),
            _ => Err(()),
        }
    }
}

#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OperationsConfig {
    /// `CHATTERBOX_ACCOUNT_DELETION`: `anonymise` (default) or `erase`.
    pub account_deletion: AccountDeletion,
    /// `CHATTERBOX_DELETED_USERNAME_HOLD_DAYS`: days a deleted account's username stays taken
    /// (so nobody can pose as its owner in the conversations that remember it); 0: freed at once.
    pub deleted_username_hold_days: u64,
    /// `CHATTERBOX_EXPORTS_PER_DAY`: `GET /me/export` per account per day (a burst of as many).
    pub exports_per_day: u32,
    /// `CHATTERBOX_SHUTDOWN_GRACE_SECS`: on SIGTERM, how long the node waits for requests in
    /// progress and the commits it acknowledged before it exits.
    pub shutdown_grace_secs: u64,
    /// `CHATTERBOX_METRICS_TOKEN`: `GET /metrics` answers a request bearing this token (at least
    /// 16 bytes). Never logged nor shown.
    #[serde(skip)]
    pub metrics_token: Option<String>,
    /// `CHATTERBOX_METRICS_ADDR`: a listen address of its own for `GET /metrics`, without a token
    /// (keep it private). Neither set: no metrics.
    pub metrics_addr: Option<std::net::SocketAddr>,
}

/// Shortest accepted `CHATTERBOX_METRICS_TOKEN`, in bytes.
pub const MIN_METRICS_TOKEN_BYTES: usize = 16;

impl Default for OperationsConfig {
    fn default() -> Self {
        Self {
            account_deletion: AccountDeletion::Anonymise,
            deleted_username_hold_days: 30,
            exports_per_day: 5,
            shutdown_grace_secs: 10,
            metrics_token: None,
            metrics_addr: None,
        }
    }
}

impl OperationsConfig {
    /// Whether the metrics are served at all.
    pub fn metrics_enabled(&self) -> bool {
        self.metrics_token.is_some() || self.metrics_addr.is_some()
    }

    /// The name of the first setting out of range.
    pub fn validate(&self) -> Result<(), &'static str> {
        if self.shutdown_grace_secs == 0 || self.shutdown_grace_secs > 3600 {
            return Err("CHATTERBOX_SHUTDOWN_GRACE_SECS");
        }
        if self.exports_per_day == 0 {
            return Err("CHATTERBOX_EXPORTS_PER_DAY");
        }
        if self.metrics_token.as_ref().is_some_and(|token| token.len() < MIN_METRICS_TOKEN_BYTES) {
            return Err("CHATTERBOX_METRICS_TOKEN");
        }
        Ok(())
    }
}

impl std::fmt::Debug for OperationsConfig {
    /// Every setting, the metrics token redacted.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let OperationsConfig {
            account_deletion,
            deleted_username_hold_days,
            exports_per_day,
            shutdown_grace_secs,
            metrics_token,
            metrics_addr,
        } = self;
        f.debug_struct("OperationsConfig")
            .field("account_deletion", account_deletion)
            .field("deleted_username_hold_days", deleted_username_hold_days)
            .field("exports_per_day", exports_per_day)
            .field("shutdown_grace_secs", shutdown_grace_secs)
            .field("metrics_token", &metrics_token.as_ref().map(|_| "<redacted>"))
            .field("metrics_addr", metrics_addr)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deletion_modes_parse_and_the_token_is_redacted() {
        assert_eq!("erase".parse(), Ok(AccountDeletion::Erase));
        assert_eq!("anonymise".parse(), Ok(AccountDeletion::Anonymise));
        assert_eq!("anonymize".parse(), Ok(AccountDeletion::Anonymise));
        assert!("shred".parse::<AccountDeletion>().is_err());
        let config = OperationsConfig { metrics_token: Some("s3cret-s3cret-s3cret".into()), ..Default::default() };
        assert!(!format!("{config:?}").contains("s3cret"));
        assert!(config.validate().is_ok() && config.metrics_enabled());
        let short = OperationsConfig { metrics_token: Some("short".into()), ..Default::default() };
        assert_eq!(short.validate(), Err("CHATTERBOX_METRICS_TOKEN"));
        assert_eq!(
            OperationsConfig { shutdown_grace_secs: 0, ..Default::default() }.validate().unwrap_err(),
            "CHATTERBOX_SHUTDOWN_GRACE_SECS"
        );
        assert!(!OperationsConfig::default().metrics_enabled());
    }
}
