//! Input from other systems is confined: screenshot references stay under
//! the uploads root or allowed URL prefixes and are size-limited, a malformed
//! code never reaches the service, and logs never carry a full ID number or
//! 在线验证码.

use crate::common;

use std::sync::Arc;

use common::TestDb;
use credverify::domain::{CredentialFields, Field, Kind, ReasonCode, Status};
use credverify::pipeline::Env;
use credverify::store::NewRecord;
use credverify::uploads::{Uploads, UploadsConfig};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn by_ref(candidate: &str, reference: &str) -> NewRecord {
    NewRecord {
        candidate_id: candidate.into(),
        name: "王晓雯".into(),
        id_number: None,
        fields: CredentialFields {
            kind: Some(Kind::Diploma),
            ..Default::default()
        },
        idempotency_key: None,
        screenshot: None,
        screenshot_ref: Some(reference.into()),
    }
}

fn env_with(db: &TestDb, url: &str, uploads: UploadsConfig) -> Arc<Env> {
    Arc::new(Env {
        store: db.store.clone(),
        chsi: common::chsi(url),
        retry: common::fast_retry(),
        reader: None,
        uploads: Uploads::new(uploads).unwrap(),
        id_key: Some(credverify::domain::IdKey::generate()),
    })
}

async fn outcome(db: &TestDb, id: i64) -> (Status, Option<ReasonCode>, String) {
    let r = db.store.record(id).await.unwrap().unwrap();
    let first = r.reasons.first();
    let detail = first
        .and_then(|x| x.detail.clone())
        .or(r.last_error.clone())
        .unwrap_or_default();
    (r.status, first.map(|x| x.code), detail)
}

async fn paths_are_confined(db: &TestDb) {
    let (_sb, url) = common::sandbox().await;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("uploads");
    let outside = tmp.path().join("private");
    std::fs::create_dir_all(root.join("2026/11")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret.png"), b"\x89PNG secret").unwrap();
    std::fs::write(root.join("2026/11/ok.png"), b"\x89PNG fine").unwrap();
    std::fs::write(root.join("big.png"), vec![0u8; 4096]).unwrap();
    std::os::unix::fs::symlink(outside.join("secret.png"), root.join("link.png")).unwrap();
    let env = env_with(
        db,
        &url,
        UploadsConfig {
            root: Some(root.clone()),
            max_bytes: 1024,
            ..Default::default()
        },
    );

    let cases = [
        ("../private/secret.png", "without `..`"),
        ("/etc/passwd", "relative to the uploads root"),
        ("2026/../../private/secret.png", "without `..`"),
        ("link.png", "leads outside the uploads root"),
        ("big.png", "the limit is 1024"),
    ];
    let mut ids = Vec::new();
    for (i, (reference, _)) in cases.iter().enumerate() {
        ids.push(common::submit(db, &by_ref(&format!("c-{i}"), reference)).await);
    }
    let fine = common::submit(db, &by_ref("c-fine", "2026/11/ok.png")).await;
    let later = common::submit(db, &by_ref("c-later", "2026/11/not-yet.png")).await;
    common::drain(&env, 2).await;

    for ((reference, why), id) in cases.iter().zip(ids) {
        let (status, code, detail) = outcome(db, id).await;
        assert_eq!(
            (status, code),
            (Status::Rejected, Some(ReasonCode::ImageUnreadable)),
            "{reference}"
        );
        assert!(detail.contains(why), "{reference}: {detail}");
        assert!(
            db.store.screenshot(id).await.unwrap().is_none(),
            "{reference}: nothing read"
        );
    }
    // Inside the root: fetched once and kept with the record.
    assert_eq!(
        db.store.screenshot(fine).await.unwrap().as_deref(),
        Some(&b"\x89PNG fine"[..])
    );
    // Not there yet: a transient wait, not a rejection.
    let (status, _, detail) = outcome(db, later).await;
    assert_eq!(status, Status::Unverified);
    assert!(detail.contains("not in the uploads directory"), "{detail}");
}
on_both_backends!(
    screenshot_paths_are_confined_to_the_uploads_root,
    paths_are_confined
);

async fn urls_are_confined(db: &TestDb) {
    let (_sb, url) = common::sandbox().await;
    let store = MockServer::start().await;
    let mount = |p: &'static str, t: ResponseTemplate| {
        Mock::given(method("GET")).and(path(p)).respond_with(t)
    };
    mount(
        "/uploads/a.png",
        ResponseTemplate::new(200).set_body_bytes(b"\x89PNG small".to_vec()),
    )
    .mount(&store)
    .await;
    mount(
        "/uploads/big.png",
        ResponseTemplate::new(200).set_body_bytes(vec![0u8; 50_000]),
    )
    .mount(&store)
    .await;
    mount("/uploads/busy.png", ResponseTemplate::new(503))
        .mount(&store)
        .await;
    mount("/uploads/gone.png", ResponseTemplate::new(404))
        .mount(&store)
        .await;
    mount(
        "/uploads/hop.png",
        ResponseTemplate::new(302).insert_header("location", "/private/x.png"),
    )
    .mount(&store)
    .await;
    mount(
        "/private/x.png",
        ResponseTemplate::new(200).set_body_bytes(b"secret".to_vec()),
    )
    .mount(&store)
    .await;
    let base = store.uri();
    let env = env_with(
        db,
        &url,
        UploadsConfig {
            url_prefixes: vec![format!("{base}/uploads/")],
            max_bytes: 10_000,
            ..Default::default()
        },
    );
    let refs = [
        (format!("{base}/uploads/a.png"), None),
        (format!("{base}/uploads/big.png"), Some("larger than")),
        (
            format!("{base}/private/x.png"),
            Some("not under an allowed prefix"),
        ),
        (
            "https://evil.example.net/uploads/a.png".to_string(),
            Some("not under an allowed prefix"),
        ),
        (format!("{base}/uploads/gone.png"), Some("HTTP 404")),
        (format!("{base}/uploads/hop.png"), Some("HTTP 302")),
    ];
    let mut ids = Vec::new();
    for (i, (r, _)) in refs.iter().enumerate() {
        ids.push(common::submit(db, &by_ref(&format!("u-{i}"), r)).await);
    }
    let busy = common::submit(db, &by_ref("u-busy", &format!("{base}/uploads/busy.png"))).await;
    common::drain(&env, 2).await;
    for ((r, refused), id) in refs.iter().zip(ids) {
        let (status, code, detail) = outcome(db, id).await;
        match refused {
            Some(why) => {
                assert_eq!(
                    (status, code),
                    (Status::Rejected, Some(ReasonCode::ImageUnreadable)),
                    "{r}"
                );
                assert!(detail.contains(why), "{r}: {detail}");
                assert!(db.store.screenshot(id).await.unwrap().is_none());
            }
            None => assert_eq!(
                db.store.screenshot(id).await.unwrap().as_deref(),
                Some(&b"\x89PNG small"[..])
            ),
        }
    }
    let (status, _, detail) = outcome(db, busy).await;
    assert_eq!(
        status,
        Status::Unverified,
        "a store that is down is a retry: {detail}"
    );
}
on_both_backends!(
    screenshot_urls_must_be_allow_listed_and_size_limited,
    urls_are_confined
);

