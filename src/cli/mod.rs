//! The `credverify` command line: what admins and scripts use. One clap
//! definition; each subcommand's work lives in its own module.

mod admin;
mod config;
mod database;
pub mod demo;
mod desk;
pub mod logging;
mod ocr;
mod output;
mod pages;
mod records;
mod run;
mod submit;
pub mod terminal;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::chsi::{ChsiConfig, FetchMode};
use crate::queue::WorkerOptions;
use crate::retry::RetryPolicy;
use crate::store::default_database_url;

pub use output::CliError;

#[derive(Debug, Parser)]
#[command(
    name = "credverify",
    version,
    about = "Verifies CHSI (学信网) education credentials for exam registration",
    long_about = "Verifies candidates' education records against the CHSI online verification service \
(学信网 在线验证). The registration backend submits records; workers read screenshots, look reports up by \
their 在线验证码 and decide each record: verified (已核验), rejected (核验未通过) with reasons, or \
needs_review (待人工复核).\n\nRecords live in SQLite by default (one file, nothing to install) or in \
PostgreSQL for many workers on many hosts: pass --database-url postgres://... .",
    after_help = "Examples:\n  credverify demo\n  credverify submit --candidate c-42 --name 王晓雯 --vcode A7K2M9QX4TB8R5WZ\n  \
credverify worker --concurrency 4\n  credverify show 17 --json"
)]
pub struct Cli {
    /// Records database: sqlite://PATH or postgres://USER@HOST/DB.
    #[arg(long, env = "CREDVERIFY_DATABASE_URL", global = true, default_value_t = default_database_url(), hide_env_values = true)]
    pub database_url: String,

