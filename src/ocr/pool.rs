//! A fixed number of OCR threads, each with its own engine, fed through one
//! queue. Dedicated OS threads rather than tokio's blocking pool: that pool
//! rotates threads, so thread-local engines multiplied (3 instances, 178 MiB
//! for 2 permits when measured); here there are exactly `threads` engines
//! for the life of the pool.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tracing::{debug, warn};

use super::ScreenshotError;
use super::engine::{Budget, Engine, EngineError, RegionReader, thread_cpu_time};
use super::intake::{self, Limits};
use super::line_reader::LineReader;
use super::preprocess::{self, Preprocess};
use super::redaction_boxes;
use crate::parse::{self, Codes, ParsedScreenshot};

#[derive(Debug, Clone)]
pub struct OcrConfig {
    /// OCR threads, each holding one engine (~55 MiB).
    pub threads: usize,
    pub limits: Limits,
    pub preprocess: Preprocess,
    /// Tesseract's tessdata directory; `None`: the system default.
    pub datapath: Option<String>,
    pub lang: String,
    /// The model for second reads of codes (在线验证码, certificate numbers);
    /// `None` or a model that fails to load: the page's model is used.
    pub code_lang: Option<String>,
    /// How much processor time one image may take from decoding to the
    /// end of recognition. Past it the image is `image_unreadable` ("too
    /// large to read in time"): a screenshot reads in about a second, and a
    /// hostile one must not hold an OCR thread for minutes. Processor time,
    /// not the clock's: on a starved machine a genuine screenshot takes
    /// longer by the clock, and that is no fault of the candidate's.
    pub deadline: Duration,
    /// How long by the clock one image may take ([`OcrConfig::with_deadline`]
    /// sets it to [`WALL_PER_DEADLINE`] times `deadline`). Past it with
    /// processor time to spare the machine was too busy: the read fails as
    /// ours ([`EngineError::Starved`], retried later), never as the image's.
    pub wall_deadline: Duration,
    /// The second line reader's directory (`scripts/fetch-line-reader`);
    /// `None`, or one that fails to load: Tesseract reads every value.
    pub line_reader: Option<super::line_reader::LineReaderDir>,
    /// Values read with less confidence (0–100) are left out, as if not
    /// read ([`ParsedScreenshot::drop_doubtful`]).
    pub confidence_floors: parse::ConfidenceFloors,
}

const DEFAULT_DEADLINE: Duration = Duration::from_secs(30);

/// The clock limit per second of processor-time deadline: a read may have
/// a third of a processor before it counts as starved.
pub const WALL_PER_DEADLINE: u32 = 3;

impl OcrConfig {
    /// This config with `deadline` of processor time per image, and the
    /// clock limit that goes with it.
    pub fn with_deadline(self, deadline: Duration) -> Self {
        OcrConfig {
            deadline,
            wall_deadline: deadline * WALL_PER_DEADLINE,
            ..self
        }
    }
}

impl Default for OcrConfig {
    fn default() -> Self {
        OcrConfig {
            threads: 2,
            limits: Limits::default(),
            preprocess: Preprocess::default(),
            datapath: None,
            // chi_sim alone: it reads Latin letters and digits too, and
            // adding `+eng` turned Chinese names into Latin and cost 50%.
            lang: "chi_sim".to_string(),
            code_lang: Some("eng".to_string()),
            deadline: DEFAULT_DEADLINE,
            wall_deadline: DEFAULT_DEADLINE * WALL_PER_DEADLINE,
            line_reader: None,
            confidence_floors: parse::ConfidenceFloors::MEASURED,
        }
    }
}

/// Where the time of the images read so far went, summed over threads.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StageTimes {
    pub images: u64,
    pub decode: Duration,
    pub preprocess: Duration,
    pub recognize: Duration,
    pub parse: Duration,
    /// Second reads of code regions (inside `parse`'s wall time, listed
    /// apart).
    pub reread: Duration,
    pub rereads: u64,
    /// Of those, the second line reader's (codes and names).
    pub line_read: Duration,
    pub line_reads: u64,
}

#[derive(Default)]
struct Counters {
    images: AtomicU64,
    decode: AtomicU64,
    preprocess: AtomicU64,
    recognize: AtomicU64,
    parse: AtomicU64,
    reread: AtomicU64,
    rereads: AtomicU64,
    line_read: AtomicU64,
    line_reads: AtomicU64,
}

