//! Fitting into the registration platform: the job contract, SQL intake from
//! psql, status notifications (NOTIFY and webhook), health, metrics and logs.

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use common::{TestDb, count_status, eventually};
use credverify::domain::{CredentialFields, Status};

fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read_json(rel: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(root().join(rel)).unwrap()).unwrap()
}

/// Serves the repository's own schemas to `$ref`s, so the test reads them as
/// a consumer would.
struct RepoSchemas;

impl jsonschema::Retrieve for RepoSchemas {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> Result<serde_json::Value, Box<dyn std::error::Error + Send + Sync>> {
        let name = uri.as_str().rsplit('/').next().unwrap_or_default();
        let path = root().join("jobs/schema").join(name);
        Ok(serde_json::from_str(
            &std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?,
        )?)
    }
}

fn validator(schema: &str) -> jsonschema::Validator {
    jsonschema::options()
        .with_retriever(RepoSchemas)
        .build(&read_json(schema))
        .expect("schema compiles")
}

#[test]
fn job_contract_examples_validate_and_are_what_the_code_reads() {
    let submission = validator("jobs/schema/submission.schema.json");
    for ex in [
        "jobs/examples/submission-typed.json",
        "jobs/examples/submission-screenshot-ref.json",
    ] {
        let v = read_json(ex);
        assert!(
            submission.is_valid(&v),
            "{ex}: {:?}",
            submission
                .iter_errors(&v)
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
        );
        CredentialFields::from_manual_json(&v["fields"].to_string())
            .unwrap_or_else(|e| panic!("{ex}: {e}"));
    }
    let job = validator("jobs/schema/job.schema.json");
    let v = read_json("jobs/examples/job.json");
    assert!(job.is_valid(&v));
    assert_eq!(
        credverify::queue::job::JobPayload::decode(v.to_string().as_bytes())
            .unwrap()
            .record_id,
        42
    );
    let note = validator("jobs/schema/notification.schema.json");
    for ex in [
        "jobs/examples/notification-verified.json",
        "jobs/examples/notification-rejected.json",
    ] {
        assert!(note.is_valid(&read_json(ex)), "{ex}");
    }
    // The schemas say no to what the code refuses.
    assert!(!submission.is_valid(
        &serde_json::json!({"candidate_id": "c", "name": "x", "fields": {"colour": "red"}})
    ));
    assert!(!submission.is_valid(&serde_json::json!({"candidate_id": "c"})));
    assert!(!job.is_valid(&serde_json::json!({"record": 1})));
}

async fn sql_submit_is_verified(db: &TestDb) {
    let (_sb, url) = common::sandbox().await;
    let psql = |sql: &str| {
        std::process::Command::new("psql")
            .args([db.url.as_str(), "-v", "ON_ERROR_STOP=1", "-Atqc", sql])
            .output()
            .expect("psql is installed (scripts/setup-system --postgres)")
    };
    let submit = "SELECT credverify.submit_record('c-sql', '王晓雯', \
                  '{\"kind\": \"diploma\", \"vcode\": \"A7K2 M9QX 4TB8 R5WZ\"}'::jsonb, '110105199904180029', 'up-1')";
    let out = psql(submit);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id: i64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    // Idempotent from SQL too.
    assert_eq!(
        String::from_utf8_lossy(&psql(submit).stdout).trim(),
        id.to_string()
    );
    // Inside the backend's own transaction: rolled back, nothing remains.
    let out = psql(
        "BEGIN; SELECT credverify.submit_record('c-rollback', '李明', '{\"vcode\": \"X7T2K9Q4M8B5Z3WN\"}'::jsonb); ROLLBACK;",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(db.store.count_for_candidate("c-rollback").await.unwrap(), 0);
    // Errors carry their SQLSTATE and name the field.
    let out =
        psql("SELECT credverify.submit_record('c-bad', '李明', '{\"vcode\": \"nope\"}'::jsonb)");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("vcode"));

    common::drain(&common::env(db, &url), 2).await;
    let rec = db.store.record(id).await.unwrap().unwrap();
    assert_eq!(rec.status, Status::Verified);
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM apalis.jobs").await,
        1,
        "one job for the record, none for the rolled-back one"
    );
}
on_postgres!(
    sql_submit_from_psql_is_picked_up_and_verified,
    sql_submit_is_verified
);