async fn malformed_code(db: &TestDb) {
    let (sandbox, url) = common::sandbox().await;
    let mut fields = CredentialFields {
        kind: Some(Kind::Diploma),
        ..Default::default()
    };
    // Set without validation, as a producer bypassing the CLI might.
    fields.set(Field::vcode, "A7K2M9QX4TB8R5WZ&srcid=x");
    let new = common::typed_record("c-x", "王晓雯", fields);
    match db.store.submit(&new).await {
        Ok(s) => {
            common::drain(&common::env(db, &url), 1).await;
            let (status, code, _) = outcome(db, s.record_id).await;
            assert_eq!(
                (status, code),
                (Status::Rejected, Some(ReasonCode::VcodeUnreadable))
            );
        }
        // PostgreSQL's intake function refuses it outright.
        Err(e) => assert!(e.to_string().contains("vcode"), "{e}"),
    }
    assert_eq!(
        sandbox.stats().requests,
        0,
        "nothing malformed reached the service"
    );
}
on_both_backends!(a_malformed_code_never_reaches_the_service, malformed_code);

#[test]
fn logs_never_carry_full_codes_or_id_numbers() {
    let out = common::bin()
        .args(["--log-format", "json", "demo"])
        .env("CREDVERIFY_LOG", "trace")
        .output()
        .expect("run demo");
    assert_eq!(out.status.code(), Some(0));
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.lines().count() > 100, "trace logging was on");
    let root = env!("CARGO_MANIFEST_DIR");
    let registry: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{root}/fixtures/sandbox/registry.json")).unwrap(),
    )
    .unwrap();
    let demo: Vec<serde_json::Value> = serde_json::from_str(
        &std::fs::read_to_string(format!("{root}/fixtures/demo/records.json")).unwrap(),
    )
    .unwrap();
    let mut secrets: Vec<String> = registry["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["vcode"].as_str().unwrap().to_string())
        .collect();
    secrets.extend(
        demo.iter()
            .filter_map(|r| r["id_number"].as_str().map(String::from)),
    );
    secrets.extend(
        demo.iter()
            .filter_map(|r| r["fields"]["vcode"].as_str().map(|v| v.replace(' ', ""))),
    );
    for s in &secrets {
        assert!(!log.contains(s.as_str()), "the log carries {s}");
    }
    assert!(
        log.contains("B5************4J"),
        "codes appear masked where logs need them"
    );
}
