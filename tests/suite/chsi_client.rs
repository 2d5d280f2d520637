//! The verification-service client against real HTTP servers (wiremock and
//! the sandbox): every page kind, every way the service can fail, and the
//! limits that keep a hostile answer from hurting the worker.

use crate::common;

use std::path::Path;
use std::time::{Duration, Instant};

use credverify::chsi::{ChsiClient, ChsiConfig, Page, Transient, parse_page};
use credverify::domain::{Field, Kind, VerificationCode};
use credverify::verdict::Lookup;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn fixture(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/chsi")
            .join(name),
    )
    .unwrap()
}

fn code() -> VerificationCode {
    VerificationCode::parse("A7K2M9QX4TB8R5WZ").unwrap()
}

fn client(base: &str, tweak: impl FnOnce(&mut ChsiConfig)) -> std::sync::Arc<ChsiClient> {
    let mut c = ChsiConfig {
        base_url: base.into(),
        rate_per_second: 0.0,
        timeout: Duration::from_secs(2),
        back_off: Duration::ZERO,
        user_agent: "credverify-test (ops@example.invalid)".into(),
        // Plain HTTP: the browser fetcher has its own tests (front_door.rs).
        fetch: credverify::chsi::FetchMode::Http,
        ..ChsiConfig::default()
    };
    tweak(&mut c);
    ChsiClient::new(c).unwrap()
}

fn outcome(page: &Page) -> &'static str {
    match page {
        Page::Report { report, .. } => match report.kind {
            Kind::Diploma => "diploma",
            Kind::Degree => "degree",
            Kind::Enrollment => "enrollment",
        },
        Page::Invalid => "invalid",
        Page::Expired => "expired",
        Page::Closed => "closed",
        Page::Captcha => "captcha",
        Page::RateLimited => "rate_limited",
        Page::Maintenance => "maintenance",
        Page::ServiceError => "service_error",
        Page::FrontDoor => "front_door",
        Page::Unrecognised(_) => "unrecognised",
    }
}

#[test]
fn every_page_fixture_reads_as_its_outcome() {
    let cases = [
        ("report_diploma.html", "diploma"),
        ("report_diploma_variant.html", "diploma"),
        ("report_degree.html", "degree"),
        ("report_degree_partial.html", "degree"),
        ("report_garbled_date.html", "diploma"),
        ("invalid.html", "invalid"),
        ("illegal.html", "invalid"),
        ("expired.html", "expired"),
        ("closed.html", "closed"),
        ("captcha.html", "captcha"),
        ("maintenance.html", "maintenance"),
        ("service_error.html", "service_error"),
        ("rate_limited.html", "rate_limited"),
        ("report_diploma_table_variant.html", "diploma"),
        ("report_diploma_old.html", "diploma"),
        ("report_diploma_inline.html", "diploma"),
        ("report_enrollment_table.html", "enrollment"),
        ("login.html", "unrecognised"),
        ("heading_only.html", "unrecognised"),
    ];
    for (file, expected) in cases {
        assert_eq!(outcome(&parse_page(&fixture(file))), expected, "{file}");
    }
}

#[test]
fn markup_variants_read_the_same_fields() {
    let Page::Report {
        report: plain,
        vcode: v1,
        ..
    } = parse_page(&fixture("report_diploma.html"))
    else {
        panic!()
    };
    let Page::Report {
        report: variant,
        vcode: v2,
        unreadable,
        ..
    } = parse_page(&fixture("report_diploma_variant.html"))
    else {
        panic!()
    };
    assert!(unreadable.is_empty());
    assert_eq!(v1.as_deref(), Some("A7K2M9QX4TB8R5WZ"));
    assert_eq!(v1, v2, "grouped code is joined");
    for f in [
        Field::name,
        Field::gender,
        Field::birth_date,
        Field::graduation_date,
        Field::school,
        Field::major,
        Field::duration,
        Field::level,
        Field::completion,
        Field::certificate_no,
        Field::principal,
    ] {
        assert_eq!(plain.fields.get(f), variant.fields.get(f), "{f}");
        assert!(plain.fields.get(f).is_some(), "{f}");
    }
    // Fields the variant page does not show are absent, not invented.
    assert_eq!(variant.fields.category, None);
    assert_eq!(plain.fields.category.as_deref(), Some("普通高等教育"));
}

