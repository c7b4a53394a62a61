//! `ClientFrame::parse` (the `/ws` frame parser) and `MessageBody::parse` must be total:
//! any text gives `Ok` or `Err`, never a panic.
#![no_main]

use app::domain::MessageBody;
use app::models::ClientFrame;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(ClientFrame::Message { content, .. }) = ClientFrame::parse(text) {
        if let Ok(body) = MessageBody::parse(&content) {
            assert_eq!(body.as_str(), content);
        }
    }
});