    /// Log format: human-readable on a terminal, or one JSON object per line.
    #[arg(long, env = "CREDVERIFY_LOG_FORMAT", global = true, value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or upgrade the database schema (the worker also does this on start).
    Migrate,
    /// Process verification jobs until stopped (SIGINT/SIGTERM finish the jobs in flight).
    #[command(
        after_help = "Examples:\n  credverify worker --concurrency 8\n  credverify worker --drain   # exit when nothing can run now"
    )]
    Worker(WorkerArgs),
    /// Add an education record for a candidate; prints the new record's id.
    #[command(
        after_help = "Examples:\n  credverify submit --candidate c-42 --name 王晓雯 --id-number 110105199904180029 \\\n      --vcode A7K2M9QX4TB8R5WZ\n  credverify submit --candidate c-42 --name 王晓雯 --fields record.json --idempotency-key upload-981\n\n\
A candidate holds at most 5 records; a sixth is refused with exit code 3."
    )]
    Submit(submit::SubmitArgs),
    /// Everything about one record: status, reasons, claimed and authoritative fields, events.
    #[command(after_help = "Example:\n  credverify show 17 --json")]
    Show(records::ShowArgs),
    /// List records, filtered by candidate, status or date.
    #[command(
        after_help = "Examples:\n  credverify list --status needs_review\n  credverify list --candidate c-42 --json"
    )]
    List(records::ListArgs),
    /// Re-run verification for selected records (after an outage, a dispute, or a rule change).
    #[command(
        after_help = "Examples:\n  credverify rerun --status rejected --reason vcode_invalid --since 2026-11-27 --dry-run\n  \
credverify rerun --status rejected --reason vcode_invalid --since 2026-11-27 --note \"service outage\" --by li.na --wait\n  \
credverify rerun --record 17 --record 18 --by li.na\n\n\
Rejected and needs_review records go back to unverified with a new job; unverified records without a\n\
job are queued; verified records are only re-checked (with --include-verified). Interrupt and run the\n\
same command again at any time: nothing is queued twice."
    )]
    Rerun(admin::RerunArgs),
    /// Decide a record waiting for a human (needs_review): approve it or reject it with a reason.
    #[command(
        after_help = "Examples:\n  credverify review 17 --approve --note \"name on the ID card is 张晓艳; registration typo\" --by li.na\n  \
credverify review 17 --reject holder_mismatch --note \"different person\" --by li.na"
    )]
    Review(admin::ReviewArgs),
    /// Take back a verified record (e.g. the certificate was revoked); logged with the reason.
    #[command(
        after_help = "Example:\n  credverify revoke 17 --reason \"certificate revoked by the school, letter 2026-031\" --by li.na"
    )]
    Revoke(admin::RevokeArgs),
    /// Queue every unverified record that no live job will pick up (the worker also does this periodically).
    #[command(
        after_help = "Examples:\n  credverify sweep --id-hmac-key-file /etc/credverify/id-hmac.key\n  credverify sweep --quiet-secs 0 --json   # include records touched just now"
    )]
    Sweep(run::SweepArgs),
    /// Counts by status and reason, records waiting, failed jobs, and per-day activity.
    #[command(after_help = "Examples:\n  credverify stats\n  credverify stats --days 30 --json")]
    Stats(admin::StatsArgs),
    /// Serve a local stand-in for the verification service (for demos and tests).
    #[command(
        after_help = "Example:\n  credverify sandbox --addr 127.0.0.1:8700 --registry fixtures/sandbox/registry.json\n  \
then: credverify worker --chsi-url http://127.0.0.1:8700 --chsi-rate 0"
    )]
    Sandbox(run::SandboxArgs),
    /// Print the effective configuration (every setting, its value and where it came from; secrets masked).
    #[command(
        after_help = "Examples:\n  credverify config\n  CREDVERIFY_CHSI_RATE=0.5 credverify config --json\n\n\
Takes the same flags as `worker`, so `credverify config FLAGS...` shows what `credverify worker FLAGS...` would use."
    )]
    Config(ConfigArgs),
    /// Read screenshots as the worker would and print the fields found (no database needed).
    #[command(
        after_help = "Examples:\n  credverify ocr upload.png\n  credverify ocr --json fixtures/screenshots/*.png > fields.jsonl\n\n\
A field that could not be read with confidence is left out (shown as — in the table), never guessed.\n\
Exit code 1 if any image could not be read; the others are still printed."
    )]
    Ocr(ocr::OcrCmdArgs),
    /// Print (or save) what the verification service answered for a record when it was not recognised.
    #[command(
        after_help = "Examples:\n  credverify page 17\n  credverify page 17 -o answer.html\n  credverify page 17 --nth 2\n\n\
The client keeps the last 3 answers it could not recognise for each record (compressed, at most\n\
256 KiB each); after 3 such answers the record waits for a person (needs_review, page_unrecognised)."
    )]
    Page(pages::PageArgs),
    /// Run the whole flow locally: a sandbox, a SQLite file in a temporary directory, the bundled records, the verdicts.
    Demo(demo::DemoArgs),
    /// Withdraw an unverified record for its candidate: it no longer counts toward their five places.
    #[command(
        after_help = "Example:\n  credverify withdraw 17 --candidate c-42 --note \"candidate's request 8812\"\n\n\
Only unverified records can be withdrawn; a decided record (verified above all) never is.\n\
Registration backends on PostgreSQL call `SELECT credverify.withdraw_record(17, 'c-42')` instead (jobs/README.md)."
    )]
    Withdraw(desk::WithdrawArgs),
    /// Export a record's screenshot, byte for byte as uploaded.
    #[command(after_help = "Example:\n  credverify screenshot 17 -o record-17.png")]
    Screenshot(desk::ScreenshotArgs),
    /// Manage the review desk's operators (reviewers and admins).
    #[command(
        after_help = "Examples:\n  printf '%s\\n' \"$PASSWORD\" | credverify operator add wang.fang --role reviewer --by li.na\n  \
credverify operator list\n  credverify operator disable wang.fang --by li.na"
    )]
    Operator(desk::OperatorArgs),
    /// The review desk in a browser: queue, records with their screenshots, decisions.
    #[command(
        after_help = "Example:\n  credverify console --addr 127.0.0.1:8080\n\n\
Log in as an operator (`credverify operator add`). Keep it on localhost; to reach it from other\n\
machines put a TLS proxy in front and pass --secure-cookies (README: the review desk)."
    )]
    Console(desk::ConsoleArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ConfigArgs {
    #[command(flatten)]
    pub worker: WorkerArgs,
    /// One JSON object: {setting: {"value", "env", "source"}}.
    #[arg(long)]
    pub json: bool,
}

/// How to reach the verification service.
#[derive(Debug, Clone, Args)]
pub struct ServiceArgs {
    /// Base URL of the verification service.
    // URLs may carry tokens: `--help` shows none of them from the environment.
    #[arg(long, env = "CREDVERIFY_CHSI_URL", default_value = crate::chsi::DEFAULT_BASE_URL, hide_env_values = true)]
    pub chsi_url: String,
    /// Requests per second to the service: from the whole cluster on PostgreSQL (every worker
    /// sharing the database), from this process on SQLite (0 = unlimited, only for local sandboxes).
    #[arg(long, env = "CREDVERIFY_CHSI_RATE", default_value_t = 1.0)]
    pub chsi_rate: f64,
    /// Requests that may go at once after an idle spell (the token bucket's size).
    #[arg(long, env = "CREDVERIFY_CHSI_BURST", default_value_t = 1)]
    pub chsi_burst: u32,
    /// Seconds before a request to the service is abandoned (a transient failure).
    #[arg(long, env = "CREDVERIFY_CHSI_TIMEOUT_SECS", default_value_t = 20.0)]
    pub chsi_timeout_secs: f64,
    /// Seconds every request waits after the service pushes back (captcha, 429, 5xx): every worker
    /// of the cluster on PostgreSQL.
    #[arg(long, env = "CREDVERIFY_CHSI_BACK_OFF_SECS", default_value_t = 30.0)]
    pub chsi_back_off_secs: f64,
    /// User-Agent naming the operator, as the service agreement requires.
    #[arg(long, env = "CREDVERIFY_USER_AGENT")]
    pub user_agent: Option<String>,
    /// Answers not recognised for one record before it goes to a person (needs_review, page_unrecognised).
    #[arg(long, env = "CREDVERIFY_CHSI_UNRECOGNISED_LIMIT", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub chsi_unrecognised_limit: u32,
    /// How pages are fetched: http (plain), browser (Chromium for every page), or auto (plain,
    /// with Chromium for the anti-bot front door; plain alone when Chromium is missing).
    #[arg(long, env = "CREDVERIFY_CHSI_FETCH", value_enum, default_value_t = FetchMode::Auto)]
    pub chsi_fetch: FetchMode,
    /// Run Chromium with a window instead of headless (start the worker under xvfb-run on a server).
    #[arg(long, env = "CREDVERIFY_CHSI_BROWSER_HEADED")]
    pub chsi_browser_headed: bool,
    /// Chromium's executable; unset: `chromium` on PATH (Debian's package).
    #[arg(long, env = "CREDVERIFY_CHSI_BROWSER_PATH")]
    pub chsi_browser_path: Option<PathBuf>,
    /// Cookie jar exported from an operator's browser (Netscape cookies.txt or JSON) for plain
    /// requests; read again whenever the file changes.
    #[arg(long, env = "CREDVERIFY_CHSI_COOKIES")]
    pub chsi_cookies: Option<PathBuf>,
}

impl ServiceArgs {
    pub fn chsi_config(&self) -> ChsiConfig {
        let mut c = ChsiConfig {
            base_url: self.chsi_url.clone(),
            rate_per_second: self.chsi_rate,
            burst: self.chsi_burst,
            timeout: secs(self.chsi_timeout_secs),
            back_off: secs(self.chsi_back_off_secs),
            unrecognised_limit: self.chsi_unrecognised_limit,
            fetch: self.chsi_fetch,
            browser_headed: self.chsi_browser_headed,
            browser_executable: self.chsi_browser_path.clone(),
            cookie_file: self.chsi_cookies.clone(),
            ..ChsiConfig::default()
        };
        if let Some(ua) = &self.user_agent {
            c.user_agent = ua.clone();
        }
        c
    }
}

/// When to retry after a transient failure.
#[derive(Debug, Clone, Args)]
pub struct RetryArgs {
    /// Transient failures tolerated before a record is flagged for admins (it stays unverified).
    #[arg(long, env = "CREDVERIFY_RETRY_MAX", default_value_t = 12)]
    pub retry_max: u32,
    /// Seconds before the first retry; each later one doubles, with ±20% jitter.
    #[arg(long, env = "CREDVERIFY_RETRY_BASE_SECS", default_value_t = 30.0)]
    pub retry_base_secs: f64,
    /// Longest wait between retries, in seconds.
    #[arg(
        long,
        env = "CREDVERIFY_RETRY_MAX_DELAY_SECS",
        default_value_t = 3600.0
    )]
    pub retry_max_delay_secs: f64,
}

