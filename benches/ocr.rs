//! Throughput and accuracy of the OCR pipeline with 1 and 2 engine threads,
//! against the `tesseract` command-line tool (chi_sim, PSM 6, OMP_THREAD_LIMIT=1,
//! TSV fed to the same parser) over the same fixtures with the same
//! parallelism. Several runs each, median reported, as a markdown table.
//!
//! `cargo bench --bench ocr`; `BENCH_RUNS=N` (default 3) runs per
//! configuration, `BENCH_LIMIT=N` to use only the first N fixtures,
//! `BENCH_DIR=DIR` to read another set of screenshots (NAME.png|jpg +
//! NAME.json), `BENCH_TEXT_HEIGHTS=0,24,28` to compare, instead, the pool
//! (1 thread) with pages scaled to each text height (0: as uploaded).

#[path = "../tests/suite/common/fixtures.rs"]
// Shared with the tests; a bench uses only part of it.
#[allow(dead_code)]
mod fixtures;

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use credverify::ocr::line_reader::LineReaderDir;
use credverify::ocr::{OcrConfig, OcrPool, tsv};
use credverify::parse::{self, Codes, ParsedScreenshot};
use fixtures::{Fixture, Tally, VERDICT_FIELDS};

/// The CLI's page segmentation: 6 (one block), as the library uses. Its
/// default, 3, split the layouts into columns and dropped lines.
const CLI_PSM: &str = "6";

struct Outcome {
    per_second: Vec<f64>,
    tally: Tally,
}

fn env_usize(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(0.0, |pages| pages * 4096.0 / (1024.0 * 1024.0))
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    s[s.len() / 2]
}

/// The second line reader from `.line-reader/` (scripts/fetch-line-reader),
/// as a worker started in the repository uses it; `BENCH_NO_LINE_READER=1`
/// leaves it out.
fn line_reader() -> Option<LineReaderDir> {
    if std::env::var_os("BENCH_NO_LINE_READER").is_some() {
        return None;
    }
    LineReaderDir::open(Path::new(env!("CARGO_MANIFEST_DIR")).join(".line-reader")).ok()
}

fn ours(threads: usize, fx: &[Fixture], runs: usize) -> Outcome {
    ours_with(
        OcrConfig {
            threads,
            line_reader: line_reader(),
            ..OcrConfig::default()
        },
        fx,
        runs,
    )
}

fn tesseract_only(threads: usize, fx: &[Fixture], runs: usize) -> Outcome {
    ours_with(
        OcrConfig {
            threads,
            ..OcrConfig::default()
        },
        fx,
        runs,
    )
}

fn ours_with(config: OcrConfig, fx: &[Fixture], runs: usize) -> Outcome {
    let threads = config.threads;
    let before = rss_mib();
    let t = Instant::now();
    let pool = OcrPool::new(config).expect("Tesseract with chi_sim");
    println!(
        "ours, {threads} thread(s): start {:.2} s, +{:.0} MiB resident for {threads} engine pair(s)",
        t.elapsed().as_secs_f64(),
        rss_mib() - before
    );
    let images: Vec<Vec<u8>> = fx
        .iter()
        .map(|f| std::fs::read(&f.image).expect("fixture"))
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mut per_second = Vec::new();
    let mut tally = Tally::default();
    for _ in 0..runs {
        let start = Instant::now();
        let results = rt.block_on(futures::future::join_all(
            images.iter().map(|b| pool.read_screenshot(b.clone())),
        ));
        per_second.push(fx.len() as f64 / start.elapsed().as_secs_f64());
        tally = Tally::default();
        for (f, r) in fx.iter().zip(results) {
            tally.add(f, &fixtures::flat(&r.unwrap_or_default()));
        }
    }
    println!(
        "  resident after reading: {:.0} MiB (process, {threads} thread(s))",
        rss_mib()
    );
    let st = pool.stage_times();
    let n = st.images.max(1) as f64;
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0 / n;
    println!(
        "  per image: decode {:.0} ms, preprocess {:.0} ms, recognise {:.0} ms, parse {:.0} ms (of which {:.1} second reads {:.0} ms)",
        ms(st.decode),
        ms(st.preprocess),
        ms(st.recognize),
        ms(st.parse),
        st.rereads as f64 / n,
        ms(st.reread)
    );
    if st.line_reads > 0 {
        println!(
            "  second line reader: {:.1} lines per image, {:.0} ms per line",
            st.line_reads as f64 / n,
            st.line_read.as_secs_f64() * 1000.0 / st.line_reads as f64
        );
    }
    pool.shutdown();
    Outcome { per_second, tally }
}

