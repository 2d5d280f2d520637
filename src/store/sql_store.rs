//! The one shape both backends have: a pool of the backend's connections.
//! [`SqliteStore`] and [`PgStore`] are this type for each backend; what they
//! do differently is their `Dialect` (`sqlite.rs`, `postgres.rs`).

use std::fmt;

/// The records database on one backend. Cheap to clone.
pub struct SqlStore<DB: sqlx::Database> {
    pub(super) pool: sqlx::Pool<DB>,
}

/// The records database in a SQLite file.
pub type SqliteStore = SqlStore<sqlx::Sqlite>;

/// The records database in PostgreSQL (schema `credverify`, first on the
/// pool's search path).
pub type PgStore = SqlStore<sqlx::Postgres>;

impl<DB: sqlx::Database> SqlStore<DB> {
    pub(super) fn new(pool: sqlx::Pool<DB>) -> Self {
        SqlStore { pool }
    }

    /// The pool, for migrations and apalis, and for tests that inspect rows
    /// directly.
    pub fn pool(&self) -> &sqlx::Pool<DB> {
        &self.pool
    }
}

// By hand: a derive would ask `DB: Clone + Debug` of the backend's marker
// type, which the pool does not need.
impl<DB: sqlx::Database> Clone for SqlStore<DB> {
    fn clone(&self) -> Self {
        SqlStore {
            pool: self.pool.clone(),
        }
    }
}

impl<DB: sqlx::Database> fmt::Debug for SqlStore<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlStore")
            .field("pool", &self.pool)
            .finish()
    }
}
