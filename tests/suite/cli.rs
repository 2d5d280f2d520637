//! The binary as admins and scripts use it: exit codes, messages that name
//! the field or the candidate, JSON that round-trips.

use crate::common;

use std::process::Output;

use common::{TestDb, bin};

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

async fn sixth_submit_is_refused(db: &TestDb) {
    let submit = [
        "submit",
        "--candidate",
        "c-cli",
        "--name",
        "王晓雯",
        "--vcode",
        "A7K2M9QX4TB8R5WZ",
    ];
    for i in 0..5 {
        let o = common::run_cli(db, &submit);
        assert_eq!(o.status.code(), Some(0), "submit {i}: {}", stderr(&o));
        let id: i64 = String::from_utf8_lossy(&o.stdout)
            .trim()
            .parse()
            .expect("prints the record id");
        assert!(id > 0);
    }
    let o = common::run_cli(db, &submit);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let msg = stderr(&o);
    assert!(
        msg.contains("c-cli") && msg.contains('5'),
        "names the candidate and the limit: {msg}"
    );
    assert!(o.stdout.is_empty());
    assert_eq!(
        db.store.count_for_candidate("c-cli").await.unwrap(),
        5,
        "nothing was written"
    );
}
on_both_backends!(
    sixth_submit_exits_3_and_writes_nothing,
    sixth_submit_is_refused
);

async fn invalid_input_names_the_field(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, body: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, body).unwrap();
        p.display().to_string()
    };
    let unknown = write(
        "unknown.json",
        r#"{"vcode":"A7K2M9QX4TB8R5WZ","colour":"red"}"#,
    );
    let bad_date = write(
        "date.json",
        r#"{"vcode":"A7K2M9QX4TB8R5WZ","graduation_date":"2021-02-30"}"#,
    );
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--name", "王晓雯", "--fields", &unknown], "colour"),
        (vec!["--name", "王晓雯", "--vcode", "A7K2-M9QX"], "vcode"),
        (
            vec!["--name", "王晓雯", "--fields", &bad_date],
            "graduation_date",
        ),
        (vec!["--name", "  ", "--vcode", "A7K2M9QX4TB8R5WZ"], "name"),
        (
            vec![
                "--name",
                "王晓雯",
                "--vcode",
                "A7K2M9QX4TB8R5WZ",
                "--id-number",
                "110105199904180028",
            ],
            "id_number",
        ),
        (vec!["--name", "王晓雯"], "vcode"),
    ];
    for (args, field) in cases {
        let mut all = vec!["submit", "--candidate", "c-bad"];
        all.extend(args.iter());
        let o = common::run_cli(db, &all);
        assert_eq!(o.status.code(), Some(2), "{all:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(field),
            "{all:?} should name `{field}`: {}",
            stderr(&o)
        );
    }
    assert_eq!(db.store.count_for_candidate("c-bad").await.unwrap(), 0);
}
on_both_backends!(
    invalid_input_exits_2_naming_the_field,
    invalid_input_names_the_field
);

