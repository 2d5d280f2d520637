//! How pages are fetched (`--chsi-fetch`): plain HTTP, Chromium, or plain
//! HTTP with Chromium called in only for the front door (`auto`). Cookies
//! the browser earns, or that an operator exported (`--chsi-cookies`), go
//! into the plain client's jar and are used while they pass.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use reqwest::Url;
use reqwest::cookie::{CookieStore, Jar};
use reqwest::header::HeaderValue;

use super::browser::{BrowserSettings, ChromiumFetcher, find_chromium};
use super::cookie_file::CookieFile;
use super::{ChsiConfig, RequestBudget, Transient};

/// How pages are fetched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum FetchMode {
    /// Plain HTTP only: the front door is a transient failure.
    Http,
    /// Every page in Chromium.
    Browser,
    /// Plain HTTP; Chromium for a front door, then its cookies for plain
    /// requests while they pass. Plain HTTP alone when Chromium is missing.
    #[default]
    Auto,
}

impl FetchMode {
    pub fn as_str(self) -> &'static str {
        match self {
            FetchMode::Http => "http",
            FetchMode::Browser => "browser",
            FetchMode::Auto => "auto",
        }
    }
}

/// A cookie jar that can be emptied: reqwest's own only grows, and a
/// reloaded cookie file must replace what the old one put in.
#[derive(Debug, Default)]
pub struct ResettableJar {
    inner: RwLock<Arc<Jar>>,
}

impl ResettableJar {
    fn current(&self) -> Arc<Jar> {
        self.inner.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn add(&self, set_cookie: &str, url: &Url) {
        self.current().add_cookie_str(set_cookie, url);
    }

    pub fn reset(&self) {
        *self.inner.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(Jar::default());
    }
}

impl CookieStore for ResettableJar {
    fn set_cookies(&self, headers: &mut dyn Iterator<Item = &HeaderValue>, url: &Url) {
        self.current().set_cookies(headers, url)
    }

    fn cookies(&self, url: &Url) -> Option<HeaderValue> {
        self.current().cookies(url)
    }
}

/// Where the cookies that passed the front door came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Earned {
    Browser,
    CookieFile,
}

impl Earned {
    fn label(this: Option<Earned>) -> &'static str {
        match this {
            None => "none",
            Some(Earned::Browser) => "browser",
            Some(Earned::CookieFile) => "cookie_file",
        }
    }
}

#[derive(Debug)]
pub(crate) struct Fetcher {
    mode: FetchMode,
    browser: Option<ChromiumFetcher>,
    cookie_file: Option<CookieFile>,
    jar: Arc<ResettableJar>,
    base: Url,
    earned: Mutex<Option<Earned>>,
}

impl Fetcher {
    /// `Browser` without Chromium, or headed without a display, is a
    /// misconfiguration: refused at start. `Auto` without Chromium works as
    /// `Http` and says so here, once.
    pub(crate) fn new(
        config: &ChsiConfig,
        jar: Arc<ResettableJar>,
        base: Url,
    ) -> anyhow::Result<Self> {
        let browser = match config.fetch {
            FetchMode::Http => None,
            mode => match find_chromium(config.browser_executable.as_deref()) {
                Some(executable) => {
                    if config.browser_headed && std::env::var_os("DISPLAY").is_none() {
                        anyhow::bail!(
                            "--chsi-browser-headed needs a display: run the worker under xvfb-run, or drop the flag"
                        );
                    }
                    Some(ChromiumFetcher::new(BrowserSettings {
                        executable,
                        headed: config.browser_headed,
                        user_agent: config.user_agent.clone(),
                        timeout: config.timeout,
                        max_body_bytes: config.max_body_bytes,
                    }))
                }
                None if mode == FetchMode::Browser => anyhow::bail!(
                    "--chsi-fetch browser needs Chromium{}: install it (scripts/setup-system) or use --chsi-fetch http",
                    missing_where(&config.browser_executable)
                ),
                None => {
                    tracing::warn!(
                        "Chromium not found{}: --chsi-fetch auto works as http, and a front door leaves records unverified (install chromium, or pass --chsi-cookies)",
                        missing_where(&config.browser_executable)
                    );
                    None
                }
            },
        };
        let host = base.host_str().unwrap_or_default().to_string();
        let fetcher = Self {
            mode: config.fetch,
            browser,
            cookie_file: config
                .cookie_file
                .clone()
                .map(|path| CookieFile::new(path, host)),
            jar,
            base,
            earned: Mutex::new(None),
        };
        fetcher.refresh_cookies();
        Ok(fetcher)
    }

