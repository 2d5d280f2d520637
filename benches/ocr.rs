//! Throughput and accuracy of the OCR pipeline with 1 and 2 engine threads,
//! against the `tesseract` command-line tool (chi_sim, PSM 6, OMP_THREAD_LIMIT=1,
//! TSV fed to the same parser) over the same fixtures with the same
//! parallelism. Several runs each, median reported, as a markdown table:
//! images per second by the clock and per second of processor time (the
//! latter holds when other tenants share the host). The configurations take
//! turns, one run each per round, so a drift in the host's speed is shared.
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

#[derive(Default)]
struct Outcome {
    per_second: Vec<f64>,
    /// Images per second of processor time (user + system), this process
    /// and the `tesseract` processes it ran. Unlike the clock, it does not
    /// count time the host gave to others, so it holds on a noisy machine.
    per_cpu_second: Vec<f64>,
    tally: Tally,
}

/// Processor time, user and system, of this process and of its children
/// that have ended, in seconds.
fn processor_seconds() -> f64 {
    fn of(who: libc::c_int) -> f64 {
        // SAFETY: getrusage fills the one struct it is given; zeroes are a
        // valid rusage.
        let mut u: libc::rusage = unsafe { std::mem::zeroed() };
        if unsafe { libc::getrusage(who, &mut u) } != 0 {
            return 0.0;
        }
        let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        secs(u.ru_utime) + secs(u.ru_stime)
    }
    of(libc::RUSAGE_SELF) + of(libc::RUSAGE_CHILDREN)
}

/// One timed run: images per second by the clock and per processor-second.
struct Stopwatch {
    wall: Instant,
    cpu: f64,
}

impl Stopwatch {
    fn start() -> Stopwatch {
        Stopwatch {
            wall: Instant::now(),
            cpu: processor_seconds(),
        }
    }

    fn record(&self, images: usize, o: &mut Outcome) {
        let n = images as f64;
        o.per_second.push(n / self.wall.elapsed().as_secs_f64());
        o.per_cpu_second
            .push(n / (processor_seconds() - self.cpu).max(f64::MIN_POSITIVE));
    }
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

/// The engine pool under test, with its own screenshots in memory.
struct Ours {
    pool: OcrPool,
    threads: usize,
    images: Vec<Vec<u8>>,
    rt: tokio::runtime::Runtime,
}

impl Ours {
    /// A pool as the worker starts one; `line_reader: false` is Tesseract
    /// alone.
    fn start(threads: usize, line_reader: bool, fx: &[Fixture]) -> Ours {
        Ours::with(
            OcrConfig {
                threads,
                line_reader: if line_reader {
                    self::line_reader()
                } else {
                    None
                },
                ..OcrConfig::default()
            },
            fx,
        )
    }

    fn with(config: OcrConfig, fx: &[Fixture]) -> Ours {
        let threads = config.threads;
        let before = rss_mib();
        let t = Instant::now();
        let pool = OcrPool::new(config).expect("Tesseract with chi_sim");
        println!(
            "ours, {threads} thread(s): start {:.2} s, +{:.0} MiB resident for {threads} engine pair(s)",
            t.elapsed().as_secs_f64(),
            rss_mib() - before
        );
        Ours {
            pool,
            threads,
            images: fx
                .iter()
                .map(|f| std::fs::read(&f.image).expect("fixture"))
                .collect(),
            rt: tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("runtime"),
        }
    }

    /// Every screenshot once, all queued at once as the worker queues them.
    fn run(&self, fx: &[Fixture], o: &mut Outcome) {
        let watch = Stopwatch::start();
        let results = self.rt.block_on(futures::future::join_all(
            self.images
                .iter()
                .map(|b| self.pool.read_screenshot(b.clone())),
        ));
        watch.record(fx.len(), o);
        o.tally = Tally::default();
        for (f, r) in fx.iter().zip(results) {
            o.tally.add(f, &fixtures::flat(&r.unwrap_or_default()));
        }
    }

