//! The verification service (学信网 在线验证): fetch a report by its
//! 在线验证码 and tell a definite answer from a transient failure.

pub mod browser;
pub mod cookie_file;
mod fetcher;
pub mod front_door;
mod limiter;
pub mod page;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap};

pub use browser::find_chromium;
pub use fetcher::FetchMode;
pub use front_door::is_front_door;
pub use limiter::RateLimiter;
pub use page::{Page, parse_page};

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
    /// Requests per second for the whole process; `<= 0` is unlimited.
    pub rate_per_second: f64,
    /// How long every request waits after the service pushed back.
    pub back_off: Duration,
    /// Larger bodies are cut off: a report page is a few KiB.
    pub max_body_bytes: usize,
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
            back_off: Duration::from_secs(30),
            max_body_bytes: 2 * 1024 * 1024,
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
    #[error("the service answered with its anti-bot front door: {0}")]
    FrontDoor(String),
    #[error("the browser failed: {0}")]
    Browser(String),
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
            Transient::FrontDoor(_) => "front_door",
            Transient::Browser(_) => "browser",
        }
    }

    /// The service told us to slow down (as opposed to a failure of our own
    /// network or a page we do not understand).
    fn is_push_back(&self) -> bool {
        matches!(
            self,
            Transient::Captcha | Transient::RateLimited | Transient::ServerError(_)
        )
    }
}

/// The service's answer for one code.
#[derive(Debug, Clone)]
pub struct Answer {
    pub lookup: Lookup,
    /// Labels on the page whose values could not be read.
    pub unreadable: Vec<crate::domain::Field>,
}

/// A client for one process; clone the `Arc` to share its rate limit.
#[derive(Debug)]
pub struct ChsiClient {
    http: reqwest::Client,
    endpoint: reqwest::Url,
    limiter: RateLimiter,
    fetcher: fetcher::Fetcher,
    config: ChsiConfig,
}

impl ChsiClient {
    pub fn new(config: ChsiConfig) -> anyhow::Result<Arc<Self>> {
        let base = reqwest::Url::parse(&config.base_url)
            .map_err(|e| anyhow::anyhow!("verification service URL `{}`: {e}", config.base_url))?;
        if !matches!(base.scheme(), "http" | "https") {
            anyhow::bail!(
                "verification service URL `{}` must be http or https",
                config.base_url
            );
        }
        let endpoint = base.join("/xlcx/bg.do")?;
        let jar = Arc::new(fetcher::ResettableJar::default());
        let fetcher = fetcher::Fetcher::new(&config, jar.clone(), base)?;
        let http = reqwest::Client::builder()
            .user_agent(config.user_agent.clone())
            .cookie_provider(jar)
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()?;
        Ok(Arc::new(Self {
            http,
            endpoint,
            limiter: RateLimiter::new(config.rate_per_second),
            fetcher,
            config,
        }))
    }

    pub fn config(&self) -> &ChsiConfig {
        &self.config
    }

    /// Looks a report up. `code` is validated by its type before it can reach
    /// the URL.
    pub async fn lookup(&self, code: &VerificationCode) -> Result<Answer, Transient> {
        self.limiter.acquire().await;
        let started = std::time::Instant::now();
        let result = self.fetch(code).await;
        crate::metrics::chsi_request(
            started.elapsed(),
            result.as_ref().err().map(Transient::kind),
        );
        match &result {
            Err(t) if t.is_push_back() => {
                tracing::warn!(vcode = %code, error = %t, "verification service pushed back; slowing down");
                self.limiter.back_off(self.config.back_off);
            }
            Err(t @ (Transient::FrontDoor(_) | Transient::Browser(_))) => {
                tracing::warn!(vcode = %code, error = %t, "could not get past the verification service's front door");
            }
            Err(t @ Transient::UnrecognisedPage(_)) => {
                tracing::error!(vcode = %code, error = %t, "verification service returned a page we do not recognise: has the site changed?");
            }
            _ => {}
        }
        result
    }

    async fn fetch(&self, code: &VerificationCode) -> Result<Answer, Transient> {
        let mut url = self.endpoint.clone();
        url.query_pairs_mut()
            .append_pair("vcode", code.expose())
            .append_pair("srcid", "bgcx");
        let html = self.page(url).await?;
        // Parsing is CPU work: keep it off the async runtime's threads.
        let page = tokio::task::spawn_blocking(move || parse_page(&html))
            .await
            .map_err(|e| Transient::UnrecognisedPage(format!("page parser failed: {e}")))?;
        match page {
            Page::Report {
                report, unreadable, ..
            } => Ok(Answer {
                lookup: Lookup::Found(report),
                unreadable,
            }),
            Page::Invalid => Ok(Answer {
                lookup: Lookup::Invalid,
                unreadable: vec![],
            }),
            Page::Expired => Ok(Answer {
                lookup: Lookup::Expired,
                unreadable: vec![],
            }),
            Page::Closed => Ok(Answer {
                lookup: Lookup::Closed,
                unreadable: vec![],
            }),
            Page::Captcha => Err(Transient::Captcha),
            Page::Unrecognised(why) => Err(Transient::UnrecognisedPage(why)),
        }
    }
}

impl ChsiClient {
    /// The page for `url`, by the configured fetcher: plain HTTP first
    /// (unless every page goes to the browser), and the front door handed
    /// to the fetcher to pass or to name.
    async fn page(&self, url: reqwest::Url) -> Result<String, Transient> {
        if self.fetcher.browser_only() {
            return self.fetcher.browse(&url, &self.limiter).await;
        }
        self.fetcher.refresh_cookies();
        let (status, html) = self.get(url.clone()).await?;
        // Parsing is CPU work: keep it off the async runtime's threads.
        let (door, html) =
            tokio::task::spawn_blocking(move || (front_door::is_front_door(status, &html), html))
                .await
                .map_err(|e| Transient::UnrecognisedPage(format!("page check failed: {e}")))?;
        if door {
            self.fetcher.past_front_door(&url, &self.limiter).await
        } else {
            Ok(html)
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
            Some(b) => b.fingerprint(url, &self.limiter).await,
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
