//! Every method body of the store's traits, written once. This module is
//! compiled into each backend's module (`#[path = "sql/mod.rs"]` in
//! `sqlite.rs` and `postgres.rs`), where `Here` names that backend's store,
//! so each body is type-checked against both dialects with concrete types
//! (docs/ARCHITECTURE.md, "The store").

use super::Here;
use crate::store::dialect::Dialect;

/// The backend's sqlx database, as its `Dialect` names it.
type Db = <Here as Dialect>::Db;

mod admin;
mod cluster;
pub(super) mod events;
pub(super) mod jobs;
mod records;
