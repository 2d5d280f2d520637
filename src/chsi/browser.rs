//! Chromium for the service's front door, driven over the DevTools protocol.
//!
//! One browser per process, launched on first need and launched again if it
//! died. It must not announce itself: the front door gives no cookie to a
//! browser that says it is automated (`navigator.webdriver`) or headless (in
//! its User-Agent). So the browser runs without `--enable-automation`, with
//! the blink automation flag off, the plain client's User-Agent, a desktop
//! window size and Chinese languages.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chromiumoxide::cdp::browser_protocol::fetch::{self, EventRequestPaused};
use chromiumoxide::cdp::browser_protocol::network::{ErrorReason, ResourceType};
use chromiumoxide::cdp::browser_protocol::page::FrameId;
use chromiumoxide::{Browser, BrowserConfig, Page};
use futures::StreamExt;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{RequestBudget, Transient, front_door};

/// A common desktop screen: a window of the default 800×600 is a tell.
pub const WINDOW_SIZE: (u32, u32) = (1366, 768);
const LANGUAGES: &str = "zh-CN,zh";
/// The front door costs one reload; more than this many reloads for one
/// fetch is a loop, and a loop would hammer the service.
const MAX_RELOADS: usize = 3;
const POLL: Duration = Duration::from_millis(100);
/// Starting Chromium is our own cost, not the service's: on a busy host it
/// takes seconds, and a page timeout of 2 s must not make it fail for ever.
const MIN_LAUNCH_TIMEOUT: Duration = Duration::from_secs(30);

/// Flags for a browser that only fetches pages: no GPU, no QUIC, and none
/// of the background traffic (updates, sync, safe browsing) that keeps
/// trying to reach the network.
const ARGS: &[&str] = &[
    "disable-gpu",
    "disable-quic",
    "no-first-run",
    "no-default-browser-check",
    "disable-background-networking",
    "disable-component-update",
    "disable-sync",
    "disable-default-apps",
    "disable-extensions",
    "disable-breakpad",
    "disable-dev-shm-usage",
    "disable-client-side-phishing-detection",
    "metrics-recording-only",
    "mute-audio",
    "hide-scrollbars",
    "password-store=basic",
    "use-mock-keychain",
];

#[derive(Debug, Clone)]
pub struct BrowserSettings {
    pub executable: PathBuf,
    /// A visible window (under Xvfb on a server) instead of headless mode.
    pub headed: bool,
    /// The plain client's, so cookies the browser earns fit plain requests.
    pub user_agent: String,
    /// For each launch and each page load.
    pub timeout: Duration,
    pub max_body_bytes: usize,
}

/// The page behind the front door, and the cookies that opened it.
#[derive(Debug)]
pub struct Fetched {
    pub html: String,
    pub cookies: Vec<BrowserCookie>,
}

/// Values are credentials: not printed by `Debug`.
#[derive(Clone)]
pub struct BrowserCookie {
    pub name: String,
    pub value: String,
    pub path: String,
}

impl std::fmt::Debug for BrowserCookie {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrowserCookie")
            .field("name", &self.name)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl BrowserCookie {
    pub fn set_cookie_line(&self) -> String {
        format!("{}={}; Path={}", self.name, self.value, self.path)
    }
}

/// The installed Chromium: `explicit` if given, else the first of the
/// usual names on `PATH`.
pub fn find_chromium(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return p.is_file().then(|| p.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ]
    .iter()
    .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
    .find(|p| p.is_file())
}

struct Running {
    browser: Browser,
    handler: JoinHandle<()>,
    // Removed when the browser is dropped; a fresh profile per launch keeps
    // nothing from a browser that crashed.
    _profile: tempfile::TempDir,
}

impl Running {
    fn alive(&mut self) -> bool {
        !self.handler.is_finished() && matches!(self.browser.try_wait(), Ok(None))
    }

    fn pid(&mut self) -> Option<u32> {
        self.browser
            .get_mut_child()
            .and_then(|c| c.as_mut_inner().id())
    }

