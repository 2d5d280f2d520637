//! Many worker processes sharing one PostgreSQL: `--chsi-rate` is the
//! budget of the whole cluster (and it is used, not divided), a push back
//! seen by one worker pauses every worker, and `/metrics` reads maintained
//! counts that sum correctly over workers.

use crate::common;

use std::time::Duration;

use common::synthetic::{record, report};
use common::{TestDb, assert_one_decision_each, count_status, eventually};
use credverify::domain::Status;
use credverify::sandbox::{Fault, FaultKind, Faults, Registry, ReportState, Sandbox};

async fn sandbox_for(n: usize, delay_ms: u64) -> (Sandbox, String) {
    let (sb, url) = common::sandbox_with(Registry {
        reports: (0..n).map(|i| report(i, ReportState::Ok)).collect(),
        ..Default::default()
    })
    .await;
    if delay_ms > 0 {
        sb.set_faults(common::every_request(FaultKind::Delay { ms: delay_ms }));
    }
    (sb, url)
}

/// Worker processes, killed on drop (also when an assertion fails).
struct Workers(Vec<std::process::Child>);

impl Drop for Workers {
    fn drop(&mut self) {
        for c in &mut self.0 {
            common::sigkill(c);
        }
    }
}

fn spawn(db: &TestDb, url: &str, count: usize, extra: &[&str]) -> Workers {
    Workers(
        (0..count)
            .map(|_| common::spawn_worker(db, url, extra))
            .collect(),
    )
}

async fn one_cluster_budget(db: &TestDb) {
    let n = 40;
    // 300 ms answers and two jobs per worker: one worker alone could not
    // reach the rate, three together could exceed it three times over.
    let (sandbox, url) = sandbox_for(n, 300).await;
    for i in 0..n {
        db.store.submit(&record(i)).await.unwrap();
    }
    let workers = spawn(db, &url, 3, &["--chsi-rate", "4", "--concurrency", "2"]);
    eventually(Duration::from_secs(60), "every record decided", || async {
        count_status(db, "verified").await == n as i64
    })
    .await;
    drop(workers);
    assert_one_decision_each(db).await;

    let arrivals = sandbox.arrivals();
    assert_eq!(arrivals.len(), n, "one request per record");
    let busiest = sandbox.max_requests_within(Duration::from_secs(1));
    assert!(
        busiest <= 5,
        "{busiest} requests in one second at --chsi-rate 4"
    );
    let span = *arrivals.last().unwrap() - arrivals[0];
    let rate = (n - 1) as f64 / span.as_secs_f64();
    eprintln!("{n} requests over {span:?}: {rate:.2}/s, at most {busiest} in any second");
    assert!(
        rate >= 3.4,
        "the cluster used only {rate:.2} of its 4 requests/s"
    );
}
on_postgres!(
    three_workers_keep_to_one_cluster_budget_and_use_all_of_it,
    one_cluster_budget
);

