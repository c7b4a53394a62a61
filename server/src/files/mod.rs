//! The file engine: where uploads' bytes live and how images are made safe. [`storage`] is one
//! interface over a local directory and any S3-compatible store (the `object_store` crate);
//! [`sniff`] decides a file's type from its bytes; [`images`] decodes an image with limits,
//! applies its EXIF orientation and re-encodes it without metadata, and makes its thumbnail.
//! Nothing here knows about accounts or conversations: the uploads use case
//! (`services::uploads`) decides who may do what.

pub mod images;
pub mod sniff;
pub mod storage;

pub use storage::{FileStore, StorageError};
