//! Intake and the status transition are written twice: in Rust (SQLite, and
//! the checks before PostgreSQL's intake) and in PL/pgSQL
//! (`credverify.submit_record`, `credverify.decide`), which backends call
//! directly and which earned its place by measurement. These tests run the
//! same cases through both and require the same answer, and require the
//! constants the SQL copies (queue name, attempts, ID checksum weights,
//! field keys, caps) to equal the Rust ones.

use crate::common;
use common::{Kind, TestDb};
use credverify::domain::{CredentialFields, Field, IdNumber, ReasonCode, Status};
use credverify::store::{NewRecord, Store, SubmitError, Transition, TransitionOutcome};
use credverify::verdict::Report;

/// Both databases, or `None` when PostgreSQL is unreachable outside CI.
async fn both() -> Option<(TestDb, TestDb)> {
    let sqlite = TestDb::new(Kind::Sqlite).await.unwrap();
    let pg = TestDb::new(Kind::Postgres).await?;
    Some((sqlite, pg))
}

fn pg_pool(db: &TestDb) -> &sqlx::PgPool {
    match &db.store {
        Store::Postgres(p) => p.pool(),
        Store::Sqlite(_) => unreachable!("a PostgreSQL database"),
    }
}

/// The source of the current definition of a `credverify` function.
async fn function_source(db: &TestDb, name: &str) -> String {
    sqlx::query_scalar(
        "SELECT p.prosrc FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
         WHERE n.nspname = 'credverify' AND p.proname = $1",
    )
    .bind(name)
    .fetch_one(pg_pool(db))
    .await
    .unwrap_or_else(|e| panic!("credverify.{name}: {e}"))
}

/// The text between the first `start` and the next `end` after it.
fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("`{start}` not in:\n{text}"))
        + start.len();
    let len = text[from..]
        .find(end)
        .unwrap_or_else(|| panic!("`{end}` not after `{start}`"));
    text[from..from + len].trim()
}

