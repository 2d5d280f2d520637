//! Rows many workers share ([`ClusterStore`]), written once and compiled
//! into each backend's module (`super` is `sqlite` or `postgres`). The
//! request budget itself is the [`Dialect`]'s: a row on PostgreSQL, the
//! worker's own limiter on SQLite.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::Here;
use crate::store::dialect::Dialect;
use crate::store::jobs::QUEUE;
use crate::store::{ClusterGauges, ClusterStore, StoreError};

#[async_trait::async_trait]
impl ClusterStore for Here {
    async fn chsi_budget_take(&self, per_second: f64, burst: f64) -> Result<Duration, StoreError> {
        self.budget_take(per_second, burst).await
    }

    async fn chsi_budget_pause(&self, pause: Duration) -> Result<(), StoreError> {
        self.budget_pause(pause).await
    }

    async fn chsi_paused_until(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.budget_paused_until().await
    }

    async fn status_counts(&self) -> Result<BTreeMap<String, i64>, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as("SELECT status, n FROM record_status_counts")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().collect())
    }

    /// Each figure is read through an index or the maintained summary: the
    /// cost of a scrape does not grow with the number of decided records.
    async fn cluster_gauges(&self) -> Result<ClusterGauges, StoreError> {
        let by_status = self.status_counts().await?;
        // One round trip. Waiting records through records_status (status,
        // updated_at); jobs and undelivered notifications through their
        // partial indexes.
        let sql = format!(
            "SELECT \
             (SELECT COUNT(*) FROM records WHERE status = 'unverified' AND retries_exhausted), \
             (SELECT COUNT(*) FROM {} WHERE job_type IN ($1, 'credverify-ocr') \
              AND status IN ('Pending', 'Queued', 'Running')), \
             (SELECT COUNT(*) FROM outbox WHERE {})",
            Here::JOBS,
            Here::OUTBOX_UNDELIVERED
        );
        let (retries_exhausted, jobs_pending, outbox_pending): (i64, i64, i64) =
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(QUEUE)
                .fetch_one(&self.pool)
                .await?;
        Ok(ClusterGauges {
            by_status,
            retries_exhausted,
            jobs_pending,
            outbox_pending,
        })
    }

    async fn metrics_reporter(&self, live: Duration) -> Result<Option<String>, StoreError> {
        self.first_live_worker(live).await
    }
}