async fn a_captcha_pauses_the_cluster(db: &TestDb) {
    let n = 24;
    let (sandbox, url) = sandbox_for(n, 0).await;
    for i in 0..n {
        db.store.submit(&record(i)).await.unwrap();
    }
    let back_off = Duration::from_secs(3);
    let workers = spawn(
        db,
        &url,
        3,
        &[
            "--chsi-rate",
            "4",
            "--concurrency",
            "2",
            "--chsi-back-off-secs",
            "3",
        ],
    );
    eventually(
        Duration::from_secs(30),
        "the cluster is under way",
        || async { sandbox.stats().requests >= 4 },
    )
    .await;
    sandbox.set_faults(Faults {
        global: vec![Fault {
            kind: FaultKind::Captcha,
            times: Some(1),
            probability: None,
        }],
        ..Default::default()
    });
    eventually(
        Duration::from_secs(30),
        "one worker met the captcha",
        || async { sandbox.stats().faults_injected >= 1 },
    )
    .await;
    // The pause is the cluster's, visible to admins and to every scrape.
    eventually(Duration::from_secs(5), "the pause is recorded", || async {
        db.store.stats(1).await.unwrap().chsi_paused_until.is_some()
    })
    .await;
    eventually(Duration::from_secs(60), "every record decided", || async {
        count_status(db, "verified").await == n as i64
    })
    .await;
    drop(workers);
    assert_one_decision_each(db).await;

    let captcha_at = sandbox.fault_arrivals()[0];
    let arrivals = sandbox.arrivals();
    // Requests already cleared before the pause was written may still land
    // just after the captcha; after that, nobody asks until the pause ends.
    let quiet_from = captcha_at + Duration::from_millis(300);
    let quiet_to = captcha_at + back_off - Duration::from_millis(100);
    let during: Vec<Duration> = arrivals
        .iter()
        .filter(|t| **t > quiet_from && **t < quiet_to)
        .map(|t| *t - captcha_at)
        .collect();
    assert!(
        during.is_empty(),
        "requests during the cluster's pause, after the captcha: {during:?}"
    );
    assert!(
        arrivals.iter().any(|t| *t >= captcha_at + back_off),
        "work resumed after the pause"
    );
    let busiest = sandbox.max_requests_within(Duration::from_secs(1));
    assert!(
        busiest <= 5,
        "{busiest} requests in one second at --chsi-rate 4"
    );
}
on_postgres!(
    a_captcha_met_by_one_worker_pauses_every_worker,
    a_captcha_pauses_the_cluster
);

/// Records by status as `/metrics` reads them (the trigger-kept summary)
/// and as counted from the records themselves.
async fn counts_both_ways(db: &TestDb) -> (Vec<(String, i64)>, Vec<(String, i64)>) {
    let summary = db.store.status_counts().await.unwrap();
    let mut counted = Vec::new();
    for st in Status::ALL {
        counted.push((st.as_str().to_string(), count_status(db, st.as_str()).await));
    }
    let kept = Status::ALL
        .iter()
        .map(|st| {
            let n = summary.get(st.as_str()).copied().unwrap_or(0);
            (st.as_str().to_string(), n)
        })
        .collect();
    (kept, counted)
}

async fn status_counts_follow_every_transition(db: &TestDb) {
    // Reports for the first four codes only: two records end rejected.
    let (_sandbox, url) = sandbox_for(4, 0).await;
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(common::submit(db, &record(i)).await);
    }
    let (kept, counted) = counts_both_ways(db).await;
    assert_eq!(kept, counted, "after submitting");
    assert_eq!(kept[0], ("unverified".to_string(), 6));

    common::drain(&common::env(db, &url), 4).await;
    let (kept, counted) = counts_both_ways(db).await;
    assert_eq!(kept, counted, "after deciding");
    assert_eq!(count_status(db, "verified").await, 4);
    assert_eq!(count_status(db, "rejected").await, 2);

    db.store.reopen(ids[5], "admin", None).await.unwrap();
    db.store.reopen(ids[4], "admin", None).await.unwrap();
    let (kept, counted) = counts_both_ways(db).await;
    assert_eq!(kept, counted, "after a re-open");
    assert_eq!(count_status(db, "unverified").await, 2);

    // What a scrape reports (the rendering itself is process-wide state,
    // covered with real worker processes in tests/suite/integration.rs).
    let gauges = db.store.cluster_gauges().await.unwrap();
    assert_eq!(gauges.by_status.get("verified"), Some(&4));
    assert_eq!(gauges.by_status.get("rejected"), Some(&0));
    assert_eq!(gauges.by_status.get("unverified"), Some(&2));
    assert_eq!(gauges.jobs_pending, 2, "the re-opened records' jobs");
}
on_both_backends!(
    metrics_status_counts_follow_every_transition,
    status_counts_follow_every_transition
);

fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

const REPORTER: &str = "\ncredverify_cluster_reporter 1\n";
const NOT_REPORTER: &str = "\ncredverify_cluster_reporter 0\n";