    async fn stop(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(5), self.browser.close()).await;
        if matches!(self.browser.try_wait(), Ok(None)) {
            let _ = self.browser.kill().await;
        }
        let _ = self.browser.wait().await;
        self.handler.abort();
    }
}

/// The process's browser. Fetches take turns: at the configured request
/// rate one page at a time is all the service sees anyway.
pub struct ChromiumFetcher {
    settings: BrowserSettings,
    running: Mutex<Option<Running>>,
    launches: AtomicU64,
}

impl std::fmt::Debug for ChromiumFetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChromiumFetcher")
            .field("settings", &self.settings)
            .field("launches", &self.launches.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

fn browser_error(what: &str, e: impl std::fmt::Display) -> Transient {
    Transient::Browser(format!("{what}: {e}"))
}

/// Lets the tab's page loads out one at a time: each reload is paid for from
/// the budget before it goes (the first load was paid by the caller), and
/// the first past `MAX_RELOADS` is refused in the browser, which ends the
/// fetch. The browser holds each load until this says, so a page reloading
/// itself in a loop is stopped before its requests leave, however slowly the
/// tab is polled (polling alone once let nine requests through on a busy
/// host). Loads of other frames (an iframe's page) go as they come. Returns
/// only with the reason it refused a load; runs until dropped otherwise.
async fn gate(
    page: &Page,
    main_frame: Option<FrameId>,
    mut requests: impl futures::Stream<Item = std::sync::Arc<EventRequestPaused>> + Unpin,
    limiter: &dyn RequestBudget,
) -> Transient {
    let mut loads = 0usize;
    while let Some(ev) = requests.next().await {
        let id = ev.request_id.clone();
        let verdict = if main_frame.as_ref().is_some_and(|f| *f != ev.frame_id) {
            Ok(())
        } else {
            loads += 1;
            match loads {
                1 => Ok(()),
                n if n > 1 + MAX_RELOADS => Err(Transient::FrontDoor(
                    "the page kept reloading in the browser".into(),
                )),
                _ => limiter.acquire().await.map_err(Transient::from),
            }
        };
        let released = match &verdict {
            Ok(()) => page
                .execute(fetch::ContinueRequestParams::new(id))
                .await
                .map(drop),
            Err(_) => page
                .execute(fetch::FailRequestParams::new(
                    id,
                    ErrorReason::BlockedByClient,
                ))
                .await
                .map(drop),
        };
        if let Err(e) = verdict {
            return e;
        }
        if let Err(e) = released {
            // The tab is closing or gone; the poll of it notices.
            tracing::debug!("a held request could not be released: {e}");
        }
    }
    futures::future::pending().await
}

fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

impl ChromiumFetcher {
    pub fn new(settings: BrowserSettings) -> Self {
        Self {
            settings,
            running: Mutex::new(None),
            launches: AtomicU64::new(0),
        }
    }

    /// How many times a browser was started (a restart counts).
    pub fn launches(&self) -> u64 {
        self.launches.load(Ordering::Relaxed)
    }

    fn launch_timeout(&self) -> Duration {
        self.settings.timeout.max(MIN_LAUNCH_TIMEOUT)
    }

    async fn launch(&self) -> Result<Running, Transient> {
        let profile = tempfile::Builder::new()
            .prefix("credverify-chromium-")
            .tempdir()
            .map_err(|e| browser_error("cannot create a browser profile", e))?;
        let mut builder = BrowserConfig::builder()
            .chrome_executable(&self.settings.executable)
            // The defaults announce automation (`--enable-automation`) and
            // an English locale.
            .disable_default_args()
            .user_data_dir(profile.path())
            .window_size(WINDOW_SIZE.0, WINDOW_SIZE.1)
            .viewport(None)
            .launch_timeout(self.launch_timeout())
            .request_timeout(self.settings.timeout)
            .args(ARGS.iter().copied())
            .arg(("disable-blink-features", "AutomationControlled"))
            .arg(("lang", "zh-CN"))
            .arg(("accept-lang", LANGUAGES))
            .arg(("user-agent", self.settings.user_agent.as_str()));
        builder = if self.settings.headed {
            builder.with_head()
        } else {
            builder.new_headless_mode()
        };
        if running_as_root() {
            // Chromium refuses to start as root with its sandbox on.
            builder = builder.no_sandbox();
        }
        let config = builder
            .build()
            .map_err(|e| browser_error("browser configuration", e))?;
        let (browser, mut handler) =
            tokio::time::timeout(self.launch_timeout(), Browser::launch(config))
                .await
                .map_err(|_| Transient::Browser("the browser did not start in time".into()))?
                .map_err(|e| browser_error("cannot start the browser", e))?;
        // The connection's messages must be read for any command to finish;
        // the stream ends when the browser goes away.
        let handler = tokio::spawn(async move { while handler.next().await.is_some() {} });
        let n = self.launches.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::info!(
            executable = %self.settings.executable.display(),
            headed = self.settings.headed,
            launches = n,
            "browser started"
        );
        Ok(Running {
            browser,
            handler,
            _profile: profile,
        })
    }

    /// Loads `url` as a person's browser would, waiting past the front door
    /// (its script sets a cookie and reloads) until the page is something
    /// else, within the timeout. The caller takes the rate limiter's slot
    /// for the navigation; each reload the page makes takes another.
    pub async fn fetch(
        &self,
        url: &str,
        limiter: &dyn RequestBudget,
    ) -> Result<Fetched, Transient> {
        let mut guard = self.running.lock().await;
        if let Some(mut r) = guard.take() {
            if r.alive() {
                *guard = Some(r);
            } else {
                tracing::warn!("the browser has died; starting a new one");
                r.stop().await;
            }
        }
        if guard.is_none() {
            *guard = Some(self.launch().await?);
        }
        let running = guard.as_mut().expect("just launched");
        let result = self.load(&running.browser, url, limiter).await;
        if result.is_err()
            && !running.alive()
            && let Some(r) = guard.take()
        {
            r.stop().await;
        }
        result
    }

    async fn load(
        &self,
        browser: &Browser,
        url: &str,
        limiter: &dyn RequestBudget,
    ) -> Result<Fetched, Transient> {
        let deadline = Instant::now() + self.settings.timeout;
        let page = tokio::time::timeout(self.settings.timeout, browser.new_page("about:blank"))
            .await
            .map_err(|_| Transient::Browser("no new tab in time".into()))?
            .map_err(|e| browser_error("cannot open a tab", e))?;
        let result = self.load_in(&page, url, deadline, limiter).await;
        let _ = tokio::time::timeout(Duration::from_secs(5), page.close()).await;
        result
    }

    async fn load_in(
        &self,
        page: &Page,
        url: &str,
        deadline: Instant,
        limiter: &dyn RequestBudget,
    ) -> Result<Fetched, Transient> {
        let requests = page
            .event_listener::<EventRequestPaused>()
            .await
            .map_err(|e| browser_error("cannot watch the tab's requests", e))?;
        let main_frame = page
            .mainframe()
            .await
            .map_err(|e| browser_error("cannot find the tab's frame", e))?;
        page.execute(fetch::EnableParams {
            patterns: Some(vec![fetch::RequestPattern {
                url_pattern: Some("*".into()),
                resource_type: Some(ResourceType::Document),
                request_stage: None,
            }]),
            handle_auth_requests: None,
        })
        .await
        .map_err(|e| browser_error("cannot hold the tab's requests", e))?;
        let settle = async {
            // The first load may end in the front door's reload; what counts
            // is the page the tab settles on, polled below.
            match tokio::time::timeout_at(deadline, page.goto(url)).await {
                Err(_) => return Err(Transient::Timeout),
                // The error may quote the URL, and with it the code: not logged.
                Ok(Err(_)) => tracing::debug!("navigation reported an error; polling the tab"),
                Ok(Ok(_)) => {}
            }
            self.settle(page, deadline).await
        };
        tokio::select! {
            fetched = settle => fetched,
            refusal = gate(page, main_frame, requests, limiter) => Err(refusal),
        }
    }

    /// Polls the tab until it shows something other than the front door.
    async fn settle(&self, page: &Page, deadline: Instant) -> Result<Fetched, Transient> {
        loop {
            if let Ok(Ok(html)) = tokio::time::timeout_at(deadline, page.content()).await {
                if html.len() > self.settings.max_body_bytes {
                    return Err(Transient::BodyTooLarge(self.settings.max_body_bytes));
                }
                if !front_door::is_front_door(200, &html) && !is_blank(&html) {
                    let cookies = tokio::time::timeout_at(deadline, page.get_cookies())
                        .await
                        .map_err(|_| Transient::Timeout)?
                        .map_err(|e| browser_error("cannot read the tab's cookies", e))?
                        .into_iter()
                        .map(|c| BrowserCookie {
                            name: c.name,
                            value: c.value,
                            path: c.path,
                        })
                        .collect();
                    return Ok(Fetched { html, cookies });
                }
            }
            if Instant::now() + POLL >= deadline {
                return Err(Transient::FrontDoor(
                    "the browser stayed at the front door until the timeout".into(),
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// What a page sees of this browser: `navigator.webdriver`, the
    /// User-Agent, languages and window size. For checking that it does not
    /// announce automation.
    pub async fn fingerprint(
        &self,
        url: &str,
        limiter: &dyn RequestBudget,
    ) -> Result<serde_json::Value, Transient> {
        self.fetch(url, limiter).await?;
        let guard = self.running.lock().await;
        let running = guard
            .as_ref()
            .ok_or_else(|| Transient::Browser("browser gone".into()))?;
        let page = running
            .browser
            .new_page(url)
            .await
            .map_err(|e| browser_error("cannot open a tab", e))?;
        let value = page
            .evaluate(
                "({webdriver: navigator.webdriver === true, userAgent: navigator.userAgent, \
                  languages: navigator.languages, width: window.outerWidth, height: window.outerHeight})",
            )
            .await
            .map_err(|e| browser_error("cannot evaluate", e))?
            .into_value::<serde_json::Value>()
            .map_err(|e| browser_error("cannot read the result", e));
        let _ = page.close().await;
        value
    }

    /// Memory of the browser's processes (the browser and its renderers,
    /// GPU and utility children; proportional set size), in bytes; `None`
    /// when no browser is running.
    pub async fn memory_bytes(&self) -> Option<u64> {
        let mut guard = self.running.lock().await;
        let pid = guard.as_mut()?.pid()?;
        Some(tree_rss_bytes(pid))
    }

    /// The browser's process id, for operators (and tests that kill it).
    pub async fn pid(&self) -> Option<u32> {
        self.running.lock().await.as_mut()?.pid()
    }

    /// Closes the browser, if one runs.
    pub async fn shutdown(&self) {
        if let Some(r) = self.running.lock().await.take() {
            r.stop().await;
        }
    }
}

/// `about:blank` and a tab between documents: nothing yet.
fn is_blank(html: &str) -> bool {
    let compact: String = html.chars().filter(|c| !c.is_whitespace()).collect();
    compact == "<html><head></head><body></body></html>" || compact.is_empty()
}

/// Memory of `root` and its descendants, read from `/proc`.
fn tree_rss_bytes(root: u32) -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut parent_of: Vec<(u32, u32)> = Vec::new();
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // The command name may hold spaces and parentheses: fields after it.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        if let Some(ppid) = rest.split_whitespace().nth(1).and_then(|s| s.parse().ok()) {
            parent_of.push((pid, ppid));
        }
    }
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let p = tree[i];
        tree.extend(parent_of.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    tree.iter().map(|pid| process_memory_kib(*pid)).sum::<u64>() * 1024
}

/// A process's proportional set size (its shared pages split among the
/// processes sharing them, so a sum over Chromium's processes is not
/// inflated by the libraries they all map); resident size where the kernel
/// has no `smaps_rollup`.
fn process_memory_kib(pid: u32) -> u64 {
    let field = |file: &str, key: &str| {
        std::fs::read_to_string(format!("/proc/{pid}/{file}"))
            .ok()?
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
    };
    field("smaps_rollup", "Pss:")
        .or_else(|| field("status", "VmRSS:"))
        .unwrap_or(0)
}