fn add(c: &AtomicU64, d: Duration) {
    c.fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
}

fn get(c: &AtomicU64) -> Duration {
    Duration::from_nanos(c.load(Ordering::Relaxed))
}

/// Below this height (after scaling) Tesseract reads text poorly or not
/// at all; measured text is scaled to `Preprocess::text_height` (28 px).
const MIN_LEGIBLE_TEXT_PX: f32 = 14.0;

/// The end of a job's reply channel its caller waits on.
type Answer<T> = oneshot::Receiver<Result<T, ScreenshotError>>;

enum Job {
    Screenshot {
        bytes: Vec<u8>,
        reply: oneshot::Sender<Result<ParsedScreenshot, ScreenshotError>>,
    },
    /// A value the verification service drew as an image.
    Line {
        bytes: Vec<u8>,
        reply: oneshot::Sender<Result<super::LineReading, ScreenshotError>>,
    },
}

pub struct OcrPool {
    queue: Option<mpsc::Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
    limits: Limits,
    counters: Arc<Counters>,
    line_reader: bool,
}

impl OcrPool {
    /// Start the threads and load an engine on each; fails if Tesseract or
    /// its language data cannot be loaded.
    pub fn new(mut config: OcrConfig) -> Result<OcrPool, EngineError> {
        // Loaded once here so a broken reader is reported once, not per
        // thread; each thread then loads its own session.
        if let Some(dir) = &config.line_reader
            && let Err(e) = LineReader::load(dir)
        {
            warn!("{e}; values are read by Tesseract alone");
            config.line_reader = None;
        }
        let line_reader = config.line_reader.is_some();
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let counters = Arc::new(Counters::default());
        let mut threads = Vec::new();
        let mut ready = Vec::new();
        for i in 0..config.threads.max(1) {
            let (ready_tx, ready_rx) = mpsc::channel();
            ready.push(ready_rx);
            let rx = Arc::clone(&rx);
            let config = config.clone();
            let counters = Arc::clone(&counters);
            let handle = std::thread::Builder::new()
                .name(format!("ocr-{i}"))
                .spawn(move || worker(config, rx, counters, ready_tx))
                .map_err(|_| EngineError::ShutDown)?;
            threads.push(handle);
        }
        let mut pool = OcrPool {
            queue: Some(tx),
            threads,
            limits: config.limits,
            counters,
            line_reader,
        };
        for r in ready {
            match r.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    pool.stop();
                    return Err(e);
                }
                Err(_) => {
                    pool.stop();
                    return Err(EngineError::Panicked);
                }
            }
        }
        Ok(pool)
    }

    pub fn threads(&self) -> usize {
        self.threads.len()
    }

    /// Whether the second line reader (PP-OCR) reads names and codes again.
    pub fn has_line_reader(&self) -> bool {
        self.line_reader
    }

    /// Read one screenshot. Cheap checks (size, format) happen here so a bad
    /// upload never waits in the queue; decoding and OCR run on an OCR
    /// thread, never on the caller's runtime.
    pub async fn read_screenshot(
        &self,
        bytes: Vec<u8>,
    ) -> Result<ParsedScreenshot, ScreenshotError> {
        let rx = self.submit(bytes)?;
        rx.await.map_err(|_| EngineError::ShutDown)?
    }

    /// [`read_screenshot`](Self::read_screenshot) for callers without an
    /// async runtime (the CLI, benchmarks). Must not be called from inside
    /// one.
    pub fn read_screenshot_blocking(
        &self,
        bytes: Vec<u8>,
    ) -> Result<ParsedScreenshot, ScreenshotError> {
        let rx = self.submit(bytes)?;
        rx.blocking_recv().map_err(|_| EngineError::ShutDown)?
    }

    fn submit(&self, bytes: Vec<u8>) -> Result<Answer<ParsedScreenshot>, ScreenshotError> {
        self.send(bytes, |bytes, reply| Job::Screenshot { bytes, reply })
    }

    /// Read one line of text from an image (single-line mode): the values
    /// the verification service draws as images.
    pub async fn read_line(&self, bytes: Vec<u8>) -> Result<super::LineReading, ScreenshotError> {
        let rx = self.send(bytes, |bytes, reply| Job::Line { bytes, reply })?;
        rx.await.map_err(|_| EngineError::ShutDown)?
    }

    /// Queues `job` for an OCR thread once `bytes` pass the cheap checks;
    /// the answer comes on the returned channel.
    fn send<T>(
        &self,
        bytes: Vec<u8>,
        job: impl FnOnce(Vec<u8>, oneshot::Sender<Result<T, ScreenshotError>>) -> Job,
    ) -> Result<Answer<T>, ScreenshotError> {
        intake::check(&bytes, &self.limits)?;
        let (reply, rx) = oneshot::channel();
        self.queue
            .as_ref()
            .ok_or(EngineError::ShutDown)?
            .send(job(bytes, reply))
            .map_err(|_| EngineError::ShutDown)?;
        Ok(rx)
    }

    pub fn stage_times(&self) -> StageTimes {
        let c = &self.counters;
        StageTimes {
            images: c.images.load(Ordering::Relaxed),
            decode: get(&c.decode),
            preprocess: get(&c.preprocess),
            recognize: get(&c.recognize),
            parse: get(&c.parse),
            reread: get(&c.reread),
            rereads: c.rereads.load(Ordering::Relaxed),
            line_read: get(&c.line_read),
            line_reads: c.line_reads.load(Ordering::Relaxed),
        }
    }

    /// Finish the queued images and stop the threads.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.queue = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for OcrPool {
    fn drop(&mut self) {
        // Closing the queue ends the threads after their current image; they
        // are not joined here so dropping a pool never blocks a runtime.
        self.queue = None;
    }
}