/// The same report in every markup generation the service has used (and
/// the variants the fixtures add) reads to the same fields.
#[test]
fn every_markup_generation_reads_the_same_fields() {
    let Page::Report { report: card, .. } = parse_page(&fixture("report_diploma.html")) else {
        panic!()
    };
    for file in [
        "report_diploma_table_variant.html",
        "report_diploma_old.html",
        "report_diploma_inline.html",
    ] {
        let Page::Report {
            report,
            vcode,
            unreadable,
            drawn,
            ..
        } = parse_page(&fixture(file))
        else {
            panic!("{file}")
        };
        assert!(unreadable.is_empty() && drawn.is_empty(), "{file}");
        assert_eq!(vcode.as_deref(), Some("A7K2M9QX4TB8R5WZ"), "{file}");
        for (f, v) in report.fields.iter() {
            if f != Field::vcode {
                assert_eq!(card.fields.get(f), Some(v), "{file}: {f}");
            }
        }
        let read = report.fields.iter().count();
        assert!(read >= 8, "{file}: only {read} fields");
    }
}

#[test]
fn an_enrollment_report_in_the_table_markup_reads_its_odd_rows() {
    let Page::Report {
        report,
        vcode,
        unreadable,
        ..
    } = parse_page(&fixture("report_enrollment_table.html"))
    else {
        panic!()
    };
    assert!(unreadable.is_empty(), "{unreadable:?}");
    assert_eq!(vcode.as_deref(), Some("A3HN8XK2PQ7ZT4BD"));
    let f = &report.fields;
    assert_eq!(report.kind, Kind::Enrollment);
    assert_eq!(f.name.as_deref(), Some("许嘉怡"));
    assert_eq!(f.school.as_deref(), Some("江西护理职业技术学院"));
    assert_eq!(f.student_no.as_deref(), Some("2023010217"));
    assert_eq!(f.duration.as_deref(), Some("2.5"));
    assert_eq!(f.id_number_masked.as_deref(), Some("3601**********0024"));
    assert_eq!(
        (f.department.as_deref(), f.class_name.as_deref()),
        (None, None)
    );
    assert_eq!(f.expected_graduation_date.as_deref(), Some("2025-01-01"));
    assert!(
        f.enrollment_status
            .as_deref()
            .unwrap()
            .starts_with("注册学籍")
    );
}

#[test]
fn a_degree_report_reads_its_own_labels() {
    let Page::Report { report, .. } = parse_page(&fixture("report_degree.html")) else {
        panic!()
    };
    assert_eq!(report.fields.name.as_deref(), Some("阿依古丽·买买提"));
    assert_eq!(report.fields.degree_date.as_deref(), Some("2021-06-25"));
    assert_eq!(report.fields.discipline.as_deref(), Some("护理学"));
    assert_eq!(
        report.fields.certificate_no.as_deref(),
        Some("1076042021000387")
    );
    assert_eq!(
        report.fields.major, None,
        "学科/专业 is the discipline, not a diploma major"
    );
    let Page::Report {
        report, unreadable, ..
    } = parse_page(&fixture("report_degree_partial.html"))
    else {
        panic!()
    };
    assert!(unreadable.is_empty());
    assert_eq!(
        (
            report.fields.gender.as_deref(),
            report.fields.birth_date.as_deref()
        ),
        (None, None)
    );
    let Page::Report {
        report, unreadable, ..
    } = parse_page(&fixture("report_garbled_date.html"))
    else {
        panic!()
    };
    assert_eq!(unreadable, vec![Field::birth_date]);
    assert_eq!(report.fields.birth_date, None);
}

/// The reference pages beside the project, where a machine has them; the
/// fixtures above are this project's own and always run.
#[test]
fn reference_pages_read_as_documented() {
    let Some(dir) = common::beside_the_project("chsi") else {
        return;
    };
    let cases = [
        ("report_diploma.html", "diploma"),
        ("report_degree.html", "degree"),
        ("invalid.html", "invalid"),
        ("illegal.html", "invalid"),
        ("expired.html", "expired"),
        ("closed.html", "closed"),
        ("captcha.html", "captcha"),
        ("report_diploma_table.html", "diploma"),
        ("report_enrollment.html", "enrollment"),
        ("rate_limited.html", "rate_limited"),
        ("front_door.html", "front_door"),
        ("maintenance.html", "maintenance"),
    ];
    for (file, expected) in cases {
        let html = std::fs::read_to_string(dir.join(file)).unwrap();
        assert_eq!(outcome(&parse_page(&html)), expected, "{file}");
    }
}

