//! The admin console's server side: JSON routes under `/admin/...`, CSV downloads, and the admin
//! actions (block, unblock) shared with the admin page's server functions.

pub mod csv_export;
pub mod rest;