async fn show_json_round_trips(db: &TestDb) {
    let o = common::run_cli(
        db,
        &[
            "submit",
            "--candidate",
            "c-show",
            "--name",
            "王晓雯",
            "--vcode",
            "A7K2M9QX4TB8R5WZ",
            "--json",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let submitted: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let id = submitted["record_id"].as_i64().unwrap();
    let doc = common::cli_json(db, &["show", &id.to_string(), "--json"]);
    let record: credverify::store::RecordView =
        serde_json::from_value(doc["record"].clone()).unwrap();
    let events: Vec<credverify::store::EventView> =
        serde_json::from_value(doc["events"].clone()).unwrap();
    assert_eq!(record.id, id);
    assert_eq!(record.status, credverify::domain::Status::Unverified);
    assert_eq!(doc["record"]["status_zh"], "未核验");
    assert_eq!(record.claimed.vcode.as_deref(), Some("A7K2M9QX4TB8R5WZ"));
    assert_eq!(events.len(), 1);
    assert_eq!(
        serde_json::to_value(&record).unwrap(),
        doc["record"],
        "stable document"
    );

    let o = common::run_cli(db, &["show", "999999"]);
    assert_eq!(o.status.code(), Some(4), "not found exits 4");
    assert!(
        stderr(&o).contains("999999") && stderr(&o).contains("hint"),
        "{}",
        stderr(&o)
    );

    let listed = common::cli_json(db, &["list", "--candidate", "c-show", "--json"]);
    let listed = listed.as_array().expect("a JSON array");
    assert_eq!(listed.len(), 1);
    let listed = common::cli_json(db, &["list", "--status", "verified", "--json"]);
    let listed = listed.as_array().expect("a JSON array");
    assert!(listed.is_empty());
}
on_both_backends!(
    show_json_round_trips_and_list_filters,
    show_json_round_trips
);

#[test]
fn demo_verifies_the_bundled_records_as_documented() {
    let o = bin().arg("demo").output().expect("run demo");
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!out.contains("unexpected"), "{out}");
    for needle in [
        "vcode_invalid",
        "report_expired",
        "report_closed",
        "holder_mismatch",
        "field_mismatch",
        "kind_mismatch",
        "duplicate_certificate",
        "name_near_match",
        "after 2 transient",
    ] {
        assert!(out.contains(needle), "demo output lacks {needle}:\n{out}");
    }
}

#[test]
fn help_explains_every_command_with_an_example() {
    for cmd in ["submit", "worker", "show", "list", "sandbox"] {
        let o = bin().args([cmd, "--help"]).output().unwrap();
        let text = String::from_utf8_lossy(&o.stdout);
        assert_eq!(o.status.code(), Some(0));
        assert!(
            text.contains("Example"),
            "{cmd} --help has no example:\n{text}"
        );
    }
    let o = bin().args(["submit", "--no-such-flag"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "usage errors exit 2");
}

/// One exit code per situation, whatever the command (README "Using it"):
/// a record that does not exist is 4 everywhere; bad input 2; a rule 3.
async fn exit_codes_agree(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.png");
    let out = out.to_str().unwrap();
    for args in [
        vec!["show", "999999"],
        vec!["screenshot", "999999", "-o", out],
        vec!["page", "999999"],
        vec!["rerun", "--record", "999999"],
        vec!["withdraw", "999999", "--candidate", "c-none"],
    ] {
        let o = common::run_cli(db, &args);
        assert_eq!(o.status.code(), Some(4), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("999999"), "{args:?}: {}", stderr(&o));
    }
    // A typed record has no screenshot: not found either.
    let o = common::run_cli(
        db,
        &[
            "submit",
            "--candidate",
            "c-codes",
            "--name",
            "王晓雯",
            "--vcode",
            "A7K2M9QX4TB8R5WZ",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let id = String::from_utf8_lossy(&o.stdout)
        .split(|c: char| !c.is_ascii_digit())
        .find(|w| !w.is_empty())
        .expect("the record id")
        .to_string();
    let o = common::run_cli(db, &["screenshot", &id, "-o", out]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    let o = common::run_cli(db, &["show", "not-a-number"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    // An unreachable database is our side: 1, the cause printed once.
    let o = bin()
        .args([
            "--database-url",
            "sqlite:///nonexistent-credverify-dir/x.db",
            "show",
            "1",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let text = stderr(&o);
    let first = text
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_default();
    let words: Vec<&str> = first.split(": ").collect();
    let mut seen = std::collections::HashSet::new();
    assert!(
        words.iter().all(|w| seen.insert(*w)),
        "a cause printed twice: {first}"
    );
}
on_both_backends!(
    every_command_exits_with_the_code_of_its_situation,
    exit_codes_agree
);
