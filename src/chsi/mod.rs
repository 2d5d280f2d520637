//! The verification service (学信网 在线验证): fetch a report by its
//! 在线验证码 and tell a definite answer from a transient failure.

pub mod browser;
pub mod budget;
pub mod cookie_file;
mod drawn;
pub mod duplicate_labels;
mod fetcher;
pub mod front_door;
mod labels;
mod limiter;
mod markup;
pub mod page;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap};

pub use browser::find_chromium;
pub use budget::{BudgetError, ClusterBudget, LocalBudget, RequestBudget};
pub use drawn::DrawnImage;
pub use fetcher::FetchMode;
pub use front_door::is_front_door;
pub use limiter::RateLimiter;
pub use page::{DrawnField, Page, parse_page};

use crate::domain::VerificationCode;
use crate::verdict::Lookup;

pub const DEFAULT_BASE_URL: &str = "https://www.chsi.com.cn";

#[derive(Debug, Clone)]
pub struct ChsiConfig {
    pub base_url: String,
    /// Names the operator, as the service agreement asks.
    pub user_agent: String,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Requests per second for the whole budget (the process on SQLite,
    /// the cluster on PostgreSQL); `<= 0` is unlimited.
    pub rate_per_second: f64,
    /// Requests that may go at once after an idle spell.
    pub burst: u32,
    /// How long every request waits after the service pushed back.
    pub back_off: Duration,
    /// Larger bodies are cut off: a report page is a few KiB.
    pub max_body_bytes: usize,
    /// Caps on an image a report draws a value in (a name is a few KiB).
    pub image_limits: crate::ocr::Limits,
    /// Answers not recognised for one record before it goes to a person
    /// (`needs_review`, `page_unrecognised`).
    pub unrecognised_limit: u32,
    /// Plain HTTP, Chromium, or plain HTTP with Chromium for the front door.
    pub fetch: FetchMode,
    /// Chromium with a window (under Xvfb on a server) instead of headless.
    pub browser_headed: bool,
    /// Chromium's executable; unset: `chromium` (or another usual name) on PATH.
    pub browser_executable: Option<PathBuf>,
    /// Cookies exported from an operator's browser, for plain requests.
    pub cookie_file: Option<PathBuf>,
}

impl Default for ChsiConfig {
    fn default() -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_string(),
            user_agent: format!(
                "credverify/{} (operator not configured)",
                env!("CARGO_PKG_VERSION")
            ),
            timeout: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(5),
            rate_per_second: 1.0,
            burst: 1,
            back_off: Duration::from_secs(30),
            max_body_bytes: 2 * 1024 * 1024,
            image_limits: crate::ocr::Limits {
                max_bytes: 512 * 1024,
                max_pixels: 4_000_000,
            },
            unrecognised_limit: 3,
            fetch: FetchMode::default(),
            browser_headed: false,
            browser_executable: None,
            cookie_file: None,
        }
    }
}

/// A failure that says nothing about the credential: retry later.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Transient {
    #[error("the service asked for a captcha")]
    Captcha,
    #[error("the service is rate limiting (HTTP 429)")]
    RateLimited,
    #[error("the service failed (HTTP {0})")]
    ServerError(u16),
    #[error("unexpected HTTP status {0}")]
    UnexpectedStatus(u16),
    #[error("the request timed out")]
    Timeout,
    #[error("could not reach the service: {0}")]
    Connection(String),
    #[error("response body larger than {0} bytes")]
    BodyTooLarge(usize),
    #[error("unrecognised page: {0}")]
    UnrecognisedPage(String),
    #[error("the service says we query too often (您访问系统过于频繁)")]
    RateLimitedPage,
    #[error("the service is down for maintenance")]
    Maintenance,
    #[error("the service answered with its own error page")]
    ServiceErrorPage,
    /// The anti-bot front door (HTTP 202/412, or a body that is only a
    /// script): it needs a browser, or cookies that pass, to get through.
    #[error("the service answered with its anti-bot front door: {0}")]
    FrontDoor(String),
    #[error("the browser failed: {0}")]
    Browser(String),
    /// Our side could not tell whether a request may go (the cluster's
    /// budget lives in the database).
    #[error(transparent)]
    Budget(#[from] BudgetError),
    /// The report shows another 在线验证码 than the one asked for: not the
    /// candidate's report, whatever it says.
    #[error("the report is for another 在线验证码")]
    CodeMismatch,
}

