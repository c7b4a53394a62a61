//! The message-action settings: how long a message stays editable. Flattened into
//! [`super::Config`] (the same file keys and environment variables as every other setting).

use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MessagesConfig {
    /// `CHATTERBOX_EDIT_WINDOW_SECS`: how long after sending its sender may edit a message
    /// (0, the default: any time). Past it an edit answers 403.
    pub edit_window_secs: u64,
}
