//! PostgreSQL databases for tests: one template migrated once, a clone per
//! test, dropped when the test ends (also when it panics).
//!
//! The template's name (`cv_tpl_DIGEST_ULID`) carries a digest of everything
//! that decides its schema (our migrations and `Cargo.lock`, which pins
//! apalis' own), so
//! every process of every run on the same migrations shares one, and a
//! change of schema makes a new one. Building it is guarded by an advisory
//! lock, since cargo or nextest may run several test processes at once.

use std::time::Duration;

use sha2::{Digest, Sha256};
use sqlx::Connection;
use tokio::sync::OnceCell;

const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// Test databases (`cv_test_ULID`) and half-built templates
/// (`cv_tplb_ULID`) older than this are left over from a run that
/// crashed or was killed, and are dropped.
const LEFTOVER_AGE: Duration = Duration::from_secs(2 * 3600);
/// Templates of other schemas are dropped when this old: another checkout
/// may still be using one.
const STALE_TEMPLATE_AGE: Duration = Duration::from_secs(24 * 3600);
/// Reaching the server: a server that does not answer is unreachable, not a
/// hang.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub fn admin_url() -> String {
    std::env::var("CREDVERIFY_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_string())
}

/// `url` with its database replaced by `db`.
pub fn url_of(db: &str) -> String {
    let admin = admin_url();
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    format!("{base}/{db}")
}

async fn connect_admin() -> Result<sqlx::PgConnection, String> {
    let url = admin_url();
    match tokio::time::timeout(CONNECT_TIMEOUT, sqlx::PgConnection::connect(&url)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(format!("{url}: {e}")),
        Err(_) => Err(format!("{url}: no answer in {CONNECT_TIMEOUT:?}")),
    }
}

async fn run(conn: &mut sqlx::PgConnection, sql: String) -> Result<(), String> {
    sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
        .execute(conn)
        .await
        .map(drop)
        .map_err(|e| format!("{sql}: {e}"))
}

/// A digest of the files that decide the migrated schema.
fn schema_digest() -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = std::fs::read_dir(root.join("migrations/postgres"))
        .expect("migrations/postgres")
        .map(|e| e.expect("migration entry").path())
        .collect();
    files.sort();
    files.push(root.join("Cargo.lock"));
    let mut hash = Sha256::new();
    for file in files {
        hash.update(file.file_name().unwrap().as_encoded_bytes());
        hash.update(std::fs::read(&file).expect("read a schema file"));
    }
    hex::encode(&hash.finalize()[..8])
}

/// The migrated template's name, building it if no process has yet. Once
/// per process; the error (the server unreachable) is kept too.
async fn template() -> Result<&'static str, String> {
    static TEMPLATE: OnceCell<Result<String, String>> = OnceCell::const_new();
    TEMPLATE
        .get_or_init(build_template)
        .await
        .as_deref()
        .map_err(Clone::clone)
}

