//! Cookies exported from an operator's browser (`--chsi-cookies FILE`), for
//! plain requests past the front door: the Netscape `cookies.txt` format
//! (curl, wget, browser extensions) or JSON (an array of cookie objects, as
//! extensions export them, or `{"cookies": [...]}` as a saved browser state
//! holds them). Only cookies for the service's own host are kept, and the
//! file is read again whenever it changes, so an operator can drop in fresh
//! cookies without restarting workers.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use serde::Deserialize;

/// A cookie file is a few KiB; anything far larger is a wrong path.
pub const MAX_COOKIE_FILE_BYTES: u64 = 1024 * 1024;
/// More than this many cookies for one host is not a browser export.
const MAX_COOKIES: usize = 1000;

/// One cookie for the service's host. Values are credentials: never log them.
#[derive(Clone, PartialEq, Eq)]
pub struct FileCookie {
    pub name: String,
    pub value: String,
    pub path: String,
}

impl std::fmt::Debug for FileCookie {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileCookie")
            .field("name", &self.name)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl FileCookie {
    /// A `Set-Cookie` line for the client's jar: host-only, since the client
    /// talks to one host.
    pub fn set_cookie_line(&self) -> String {
        format!("{}={}; Path={}", self.name, self.value, self.path)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CookieFileError {
    #[error("cannot read the cookie file: {0}")]
    Read(String),
    #[error("the cookie file is larger than {MAX_COOKIE_FILE_BYTES} bytes")]
    TooLarge,
    #[error("the cookie file is neither Netscape cookies.txt nor JSON: {0}")]
    Format(String),
}

/// Cookies in `text` that the service at `host` would receive, unexpired at
/// `now` (unix seconds).
pub fn parse(text: &str, host: &str, now: i64) -> Result<Vec<FileCookie>, CookieFileError> {
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    let all = if trimmed.starts_with('[') || trimmed.starts_with('{') {
        parse_json(trimmed)?
    } else {
        parse_netscape(trimmed)?
    };
    let mut kept: Vec<FileCookie> = all
        .into_iter()
        .filter(|c| domain_matches(&c.domain, host))
        .filter(|c| c.expires.is_none_or(|e| e <= 0 || e > now))
        .filter(|c| !c.name.is_empty() && is_token(&c.name) && is_cookie_value(&c.value))
        .map(|c| FileCookie {
            name: c.name,
            value: c.value,
            path: if is_cookie_path(&c.path) {
                c.path
            } else {
                "/".into()
            },
        })
        .collect();
    kept.truncate(MAX_COOKIES);
    Ok(kept)
}

struct RawCookie {
    domain: String,
    path: String,
    name: String,
    value: String,
    /// Unix seconds; `None` or `<= 0` for a session cookie.
    expires: Option<i64>,
}

fn parse_netscape(text: &str) -> Result<Vec<RawCookie>, CookieFileError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        // curl marks HttpOnly cookies with a prefix on an otherwise comment-like line.
        let line = line.strip_prefix("#HttpOnly_").unwrap_or(line);
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = line.trim_end_matches('\r').split('\t').collect();
        if cols.len() != 7 {
            return Err(CookieFileError::Format(format!(
                "line {}: expected 7 tab-separated columns, found {}",
                i + 1,
                cols.len()
            )));
        }
        let expires = cols[4].trim().parse::<i64>().map_err(|_| {
            CookieFileError::Format(format!("line {}: expiry is not a number", i + 1))
        })?;
        out.push(RawCookie {
            domain: cols[0].trim().to_string(),
            path: cols[2].trim().to_string(),
            name: cols[5].trim().to_string(),
            value: cols[6].to_string(),
            expires: Some(expires),
        });
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(untagged)]
enum JsonFile {
    List(Vec<JsonCookie>),
    State { cookies: Vec<JsonCookie> },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonCookie {
    name: String,
    value: String,
    #[serde(default)]
    domain: String,
    #[serde(default)]
    path: String,
    /// Extensions write `expirationDate`, saved browser states `expires`;
    /// both in (possibly fractional) unix seconds.
    #[serde(default, alias = "expires")]
    expiration_date: Option<f64>,
}

fn parse_json(text: &str) -> Result<Vec<RawCookie>, CookieFileError> {
    let file: JsonFile =
        serde_json::from_str(text).map_err(|e| CookieFileError::Format(e.to_string()))?;
    let list = match file {
        JsonFile::List(l) | JsonFile::State { cookies: l } => l,
    };
    Ok(list
        .into_iter()
        .map(|c| RawCookie {
            domain: c.domain,
            path: c.path,
            name: c.name,
            value: c.value,
            expires: c.expiration_date.map(|e| e as i64),
        })
        .collect())
}

/// A cookie for `.chsi.com.cn` or `chsi.com.cn` goes to `www.chsi.com.cn`;
/// one for another site never leaves this process.
fn domain_matches(domain: &str, host: &str) -> bool {
    let d = domain.trim().trim_start_matches('.').to_ascii_lowercase();
    let h = host.to_ascii_lowercase();
    !d.is_empty() && (h == d || h.ends_with(&format!(".{d}")))
}

fn is_token(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
}

/// RFC 6265's path-value, and absolute: no control characters and no `;`,
/// which would end the path and start an attribute of the file's choosing
/// in the `Set-Cookie` line the client's jar is given. Anything else falls
/// back to `/`. (Found by the `outside_text` fuzz target: a NUL in a path.)
fn is_cookie_path(s: &str) -> bool {
    s.starts_with('/') && s.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b';')
}

fn is_cookie_value(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_graphic() && !b",;\\\"".contains(&b))
}

/// The file and what it looked like when last read.
#[derive(Debug)]
pub struct CookieFile {
    path: PathBuf,
    host: String,
    seen: Mutex<Option<(Option<SystemTime>, u64)>>,
}

impl CookieFile {
    pub fn new(path: PathBuf, host: String) -> Self {
        Self {
            path,
            host,
            seen: Mutex::new(None),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The cookies when the file is new or changed since the last call
    /// (by modification time and size), `None` when it is unchanged. A file
    /// that cannot be read or parsed is an error each time it changes; the
    /// caller keeps the cookies it had.
    pub fn reload_if_changed(&self) -> Option<Result<Vec<FileCookie>, CookieFileError>> {
        let meta = match std::fs::metadata(&self.path) {
            Ok(m) => m,
            Err(e) => {
                let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
                // Report a missing file once, not on every request.
                let mark = (None, u64::MAX);
                if *seen == Some(mark) {
                    return None;
                }
                *seen = Some(mark);
                return Some(Err(CookieFileError::Read(e.to_string())));
            }
        };
        let stamp = (meta.modified().ok(), meta.len());
        {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            if *seen == Some(stamp) {
                return None;
            }
            *seen = Some(stamp);
        }
        if meta.len() > MAX_COOKIE_FILE_BYTES {
            return Some(Err(CookieFileError::TooLarge));
        }
        Some(self.read())
    }

    fn read(&self) -> Result<Vec<FileCookie>, CookieFileError> {
        use std::io::Read;
        let file =
            std::fs::File::open(&self.path).map_err(|e| CookieFileError::Read(e.to_string()))?;
        let mut bytes = Vec::new();
        // The size was checked, but the file may grow between the two looks.
        file.take(MAX_COOKIE_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| CookieFileError::Read(e.to_string()))?;
        if bytes.len() as u64 > MAX_COOKIE_FILE_BYTES {
            return Err(CookieFileError::TooLarge);
        }
        let text = String::from_utf8_lossy(&bytes);
        parse(&text, &self.host, chrono::Utc::now().timestamp())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn a_path_cannot_smuggle_attributes_or_control_characters() {
        let text = "www.chsi.com.cn\tFALSE\t/x\0lcx\tFALSE\t0\ta\t1\n\
            www.chsi.com.cn\tFALSE\t/; Domain=evil.example\tFALSE\t0\tb\t2\n\
            www.chsi.com.cn\tFALSE\t/xlcx\tFALSE\t0\tc\t3\n";
        let lines: Vec<String> = parse(text, "www.chsi.com.cn", NOW)
            .unwrap()
            .iter()
            .map(FileCookie::set_cookie_line)
            .collect();
        assert_eq!(lines, ["a=1; Path=/", "b=2; Path=/", "c=3; Path=/xlcx"]);
    }

    #[test]
    fn netscape_files_keep_the_service_host_cookies_only() {
        let text = "# Netscape HTTP Cookie File\n\
            .chsi.com.cn\tTRUE\t/\tFALSE\t1900000000\tFSSBBIl1UgzbN7N443S\tabc123\n\
            #HttpOnly_www.chsi.com.cn\tFALSE\t/xlcx\tTRUE\t0\tJSESSIONID\tS1\n\
            .example.com\tTRUE\t/\tFALSE\t1900000000\ttracker\tzzz\n\
            .chsi.com.cn\tTRUE\t/\tFALSE\t1700000000\told\tgone\n\
            \n";
        let got = parse(text, "www.chsi.com.cn", NOW).unwrap();
        let names: Vec<&str> = got.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["FSSBBIl1UgzbN7N443S", "JSESSIONID"]);
        assert_eq!(got[1].path, "/xlcx");
        assert_eq!(
            got[0].set_cookie_line(),
            "FSSBBIl1UgzbN7N443S=abc123; Path=/"
        );
    }

    #[test]
    fn json_exports_and_saved_states_are_read() {
        let list = r#"[{"domain":".chsi.com.cn","name":"a","value":"1","path":"/","expirationDate":1900000000.5},
                       {"domain":"chsi.com.cn","name":"b","value":"2"},
                       {"domain":".other.cn","name":"c","value":"3","path":"/"}]"#;
        let got = parse(list, "www.chsi.com.cn", NOW).unwrap();
        assert_eq!(
            got.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(got[1].path, "/", "a missing path is the root");
        let state = r#"{"cookies":[{"name":"s","value":"v","domain":"127.0.0.1","path":"/","expires":-1}],"origins":[]}"#;
        assert_eq!(parse(state, "127.0.0.1", NOW).unwrap().len(), 1);
    }

    #[test]
    fn malformed_files_are_errors_not_empty_jars() {
        assert!(matches!(
            parse("www.chsi.com.cn\tTRUE\t/\n", "www.chsi.com.cn", NOW),
            Err(CookieFileError::Format(_))
        ));
        assert!(matches!(
            parse("[{\"name\": 1}]", "www.chsi.com.cn", NOW),
            Err(CookieFileError::Format(_))
        ));
    }

    #[test]
    fn values_that_would_inject_attributes_are_dropped() {
        let text = ".chsi.com.cn\tTRUE\t/\tFALSE\t0\tok\tv\n\
                    .chsi.com.cn\tTRUE\t/\tFALSE\t0\tbad\tv; Domain=evil.example\n";
        let got = parse(text, "www.chsi.com.cn", NOW).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].name, "ok");
    }

