//! HTTP doors: REST handlers, request extractors and middleware.

pub mod csrf;
pub mod errors;
pub mod extract;
pub mod pages;
pub mod rest;