impl Transient {
    /// A short stable label, for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Transient::Captcha => "captcha",
            Transient::RateLimited => "rate_limited",
            Transient::ServerError(_) => "server_error",
            Transient::UnexpectedStatus(_) => "unexpected_status",
            Transient::Timeout => "timeout",
            Transient::Connection(_) => "connection",
            Transient::BodyTooLarge(_) => "body_too_large",
            Transient::UnrecognisedPage(_) => "unrecognised_page",
            Transient::RateLimitedPage => "rate_limited_page",
            Transient::Maintenance => "maintenance",
            Transient::ServiceErrorPage => "service_error_page",
            Transient::FrontDoor(_) => "front_door",
            Transient::Budget(_) => "budget_unavailable",
            Transient::Browser(_) => "browser",
            Transient::CodeMismatch => "code_mismatch",
        }
    }

    /// The service told us to slow down (as opposed to a failure of our own
    /// network or a page we do not understand).
    fn is_push_back(&self) -> bool {
        matches!(
            self,
            Transient::Captcha
                | Transient::RateLimited
                | Transient::RateLimitedPage
                | Transient::Maintenance
                | Transient::ServerError(_)
        )
    }
}

/// The service's answer for one code.
#[derive(Debug, Clone)]
pub struct Answer {
    pub lookup: Lookup,
    /// Labels on the page whose values could not be read.
    pub unreadable: Vec<crate::domain::Field>,
    /// Values the report draws as images, fetched, still to be read.
    pub drawn: Vec<DrawnImage>,
    /// Fields the page states twice with different values.
    pub inconsistent: Vec<crate::domain::Field>,
}

/// A lookup that came to nothing, with the page when there was one.
#[derive(Debug, Clone)]
pub struct LookupFailure {
    pub error: Transient,
    /// The answer as received, for an answer not recognised.
    pub page: Option<RawPage>,
}

impl From<Transient> for LookupFailure {
    fn from(error: Transient) -> Self {
        LookupFailure { error, page: None }
    }
}

#[derive(Debug, Clone)]
pub struct RawPage {
    pub status: u16,
    pub body: Vec<u8>,
}

/// A client for one process; clone the `Arc` to share its request budget.
#[derive(Debug)]
pub struct ChsiClient {
    http: reqwest::Client,
    endpoint: reqwest::Url,
    budget: Arc<dyn RequestBudget>,
    fetcher: fetcher::Fetcher,
    config: ChsiConfig,
}

impl ChsiClient {
    /// A client with a budget of its own process.
    pub fn new(config: ChsiConfig) -> anyhow::Result<Arc<Self>> {
        let budget = Arc::new(LocalBudget::new(config.rate_per_second, config.burst));
        Self::with_budget(config, budget)
    }

    /// A client drawing on `budget`, e.g. the cluster's
    /// ([`budget::for_store`]).
    pub fn with_budget(
        config: ChsiConfig,
        budget: Arc<dyn RequestBudget>,
    ) -> anyhow::Result<Arc<Self>> {
        // Error texts are printed: the URL in them masked.
        let shown = crate::redact::url(&config.base_url);
        let base = reqwest::Url::parse(&config.base_url)
            .map_err(|e| anyhow::anyhow!("verification service URL `{shown}`: {e}"))?;
        if !matches!(base.scheme(), "http" | "https") {
            anyhow::bail!("verification service URL `{shown}` must be http or https");
        }
        let endpoint = base.join("/xlcx/bg.do")?;
        let jar = Arc::new(fetcher::ResettableJar::default());
        let fetcher = fetcher::Fetcher::new(&config, jar.clone(), base)?;
        let http = reqwest::Client::builder()
            .user_agent(config.user_agent.clone())
            .cookie_provider(jar)
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .redirect(same_origin_redirects(3))
            .build()?;
        Ok(Arc::new(Self {
            http,
            endpoint,
            budget,
            fetcher,
            config,
        }))
    }

    pub fn config(&self) -> &ChsiConfig {
        &self.config
    }

    /// The budget every request to the service draws on: anything else that
    /// fetches from the service (e.g. images a page draws its fields with)
    /// must take its share here too.
    pub fn budget(&self) -> &Arc<dyn RequestBudget> {
        &self.budget
    }

    /// The service pushed back: pause every request of the budget.
    pub async fn pushed_back(&self) {
        self.budget.back_off(self.config.back_off).await;
        crate::metrics::chsi_paused(self.config.back_off);
    }

    /// Looks a report up. `code` is validated by its type before it can reach
    /// the URL.
    pub async fn lookup(&self, code: &VerificationCode) -> Result<Answer, Transient> {
        self.lookup_keeping_page(code).await.map_err(|f| f.error)
    }