async fn status_notifications(db: &TestDb) {
    let (_sb, url) = common::sandbox().await;
    let mut listener = sqlx::postgres::PgListener::connect(&db.url).await.unwrap();
    listener.listen("credverify_status").await.unwrap();
    let fields = CredentialFields::from_manual_json(
        r#"{"kind":"diploma","vcode":"7QXH2KB9TM4DZ5WN","school":"北京大学"}"#,
    )
    .unwrap();
    let new = common::typed_record("c-listen", "赵敏", fields);
    let id = common::submit(db, &new).await;
    common::drain(&common::env(db, &url), 1).await;
    let mut got = Vec::new();
    while got.len() < 2 {
        let n = tokio::time::timeout(Duration::from_secs(10), listener.recv())
            .await
            .expect("a notification")
            .unwrap();
        got.push(serde_json::from_str::<serde_json::Value>(n.payload()).unwrap());
    }
    assert_eq!(got[0]["status"], "unverified");
    assert_eq!(got[1]["record_id"], id);
    assert_eq!(got[1]["candidate_id"], "c-listen");
    assert_eq!(got[1]["status"], "rejected");
    assert_eq!(got[1]["previous_status"], "unverified");
    assert_eq!(got[1]["reasons"], serde_json::json!(["field_mismatch"]));
    assert!(validator("jobs/schema/notification.schema.json").is_valid(&got[1]));
}
on_postgres!(
    status_changes_are_notified_to_listeners,
    status_notifications
);

/// What the receiver was sent: headers and body of each request.
type Received = Arc<Mutex<Vec<(HeaderMap, Vec<u8>)>>>;

/// A webhook receiver that records what it gets and fails on demand.
#[derive(Clone, Default)]
struct Receiver {
    got: Received,
    fail_next: Arc<Mutex<u32>>,
}

async fn receive(
    State(r): State<Receiver>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    let mut fail = r.fail_next.lock().unwrap();
    if *fail > 0 {
        *fail -= 1;
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    r.got.lock().unwrap().push((headers, body.to_vec()));
    StatusCode::NO_CONTENT
}

async fn start_receiver(
    listener: tokio::net::TcpListener,
    r: Receiver,
) -> tokio::task::JoinHandle<()> {
    let app = axum::Router::new()
        .route("/hook", post(receive))
        .with_state(r);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    })
}