impl RetryArgs {
    pub fn policy(&self) -> RetryPolicy {
        RetryPolicy {
            base: secs(self.retry_base_secs),
            max: secs(self.retry_max_delay_secs),
            max_retries: self.retry_max,
            ..RetryPolicy::default()
        }
    }
}

/// Where screenshots handed over by reference may come from.
#[derive(Debug, Clone, Args)]
pub struct UploadsArgs {
    /// Directory that screenshot paths (from `submit --screenshot-ref` or the SQL intake) are resolved
    /// under; paths leaving it (`..`, absolute, symlinks out) are refused. Unset: paths are refused.
    #[arg(long, env = "CREDVERIFY_UPLOADS_ROOT")]
    pub uploads_root: Option<PathBuf>,
    /// URL prefix screenshot URLs must start with (repeat, or comma-separate in the environment).
    /// Unset: URLs are refused.
    #[arg(
        long = "screenshot-url-prefix",
        env = "CREDVERIFY_SCREENSHOT_URL_PREFIXES",
        hide_env_values = true,
        value_delimiter = ','
    )]
    pub screenshot_url_prefixes: Vec<String>,
    /// Largest screenshot fetched by reference, in bytes.
    #[arg(long, env = "CREDVERIFY_MAX_SCREENSHOT_BYTES", default_value_t = 20 * 1024 * 1024)]
    pub max_screenshot_bytes: u64,
}