fn worker(
    config: OcrConfig,
    rx: Arc<Mutex<mpsc::Receiver<Job>>>,
    counters: Arc<Counters>,
    ready: mpsc::Sender<Result<(), EngineError>>,
) {
    super::omp::disable_for_this_thread();
    let new_engine = || Engine::new(config.datapath.as_deref(), &config.lang);
    let mut engine = match new_engine() {
        Ok(e) => e,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let mut codes = config.code_lang.as_deref().and_then(|lang| {
        Engine::new(config.datapath.as_deref(), lang)
            .inspect_err(|e| warn!("{e}; codes are read again with the page's model"))
            .ok()
    });
    let mut line = config.line_reader.as_ref().and_then(|dir| {
        LineReader::load(dir)
            .inspect_err(|e| warn!("{e}; this thread reads values with Tesseract alone"))
            .ok()
    });
    let _ = ready.send(Ok(()));
    loop {
        let job = {
            let Ok(rx) = rx.lock() else { return };
            match rx.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        // A panic may leave the engine broken: it is replaced, and the
        // thread stops (after answering) when no engine can be made.
        match job {
            Job::Line { bytes, reply } => {
                let result = guarded(&mut engine, &new_engine, |e| {
                    super::line::read(e, &bytes, &config.limits)
                });
                let stop = result.is_err();
                let _ = reply.send(result.unwrap_or_else(|e| Err(e.into())));
                if stop {
                    return;
                }
            }
            Job::Screenshot { bytes, reply } => {
                let result = guarded(&mut engine, &new_engine, |e| {
                    read(e, codes.as_mut(), line.as_mut(), &bytes, &config, &counters)
                });
                let stop = result.is_err();
                // The caller may have gone away (timeout, cancelled job):
                // nothing to do.
                let _ = reply.send(result.unwrap_or_else(|e| Err(e.into())));
                if stop {
                    return;
                }
            }
        }
    }
}

/// `work` on the engine with a panic caught: the engine it panicked in is
/// replaced and the answer is [`EngineError::Panicked`]. `Err`: no engine
/// could be made in its place.
fn guarded<T>(
    engine: &mut Engine,
    new_engine: &dyn Fn() -> Result<Engine, EngineError>,
    work: impl FnOnce(&mut Engine) -> Result<T, ScreenshotError>,
) -> Result<Result<T, ScreenshotError>, EngineError> {
    match catch_unwind(AssertUnwindSafe(|| work(engine))) {
        Ok(result) => Ok(result),
        Err(_) => {
            warn!("OCR engine panicked; replacing it");
            *engine = new_engine()?;
            Ok(Err(EngineError::Panicked.into()))
        }
    }
}

/// Ruling lines are at least this many text heights long, and this many
/// pixels when the text height is unknown.
const RULE_LINE_HEIGHTS: f32 = 8.0;
const RULE_MIN_PX: f32 = 200.0;

fn count_rereads(counters: &Counters, reader: &RegionReader<'_>) {
    add(&counters.reread, reader.time);
    counters
        .rereads
        .fetch_add(reader.reads as u64, Ordering::Relaxed);
    add(&counters.line_read, reader.line_time);
    counters
        .line_reads
        .fetch_add(reader.line_reads as u64, Ordering::Relaxed);
}

/// Whether a page read leaves something a read without ruling lines may
/// find: no CHSI page at all, or a report without its 在线验证码.
fn wants_second_look(parsed: &ParsedScreenshot) -> bool {
    use parse::Layout;
    match parsed.layout {
        None => true,
        Some(Layout::Report | Layout::Degree | Layout::Enrollment) => {
            parsed.fields.vcode.is_none() && parsed.vcode_candidates.is_empty()
        }
        Some(Layout::Web | Layout::Mobile) => false,
    }
}

/// The first read, its absent fields filled from the second when both saw
/// the same page; the second, when only it saw a CHSI page.
fn with_second_look(first: ParsedScreenshot, second: ParsedScreenshot) -> ParsedScreenshot {
    if first.layout.is_none() {
        return if second.layout.is_some() {
            second
        } else {
            first
        };
    }
    if (second.layout, second.kind) != (first.layout, first.kind) {
        return first;
    }
    let mut out = first;
    for (field, value) in second.fields.iter() {
        if out.fields.get(field).is_none() {
            out.fields.set(field, value);
            if let Some(c) = second.confidence.get(&field) {
                out.confidence.insert(field, *c);
            }
        }
    }
    if out.fields.vcode.is_none() && out.vcode_candidates.is_empty() {
        out.vcode_candidates = second.vcode_candidates;
    }
    out
}

fn read(
    engine: &mut Engine,
    codes: Option<&mut Engine>,
    line: Option<&mut LineReader>,
    bytes: &[u8],
    config: &OcrConfig,
    counters: &Counters,
) -> Result<ParsedScreenshot, ScreenshotError> {
    let t0 = Instant::now();
    let cpu0 = thread_cpu_time();
    // What the image has taken so far: processor time, and the clock's.
    let spent = || (thread_cpu_time().saturating_sub(cpu0), t0.elapsed());
    // What is left of the image's budget, each time recognition starts.
    let left = || {
        let (cpu, wall) = spent();
        Budget {
            cpu: config.deadline.saturating_sub(cpu),
            wall: config.wall_deadline.saturating_sub(wall),
        }
    };
    // A recognition the clock stopped with processor time to spare, in the
    // whole image's figures (decoding and preparing count too).
    let cut_short = || {
        let (cpu, wall) = spent();
        let e = EngineError::Starved { cpu, wall };
        warn!("{e}; the screenshot will be read again");
        ScreenshotError::from(e)
    };
    let gray = intake::decode(bytes, &config.limits)?;
    let gray_size = gray.dimensions();
    let t1 = Instant::now();
    // On the upload as it is: the preprocessing inverts dark regions.
    let redactions = redaction_boxes::find(&gray);
    let prepared = preprocess::prepare(gray, &config.preprocess);
    let t2 = Instant::now();
    // Text the pixel limit kept too small to read: Tesseract would spend its
    // whole deadline on the page's layout (which its deadline does not
    // cover: ~55 s on 40 MP of tiny text) and read nothing.
    if prepared.capped
        && prepared
            .scaled_text_height()
            .is_some_and(|h| h < MIN_LEGIBLE_TEXT_PX)
    {
        return Err(ScreenshotError::Unreadable {
            detail: format!(
                "too large to read in time: {}×{} pixels with {}-px text",
                gray_size.0,
                gray_size.1,
                prepared.text_height.unwrap_or_default()
            ),
        });
    }
    let page = match engine.read_page(&prepared.image, left()) {
        Err(EngineError::Deadline(_)) => {
            warn!(
                width = prepared.image.width(),
                height = prepared.image.height(),
                deadline_ms = config.deadline.as_millis() as u64,
                "screenshot not read within its deadline"
            );
            return Err(ScreenshotError::Unreadable {
                detail: format!(
                    "too large to read in time: {}×{} pixels were not read within {} s of processor time",
                    gray_size.0,
                    gray_size.1,
                    config.deadline.as_secs_f32()
                ),
            });
        }
        Err(EngineError::Starved { .. }) => return Err(cut_short()),
        other => other?,
    };
    let mut page = page;
    let redactions: Vec<parse::Rect> = redactions
        .into_iter()
        .map(|r| redaction_boxes::scaled(r, prepared.scale))
        .collect();
    page.redactions.clone_from(&redactions);
    let t3 = Instant::now();
    let mut reader = RegionReader::new(engine, codes, &prepared.image, line);
    let mut parsed = parse::parse_page(&page, Codes::Confirmed(&mut reader));
    let t4 = Instant::now();
    add(&counters.decode, t1 - t0);
    add(&counters.preprocess, t2 - t1);
    add(&counters.recognize, t3 - t2);
    add(&counters.parse, t4 - t3);
    count_rereads(counters, &reader);
    // A grid of bordered cells (the 2010 备案表) reads as nothing, and a
    // framed line (the 学籍 card's code) goes unread: one more read with the
    // ruling lines erased, when the page has any.
    let min_rule = prepared
        .scaled_text_height()
        .map_or(RULE_MIN_PX, |h| (h * RULE_LINE_HEIGHTS).max(RULE_MIN_PX));
    if wants_second_look(&parsed)
        && let Some(clean) = preprocess::without_rules(&prepared.image, min_rule as u32)
    {
        let RegionReader {
            engine,
            codes,
            line,
            ..
        } = reader;
        match engine.read_page(&clean, left()) {
            Ok(mut page) => {
                page.redactions.clone_from(&redactions);
                let mut reader = RegionReader::new(engine, codes, &clean, line);
                let second = parse::parse_page(&page, Codes::Confirmed(&mut reader));
                count_rereads(counters, &reader);
                parsed = with_second_look(parsed, second);
            }
            // A grid's values are only in this look: the first alone, cut
            // short by a busy machine, would be judged as all there is.
            Err(EngineError::Starved { .. }) => return Err(cut_short()),
            // Over its processor time, or failed: the first look stands.
            Err(_) => {}
        }
        add(&counters.recognize, t4.elapsed());
    }
    let doubtful = parsed.drop_doubtful(config.confidence_floors);
    if !doubtful.is_empty() {
        debug!(fields = ?doubtful, "values read with too little confidence left out");
    }
    counters.images.fetch_add(1, Ordering::Relaxed);
    debug!(
        bytes = bytes.len(),
        scale = prepared.scale,
        text_height = prepared.text_height,
        width = prepared.image.width(),
        height = prepared.image.height(),
        decode_ms = (t1 - t0).as_millis() as u64,
        preprocess_ms = (t2 - t1).as_millis() as u64,
        recognize_ms = (t3 - t2).as_millis() as u64,
        parse_ms = (t4 - t3).as_millis() as u64,
        rereads = reader.reads,
        layout = parsed.layout.map(|l| l.as_str()),
        fields = parsed.fields.iter().count(),
        "screenshot read"
    );
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chi_sim() -> Result<Engine, EngineError> {
        Engine::new(None, "chi_sim")
    }

    #[test]
    fn a_panic_in_an_engine_replaces_it_and_answers_panicked() {
        let mut engine = chi_sim().expect("Tesseract with chi_sim (scripts/setup-system)");
        let answer: Result<Result<(), ScreenshotError>, EngineError> =
            guarded(&mut engine, &chi_sim, |_| panic!("a bug in a read"));
        assert!(
            matches!(
                answer,
                Ok(Err(ScreenshotError::Engine(EngineError::Panicked)))
            ),
            "{answer:?}"
        );
        // The replacement reads.
        let blank = image::GrayImage::from_pixel(200, 60, image::Luma([255]));
        let read = guarded(&mut engine, &chi_sim, |e| {
            Ok(e.read_page(
                &blank,
                Budget {
                    cpu: Duration::from_secs(10),
                    wall: Duration::from_secs(60),
                },
            )?)
        });
        assert!(matches!(read, Ok(Ok(_))), "{read:?}");
        // No engine to be had: the thread is told to stop.
        let none = || -> Result<Engine, EngineError> {
            Err(EngineError::Init {
                lang: "xx".to_string(),
            })
        };
        let stop = guarded(&mut engine, &none, |_| -> Result<(), ScreenshotError> {
            panic!("again")
        });
        assert!(matches!(stop, Err(EngineError::Init { .. })), "{stop:?}");
    }
}
