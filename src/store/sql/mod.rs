//! Every method body of the store's traits, written once. This module is
//! compiled into each backend's module (`#[path = "sql/mod.rs"]` in
//! `sqlite.rs` and `postgres.rs`), where `Here` and `Db` name that backend,
//! so each body is type-checked against both dialects with concrete types
//! (docs/ARCHITECTURE.md, "The store").

use super::{Db, Here};

mod admin;
mod cluster;
pub(super) mod events;
pub(super) mod jobs;
mod records;