impl UploadsArgs {
    pub fn uploads(&self) -> anyhow::Result<crate::uploads::Uploads> {
        crate::uploads::Uploads::new(crate::uploads::UploadsConfig {
            root: self.uploads_root.clone(),
            url_prefixes: self.screenshot_url_prefixes.clone(),
            max_bytes: self.max_screenshot_bytes,
            timeout: Duration::from_secs(30),
        })
    }
}

/// Which queues a worker serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Jobs {
    /// Both: lookups, reading screenshots inline, and the OCR queue.
    All,
    /// Service lookups only: a screenshot not yet read is handed to the OCR queue.
    Lookup,
    /// Reading screenshots only (needs --ocr-threads > 0).
    Ocr,
}

#[derive(Debug, Clone, Args)]
pub struct WorkerArgs {
    /// Which jobs this worker takes: `lookup` never reads a screenshot, `ocr` only reads them;
    /// `--ocr-threads 0` implies `lookup`.
    #[arg(long, env = "CREDVERIFY_JOBS", value_enum, default_value_t = Jobs::All)]
    pub jobs: Jobs,
    /// Jobs processed at once by this process.
    #[arg(long, env = "CREDVERIFY_CONCURRENCY", default_value_t = 4)]
    pub concurrency: usize,
    /// Process until no job can run now (retries scheduled for later stay queued), then exit 0.
    #[arg(long)]
    pub drain: bool,
    /// Milliseconds between looks for due jobs when idle.
    #[arg(long, env = "CREDVERIFY_POLL_MS", default_value_t = 500)]
    pub poll_ms: u64,
    /// Heartbeat period in seconds; a worker silent for 3 heartbeats is dead and its jobs re-run elsewhere.
    #[arg(long, env = "CREDVERIFY_HEARTBEAT_SECS", default_value_t = 5)]
    pub heartbeat_secs: u64,
    /// Seconds a stopping worker waits for jobs in flight before leaving them to be re-queued.
    #[arg(long, env = "CREDVERIFY_SHUTDOWN_GRACE_SECS", default_value_t = 30)]
    pub shutdown_grace_secs: u64,
    /// Seconds between sweeps for unverified records that no job will pick up.
    #[arg(long, env = "CREDVERIFY_SWEEP_INTERVAL_SECS", default_value_t = 60)]
    pub sweep_interval_secs: u64,
    /// A record untouched this many seconds with no live job counts as stranded.
    #[arg(long, env = "CREDVERIFY_SWEEP_QUIET_SECS", default_value_t = 120)]
    pub sweep_quiet_secs: u64,
    /// File holding the key of the ID-number HMAC (e.g. `openssl rand -hex 32 > FILE`), kept outside
    /// the database; or the key itself in CREDVERIFY_ID_HMAC_KEY. Required.
    #[arg(long, env = "CREDVERIFY_ID_HMAC_KEY_FILE")]
    pub id_hmac_key_file: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub service: ServiceArgs,
    #[command(flatten)]
    pub retry: RetryArgs,
    #[command(flatten)]
    pub uploads: UploadsArgs,
    #[command(flatten)]
    pub ocr: OcrArgs,
    #[command(flatten)]
    pub ops: OpsArgs,
}

