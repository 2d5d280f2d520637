//! The store as the metrics endpoint's source of database gauges
//! ([`GaugeSource`]): the one place that knows both, so `metrics` depends on
//! nothing of ours.

use std::time::Duration;

use crate::domain::Status;
use crate::metrics::{DatabaseGauges, GaugeSource, Pause, SourceError};
use crate::store::{Backend, Store};

#[async_trait::async_trait]
impl GaugeSource for Store {
    async fn ping(&self) -> Result<(), SourceError> {
        Ok(Store::ping(self).await?)
    }

    async fn reporter(&self, live: Duration) -> Result<Option<String>, SourceError> {
        Ok(self.metrics_reporter(live).await?)
    }

    async fn gauges(&self) -> Result<DatabaseGauges, SourceError> {
        let g = self.cluster_gauges().await?;
        let records = Status::ALL
            .iter()
            .map(|st| {
                let n = g.by_status.get(st.as_str()).copied().unwrap_or(0);
                (st.as_str().to_string(), n)
            })
            .collect();
        // PostgreSQL workers share one pause (the cluster's politeness
        // budget); an embedded database has one worker, which keeps its own.
        let chsi_pause = match self.backend() {
            Backend::Postgres => Pause::Shared(self.chsi_paused_until().await?),
            Backend::Sqlite => Pause::ThisProcess,
        };
        Ok(DatabaseGauges {
            records,
            retries_exhausted: g.retries_exhausted,
            jobs_pending: g.jobs_pending,
            outbox_pending: g.outbox_pending,
            chsi_pause,
        })
    }
}
