//! Screenshots a backend hands over by reference (a path under a shared
//! uploads directory, or a URL of its object store) rather than by bytes.
//! A reference is input from another system: it is confined to the
//! configured root or URL prefixes, and what it points to is size-limited.

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use crate::safe_open::{self, OpenError};

use reqwest::Url;

/// Where screenshot references may point.
#[derive(Debug, Clone, Default)]
pub struct UploadsConfig {
    /// Paths are resolved under this directory; none means paths are refused.
    pub root: Option<PathBuf>,
    /// URLs must start with one of these (scheme, host and port equal, path
    /// under the prefix's path); none means URLs are refused.
    pub url_prefixes: Vec<String>,
    pub max_bytes: u64,
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The reference is not allowed or points at something unusable: a
    /// definite answer for the record.
    #[error("{0}")]
    Refused(String),
    /// Try again later (the file is not there yet, the store is down).
    #[error("{0}")]
    Transient(String),
    /// This worker cannot fetch references of this kind (no uploads root,
    /// no URL prefix): our configuration, never the candidate's fault. The
    /// record waits for a worker that can.
    #[error("{0}")]
    Misconfigured(String),
}

#[derive(Debug, Clone)]
pub struct Uploads {
    config: UploadsConfig,
    http: reqwest::Client,
}