    /// Where each image's time went, over all the runs, and the pool shut.
    fn report(self, label: &str) {
        let threads = self.threads;
        if !label.is_empty() {
            println!("{label}:");
        }
        println!(
            "  resident after reading: {:.0} MiB (process, {threads} thread(s))",
            rss_mib()
        );
        let st = self.pool.stage_times();
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
        self.pool.shutdown();
    }
}

/// `runs` runs of one pool after another (the text-height comparison).
fn ours_with(config: OcrConfig, fx: &[Fixture], runs: usize) -> Outcome {
    let ours = Ours::with(config, fx);
    let mut o = Outcome::default();
    for _ in 0..runs {
        ours.run(fx, &mut o);
    }
    ours.report("");
    o
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

/// Every screenshot once through the `tesseract` command, `threads`
/// processes at a time.
fn cli_run(threads: usize, fx: &[Fixture], o: &mut Outcome) {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, ParsedScreenshot)>> = Mutex::new(Vec::new());
    let watch = Stopwatch::start();
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
    watch.record(fx.len(), o);
    o.tally = Tally::default();
    let mut r = results.into_inner().unwrap_or_default();
    r.sort_by_key(|(i, _)| *i);
    for (i, p) in r {
        o.tally.add(&fx[i], &fixtures::flat(&p));
    }
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
    // Each configuration runs once a round, the rounds in alternating
    // order (forward, backward, …): a host that slows down or speeds up
    // during the bench then weighs on every configuration alike, where
    // runs of one configuration after another would charge the drift to
    // whichever came last.
    let one = Ours::start(1, true, &fx);
    let two = Ours::start(2, true, &fx);
    let alone = Ours::start(2, false, &fx);
    let names = [
        "credverify pool, 1 thread",
        "credverify pool, 2 threads",
        "tesseract CLI, 1 process at a time",
        "tesseract CLI, 2 processes at a time",
        "credverify pool, 2 threads, Tesseract only",
    ];
    let mut outcomes: [Outcome; 5] = Default::default();
    for round in 0..runs {
        let order: Vec<usize> = if round % 2 == 0 {
            (0..names.len()).collect()
        } else {
            (0..names.len()).rev().collect()
        };
        for i in order {
            let o = &mut outcomes[i];
            match i {
                0 => one.run(&fx, o),
                1 => two.run(&fx, o),
                2 => cli_run(1, &fx, o),
                3 => cli_run(2, &fx, o),
                _ => alone.run(&fx, o),
            }
        }
        println!("round {} of {runs} done", round + 1);
    }
    one.report(names[0]);
    two.report(names[1]);
    alone.report(names[4]);
    let rows: Vec<(&str, Outcome)> = names.into_iter().zip(outcomes).collect();
    println!(
        "\n| configuration | images/s (median) | runs | images per processor-second (median) | verdict fields | all fields | wrong vcode / cert |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (name, o) in &rows {
        let v = o.tally.total(Some(&VERDICT_FIELDS));
        let a = o.tally.total(None);
        println!(
            "| {name} | {:.2} | {} | {:.2} | {:.1}% | {:.1}% | {} / {} |",
            median(&o.per_second),
            o.per_second
                .iter()
                .map(|x| format!("{x:.2}"))
                .collect::<Vec<_>>()
                .join(", "),
            median(&o.per_cpu_second),
            v.accuracy() * 100.0,
            a.accuracy() * 100.0,
            o.tally.key("vcode").wrong,
            o.tally.key("certificate_no").wrong,
        );
    }
    let ratios = |what: &str, of: fn(&Outcome) -> &[f64]| {
        let m = |i: usize| median(of(&rows[i].1));
        println!(
            "{what}: ours 2 threads / CLI 2 processes {:.2}×; ours 1 / CLI 1 {:.2}×; Tesseract only, 2 threads / CLI 2 processes {:.2}×; ours 2 threads / 1 thread {:.2}×",
            m(1) / m(3),
            m(0) / m(2),
            m(4) / m(3),
            m(1) / m(0)
        );
    };
    ratios("\nby the clock", |o| &o.per_second);
    ratios("per processor-second", |o| &o.per_cpu_second);
    // The same round's runs came minutes apart, so their ratios show how
    // far the host's drift moved the figure.
    let per_round = |a: &[f64], b: &[f64]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| format!("{:.2}", x / y))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "each round, ours 2 threads / CLI 2 processes: {} (clock); {} (processor time)",
        per_round(&rows[1].1.per_second, &rows[3].1.per_second),
        per_round(&rows[1].1.per_cpu_second, &rows[3].1.per_cpu_second)
    );
    for (name, o) in &rows {
        println!("\n### {name}\n\n{}", o.tally.render());
    }
}