fn numbers(list: &str) -> Vec<u64> {
    list.split(',')
        .map(|n| n.trim().parse().unwrap_or_else(|e| panic!("{n:?}: {e}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn constants_in_sql_equal_the_rust_ones() {
    let Some(db) = TestDb::new(Kind::Postgres).await else {
        return;
    };
    let submit = function_source(&db, "submit").await;

    // The job intake enqueues: queue name and attempts.
    let job = between(&submit, "INSERT INTO apalis.jobs", "now()");
    let values = between(job, "VALUES (v_job,", "convert_to");
    assert_eq!(
        values.trim_end_matches(',').trim_matches('\''),
        credverify::store::QUEUE,
        "{job}"
    );
    let attempts = between(job, "'Pending', 0,", ",");
    assert_eq!(
        attempts.parse::<i32>().unwrap(),
        credverify::store::JOB_MAX_ATTEMPTS,
        "{job}"
    );

    // GB 11643 weights and check characters: the SQL computes the check
    // character for every ID with a single non-zero digit as Rust does.
    let weights = numbers(between(&submit, "v_weights  INTEGER[] := ARRAY[", "]"));
    assert_eq!(weights.len(), 17);
    let check = between(&submit, "IF substr('", "'");
    for (i, w) in weights.iter().enumerate() {
        for d in 1..=9u64 {
            let mut first17 = vec![b'0'; 17];
            first17[i] = b'0' + d as u8;
            let first17 = String::from_utf8(first17).unwrap();
            let sql = check.as_bytes()[((d * w) % 11) as usize] as char;
            assert_eq!(
                credverify::domain::identity::check_char(&first17),
                Some(sql),
                "digit {d} at position {i}"
            );
        }
    }

    // The canonical keys the SQL accepts are the Rust ones (`kind` is read
    // apart on both sides).
    let mut sql_keys: Vec<&str> = between(&submit, "v_key <> ALL (ARRAY[", "])")
        .split(',')
        .map(|k| k.trim().trim_matches('\''))
        .collect();
    sql_keys.sort_unstable();
    let mut rust_keys: Vec<&str> = Field::ALL.iter().map(|f| f.key()).collect();
    rust_keys.sort_unstable();
    assert_eq!(sql_keys, rust_keys);

    // The caps of jobs/README.md.
    use credverify::store::intake::*;
    for (sql, rust) in [
        (
            between(&submit, "char_length(v_candidate) >", "OR"),
            MAX_CANDIDATE_ID_CHARS,
        ),
        (
            between(&submit, "char_length(v_name) >", "OR"),
            MAX_NAME_CHARS,
        ),
        (
            between(&submit, "char_length(p_idempotency_key) >", "\n"),
            MAX_IDEMPOTENCY_KEY_CHARS,
        ),
        (
            between(&submit, "char_length(p_screenshot_ref) >", "\n"),
            MAX_SCREENSHOT_REF_CHARS,
        ),
        (
            between(&submit, "length(p_screenshot) >", "THEN"),
            MAX_SCREENSHOT_BYTES,
        ),
    ] {
        assert_eq!(sql.parse::<usize>().unwrap(), rust, "{sql}");
    }
    let typed = function_source(&db, "typed_value").await;
    assert_eq!(
        between(&typed, "char_length(v) >", "THEN")
            .parse::<usize>()
            .unwrap(),
        credverify::domain::typed::MAX_VALUE_CHARS
    );

    // The five-record limit.
    let limit = function_source(&db, "enforce_record_limit").await;
    assert_eq!(
        between(&limit, "status <> 'withdrawn') >=", "THEN")
            .parse::<u32>()
            .unwrap(),
        credverify::store::RECORD_LIMIT
    );
}

// --- intake -------------------------------------------------------------------

/// One submission as a backend sends it: raw JSON fields, a raw ID number.
struct Case {
    label: &'static str,
    candidate_id: String,
    name: &'static str,
    fields: &'static str,
    id_number: Option<String>,
    key: Option<&'static str>,
    screenshot: Option<Vec<u8>>,
    screenshot_ref: Option<&'static str>,
}

/// A synthetic ID number with a correct check character.
fn id_number(first17: &str) -> String {
    let check = credverify::domain::identity::check_char(first17).expect("17 digits");
    format!("{first17}{check}")
}

fn case(label: &'static str, fields: &'static str) -> Case {
    Case {
        label,
        candidate_id: "c-conf".into(),
        name: "王晓雯",
        fields,
        id_number: None,
        key: None,
        screenshot: None,
        screenshot_ref: None,
    }
}

const CODE: &str = r#"{"vcode": "A7K2M9QX4TB8R5WZ"}"#;

fn cases() -> Vec<Case> {
    let good_id = id_number("11010519900307123");
    let mut wrong_check = id_number("11010519900307123");
    wrong_check.replace_range(17.., if wrong_check.ends_with('1') { "2" } else { "1" });
    vec![
        case("a code alone", CODE),
        case(
            "a code spaced and lower-case",
            r#"{"vcode": "a7k2 m9qx 4tb8 r5wz"}"#,
        ),
        case("a code of 12 digits", r#"{"vcode": "123456789012"}"#),
        case(
            "every kind of value, normalised",
            r#"{"kind": "diploma", "vcode": "A7K2M9QX4TB8R5WZ", "name": "王晓雯",
                "gender": "女", "birth_date": "1999年3月7日", "enrollment_date": "2017-9-1",
                "graduation_date": "2021年06月30日", "school": "  示例大学 ", "duration": "4年",
                "completion": "毕业", "certificate_no": "1001 4120 2105 0001 23",
                "id_number_masked": "1101**********123x", "student_no": "2017-0012 3a"}"#,
        ),
        case(
            "a degree",
            r#"{"kind": "degree", "vcode": "A7K2M9QX4TB8R5WZ", "certificate_no": "10014k2021000123"}"#,
        ),
        Case {
            id_number: Some(good_id.clone()),
            ..case("with an ID number", CODE)
        },
        Case {
            id_number: Some(format!(
                "{} {} {}",
                &good_id[..6],
                &good_id[6..14],
                &good_id[14..]
            )),
            ..case("with an ID number in groups", CODE)
        },
        Case {
            candidate_id: "  c-conf\t".into(),
            name: " 王晓雯\n",
            ..case("identifiers trimmed", CODE)
        },
        Case {
            screenshot_ref: Some("uploads/a.png"),
            ..case("a screenshot reference and no code", "{}")
        },
        Case {
            screenshot: Some(b"\x89PNG not really".to_vec()),
            ..case("screenshot bytes and no code", "{}")
        },
        Case {
            key: Some("k-1"),
            ..case("an idempotency key", CODE)
        },
        // Refusals, one fault each.
        case("neither code nor screenshot", "{}"),
        case(
            "an unknown key",
            r#"{"vcode": "A7K2M9QX4TB8R5WZ", "shoe_size": "42"}"#,
        ),
        case(
            "a 学籍 kind",
            r#"{"kind": "enrollment", "vcode": "A7K2M9QX4TB8R5WZ"}"#,
        ),
        case(
            "a number",
            r#"{"vcode": "A7K2M9QX4TB8R5WZ", "duration": 4}"#,
        ),
        case(
            "a blank value",
            r#"{"vcode": "A7K2M9QX4TB8R5WZ", "school": "  "}"#,
        ),
        case(
            "a bad gender",
            r#"{"vcode": "A7K2M9QX4TB8R5WZ", "gender": "M"}"#,
        ),
        case(
            "no such day",
            r#"{"vcode": "A7K2M9QX4TB8R5WZ", "graduation_date": "2026-02-30"}"#,
        ),
        case("a short code", r#"{"vcode": "A7K2M9QX"}"#),
        case(
            "a non-ASCII code letter",
            r#"{"vcode": "ſBCDEFGH12345678"}"#,
        ),
        case(
            "a zero duration",
            r#"{"vcode": "A7K2M9QX4TB8R5WZ", "duration": "0"}"#,
        ),
        case(
            "a masked ID of the wrong shape",
            r#"{"vcode": "A7K2M9QX4TB8R5WZ", "id_number_masked": "1101****123X"}"#,
        ),
        Case {
            id_number: Some(wrong_check),
            ..case("an ID number with a wrong check digit", CODE)
        },
        Case {
            id_number: Some(id_number("11010519901332123")),
            ..case("an ID number with no such birth date", CODE)
        },
        Case {
            id_number: Some("1101051990".into()),
            ..case("a short ID number", CODE)
        },
        Case {
            candidate_id: " ".into(),
            ..case("a blank candidate", CODE)
        },
        Case {
            name: "王\u{1b}[2J晓雯",
            ..case("a name with an escape", CODE)
        },
        Case {
            key: Some("k\u{7}"),
            ..case("a key with a bell", CODE)
        },
        Case {
            screenshot: Some(vec![1, 2, 3]),
            screenshot_ref: Some("uploads/a.png"),
            ..case("bytes and a reference", "{}")
        },
    ]
}

/// What an intake said: the record it made, or the field its refusal named
/// (`-` when the refusal names none).
#[derive(Debug, PartialEq)]
enum Answer {
    Accepted(i64),
    Refused(String),
}

fn named_field(message: &str) -> String {
    if let Some(rest) = message.split_once("field `") {
        return rest.1.split('`').next().unwrap_or_default().to_string();
    }
    if message.to_lowercase().contains("id_number") || message.contains("ID number") {
        return "id_number".into();
    }
    "-".into()
}

/// The Rust intake: the library's path, as the CLI takes it.
async fn through_rust(db: &TestDb, c: &Case) -> Answer {
    let fields = match CredentialFields::from_manual_json(c.fields) {
        Ok(f) => f,
        Err(e) => return Answer::Refused(e.field),
    };
    let id_number = match c.id_number.as_deref().map(IdNumber::parse).transpose() {
        Ok(id) => id,
        Err(_) => return Answer::Refused("id_number".into()),
    };
    let new = NewRecord {
        candidate_id: c.candidate_id.clone(),
        name: c.name.into(),
        id_number,
        fields,
        idempotency_key: c.key.map(Into::into),
        screenshot: c.screenshot.clone(),
        screenshot_ref: c.screenshot_ref.map(Into::into),
    };
    match db.store.submit(&new).await {
        Ok(s) => Answer::Accepted(s.record_id),
        Err(SubmitError::Invalid(m)) => Answer::Refused(named_field(&m)),
        Err(e) => panic!("{}: {e:?}", c.label),
    }
}

/// The PL/pgSQL intake, called as a backend calls it.
async fn through_sql(db: &TestDb, c: &Case) -> Answer {
    let answer: Result<i64, sqlx::Error> =
        sqlx::query_scalar("SELECT credverify.submit_record($1, $2, $3::jsonb, $4, $5, $6, $7)")
            .bind(&c.candidate_id)
            .bind(c.name)
            .bind(c.fields)
            .bind(&c.id_number)
            .bind(c.key)
            .bind(&c.screenshot)
            .bind(c.screenshot_ref)
            .fetch_one(pg_pool(db))
            .await;
    match answer {
        Ok(id) => Answer::Accepted(id),
        Err(e) => {
            let db_err = e
                .as_database_error()
                .unwrap_or_else(|| panic!("{}: {e}", c.label));
            assert_eq!(db_err.code().as_deref(), Some("CV002"), "{}: {e}", c.label);
            Answer::Refused(named_field(db_err.message()))
        }
    }
}

/// What a record holds after intake, as text comparable across backends.
async fn stored(db: &TestDb, id: i64) -> String {
    let r = db.store.record(id).await.unwrap().expect("the record");
    let events: Vec<_> = db
        .store
        .events(id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.actor, e.from, e.to))
        .collect();
    let (birth, gender, job_type, attempts): (Option<String>, Option<String>, String, i32) =
        match &db.store {
            Store::Sqlite(p) => sqlx::query_as(
                "SELECT r.birth_date, r.gender, j.job_type, j.max_attempts FROM records r \
                 JOIN Jobs j ON j.id = r.job_id WHERE r.id = $1",
            )
            .bind(id)
            .fetch_one(p.pool())
            .await
            .unwrap(),
            Store::Postgres(p) => sqlx::query_as(
                "SELECT r.birth_date, r.gender, j.job_type, j.max_attempts FROM credverify.records r \
                 JOIN apalis.jobs j ON j.id = r.job_id WHERE r.id = $1",
            )
            .bind(id)
            .fetch_one(p.pool())
            .await
            .unwrap(),
        };
    format!(
        "candidate {:?} name {:?} masked {:?} birth {birth:?} gender {gender:?} kind {:?} \
         status {:?} claimed {} screenshot {} ref {:?} key {:?} job {job_type} × {attempts} \
         events {events:?}",
        r.candidate_id,
        r.candidate_name,
        r.id_number_masked,
        r.kind,
        r.status,
        serde_json::to_string(&r.claimed).unwrap(),
        r.has_screenshot,
        r.screenshot_ref,
        r.idempotency_key,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intake_in_rust_and_in_sql_accept_and_refuse_alike() {
    let Some((sqlite, pg)) = both().await else {
        return;
    };
    let mut accepted = 0;
    for (i, c) in cases().into_iter().enumerate() {
        // A candidate per case: the five-record limit is a case of its own.
        let c = Case {
            candidate_id: c.candidate_id.replace("c-conf", &format!("c-conf-{i}")),
            ..c
        };
        let rust = through_rust(&sqlite, &c).await;
        let sql = through_sql(&pg, &c).await;
        match (&rust, &sql) {
            (Answer::Accepted(a), Answer::Accepted(b)) => {
                accepted += 1;
                assert_eq!(
                    stored(&sqlite, *a).await,
                    stored(&pg, *b).await,
                    "{}: stored differently",
                    c.label
                );
            }
            _ => assert_eq!(rust, sql, "{}: Rust and SQL intake disagree", c.label),
        }
    }
    assert!(
        accepted >= 10,
        "the accepted cases were compared ({accepted})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_and_the_record_limit_agree() {
    let Some((sqlite, pg)) = both().await else {
        return;
    };
    let with_key = |fields: &'static str| Case {
        key: Some("k-same"),
        ..case("keyed", fields)
    };
    let other = r#"{"vcode": "B7K2M9QX4TB8R5WZ"}"#;

    // Rust: the same content twice is one record; other content is refused.
    let first = through_rust(&sqlite, &with_key(CODE)).await;
    let again = through_rust(&sqlite, &with_key(CODE)).await;
    assert_eq!(first, again);
    let new = NewRecord {
        idempotency_key: Some("k-same".into()),
        ..credverify_record(other)
    };
    let rust_reused = matches!(
        sqlite.store.submit(&new).await,
        Err(SubmitError::KeyReused { .. })
    );

    // SQL: the same, with `created` saying which call made the record.
    let call = |fields: &'static str| {
        sqlx::query_as::<_, (i64, bool)>(
            "SELECT record_id, created FROM credverify.submit('c-conf', '王晓雯', $1::jsonb, \
             p_idempotency_key => 'k-same')",
        )
        .bind(fields)
        .fetch_one(pg_pool(&pg))
    };
    let (id1, created1) = call(CODE).await.unwrap();
    let (id2, created2) = call(CODE).await.unwrap();
    assert_eq!((id1, created1, created2), (id2, true, false));
    let reused = call(other).await.expect_err("other content under the key");
    let sql_reused = reused.as_database_error().and_then(|d| d.code()).as_deref() == Some("CV003");
    assert_eq!(rust_reused, sql_reused);
    assert!(rust_reused, "other content under a used key is refused");

    // The limit: the sixth record of a candidate is refused, on both.
    let mut rust_answers = Vec::new();
    let mut sql_answers = Vec::new();
    for _ in 0..6 {
        let new = NewRecord {
            candidate_id: "c-limit".into(),
            ..credverify_record(CODE)
        };
        rust_answers.push(match sqlite.store.submit(&new).await {
            Ok(_) => "accepted".to_string(),
            Err(SubmitError::LimitReached { .. }) => "limit".into(),
            Err(e) => format!("{e:?}"),
        });
        let sql = sqlx::query_scalar::<_, i64>(
            "SELECT credverify.submit_record('c-limit', '王晓雯', $1::jsonb)",
        )
        .bind(CODE)
        .fetch_one(pg_pool(&pg))
        .await;
        sql_answers.push(match sql {
            Ok(_) => "accepted".to_string(),
            Err(e) if e.to_string().contains("record limit reached") => "limit".into(),
            Err(e) => e.to_string(),
        });
    }
    assert_eq!(rust_answers, sql_answers);
    assert_eq!(rust_answers[4..], ["accepted", "limit"]);
}

fn credverify_record(fields: &str) -> NewRecord {
    common::typed_record(
        "c-conf",
        "王晓雯",
        CredentialFields::from_manual_json(fields).unwrap(),
    )
}

// --- the status transition ----------------------------------------------------

fn report(certificate: &str) -> Report {
    let mut fields = CredentialFields::default();
    fields.set(Field::certificate_no, certificate);
    Report {
        kind: credverify::domain::Kind::Diploma,
        fields,
    }
}

/// One scripted run of transitions on `db`: each outcome, then what every
/// record holds. The Rust transition on SQLite and `credverify.decide` on
/// PostgreSQL must write the same story.
async fn decide_script(db: &TestDb) -> Vec<String> {
    let submit = |candidate: &str| {
        let new = NewRecord {
            candidate_id: candidate.into(),
            ..credverify_record(CODE)
        };
        let store = db.store.clone();
        async move { store.submit(&new).await.unwrap().record_id }
    };
    let a1 = submit("c-a").await;
    let a2 = submit("c-a").await;
    let b1 = submit("c-b").await;
    let b2 = submit("c-b").await;
    let job = |id: i64| async move {
        let sql = format!("SELECT job_id FROM records WHERE id = {id}");
        let job: String = match &db.store {
            Store::Sqlite(p) => {
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .fetch_one(p.pool())
                    .await
            }
            Store::Postgres(p) => {
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .fetch_one(p.pool())
                    .await
            }
        }
        .unwrap();
        job
    };
    let cert = "100141202105000123";
    let theirs = report(cert);
    let review = [credverify::domain::Reason::new(
        ReasonCode::parse("field_mismatch").expect("a reason code"),
    )];
    let (ja1, ja2, jb1) = (job(a1).await, job(a2).await, job(b1).await);

    let steps: Vec<(&str, Transition<'_>)> = vec![
        (
            "another job may not decide",
            Transition {
                record_id: a1,
                from: Status::Unverified,
                to: Status::Verified,
                job_id: Some("not-the-owner"),
                actor: "worker",
                reasons: &[],
                field_diffs: &[],
                report: Some(&theirs),
                note: None,
            },
        ),
        (
            "the owner verifies",
            Transition {
                job_id: Some(ja1.as_str()),
                report: Some(&theirs),
                ..plain(a1, Status::Unverified, Status::Verified)
            },
        ),
        (
            "delivered twice",
            Transition {
                job_id: Some(ja1.as_str()),
                report: Some(&theirs),
                ..plain(a1, Status::Unverified, Status::Verified)
            },
        ),
        (
            "another candidate, the same certificate",
            Transition {
                job_id: Some(jb1.as_str()),
                report: Some(&theirs),
                ..plain(b1, Status::Unverified, Status::Verified)
            },
        ),
        (
            "the same candidate, the same certificate",
            Transition {
                job_id: Some(ja2.as_str()),
                report: Some(&theirs),
                ..plain(a2, Status::Unverified, Status::Verified)
            },
        ),
        (
            "to review, keeping the report",
            Transition {
                reasons: &review,
                report: Some(&theirs),
                ..plain(b1, Status::Unverified, Status::NeedsReview)
            },
        ),
        (
            "an admin approves: the stored certificate is held by another",
            Transition {
                actor: "admin:li.na",
                note: Some("looked at it"),
                ..plain(b1, Status::NeedsReview, Status::Verified)
            },
        ),
        (
            "an admin rejects",
            Transition {
                actor: "admin:li.na",
                reasons: &review,
                ..plain(b1, Status::NeedsReview, Status::Rejected)
            },
        ),
        (
            "back to unverified for a new look",
            Transition {
                actor: "admin:li.na",
                ..plain(b1, Status::Rejected, Status::Unverified)
            },
        ),
        (
            "an admin approves a record with no certificate",
            Transition {
                actor: "admin:li.na",
                ..plain(b2, Status::Unverified, Status::Verified)
            },
        ),
        (
            "a record that does not exist",
            plain(987_654, Status::Unverified, Status::Verified),
        ),
    ];
    let mut story = Vec::new();
    for (label, t) in &steps {
        let outcome: TransitionOutcome = db.store.transition(t).await.unwrap();
        story.push(format!("{label}: {outcome:?}"));
    }
    for id in [a1, a2, b1, b2] {
        let r = db.store.record(id).await.unwrap().unwrap();
        let events: Vec<_> = db
            .store
            .events(id)
            .await
            .unwrap()
            .into_iter()
            .map(|e| {
                let reasons: Vec<_> = e.reasons.iter().map(|r| r.code).collect();
                (e.actor, e.from, e.to, reasons, e.note)
            })
            .collect();
        story.push(format!(
            "{} {:?}: reasons {:?} report {:?} attempts {} error {:?} exhausted {} events {events:?}",
            r.candidate_id,
            r.status,
            r.reasons.iter().map(|r| r.code).collect::<Vec<_>>(),
            r.authoritative
                .as_ref()
                .and_then(|a| a.fields.certificate_no.clone()),
            r.attempts,
            r.last_error,
            r.retries_exhausted,
        ));
    }
    story
}

fn plain(record_id: i64, from: Status, to: Status) -> Transition<'static> {
    Transition {
        record_id,
        from,
        to,
        job_id: None,
        actor: "worker",
        reasons: &[],
        field_diffs: &[],
        report: None,
        note: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decide_in_rust_and_in_sql_write_the_same_story() {
    let Some((sqlite, pg)) = both().await else {
        return;
    };
    let rust = decide_script(&sqlite).await;
    let sql = decide_script(&pg).await;
    for (r, s) in rust.iter().zip(&sql) {
        assert_eq!(r, s, "Rust (SQLite) and credverify.decide disagree");
    }
    assert_eq!(rust.len(), sql.len());
    // The script reaches every outcome, so agreeing means something.
    let all = rust.join("\n");
    for outcome in ["Applied", "Stale", "DuplicateCertificate"] {
        assert!(all.contains(outcome), "no {outcome} in:\n{all}");
    }
}