async fn one_reporter(db: &TestDb) {
    let (_sandbox, url) = sandbox_for(1, 0).await;
    let addrs = [free_addr(), free_addr()];
    let _workers = Workers(
        addrs
            .iter()
            .map(|a| common::spawn_worker(db, &url, &["--metrics-addr", a]))
            .collect(),
    );
    let http = reqwest::Client::new();
    let scrape = |addr: String| {
        let http = http.clone();
        async move {
            match http.get(format!("http://{addr}/metrics")).send().await {
                Ok(r) => r.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            }
        }
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let texts = loop {
        let texts = vec![
            scrape(addrs[0].clone()).await,
            scrape(addrs[1].clone()).await,
        ];
        let says = |v: &str| texts.iter().filter(|t| t.contains(v)).count();
        if says(REPORTER) == 1 && says(NOT_REPORTER) == 1 {
            break texts;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no single reporter among two workers:\n{texts:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for t in &texts {
        let reports = t.contains(REPORTER);
        assert_eq!(
            t.contains("credverify_records{status=\"unverified\"}"),
            reports,
            "only the reporter shows the database's gauges:\n{t}"
        );
        assert_eq!(t.contains("credverify_queue_depth"), reports, "{t}");
    }
}
on_both_backends!(
    metrics_of_the_database_come_from_one_worker_only,
    one_reporter
);

async fn budget_row_tokens(db: &TestDb) {
    // After an idle spell the bucket holds one token (burst 1): one grant,
    // then the wait until the next token (1/R less the time between asks).
    // The bucket fills by the database's clock, so the idle spell is real
    // time (longer than the 250 ms a token takes), not a wait for an event.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let first = db.store.chsi_budget_take(4.0, 1.0).await.unwrap();
    let second = db.store.chsi_budget_take(4.0, 1.0).await.unwrap();
    assert_eq!(first, Duration::ZERO, "granted");
    assert!(
        second > Duration::ZERO && second <= Duration::from_millis(250),
        "refused with the wait for the next token: {second:?}"
    );
    // A refusal takes nothing: asking again after the wait is granted. The
    // wait is the one the budget named: sleeping it is the property.
    tokio::time::sleep(second).await;
    assert_eq!(
        db.store.chsi_budget_take(4.0, 1.0).await.unwrap(),
        Duration::ZERO
    );

    assert_eq!(db.store.chsi_paused_until().await.unwrap(), None);
    db.store
        .chsi_budget_pause(Duration::from_secs(3))
        .await
        .unwrap();
    assert!(db.store.chsi_paused_until().await.unwrap().is_some());
    for rate in [4.0, 0.0] {
        let wait = db.store.chsi_budget_take(rate, 1.0).await.unwrap();
        assert!(
            wait > Duration::from_millis(2500),
            "the pause holds every asker, even an unlimited one: {wait:?}"
        );
    }
}
on_postgres!(
    the_budget_row_grants_one_token_at_a_time_and_holds_everyone_during_a_pause,
    budget_row_tokens
);

async fn unreachable_budget(db: &TestDb) {
    let (sandbox, url) = sandbox_for(1, 0).await;
    let config = credverify::chsi::ChsiConfig {
        base_url: url,
        rate_per_second: 4.0,
        ..Default::default()
    };
    let budget = std::sync::Arc::new(credverify::chsi::ClusterBudget::new(
        db.store.clone(),
        4.0,
        1,
    ));
    let client = credverify::chsi::ChsiClient::with_budget(config, budget).unwrap();
    db.store.close().await;
    let code = credverify::domain::VerificationCode::parse(&common::synthetic::code(0)).unwrap();
    let err = tokio::time::timeout(Duration::from_secs(60), client.lookup(&code))
        .await
        .expect("gives up on the budget, does not wait for it for ever")
        .unwrap_err();
    assert_eq!(err.kind(), "budget_unavailable", "{err}");
    assert_eq!(sandbox.stats().requests, 0, "no request without a token");
}
on_postgres!(
    an_unreachable_budget_is_a_transient_failure_and_sends_nothing,
    unreachable_budget
);
