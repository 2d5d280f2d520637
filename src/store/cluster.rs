//! The cluster's request budget and the maintained status counts: rows many
//! workers share (see migrations/postgres/0008_cluster.sql).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::jobs::QUEUE;
use super::{Store, StoreError};

impl Store {
    /// Takes one request's token from the cluster's bucket: `ZERO` when
    /// granted, otherwise how long to wait before asking again. SQLite has
    /// no cluster: always granted.
    pub async fn chsi_budget_take(
        &self,
        per_second: f64,
        burst: f64,
    ) -> Result<Duration, StoreError> {
        let Store::Postgres(p) = self else {
            return Ok(Duration::ZERO);
        };
        let wait: f64 = sqlx::query_scalar("SELECT credverify.chsi_take($1, $2)")
            .bind(per_second)
            .bind(burst)
            .fetch_one(p)
            .await?;
        Ok(Duration::try_from_secs_f64(wait.max(0.0)).unwrap_or(Duration::from_secs(3600)))
    }

    /// Holds every worker of the cluster back for at least `pause`.
    pub async fn chsi_budget_pause(&self, pause: Duration) -> Result<(), StoreError> {
        if let Store::Postgres(p) = self {
            sqlx::query(
                "UPDATE chsi_budget SET paused_until = GREATEST(paused_until, clock_timestamp() + make_interval(secs => $1)) WHERE id = 1",
            )
            .bind(pause.as_secs_f64())
            .execute(p)
            .await?;
        }
        Ok(())
    }

    /// When the cluster's pause ends, if one is in force (PostgreSQL; a
    /// SQLite deployment's pause lives in its worker process).
    pub async fn chsi_paused_until(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let Store::Postgres(p) = self else {
            return Ok(None);
        };
        let until: Option<DateTime<Utc>> = sqlx::query_scalar(
            "SELECT paused_until FROM chsi_budget WHERE id = 1 AND paused_until > clock_timestamp()",
        )
        .fetch_optional(p)
        .await?;
        Ok(until)
    }

    /// Records by status from the trigger-kept summary: four rows, whatever
    /// the number of records.
    pub async fn status_counts(&self) -> Result<BTreeMap<String, i64>, StoreError> {
        let rows: Vec<(String, i64)> = super::on_pool!(self, p => {
            sqlx::query_as("SELECT status, n FROM record_status_counts").fetch_all(p).await?
        });
        Ok(rows.into_iter().collect())
    }
}

/// What `/metrics` shows of the database, each figure read through an index
/// or the maintained summary: the cost of a scrape does not grow with the
/// number of decided records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterGauges {
    pub by_status: BTreeMap<String, i64>,
    pub retries_exhausted: i64,
    pub jobs_pending: i64,
    pub outbox_pending: i64,
}

impl Store {
    pub async fn cluster_gauges(&self) -> Result<ClusterGauges, StoreError> {
        let by_status = self.status_counts().await?;
        // Through records_status (status, updated_at): only waiting records.
        let retries_exhausted: i64 = super::on_pool!(self, p => {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM records WHERE status = 'unverified' AND retries_exhausted",
            )
            .fetch_one(p)
            .await?
        });
        let jobs_pending = format!(
            "SELECT COUNT(*) FROM {} WHERE job_type IN ($1, 'credverify-ocr') AND status IN ('Pending', 'Queued', 'Running')",
            self.jobs_table()
        );
        let outbox_pending = format!(
            "SELECT COUNT(*) FROM outbox WHERE {}",
            self.outbox_undelivered()
        );
        let (jobs_pending, outbox_pending): (i64, i64) = super::on_pool!(self, p => (
            sqlx::query_scalar(sqlx::AssertSqlSafe(jobs_pending))
                .bind(QUEUE)
                .fetch_one(p)
                .await?,
            sqlx::query_scalar(sqlx::AssertSqlSafe(outbox_pending))
                .fetch_one(p)
                .await?,
        ));
        Ok(ClusterGauges {
            by_status,
            retries_exhausted,
            jobs_pending,
            outbox_pending,
        })
    }

    /// The name of the live worker that reports the cluster's gauges (the
    /// first by name among those seen within `live`), so that summing a
    /// gauge over every worker's scrape counts the database once.
    pub async fn metrics_reporter(&self, live: Duration) -> Result<Option<String>, StoreError> {
        let name = match self {
            Store::Sqlite(p) => sqlx::query_scalar(
                "SELECT id FROM Workers WHERE worker_type = $1 AND last_seen >= $2 ORDER BY id LIMIT 1",
            )
            .bind(QUEUE)
            .bind((Utc::now() - chrono::Duration::from_std(live).unwrap_or_default()).timestamp())
            .fetch_optional(p)
            .await?,
            Store::Postgres(p) => sqlx::query_scalar(
                "SELECT id FROM apalis.workers WHERE worker_type = $1 AND last_seen >= now() - make_interval(secs => $2) ORDER BY id LIMIT 1",
            )
            .bind(QUEUE)
            .bind(live.as_secs_f64())
            .fetch_optional(p)
            .await?,
        };
        Ok(name)
    }
}