#[test]
fn hostile_pages_never_panic() {
    let nested = format!(
        "{}在线验证{}",
        "<div>".repeat(100_000),
        "</div>".repeat(100_000)
    );
    let script_only = "<script>".to_string() + &"document.write('x');".repeat(10_000) + "</script>";
    let binary: String = (0..20_000u32)
        .map(|i| char::from_u32(i % 0xD000).unwrap_or('x'))
        .collect();
    // Just under the tag cap: parsed, and must still come back.
    let nested_under_cap = format!(
        "{}在线验证{}",
        "<div>".repeat(9_000),
        "</div>".repeat(9_000)
    );
    for html in [
        nested,
        nested_under_cap,
        binary,
        String::new(),
        "<".repeat(100_000),
    ] {
        assert_eq!(outcome(&parse_page(&html)), "unrecognised");
    }
    assert_eq!(outcome(&parse_page(&script_only)), "front_door");
}

async fn serve(template: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/xlcx/bg.do"))
        .respond_with(template)
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn request_carries_the_code_source_and_operator() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/xlcx/bg.do"))
        .and(query_param("vcode", "A7K2M9QX4TB8R5WZ"))
        .and(query_param("srcid", "bgcx"))
        .and(header(
            "user-agent",
            "credverify-test (ops@example.invalid)",
        ))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(fixture("report_diploma.html"), "text/html; charset=utf-8"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let answer = client(&server.uri(), |_| {}).lookup(&code()).await.unwrap();
    let Lookup::Found(report) = answer.lookup else {
        panic!("{:?}", answer.lookup)
    };
    assert_eq!(report.fields.school.as_deref(), Some("南京中医药大学"));
}

#[tokio::test]
async fn definite_answers_are_not_transient() {
    for (file, expected) in [
        ("invalid.html", Lookup::Invalid),
        ("expired.html", Lookup::Expired),
        ("closed.html", Lookup::Closed),
    ] {
        let server =
            serve(ResponseTemplate::new(200).set_body_raw(fixture(file), "text/html")).await;
        let answer = client(&server.uri(), |_| {}).lookup(&code()).await.unwrap();
        assert_eq!(answer.lookup, expected, "{file}");
    }
}

#[tokio::test]
async fn service_failures_are_transient() {
    let cases: Vec<(ResponseTemplate, &str)> = vec![
        (
            ResponseTemplate::new(200).set_body_raw(fixture("captcha.html"), "text/html"),
            "captcha",
        ),
        (ResponseTemplate::new(429), "rate_limited"),
        (ResponseTemplate::new(500), "server_error"),
        (
            ResponseTemplate::new(503).set_body_string("busy"),
            "server_error",
        ),
        (ResponseTemplate::new(404), "unexpected_status"),
        (
            ResponseTemplate::new(200).set_body_raw(fixture("maintenance.html"), "text/html"),
            "maintenance",
        ),
        (
            ResponseTemplate::new(200).set_body_raw(fixture("service_error.html"), "text/html"),
            "service_error_page",
        ),
        (
            ResponseTemplate::new(412)
                .set_body_raw("<script>location.reload()</script>", "text/html"),
            "front_door",
        ),
        (
            ResponseTemplate::new(200)
                .set_body_raw(vec![0xff, 0xfe, 0x00, 0x13, 0x37], "text/html"),
            "unrecognised_page",
        ),
        (ResponseTemplate::new(200), "unrecognised_page"),
    ];
    for (template, kind) in cases {
        let server = serve(template).await;
        let err = client(&server.uri(), |_| {})
            .lookup(&code())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), kind, "{err}");
    }
}

#[tokio::test]
async fn a_slow_service_times_out_as_transient() {
    let server = serve(
        ResponseTemplate::new(200)
            .set_delay(Duration::from_secs(5))
            .set_body_string("late"),
    )
    .await;
    // The answer would come after 5 s: a timeout error is the client giving
    // up before it, by its own timeout. The outer bound is for a hang.
    let c = client(&server.uri(), |c| c.timeout = Duration::from_millis(300));
    let err = tokio::time::timeout(Duration::from_secs(60), c.lookup(&code()))
        .await
        .expect("the lookup does not hang")
        .unwrap_err();
    assert_eq!(err, Transient::Timeout);
}

#[tokio::test]
async fn an_unreachable_service_is_transient_and_the_error_hides_the_code() {
    let err = client(&format!("http://{}", common::free_addr()), |_| {})
        .lookup(&code())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "connection");
    assert!(!err.to_string().contains("A7K2M9QX4TB8R5WZ"), "{err}");
}