async fn webhook(db: &TestDb) {
    let (_sb, url) = common::sandbox().await;
    let secret = "whsec-test";
    let receiver = Receiver::default();
    *receiver.fail_next.lock().unwrap() = 2;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    let server = start_receiver(listener, receiver.clone()).await;
    let webhook_args = [
        "--webhook-url",
        &hook,
        "--webhook-secret",
        secret,
        "--webhook-retry-base-secs",
        "0.2",
    ];

    let fields =
        CredentialFields::from_manual_json(r#"{"kind":"diploma","vcode":"A7K2M9QX4TB8R5WZ"}"#)
            .unwrap();
    let new = |c: &str| common::typed_record(c, "王晓雯", fields.clone());
    let id = common::submit(db, &new("c-hook")).await;
    let mut worker = common::spawn_worker(db, &url, &webhook_args);
    eventually(
        Duration::from_secs(30),
        "both notifications delivered despite two failures",
        || async { receiver.got.lock().unwrap().len() >= 2 },
    )
    .await;
    common::sigkill(&mut worker);
    {
        let got = receiver.got.lock().unwrap();
        let mut deliveries = Vec::new();
        for (headers, body) in got.iter() {
            let sig = headers
                .get("x-credverify-signature")
                .expect("signed")
                .to_str()
                .unwrap();
            assert!(
                credverify::notify::verify_signature(secret, sig, body),
                "valid signature"
            );
            assert!(!credverify::notify::verify_signature("wrong", sig, body));
            deliveries.push(
                headers
                    .get("x-credverify-delivery")
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_string(),
            );
        }
        // Retried notifications arrive after later ones: order is not promised.
        let bodies: Vec<serde_json::Value> = got
            .iter()
            .map(|(_, b)| serde_json::from_slice(b).unwrap())
            .collect();
        assert!(
            bodies
                .iter()
                .any(|b| b["record_id"] == id && b["status"] == "verified"),
            "{bodies:?}"
        );
        assert!(
            bodies
                .iter()
                .any(|b| b["record_id"] == id && b["status"] == "unverified"),
            "{bodies:?}"
        );
        deliveries.dedup();
        assert_eq!(deliveries.len(), 2, "one delivery id per notification");
    }

    // The receiver goes away; a record is decided; the worker dies before it
    // could deliver. A new worker delivers once the receiver is back.
    server.abort();
    let _ = server.await;
    let before = receiver.got.lock().unwrap().len();
    let down_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let hook2 = format!("http://127.0.0.1:{down_port}/hook");
    let args2 = [
        "--webhook-url",
        &hook2,
        "--webhook-secret",
        secret,
        "--webhook-retry-base-secs",
        "0.2",
    ];
    let id2 = common::submit(db, &new("c-hook-2")).await;
    let mut worker = common::spawn_worker(db, &url, &args2);
    common::until_decided(
        db,
        id2,
        Duration::from_secs(30),
        "the second record is decided",
    )
    .await;
    eventually(
        Duration::from_secs(30),
        "the worker tried to deliver both notifications and failed",
        || async {
            db.scalar(&format!(
                "SELECT COUNT(*) FROM outbox WHERE record_id = {id2} AND attempts >= 1 \
                 AND last_error IS NOT NULL AND delivered_at IS NULL"
            ))
            .await
                == 2
        },
    )
    .await;
    common::sigkill(&mut worker);
    let undelivered = db
        .scalar(&format!(
            "SELECT COUNT(*) FROM outbox WHERE record_id = {id2} AND delivered_at IS NULL"
        ))
        .await;
    assert_eq!(
        undelivered, 2,
        "kept in the outbox while the receiver was down"
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", down_port))
        .await
        .unwrap();
    let server = start_receiver(listener, receiver.clone()).await;
    let mut worker = common::spawn_worker(db, &url, &args2);
    eventually(
        Duration::from_secs(60),
        "everything delivered after the restart",
        || async {
            db.scalar("SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL")
                .await
                == 0
        },
    )
    .await;
    common::sigkill(&mut worker);
    server.abort();
    let decided = common::status_of(db, id2).await;
    let got = receiver.got.lock().unwrap();
    assert!(got.len() >= before + 2);
    let statuses: Vec<String> = got
        .iter()
        .map(|(_, b)| serde_json::from_slice::<serde_json::Value>(b).unwrap())
        .filter(|b| b["record_id"] == id2)
        .map(|b| b["status"].as_str().unwrap().to_string())
        .collect();
    // (A second candidate with the same report: a duplicate certificate.)
    assert!(
        statuses.contains(&"unverified".to_string()) && statuses.contains(&decided.to_string()),
        "{statuses:?}"
    );
}
on_both_backends!(
    webhook_is_signed_retried_and_not_lost_across_a_restart,
    webhook
);

async fn health_and_metrics(db: &TestDb) {
    let (sandbox, url) = common::sandbox().await;
    let addr = common::free_addr();
    let fields =
        CredentialFields::from_manual_json(r#"{"kind":"diploma","vcode":"A7K2M9QX4TB8R5WZ"}"#)
            .unwrap();
    db.store
        .submit(&common::typed_record("c-m", "王晓雯", fields))
        .await
        .unwrap();
    let mut faults = credverify::sandbox::Faults::default();
    faults.per_code.insert(
        "A7K2M9QX4TB8R5WZ".into(),
        vec![credverify::sandbox::Fault {
            kind: credverify::sandbox::FaultKind::Captcha,
            times: Some(1),
            probability: None,
        }],
    );
    sandbox.set_faults(faults);
    let mut worker = common::spawn_worker(
        db,
        &url,
        &["--metrics-addr", &addr, "--retry-base-secs", "1"],
    );
    let http = reqwest::Client::new();
    common::wait_until_healthy(&http, &addr).await;
    eventually(
        Duration::from_secs(30),
        "the record is verified",
        || async { count_status(db, "verified").await == 1 },
    )
    .await;
    let (health, metrics) = common::health_and_metrics(&http, &addr).await;
    assert_eq!(health["database"], "ok");
    assert!(health["last_job_at"].is_string(), "{health}");
    common::sigkill(&mut worker);
    for series in [
        "credverify_jobs_total{outcome=\"decided_verified\"} 1",
        "credverify_jobs_total{outcome=\"retrying\"} 1",
        "credverify_chsi_errors_total{kind=\"captcha\"} 1",
        "credverify_chsi_request_seconds_count 2",
        "credverify_queue_depth",
        "credverify_records{status=\"verified\"} 1",
        "credverify_records{status=\"unverified\"} 0",
        "credverify_records_retries_exhausted 0",
        "credverify_outbox_pending",
        "credverify_ocr_seconds_count",
        "credverify_last_job_timestamp_seconds",
    ] {
        assert!(metrics.contains(series), "missing `{series}` in\n{metrics}");
    }
}
on_both_backends!(
    healthz_and_metrics_answer_with_the_expected_series,
    health_and_metrics
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_the_record_id_on_every_job_line() {
    let db = TestDb::new(common::Kind::Sqlite).await.unwrap();
    let (_sb, url) = common::sandbox().await;
    for (c, code) in [("c-1", "A7K2M9QX4TB8R5WZ"), ("c-2", "X7T2K9Q4M8B5Z3WN")] {
        let fields =
            CredentialFields::from_manual_json(&format!(r#"{{"vcode":"{code}"}}"#)).unwrap();
        let new = common::typed_record(c, "王晓雯", fields);
        db.store.submit(&new).await.unwrap();
    }
    let out = common::bin()
        .args([
            "--database-url",
            &db.url,
            "--log-format",
            "json",
            "worker",
            "--drain",
            "--chsi-url",
            &url,
            "--chsi-rate",
            "0",
        ])
        .env("CREDVERIFY_LOG", "credverify=info")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut job_lines = 0;
    for line in stderr.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        if v["target"]
            .as_str()
            .is_some_and(|t| t.starts_with("credverify::pipeline"))
        {
            job_lines += 1;
            assert!(
                v["span"]["record_id"].is_number(),
                "a job line without its record id: {line}"
            );
        }
    }
    assert!(job_lines >= 2, "{stderr}");
    db.cleanup().await;
}
