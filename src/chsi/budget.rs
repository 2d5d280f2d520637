//! How many requests the verification service gets, and when none at all.
//! The service's tolerance is the limit at scale, so the budget is one
//! figure for everything that talks to it: per process on a single host
//! (SQLite), per cluster when workers on many hosts share PostgreSQL.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::RateLimiter;
use crate::store::Store;

/// Why a request could not be cleared to go.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("request budget unavailable: {0}")]
pub struct BudgetError(pub String);

/// A share of the service's tolerance. Every request to the service (page
/// lookups and the images a page draws its fields with) takes one.
#[async_trait::async_trait]
pub trait RequestBudget: Send + Sync + std::fmt::Debug {
    /// Waits until one request may go.
    async fn acquire(&self) -> Result<(), BudgetError>;
    /// The service pushed back: hold every request of the budget back for
    /// at least `pause`.
    async fn back_off(&self, pause: Duration);
    /// When the pause in force ends, if one is.
    async fn paused_until(&self) -> Option<DateTime<Utc>>;
}

/// The budget of one process (a SQLite deployment: one host).
#[derive(Debug)]
pub struct LocalBudget {
    limiter: RateLimiter,
}

impl LocalBudget {
    pub fn new(per_second: f64, burst: u32) -> Self {
        Self {
            limiter: RateLimiter::with_burst(per_second, burst),
        }
    }
}

#[async_trait::async_trait]
impl RequestBudget for LocalBudget {
    async fn acquire(&self) -> Result<(), BudgetError> {
        self.limiter.acquire().await;
        Ok(())
    }

    async fn back_off(&self, pause: Duration) {
        self.limiter.back_off(pause);
    }

    async fn paused_until(&self) -> Option<DateTime<Utc>> {
        self.limiter
            .paused_for()
            .map(|left| Utc::now() + chrono::Duration::from_std(left).unwrap_or_default())
    }
}

/// Longest single sleep while waiting for the cluster's budget: a pause set
/// or lifted meanwhile is seen within this long.
const MAX_NAP: Duration = Duration::from_secs(2);
/// Database failures tolerated in a row before the request is given up (the
/// job then retries later like any other transient failure).
const DB_FAILURES: u32 = 3;

/// One budget for every worker sharing a PostgreSQL database: a token bucket
/// in a row (`credverify.chsi_budget`), taken with one call per request.
#[derive(Debug)]
pub struct ClusterBudget {
    store: Store,
    per_second: f64,
    burst: u32,
    /// The tasks of this process ask the database one at a time, in arrival
    /// order: the database sees one waiter per process, not one per job.
    turn: tokio::sync::Mutex<()>,
}

impl ClusterBudget {
    pub fn new(store: Store, per_second: f64, burst: u32) -> Self {
        Self {
            store,
            per_second,
            burst: burst.max(1),
            turn: tokio::sync::Mutex::new(()),
        }
    }
}

#[async_trait::async_trait]
impl RequestBudget for ClusterBudget {
    async fn acquire(&self) -> Result<(), BudgetError> {
        let _turn = self.turn.lock().await;
        let mut failures = 0;
        loop {
            match self
                .store
                .chsi_budget_take(self.per_second, f64::from(self.burst))
                .await
            {
                Ok(wait) if wait.is_zero() => return Ok(()),
                Ok(wait) => tokio::time::sleep(wait.min(MAX_NAP)).await,
                Err(e) => {
                    failures += 1;
                    if failures >= DB_FAILURES {
                        return Err(BudgetError(crate::errors::chain(&e)));
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }

    async fn back_off(&self, pause: Duration) {
        if let Err(e) = self.store.chsi_budget_pause(pause).await {
            // The pause is the cluster's politeness, not a correctness
            // matter; the next push back tries again.
            tracing::warn!(error = %e, "could not pause the cluster's requests");
        }
    }

    async fn paused_until(&self) -> Option<DateTime<Utc>> {
        self.store.chsi_paused_until().await.ok().flatten()
    }
}

/// The budget a worker of this store uses: the cluster's on PostgreSQL, the
/// process's own on SQLite.
pub fn for_store(store: &Store, per_second: f64, burst: u32) -> Arc<dyn RequestBudget> {
    match store {
        Store::Postgres(_) => Arc::new(ClusterBudget::new(store.clone(), per_second, burst)),
        Store::Sqlite(_) => Arc::new(LocalBudget::new(per_second, burst)),
    }
}