/// How screenshots are read.
#[derive(Debug, Clone, Args)]
pub struct OcrArgs {
    /// OCR engine threads (one Tesseract engine of ~60 MiB each, loaded on the first screenshot
    /// job); 0 leaves screenshot records to other workers.
    #[arg(long, env = "CREDVERIFY_OCR_THREADS", default_value_t = 2)]
    pub ocr_threads: usize,
    /// Tesseract's tessdata directory holding chi_sim (and eng); unset: the system's.
    #[arg(long, env = "CREDVERIFY_TESSDATA")]
    pub tessdata: Option<String>,
    /// Seconds of processor time one screenshot may take to read; past it the record is rejected
    /// `image_unreadable` ("too large to read in time"). A read that runs out of three times as
    /// many seconds by the clock first was starved by a busy machine: it is retried, not rejected.
    #[arg(long, env = "CREDVERIFY_OCR_DEADLINE_SECS", default_value_t = 30)]
    pub ocr_deadline_secs: u64,
    /// Directory of the second line reader (PP-OCR model and ONNX Runtime, filled by
    /// scripts/fetch-line-reader) that reads names and codes again; unset: ./.line-reader if
    /// present. Without one, Tesseract reads every value.
    #[arg(long, env = "CREDVERIFY_LINE_READER_DIR")]
    pub line_reader_dir: Option<std::path::PathBuf>,
    /// Names read from a screenshot with less confidence than this (0–100, the least sure
    /// character's) are left out as unread. 0 keeps every name (for measuring:
    /// scripts/confidence-floor).
    #[arg(long, env = "CREDVERIFY_MIN_NAME_CONFIDENCE",
          default_value_t = crate::parse::ConfidenceFloors::MEASURED.names,
          value_parser = clap::value_parser!(u8).range(0..=100))]
    pub min_name_confidence: u8,
    /// Other values read with less confidence than this are left out; codes are exempt (two
    /// reads must agree on them). 0 keeps every value.
    #[arg(long, env = "CREDVERIFY_MIN_VALUE_CONFIDENCE",
          default_value_t = crate::parse::ConfidenceFloors::MEASURED.values,
          value_parser = clap::value_parser!(u8).range(0..=100))]
    pub min_value_confidence: u8,
}

impl OcrArgs {
    pub fn config(&self) -> crate::ocr::OcrConfig {
        crate::ocr::OcrConfig {
            threads: self.ocr_threads.max(1),
            datapath: self.tessdata.clone(),
            line_reader: self.line_reader(),
            confidence_floors: crate::parse::ConfidenceFloors {
                names: self.min_name_confidence,
                values: self.min_value_confidence,
            },
            ..crate::ocr::OcrConfig::default()
        }
        .with_deadline(std::time::Duration::from_secs(
            self.ocr_deadline_secs.max(1),
        ))
    }

    /// The second line reader's directory: the one given, else
    /// `.line-reader` in the working directory if it is there. A directory
    /// given but unusable is reported and the worker reads as without one.
    pub fn line_reader(&self) -> Option<crate::ocr::line_reader::LineReaderDir> {
        let dir = match &self.line_reader_dir {
            Some(d) => d.clone(),
            None if std::path::Path::new(".line-reader").is_dir() => ".line-reader".into(),
            None => return None,
        };
        crate::ocr::line_reader::LineReaderDir::open(dir)
            .inspect_err(|e| tracing::warn!("{e}; values are read by Tesseract alone"))
            .ok()
    }

    /// The worker's screenshot reader; `None` with 0 threads.
    pub fn reader(&self) -> Option<std::sync::Arc<dyn crate::pipeline::ScreenshotReader>> {
        (self.ocr_threads > 0).then(|| {
            let config = self.config();
            match &config.line_reader {
                Some(dir) => tracing::info!(
                    dir = %dir.path().display(),
                    "second line reader (PP-OCR) found: names and codes are read twice"
                ),
                None => tracing::info!(
                    "no second line reader (scripts/fetch-line-reader): Tesseract reads every value"
                ),
            }
            crate::metrics::set_line_reader(config.line_reader.is_some());
            std::sync::Arc::new(crate::ocr::LazyOcr::new(config))
                as std::sync::Arc<dyn crate::pipeline::ScreenshotReader>
        })
    }
}