    /// Pages go to the browser first, not to plain HTTP.
    pub(crate) fn browser_only(&self) -> bool {
        self.mode == FetchMode::Browser && self.browser.is_some()
    }

    pub(crate) fn browser(&self) -> Option<&ChromiumFetcher> {
        self.browser.as_ref()
    }

    fn set_earned(&self, e: Option<Earned>) -> Option<Earned> {
        std::mem::replace(
            &mut *self.earned.lock().unwrap_or_else(|p| p.into_inner()),
            e,
        )
    }

    /// Loads the cookie file again if it changed; its cookies then replace
    /// whatever the jar held. A file that became unreadable keeps the old
    /// cookies and is reported.
    pub(crate) fn refresh_cookies(&self) {
        let Some(file) = &self.cookie_file else {
            return;
        };
        match file.reload_if_changed() {
            None => {}
            Some(Ok(cookies)) => {
                self.jar.reset();
                for c in &cookies {
                    self.jar.add(&c.set_cookie_line(), &self.base);
                }
                self.set_earned((!cookies.is_empty()).then_some(Earned::CookieFile));
                tracing::info!(
                    file = %file.path().display(),
                    cookies = cookies.len(),
                    "loaded the cookie file"
                );
                if cookies.is_empty() {
                    tracing::warn!(file = %file.path().display(), "the cookie file holds no unexpired cookie for the service's host");
                }
            }
            Some(Err(e)) => {
                tracing::warn!(file = %file.path().display(), error = %e, "cannot use the cookie file; keeping the cookies loaded before");
            }
        }
    }

    /// A plain request met the front door: count it, warn when cookies that
    /// used to pass no longer do, and go through the browser if allowed.
    pub(crate) async fn past_front_door(
        &self,
        url: &Url,
        limiter: &dyn RequestBudget,
    ) -> Result<String, Transient> {
        let had = self.set_earned(None);
        crate::metrics::chsi_front_door(Earned::label(had));
        if let Some(source) = had {
            let source = match source {
                Earned::Browser => "the browser".to_string(),
                Earned::CookieFile => self
                    .cookie_file
                    .as_ref()
                    .map(|f| format!("the cookie file {}", f.path().display()))
                    .unwrap_or_default(),
            };
            tracing::warn!("the front door is back: the cookies from {source} no longer pass");
        }
        match (&self.browser, self.mode) {
            (Some(_), FetchMode::Auto | FetchMode::Browser) => {
                tracing::info!("front door: fetching the page in the browser");
                // A second request for the same page: a slot of its own.
                limiter.acquire().await?;
                self.browse(url, limiter).await
            }
            _ => Err(Transient::FrontDoor(
                "a plain HTTP client cannot pass it: use --chsi-fetch auto with Chromium, or --chsi-cookies"
                    .into(),
            )),
        }
    }

    /// The page in the browser; its cookies then serve plain requests.
    pub(crate) async fn browse(
        &self,
        url: &Url,
        limiter: &dyn RequestBudget,
    ) -> Result<String, Transient> {
        let browser = self
            .browser
            .as_ref()
            .ok_or_else(|| Transient::Browser("no browser in this process".into()))?;
        let fetched = browser.fetch(url.as_str(), limiter).await?;
        for c in &fetched.cookies {
            self.jar.add(&c.set_cookie_line(), url);
        }
        if !fetched.cookies.is_empty() {
            self.set_earned(Some(Earned::Browser));
        }
        Ok(fetched.html)
    }
}

fn missing_where(explicit: &Option<PathBuf>) -> String {
    match explicit {
        Some(p) => format!(" at {}", p.display()),
        None => " on PATH".into(),
    }
}