    /// [`lookup`](Self::lookup), with the page of an answer it could not
    /// recognise, to keep for a person.
    pub async fn lookup_keeping_page(
        &self,
        code: &VerificationCode,
    ) -> Result<Answer, LookupFailure> {
        self.budget.acquire().await.map_err(Transient::from)?;
        let started = std::time::Instant::now();
        let result = self.fetch(code).await;
        crate::metrics::chsi_request(
            started.elapsed(),
            result.as_ref().err().map(|f| f.error.kind()),
        );
        if let Err(f) = &result {
            let (t, kind) = (&f.error, f.error.kind());
            if t.is_push_back() {
                // The service is shared: every worker of the budget pauses.
                self.pushed_back().await;
            }
            match t {
                Transient::Maintenance => {
                    tracing::warn!(vcode = %code, kind, "verification service is down for maintenance; slowing down");
                }
                _ if t.is_push_back() => {
                    tracing::warn!(vcode = %code, kind, error = %t, "verification service pushed back; slowing down");
                }
                Transient::CodeMismatch => {
                    tracing::error!(vcode = %code, kind, error = %t, "the verification service answered with another code's report: check the service URL and anything between us and it");
                }
                Transient::FrontDoor(_) | Transient::Browser(_) => {
                    tracing::warn!(vcode = %code, kind, error = %t, "could not get past the verification service's front door");
                }
                Transient::UnrecognisedPage(_) | Transient::ServiceErrorPage => {
                    // No snippet here: it may quote a code, an ID number or
                    // the candidate's name, which only the caller can mask
                    // (the pipeline logs it redacted); the raw page goes to
                    // the page store.
                    tracing::error!(vcode = %code, kind, "verification service returned a page we do not recognise: has the site changed?");
                }
                _ => {}
            }
        }
        result
    }

    async fn fetch(&self, code: &VerificationCode) -> Result<Answer, LookupFailure> {
        let mut url = self.endpoint.clone();
        url.query_pairs_mut()
            .append_pair("vcode", code.expose())
            .append_pair("srcid", "bgcx");
        let (status, html) = self.page(url).await?;
        // Parsing is CPU work: keep it off the async runtime's threads.
        let (page, html) = tokio::task::spawn_blocking(move || (parse_page(&html), html))
            .await
            .map_err(|e| Transient::UnrecognisedPage(format!("page parser failed: {e}")))?;
        let answer = |lookup| Answer {
            lookup,
            unreadable: vec![],
            drawn: vec![],
            inconsistent: vec![],
        };
        match page {
            Page::Report {
                vcode: Some(shown), ..
            } if !same_code(&shown, code) => Err(Transient::CodeMismatch.into()),
            Page::Report {
                report,
                unreadable,
                drawn,
                inconsistent,
                ..
            } => Ok(Answer {
                lookup: Lookup::Found(report),
                unreadable,
                drawn: self.fetch_drawn(&drawn).await?,
                inconsistent,
            }),
            Page::Invalid => Ok(answer(Lookup::Invalid)),
            Page::Expired => Ok(answer(Lookup::Expired)),
            Page::Closed => Ok(answer(Lookup::Closed)),
            Page::Captcha => Err(Transient::Captcha.into()),
            Page::RateLimited => Err(Transient::RateLimitedPage.into()),
            Page::Maintenance => Err(Transient::Maintenance.into()),
            Page::ServiceError => Err(Transient::ServiceErrorPage.into()),
            Page::FrontDoor => Err(Transient::FrontDoor(format!(
                "HTTP {status} with nothing but a script; the page needs a browser"
            ))
            .into()),
            Page::Unrecognised(why) => Err(LookupFailure {
                error: Transient::UnrecognisedPage(why),
                page: Some(RawPage {
                    status,
                    body: html.into_bytes(),
                }),
            }),
        }
    }
}

impl ChsiClient {
    /// The page for `url`, by the configured fetcher: plain HTTP first
    /// (unless every page goes to the browser), and the front door handed
    /// to the fetcher to pass or to name.
    async fn page(&self, url: reqwest::Url) -> Result<(u16, String), Transient> {
        if self.fetcher.browser_only() {
            return Ok((200, self.fetcher.browse(&url, self.budget.as_ref()).await?));
        }
        self.fetcher.refresh_cookies();
        let (status, html) = self.get(url.clone()).await?;
        // Parsing is CPU work: keep it off the async runtime's threads.
        let (door, html) =
            tokio::task::spawn_blocking(move || (front_door::is_front_door(status, &html), html))
                .await
                .map_err(|e| Transient::UnrecognisedPage(format!("page check failed: {e}")))?;
        if door {
            let html = self
                .fetcher
                .past_front_door(&url, self.budget.as_ref())
                .await?;
            Ok((200, html))
        } else {
            Ok((status, html))
        }
    }