#[tokio::test]
async fn a_huge_body_is_cut_off() {
    let body = vec![b'<'; 50 * 1024 * 1024];
    let server = serve(ResponseTemplate::new(200).set_body_raw(body, "text/html")).await;
    let err = client(&server.uri(), |c| c.max_body_bytes = 1024 * 1024)
        .lookup(&code())
        .await
        .unwrap_err();
    assert_eq!(err, Transient::BodyTooLarge(1024 * 1024));
}

#[tokio::test]
async fn a_gbk_page_is_read_by_its_charset() {
    let page = fixture("expired.html").replace("utf-8", "gbk");
    let (bytes, _, _) = encoding_rs::GBK.encode(&page);
    let server = serve(
        ResponseTemplate::new(200).set_body_raw(bytes.into_owned(), "text/html; charset=GBK"),
    )
    .await;
    let answer = client(&server.uri(), |_| {}).lookup(&code()).await.unwrap();
    assert_eq!(answer.lookup, Lookup::Expired);
}

#[tokio::test]
async fn cookies_from_the_service_are_sent_back() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/xlcx/bg.do"))
        .and(header("cookie", "JSESSIONID=abc123"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(fixture("invalid.html"), "text/html"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/xlcx/bg.do"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("set-cookie", "JSESSIONID=abc123; Path=/")
                .set_body_raw(fixture("captcha.html"), "text/html"),
        )
        .mount(&server)
        .await;
    let c = client(&server.uri(), |_| {});
    assert_eq!(c.lookup(&code()).await.unwrap_err(), Transient::Captcha);
    assert_eq!(
        c.lookup(&code()).await.unwrap().lookup,
        Lookup::Invalid,
        "second request carried the session cookie"
    );
}

#[tokio::test]
async fn one_rate_limit_spaces_every_request_of_the_process() {
    let server =
        serve(ResponseTemplate::new(200).set_body_raw(fixture("invalid.html"), "text/html")).await;
    let c = client(&server.uri(), |c| c.rate_per_second = 5.0);
    let start = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..6 {
        let c = c.clone();
        handles.push(tokio::spawn(
            async move { c.lookup(&code()).await.unwrap() },
        ));
    }
    for h in handles {
        h.await.unwrap();
    }
    // Six requests at 5/s: the last may start no earlier than 1 s in.
    assert!(
        start.elapsed() >= Duration::from_millis(1000),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn push_back_slows_the_next_request() {
    let server = serve(ResponseTemplate::new(429)).await;
    let c = client(&server.uri(), |c| c.back_off = Duration::from_millis(800));
    assert_eq!(c.lookup(&code()).await.unwrap_err(), Transient::RateLimited);
    let start = Instant::now();
    let _ = c.lookup(&code()).await;
    assert!(
        start.elapsed() >= Duration::from_millis(700),
        "{:?}",
        start.elapsed()
    );
}

/// `您访问系统过于频繁` is the service asking us to slow down, like a 429:
/// every request of the process waits, not just the job that saw it.
#[tokio::test]
async fn a_too_frequent_page_slows_every_request_of_the_process() {
    let server =
        serve(ResponseTemplate::new(200).set_body_raw(fixture("rate_limited.html"), "text/html"))
            .await;
    let c = client(&server.uri(), |c| c.back_off = Duration::from_millis(800));
    let err = c.lookup(&code()).await.unwrap_err();
    assert_eq!(err, Transient::RateLimitedPage);
    let start = Instant::now();
    let other = c.clone();
    let _ = tokio::spawn(async move { other.lookup(&code()).await })
        .await
        .unwrap();
    assert!(
        start.elapsed() >= Duration::from_millis(700),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn the_sandbox_speaks_the_same_format() {
    let (_sb, url) = common::sandbox().await;
    let c = client(&url, |_| {});
    let found = c.lookup(&code()).await.unwrap();
    let Lookup::Found(report) = found.lookup else {
        panic!()
    };
    assert_eq!(
        report.fields.certificate_no.as_deref(),
        Some("103151202105001234")
    );
    assert_eq!(report.fields.graduation_date.as_deref(), Some("2021-06-30"));
    assert_eq!(report.fields.duration.as_deref(), Some("4"));
    for (code, expected) in [
        ("K5RT8WQ2MZ7NXE3B", Lookup::Expired),
        ("P9DW4HF6JS2LQ8VC", Lookup::Closed),
        ("X7T2K9Q4M8B5Z3WN", Lookup::Invalid),
    ] {
        let answer = c
            .lookup(&VerificationCode::parse(code).unwrap())
            .await
            .unwrap();
        assert_eq!(answer.lookup, expected, "{code}");
    }
}