async fn build_template() -> Result<String, String> {
    let prefix = format!("cv_tpl_{}_", schema_digest());
    let mut conn = connect_admin().await?;
    run(
        &mut conn,
        "SELECT pg_advisory_lock(hashtext('credverify:test-template'))".into(),
    )
    .await?;
    let result = async {
        sweep(&mut conn, &prefix).await;
        let existing: Option<String> = sqlx::query_scalar(
            "SELECT datname FROM pg_database WHERE starts_with(datname, $1) LIMIT 1",
        )
        .bind(&prefix)
        .fetch_optional(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
        if let Some(name) = existing {
            return Ok(name);
        }
        // Built under another name and renamed when whole: a run killed
        // half-way leaves a `cv_tplb_` leftover, never a broken template.
        let suffix = fresh_suffix();
        let building = format!("cv_tplb_{suffix}");
        let name = format!("{prefix}{suffix}");
        run(&mut conn, format!("CREATE DATABASE {building}")).await?;
        let store = credverify::store::Store::open(&url_of(&building))
            .await
            .map_err(|e| format!("migrating the template: {e}"))?;
        store.close().await;
        run(
            &mut conn,
            format!("ALTER DATABASE {building} RENAME TO {name}"),
        )
        .await?;
        Ok(name)
    }
    .await;
    let _ = run(
        &mut conn,
        "SELECT pg_advisory_unlock(hashtext('credverify:test-template'))".into(),
    )
    .await;
    let _ = conn.close().await;
    result
}

/// A lowercase ULID: unique, and it dates the database for the sweep.
fn fresh_suffix() -> String {
    ulid::Ulid::generate().to_string().to_lowercase()
}

/// How old a name's trailing ULID says its database is.
fn age(name: &str) -> Option<Duration> {
    let ulid = ulid::Ulid::from_string(name.rsplit('_').next()?).ok()?;
    std::time::SystemTime::now()
        .duration_since(ulid.datetime())
        .ok()
}

/// Drops what crashed or killed runs left: test databases and half-built
/// templates older than [`LEFTOVER_AGE`], and templates of other schemas
/// older than [`STALE_TEMPLATE_AGE`]. The template of the current schema
/// (`current` is its name's prefix) is kept for the next run.
async fn sweep(conn: &mut sqlx::PgConnection, current: &str) {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT datname FROM pg_database WHERE starts_with(datname, 'cv_test_') \
         OR starts_with(datname, 'cv_tpl')",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap_or_default();
    for name in names {
        let limit = if name.starts_with(current) {
            continue;
        } else if name.starts_with("cv_tpl_") {
            STALE_TEMPLATE_AGE
        } else {
            LEFTOVER_AGE
        };
        if age(&name).is_some_and(|a| a > limit) {
            let _ = run(conn, format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
        }
    }
}

/// Sweeps leftovers now (it also runs when the template is first needed).
pub async fn sweep_leftovers() -> Result<(), String> {
    let prefix = format!("cv_tpl_{}_", schema_digest());
    let mut conn = connect_admin().await?;
    sweep(&mut conn, &prefix).await;
    let _ = conn.close().await;
    Ok(())
}

/// Whether a database of that name exists.
pub async fn exists(name: &str) -> Result<bool, String> {
    let mut conn = connect_admin().await?;
    let found = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(name)
        .fetch_one(&mut conn)
        .await
        .map_err(|e| e.to_string());
    let _ = conn.close().await;
    found
}

/// Drops a database now.
pub async fn drop_now(name: &str) -> Result<(), String> {
    let mut conn = connect_admin().await?;
    let dropped = run(
        &mut conn,
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
    )
    .await;
    let _ = conn.close().await;
    dropped
}

/// Creates an empty database under `name` (for the sweep's test).
pub async fn create_empty(name: &str) -> Result<(), String> {
    let mut conn = connect_admin().await?;
    let made = run(&mut conn, format!("CREATE DATABASE {name}")).await;
    let _ = conn.close().await;
    made
}

/// One test's database, cloned from the template; dropped with this value.
pub struct PgDb {
    pub name: String,
}

impl PgDb {
    /// A fresh migrated database, or why the server could not be used.
    pub async fn create() -> Result<PgDb, String> {
        let template = template().await?;
        let name = format!("cv_test_{}", fresh_suffix());
        let mut conn = connect_admin().await?;
        run(
            &mut conn,
            format!("CREATE DATABASE {name} TEMPLATE {template}"),
        )
        .await?;
        let _ = conn.close().await;
        Ok(PgDb { name })
    }

    pub fn url(&self) -> String {
        url_of(&self.name)
    }
}

impl Drop for PgDb {
    /// Dropped from a thread of its own: `Drop` cannot await, and this may
    /// run on a runtime's thread while a panic unwinds.
    fn drop(&mut self) {
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(drop_now(&name))
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("could not drop test database {}: {e}", self.name);
        }
    }
}