fn cli_read(f: &Fixture) -> ParsedScreenshot {
    let out = Command::new("tesseract")
        .arg(&f.image)
        .args(["stdout", "-l", "chi_sim", "--psm", CLI_PSM, "tsv"])
        .env("OMP_THREAD_LIMIT", "1")
        .output();
    let Ok(out) = out else {
        return ParsedScreenshot::default();
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let (w, h) = image::image_dimensions(&f.image).unwrap_or((0, 0));
    let page = tsv::parse(&text, w as i32, h as i32);
    // The CLI gives no second reads: its codes are taken as read.
    parse::parse_page(&page, Codes::SingleRead)
}

fn cli(threads: usize, fx: &[Fixture], runs: usize) -> Outcome {
    let mut per_second = Vec::new();
    let mut tally = Tally::default();
    for _ in 0..runs {
        let next = AtomicUsize::new(0);
        let results: Mutex<Vec<(usize, ParsedScreenshot)>> = Mutex::new(Vec::new());
        let start = Instant::now();
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(f) = fx.get(i) else { break };
                        let p = cli_read(f);
                        if let Ok(mut r) = results.lock() {
                            r.push((i, p));
                        }
                    }
                });
            }
        });
        per_second.push(fx.len() as f64 / start.elapsed().as_secs_f64());
        tally = Tally::default();
        let mut r = results.into_inner().unwrap_or_default();
        r.sort_by_key(|(i, _)| *i);
        for (i, p) in r {
            tally.add(&fx[i], &fixtures::flat(&p));
        }
    }
    Outcome { per_second, tally }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // BENCH_DIR: another set of NAME.png|jpg + NAME.json, e.g. full-size
    // phone and desktop screenshots.
    let dir = std::env::var("BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| root.join("fixtures/screenshots"));
    let mut fx = fixtures::load(&dir);
    if fx.is_empty() {
        fx = fixtures::load(&root.join("../shared/samples"));
    }
    fx.truncate(env_usize("BENCH_LIMIT", fx.len()));
    let runs = env_usize("BENCH_RUNS", 3).max(1);
    println!("{} images, {runs} run(s) per configuration\n", fx.len());

    if let Ok(heights) = std::env::var("BENCH_TEXT_HEIGHTS") {
        // The preprocessing's one speed/accuracy knob: the text height pages
        // are scaled to (0: as uploaded), the same pool (second reader
        // included) otherwise.
        println!(
            "\n| text height | images/s, 1 thread (median) | verdict fields | names right / wrong | vcode right / wrong |\n|---|---|---|---|---|"
        );
        for h in heights
            .split(',')
            .filter_map(|h| h.trim().parse::<u32>().ok())
        {
            let mut config = OcrConfig {
                threads: 1,
                line_reader: line_reader(),
                ..OcrConfig::default()
            };
            config.preprocess.text_height = h;
            let o = ours_with(config, &fx, runs);
            let (name, vcode) = (o.tally.key("name"), o.tally.key("vcode"));
            println!(
                "| {} | {:.2} | {:.2}% | {} / {} | {} / {} |",
                if h == 0 {
                    "as uploaded".to_string()
                } else {
                    format!("{h} px")
                },
                median(&o.per_second),
                o.tally.total(Some(&VERDICT_FIELDS)).accuracy() * 100.0,
                name.right,
                name.wrong,
                vcode.right,
                vcode.wrong,
            );
        }
        return;
    }
    let with = if line_reader().is_some() {
        "with the second line reader"
    } else {
        "Tesseract only (no .line-reader/)"
    };
    println!("ours: {with}");
    let rows = [
        ("credverify pool, 1 thread", ours(1, &fx, runs)),
        ("credverify pool, 2 threads", ours(2, &fx, runs)),
        ("tesseract CLI, 1 process at a time", cli(1, &fx, runs)),
        ("tesseract CLI, 2 processes at a time", cli(2, &fx, runs)),
        (
            "credverify pool, 2 threads, Tesseract only",
            tesseract_only(2, &fx, runs),
        ),
    ];
    println!(
        "\n| configuration | images/s (median) | runs | verdict fields | all fields | wrong vcode / cert |"
    );
    println!("|---|---|---|---|---|---|");
    for (name, o) in &rows {
        let v = o.tally.total(Some(&VERDICT_FIELDS));
        let a = o.tally.total(None);
        println!(
            "| {name} | {:.2} | {} | {:.1}% | {:.1}% | {} / {} |",
            median(&o.per_second),
            o.per_second
                .iter()
                .map(|x| format!("{x:.2}"))
                .collect::<Vec<_>>()
                .join(", "),
            v.accuracy() * 100.0,
            a.accuracy() * 100.0,
            o.tally.key("vcode").wrong,
            o.tally.key("certificate_no").wrong,
        );
    }
    let m = |i: usize| median(&rows[i].1.per_second);
    println!(
        "\nours 2 threads / CLI 2 processes: {:.2}×; ours 2 threads / 1 thread: {:.2}×; ours 1 / CLI 1: {:.2}×",
        m(1) / m(3),
        m(1) / m(0),
        m(0) / m(2)
    );
    println!(
        "Tesseract only, 2 threads / CLI 2 processes: {:.2}×",
        m(4) / m(3)
    );
    for (name, o) in &rows {
        println!("\n### {name}\n\n{}", o.tally.render());
    }
}
