//! What `/metrics` shows of the whole database (read by `sql/cluster.rs`;
//! see migrations/postgres/0008_cluster.sql for the rows many workers
//! share).

use std::collections::BTreeMap;

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