    /// One plain request: the status and the decoded body of a 2xx or a
    /// front door's 412, or the transient failure the status means.
    async fn get(&self, url: reqwest::Url) -> Result<(u16, String), Transient> {
        let resp = self.http.get(url).send().await.map_err(classify)?;
        let status = resp.status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Err(Transient::RateLimited);
        }
        if status.is_server_error() {
            return Err(Transient::ServerError(status.as_u16()));
        }
        if !status.is_success() && status != StatusCode::PRECONDITION_FAILED {
            return Err(Transient::UnexpectedStatus(status.as_u16()));
        }
        let headers = resp.headers().clone();
        let body = read_limited(resp, self.config.max_body_bytes).await?;
        Ok((status.as_u16(), decode_body(&headers, &body)))
    }

    /// How many times this process started a browser (restarts count).
    pub fn browser_launches(&self) -> u64 {
        self.fetcher.browser().map_or(0, |b| b.launches())
    }

    /// Memory of the browser's processes (proportional set size), when one runs.
    pub async fn browser_memory_bytes(&self) -> Option<u64> {
        self.fetcher.browser()?.memory_bytes().await
    }

    /// The browser's process id, when one runs.
    pub async fn browser_pid(&self) -> Option<u32> {
        self.fetcher.browser()?.pid().await
    }

    /// What a page at `url` sees of the browser (see
    /// [`browser::ChromiumFetcher::fingerprint`]).
    pub async fn browser_fingerprint(&self, url: &str) -> Result<serde_json::Value, Transient> {
        match self.fetcher.browser() {
            Some(b) => b.fingerprint(url, self.budget.as_ref()).await,
            None => Err(Transient::Browser("no browser in this process".into())),
        }
    }

    /// Closes the browser, if one was started. Call before the process
    /// exits, so no Chromium outlives it.
    pub async fn shutdown(&self) {
        if let Some(b) = self.fetcher.browser() {
            b.shutdown().await;
        }
    }
}

/// Whether the code a report shows is the one asked for (the 12-digit
/// form is compared as is, the 16-character one ignoring case).
fn same_code(shown: &str, asked: &VerificationCode) -> bool {
    shown.eq_ignore_ascii_case(asked.expose())
}

/// Follows at most `max` redirects, and only within the origin of the
/// request (scheme, host and port): a redirect elsewhere would hand the
/// 在线验证码 in the URL to another server, or point our client at an
/// internal service (a database port on localhost).
fn same_origin_redirects(max: usize) -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(move |attempt| {
        let same = attempt.previous().first().is_some_and(|first| {
            first.scheme() == attempt.url().scheme()
                && first.host_str() == attempt.url().host_str()
                && first.port_or_known_default() == attempt.url().port_or_known_default()
        });
        if !same || attempt.previous().len() > max {
            attempt.stop()
        } else {
            attempt.follow()
        }
    })
}

fn classify(e: reqwest::Error) -> Transient {
    if e.is_timeout() {
        Transient::Timeout
    } else {
        // The error chain can carry the URL, and with it the code: keep only
        // the kind of failure.
        Transient::Connection(e.without_url().to_string())
    }
}

/// Reads at most `limit` bytes: a hostile or broken server cannot make us
/// hold a 50 MB body.
async fn read_limited(mut resp: reqwest::Response, limit: usize) -> Result<Vec<u8>, Transient> {
    if let Some(len) = resp.content_length()
        && len as usize > limit
    {
        return Err(Transient::BodyTooLarge(limit));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(classify)? {
        if body.len() + chunk.len() > limit {
            return Err(Transient::BodyTooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Decodes by the declared charset (header, then `<meta>`), UTF-8 otherwise;
/// undecodable bytes become U+FFFD rather than an error.
fn decode_body(headers: &HeaderMap, body: &[u8]) -> String {
    let from_header = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| {
            ct.split(';')
                .find_map(|p| p.trim().strip_prefix("charset="))
        })
        .map(|c| c.trim_matches('"').to_string());
    let from_meta = || {
        let head = String::from_utf8_lossy(&body[..body.len().min(2048)]).to_ascii_lowercase();
        head.find("charset=").map(|i| {
            head[i + 8..]
                .trim_start_matches(['"', '\''])
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect::<String>()
        })
    };
    let label = from_header
        .or_else(from_meta)
        .unwrap_or_else(|| "utf-8".into());
    let encoding = encoding_rs::Encoding::for_label(label.as_bytes()).unwrap_or(encoding_rs::UTF_8);
    encoding.decode(body).0.into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gbk_pages_are_decoded_by_their_declared_charset() {
        let (bytes, _, _) = encoding_rs::GBK.encode("此在线验证码无效");
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, "text/html; charset=GBK".parse().unwrap());
        assert_eq!(decode_body(&h, &bytes), "此在线验证码无效");
        let meta = [b"<meta charset=\"gbk\">".as_slice(), &bytes].concat();
        assert!(decode_body(&HeaderMap::new(), &meta).contains("此在线验证码无效"));
    }

    #[test]
    fn non_http_base_urls_are_refused() {
        let cfg = ChsiConfig {
            base_url: "file:///etc".into(),
            ..Default::default()
        };
        assert!(ChsiClient::new(cfg).is_err());
    }
}