impl Uploads {
    pub fn new(config: UploadsConfig) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(if config.timeout.is_zero() {
                Duration::from_secs(30)
            } else {
                config.timeout
            })
            // A redirect could leave the allowed prefix: follow none.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self { config, http })
    }

    pub async fn fetch(&self, reference: &str) -> Result<Vec<u8>, FetchError> {
        if reference.starts_with("http://") || reference.starts_with("https://") {
            self.fetch_url(reference).await
        } else {
            let path = reference
                .strip_prefix("file:")
                .unwrap_or(reference)
                .to_string();
            let this = self.clone();
            let read = tokio::task::spawn_blocking(move || this.read_file(&path));
            // A file on a hung network mount must not hold the job for good.
            match tokio::time::timeout(self.timeout(), read).await {
                Ok(r) => r.map_err(|e| {
                    FetchError::Transient(format!("reading the screenshot failed: {e}"))
                })?,
                Err(_) => Err(FetchError::Transient(format!(
                    "reading the screenshot took longer than {:?}",
                    self.timeout()
                ))),
            }
        }
    }

    fn timeout(&self) -> Duration {
        if self.config.timeout.is_zero() {
            Duration::from_secs(30)
        } else {
            self.config.timeout
        }
    }

    /// The file `reference` names under the root, if it stays there.
    pub fn resolve(&self, reference: &str) -> Result<PathBuf, FetchError> {
        let Some(root) = &self.config.root else {
            return Err(FetchError::Misconfigured(
                "screenshot paths are not accepted by this worker: no --uploads-root is configured"
                    .into(),
            ));
        };
        let rel = Path::new(reference);
        relative_only(reference)?;
        let root = root.canonicalize().map_err(|e| {
            FetchError::Transient(format!(
                "uploads root {} is unavailable: {e}",
                root.display()
            ))
        })?;
        let full = root.join(rel);
        let real = match full.canonicalize() {
            Ok(p) => p,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(FetchError::Transient(format!(
                    "screenshot `{reference}` is not in the uploads directory (yet)"
                )));
            }
            Err(e) => {
                return Err(FetchError::Refused(format!(
                    "screenshot `{reference}` cannot be opened: {e}"
                )));
            }
        };
        // A symlink inside the root may point anywhere: judge where it lands.
        if !real.starts_with(&root) {
            return Err(FetchError::Refused(format!(
                "screenshot path `{reference}` leads outside the uploads root"
            )));
        }
        Ok(real)
    }

    /// Reads the file beneath the root. The path is resolved by the kernel
    /// beneath the root's descriptor with no symlink anywhere (`openat2`), so
    /// a directory swapped for a link while we look cannot lead outside; a
    /// FIFO or device is refused before a byte is read; a file with other
    /// hard links is refused (its other name may be anywhere); at most the
    /// limit is read.
    fn read_file(&self, reference: &str) -> Result<Vec<u8>, FetchError> {
        let Some(root) = &self.config.root else {
            return Err(FetchError::Misconfigured(
                "no --uploads-root is configured".into(),
            ));
        };
        let root_dir = std::fs::File::open(root).map_err(|e| {
            FetchError::Transient(format!(
                "uploads root {} is unavailable: {e}",
                root.display()
            ))
        })?;
        relative_only(reference)?;
        let refused = |why: String| FetchError::Refused(format!("screenshot `{reference}` {why}"));
        let file = match safe_open::open_beneath(&root_dir, Path::new(reference)) {
            Ok(f) => f,
            Err(OpenError::NotFound) => {
                return Err(FetchError::Transient(format!(
                    "screenshot `{reference}` is not in the uploads directory (yet)"
                )));
            }
            // Symlinks are refused whether or not they lead out: where one
            // points can change between a check and the open.
            Err(OpenError::Refused(why)) if why.contains("symlink") || why.contains("outside") => {
                return Err(refused(format!("leads outside the uploads root: {why}")));
            }
            Err(OpenError::Refused(why)) => return Err(refused(format!("is refused: {why}"))),
            Err(OpenError::Io(e)) => return Err(refused(format!("cannot be opened: {e}"))),
        };
        if safe_open::has_other_links(&file)
            .map_err(|e| refused(format!("cannot be examined: {e}")))?
        {
            return Err(refused(
                "has other hard links, which may lie outside the uploads root".into(),
            ));
        }
        match safe_open::read_capped(file, self.config.max_bytes) {
            Ok(Some(bytes)) => Ok(bytes),
            Ok(None) => Err(refused(format!(
                "is too large; the limit is {} bytes",
                self.config.max_bytes
            ))),
            Err(e) => Err(FetchError::Transient(format!(
                "reading screenshot `{reference}`: {e}"
            ))),
        }
    }

    /// Whether `url` lies under one of the allowed prefixes.
    pub fn allowed(&self, url: &Url) -> bool {
        if !url.username().is_empty() || url.password().is_some() {
            return false;
        }
        self.config
            .url_prefixes
            .iter()
            .filter_map(|p| Url::parse(p).ok())
            .any(|prefix| {
                let mut base = prefix.path().to_string();
                if !base.ends_with('/') {
                    base.push('/');
                }
                prefix.scheme() == url.scheme()
                    && prefix.host_str() == url.host_str()
                    && prefix.port_or_known_default() == url.port_or_known_default()
                    && (url.path() == prefix.path() || url.path().starts_with(&base))
                    && !url.path().split('/').any(|seg| seg == ".." || seg == ".")
                    && !has_encoded_separator_or_dot(url.path())
            })
    }

    async fn fetch_url(&self, reference: &str) -> Result<Vec<u8>, FetchError> {
        if self.config.url_prefixes.is_empty() {
            return Err(FetchError::Misconfigured(
                "screenshot URLs are not accepted by this worker: no --screenshot-url-prefix is configured"
                    .into(),
            ));
        }
        let url = Url::parse(reference)
            .map_err(|e| FetchError::Refused(format!("screenshot URL is not valid: {e}")))?;
        if !self.allowed(&url) {
            return Err(FetchError::Refused(format!(
                "screenshot URL on {} is not under an allowed prefix",
                url.host_str().unwrap_or("?")
            )));
        }
        let resp = self.http.get(url).send().await.map_err(|e| {
            FetchError::Transient(format!("screenshot download failed: {}", e.without_url()))
        })?;
        let status = resp.status();
        if status.is_server_error() || status.as_u16() == 429 {
            return Err(FetchError::Transient(format!(
                "screenshot store answered HTTP {status}"
            )));
        }
        if !status.is_success() {
            return Err(FetchError::Refused(format!(
                "screenshot store answered HTTP {status}"
            )));
        }
        if resp
            .content_length()
            .is_some_and(|n| n > self.config.max_bytes)
        {
            return Err(FetchError::Refused(format!(
                "screenshot is larger than {} bytes",
                self.config.max_bytes
            )));
        }
        let mut resp = resp;
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| {
            FetchError::Transient(format!("screenshot download failed: {}", e.without_url()))
        })? {
            if (body.len() + chunk.len()) as u64 > self.config.max_bytes {
                return Err(FetchError::Refused(format!(
                    "screenshot is larger than {} bytes",
                    self.config.max_bytes
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// A reference path: relative, no `..`, no `.`, no NUL.
fn relative_only(reference: &str) -> Result<(), FetchError> {
    let rel = Path::new(reference);
    if reference.contains('\0')
        || rel.is_absolute()
        || rel.components().any(|c| !matches!(c, Component::Normal(_)))
    {
        return Err(FetchError::Refused(format!(
            "screenshot path `{reference}` must be relative to the uploads root, without `..`"
        )));
    }
    Ok(())
}

/// `%2f`, `%5c` and `%2e` (any case): a prefix check on the raw path would
/// pass `..%2f` or `%2E%2E%2F`, which the store may decode into a way out.
fn has_encoded_separator_or_dot(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    ["%2f", "%5c", "%2e"].iter().any(|e| lower.contains(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uploads(prefixes: &[&str]) -> Uploads {
        Uploads::new(UploadsConfig {
            root: None,
            url_prefixes: prefixes.iter().map(|s| s.to_string()).collect(),
            max_bytes: 1000,
            timeout: Duration::from_secs(1),
        })
        .unwrap()
    }

    #[test]
    fn only_urls_under_a_prefix_are_allowed() {
        let u = uploads(&["https://files.example.com/uploads"]);
        let ok = |s: &str| u.allowed(&Url::parse(s).unwrap());
        assert!(ok("https://files.example.com/uploads/a/b.png"));
        assert!(!ok("https://files.example.com/uploadsX/b.png"));
        assert!(!ok("https://files.example.com.evil.net/uploads/b.png"));
        assert!(!ok("http://files.example.com/uploads/b.png"));
        assert!(!ok("https://files.example.com:8443/uploads/b.png"));
        assert!(!ok("https://user:pw@files.example.com/uploads/b.png"));
        assert!(!ok("https://files.example.com/other/b.png"));
        assert!(!ok("https://files.example.com/uploads/%2e%2e/secret"));
        assert!(!ok("https://files.example.com/uploads/..%2fsecret"));
        assert!(!ok("https://files.example.com/uploads/%2E%2E%2Fsecret"));
        assert!(!ok("https://files.example.com/uploads/a%5c..%5csecret"));
    }

    #[test]
    fn paths_are_refused_without_a_root_and_outside_it() {
        let u = uploads(&[]);
        assert!(matches!(
            u.resolve("a.png"),
            Err(FetchError::Misconfigured(_))
        ));
        let dir = tempfile::tempdir().unwrap();
        let u = Uploads::new(UploadsConfig {
            root: Some(dir.path().into()),
            max_bytes: 10,
            ..Default::default()
        })
        .unwrap();
        for bad in ["../a.png", "/etc/passwd", "x/../../a.png", "./a.png"] {
            assert!(
                matches!(u.resolve(bad), Err(FetchError::Refused(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            u.resolve("missing.png"),
            Err(FetchError::Transient(_))
        ));
    }
}