/// What operators and the registration backend see of a running worker.
#[derive(Debug, Clone, Args)]
pub struct OpsArgs {
    /// Serve /healthz and Prometheus /metrics on this address (e.g. 127.0.0.1:9464).
    #[arg(long, env = "CREDVERIFY_METRICS_ADDR")]
    pub metrics_addr: Option<String>,
    /// POST a JSON notification here whenever a record changes status (retried, never lost).
    #[arg(long, env = "CREDVERIFY_WEBHOOK_URL", hide_env_values = true)]
    pub webhook_url: Option<String>,
    /// Signs each notification (HMAC-SHA256, header X-Credverify-Signature).
    #[arg(long, env = "CREDVERIFY_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,
    /// Seconds before a webhook request is abandoned (and retried later).
    #[arg(long, env = "CREDVERIFY_WEBHOOK_TIMEOUT_SECS", default_value_t = 10.0)]
    pub webhook_timeout_secs: f64,
    /// Seconds before the first webhook retry; doubles each time up to an hour.
    #[arg(
        long,
        env = "CREDVERIFY_WEBHOOK_RETRY_BASE_SECS",
        default_value_t = 5.0
    )]
    pub webhook_retry_base_secs: f64,
    /// Failed deliveries of one notification before it is given up (counted in metrics).
    #[arg(long, env = "CREDVERIFY_WEBHOOK_MAX_RETRIES", default_value_t = 20)]
    pub webhook_max_retries: u32,
    /// Days delivered notifications are kept (undelivered ones too when no webhook is configured).
    #[arg(
        long,
        env = "CREDVERIFY_NOTIFICATION_RETENTION_DAYS",
        default_value_t = 7
    )]
    pub notification_retention_days: u32,
}

impl OpsArgs {
    pub fn webhook(&self) -> Option<crate::notify::WebhookConfig> {
        self.webhook_url
            .as_ref()
            .map(|url| crate::notify::WebhookConfig {
                url: url.clone(),
                secret: self.webhook_secret.clone(),
                timeout: secs(self.webhook_timeout_secs),
                poll: Duration::from_millis(500),
                retry: RetryPolicy {
                    base: secs(self.webhook_retry_base_secs),
                    max: Duration::from_secs(3600),
                    max_retries: self.webhook_max_retries,
                    jitter: 0.2,
                },
            })
    }
}

/// The environment variable that may hold the ID-number key itself. Not a
/// flag: a key on the command line is visible to every user of the host.
pub const ID_HMAC_KEY_ENV: &str = "CREDVERIFY_ID_HMAC_KEY";

/// A key file is a line of text; anything longer is not one.
const ID_KEY_FILE_LIMIT: u64 = 4096;

/// How to make and hand out the ID-number key, for every error about it.
const ID_KEY_HINT: &str = "make a key once with `openssl rand -hex 32 > /etc/credverify/id-hmac.key` \
    (mode 0600, owned by the worker's user) and give every worker \
    --id-hmac-key-file /etc/credverify/id-hmac.key; keep it out of the database \
    and its backups, and never change it (records sealed under another key no \
    longer match)";

/// The ID-number HMAC key from `file`, else from `CREDVERIFY_ID_HMAC_KEY`;
/// `None` when neither is given.
pub fn id_key_from(
    file: Option<&std::path::Path>,
) -> Result<Option<crate::domain::IdKey>, CliError> {
    use crate::domain::IdKey;
    let text = match (file, std::env::var(ID_HMAC_KEY_ENV).ok()) {
        (Some(path), _) => {
            let bytes = read_input(path, ID_KEY_FILE_LIMIT).map_err(|e| {
                CliError::usage(format!(
                    "cannot read the ID-number key file {}: {e}",
                    path.display()
                ))
                .hint(ID_KEY_HINT)
            })?;
            String::from_utf8(bytes).map_err(|_| {
                CliError::usage(format!(
                    "the ID-number key file {} is not text",
                    path.display()
                ))
                .hint(ID_KEY_HINT)
            })?
        }
        (None, Some(key)) => key,
        (None, None) => return Ok(None),
    };
    IdKey::from_text(&text)
        .map(Some)
        .map_err(|e| CliError::usage(e.to_string()).hint(ID_KEY_HINT))
}

