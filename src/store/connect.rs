//! Opening the database named by a URL and bringing its schema up to date.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection};

use super::{Store, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The embedded default: a SQLite file in the user's data directory, so
/// every command run by the same user sees the same records.
pub fn default_database_url() -> String {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    format!(
        "sqlite://{}",
        base.join("credverify/credverify.db").display()
    )
}

impl Store {
    /// Connects without migrating. The scheme picks the backend.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                // WAL lets readers (the CLI) work beside the writer (the
                // worker). NORMAL is durable across a process crash, which is
                // the failure that matters here; apalis' own setup would set
                // OFF, which is why we do not call it.
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(30))
                .foreign_keys(true);
            if let Some(dir) = std::path::Path::new(opts.get_filename()).parent()
                && !dir.as_os_str().is_empty()
            {
                std::fs::create_dir_all(dir).map_err(sqlx::Error::Io)?;
            }
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(60))
                .connect_with(opts)
                .await?;
            Ok(Store::Sqlite(super::SqliteStore::new(pool)))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let opts = PgConnectOptions::from_str(url)?
                .options([("search_path", "credverify,public")])
                .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(2));
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(30))
                .before_acquire(|conn, _meta| Box::pin(end_stray_transaction(conn)))
                .connect_with(opts)
                .await?;
            Ok(Store::Postgres(super::PgStore::new(pool)))
        } else {
            Err(StoreError::UnsupportedUrl(url.to_string()))
        }
    }

    /// Connects and applies every migration (apalis' queue tables and ours).
    /// Safe to run from many processes at once.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        let store = Store::connect(url).await?;
        store.migrate(url).await?;
        Ok(store)
    }

    pub async fn migrate(&self, url: &str) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(store) => {
                let pool = store.pool();
                apalis_sqlite::SqliteStorage::migrations().run(pool).await?;
                let mut ours = sqlx::migrate!("./migrations/sqlite");
                // apalis keeps its history in `_sqlx_migrations`; sharing it
                // makes each migrator see the other's versions as missing.
                ours.dangerous_set_table_name("_credverify_migrations");
                ours.run(pool).await?;
            }
            Store::Postgres(store) => {
                let pool = store.pool();
                // apalis migrates on a plain connection so that its objects
                // (and hstore) land where apalis expects them, not in the
                // `credverify` schema first on our pool's search path.
                // Workers starting together all migrate: one at a time.
                let mut conn = sqlx::PgConnection::connect(url).await?;
                sqlx::query("SELECT pg_advisory_lock(hashtext('credverify:migrate'))")
                    .execute(&mut conn)
                    .await?;
                let result = async {
                    sqlx::query("CREATE EXTENSION IF NOT EXISTS hstore WITH SCHEMA public")
                        .execute(&mut conn)
                        .await?;
                    apalis_postgres::PostgresStorage::migrations()
                        .run(&mut conn)
                        .await?;
                    let mut ours = sqlx::migrate!("./migrations/postgres");
                    ours.create_schema("credverify");
                    ours.dangerous_set_table_name("credverify._sqlx_migrations");
                    ours.run(pool).await?;
                    Ok::<_, StoreError>(())
                }
                .await;
                let _ = sqlx::query("SELECT pg_advisory_unlock(hashtext('credverify:migrate'))")
                    .execute(&mut conn)
                    .await;
                conn.close().await?;
                result?;
            }
        }
        Ok(())
    }
}

/// A pooled connection must not be handed out inside a transaction. One was,
/// seen under load after a worker stopped: the next caller's statements ran
/// inside a transaction nobody would commit, holding the candidate's lock, and
/// every later submission for that candidate waited for ever. Whatever left
/// it open was dropped mid-way, so its work is rolled back, as a dropped
/// transaction's is. Asked with the simple protocol, outside a transaction
/// `now()` (the transaction's start) is the statement's start; inside one it
/// is earlier. (With the extended protocol the two differ even outside one.)
async fn end_stray_transaction(conn: &mut sqlx::PgConnection) -> Result<bool, sqlx::Error> {
    use sqlx::Row;
    let row = sqlx::raw_sql("SELECT now() <> statement_timestamp()")
        .fetch_one(&mut *conn)
        .await?;
    let stray: bool = row.try_get(0)?;
    if stray {
        tracing::error!(
            "a pooled database connection was inside an unfinished transaction; rolled it back"
        );
        sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await?;
    }
    Ok(true)
}