    #[test]
    fn debug_output_never_shows_a_value() {
        let c = FileCookie {
            name: "n".into(),
            value: "secret-value".into(),
            path: "/".into(),
        };
        assert!(!format!("{c:?}").contains("secret-value"));
    }

    #[test]
    fn the_file_is_read_again_only_when_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cookies.txt");
        std::fs::write(&path, "127.0.0.1\tFALSE\t/\tFALSE\t0\tk\tone\n").unwrap();
        let file = CookieFile::new(path.clone(), "127.0.0.1".into());
        let first = file.reload_if_changed().unwrap().unwrap();
        assert_eq!(first[0].value, "one");
        assert!(file.reload_if_changed().is_none(), "unchanged");
        std::fs::write(&path, "127.0.0.1\tFALSE\t/\tFALSE\t0\tk\ttwo!\n").unwrap();
        let second = file.reload_if_changed().unwrap().unwrap();
        assert_eq!(second[0].value, "two!");
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(
            file.reload_if_changed(),
            Some(Err(CookieFileError::Read(_)))
        ));
        assert!(
            file.reload_if_changed().is_none(),
            "a missing file is reported once"
        );
    }

    #[test]
    fn an_oversized_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.txt");
        std::fs::write(&path, vec![b'#'; MAX_COOKIE_FILE_BYTES as usize + 1]).unwrap();
        let file = CookieFile::new(path, "127.0.0.1".into());
        assert_eq!(
            file.reload_if_changed(),
            Some(Err(CookieFileError::TooLarge))
        );
    }
}