impl WorkerArgs {
    /// The ID-number HMAC key, from `--id-hmac-key-file` or
    /// `CREDVERIFY_ID_HMAC_KEY`. A worker refuses to start without one:
    /// it would leave every submitted number unsealed in the database.
    pub fn id_key(&self) -> Result<crate::domain::IdKey, CliError> {
        id_key_from(self.id_hmac_key_file.as_deref())?.ok_or_else(|| {
            CliError::usage(
                "no ID-number HMAC key: a worker seals the ID numbers backends submit and \
                 cannot start without the key (--id-hmac-key-file or CREDVERIFY_ID_HMAC_KEY)",
            )
            .hint(ID_KEY_HINT)
        })
    }

    pub fn options(&self) -> WorkerOptions {
        WorkerOptions {
            queue: crate::store::QUEUE,
            concurrency: self.concurrency.max(1),
            drain: self.drain,
            poll_interval: Duration::from_millis(self.poll_ms.max(10)),
            heartbeat: Duration::from_secs(self.heartbeat_secs.max(1)),
            missed_heartbeats: 3,
            shutdown_grace: Duration::from_secs(self.shutdown_grace_secs),
            sweep_interval: Duration::from_secs(self.sweep_interval_secs.max(1)),
            sweep_quiet: Duration::from_secs(self.sweep_quiet_secs),
            notification_retention: Duration::from_secs(
                u64::from(self.ops.notification_retention_days) * 86_400,
            ),
            deliver_webhooks: self.ops.webhook_url.is_some(),
        }
    }
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(if s.is_finite() && s > 0.0 { s } else { 0.0 })
}

/// A path argument that may be `-` for standard input: a regular file only
/// (`/dev/zero` or a FIFO would never end), and never more than `limit`
/// bytes read (`/proc/self/environ` and friends are not regular files).
pub(crate) fn read_input(path: &std::path::Path, limit: u64) -> std::io::Result<Vec<u8>> {
    use crate::safe_open::{OpenError, open_regular, read_capped};
    let too_large = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than the {limit}-byte limit"),
        )
    };
    if path.as_os_str() == "-" {
        return read_capped(std::io::stdin().lock(), limit)?.ok_or_else(too_large);
    }
    let file = open_regular(path).map_err(|e| match e {
        OpenError::Io(e) => e,
        OpenError::NotFound => std::io::Error::from(std::io::ErrorKind::NotFound),
        OpenError::Refused(why) => std::io::Error::new(std::io::ErrorKind::InvalidInput, why),
    })?;
    read_capped(file, limit)?.ok_or_else(too_large)
}

/// Parses the command line as [`Cli::parse`] does, and says whether the
/// database URL was given (flag or environment) rather than defaulted.
pub fn parse() -> (Cli, bool) {
    use clap::{CommandFactory, FromArgMatches};
    let matches = Cli::command().get_matches();
    let given = !matches!(
        matches.value_source("database_url"),
        None | Some(clap::parser::ValueSource::DefaultValue)
    );
    match Cli::from_arg_matches(&matches) {
        Ok(cli) => (cli, given),
        Err(e) => e.exit(),
    }
}

/// Runs a parsed command; the binary maps the error to an exit code.
/// `database_given`: as [`parse`] says.
pub async fn execute(cli: Cli, database_given: bool) -> Result<(), CliError> {
    database::check(&cli, database_given)?;
    let url = cli.database_url.clone();
    match cli.command {
        Command::Migrate => run::migrate(&url).await,
        Command::Worker(args) => run::worker(&url, args).await,
        Command::Submit(args) => submit::submit(&url, args).await,
        Command::Show(args) => records::show(&url, args).await,
        Command::List(args) => records::list(&url, args).await,
        Command::Rerun(args) => admin::rerun(&url, args).await,
        Command::Review(args) => admin::review(&url, args).await,
        Command::Revoke(args) => admin::revoke(&url, args).await,
        Command::Stats(args) => admin::stats(&url, args).await,
        Command::Sweep(args) => run::sweep(&url, args).await,
        Command::Sandbox(args) => run::sandbox(args).await,
        Command::Demo(args) => demo::demo(args).await,
        Command::Ocr(args) => ocr::ocr(args).await,
        Command::Page(args) => pages::page(&url, args).await,
        Command::Config(args) => config::show(args.json),
        Command::Withdraw(args) => desk::withdraw(&url, args).await,
        Command::Screenshot(args) => desk::screenshot(&url, args).await,
        Command::Operator(args) => desk::operator(&url, args).await,
        Command::Console(args) => desk::console(&url, args).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
