//! Sessions, CSRF tokens and the login rate limit. Sessions live in the
//! console's memory: a restart logs everyone out, which is the safe failure.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;

use crate::admin::Operator;

pub const COOKIE: &str = "credverify_session";
/// A session ends this long after the operator's last request.
const IDLE: Duration = Duration::from_secs(8 * 3600);
/// Failed logins allowed per operator name within [`WINDOW`].
pub const MAX_FAILURES: usize = 5;
/// Failed logins allowed per client address (any names) within [`WINDOW`]:
/// higher, since behind a proxy every client shares one address.
pub const MAX_FAILURES_PER_ADDRESS: usize = 20;
const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Sessions and failure records kept at most; beyond that the oldest go, so
/// a flood of logins cannot grow memory without bound.
const MAX_ENTRIES: usize = 10_000;

#[derive(Debug, Clone)]
pub struct Session {
    pub operator: Operator,
    pub csrf: String,
    last_seen: Instant,
}

#[derive(Debug, Default)]
pub struct Sessions {
    sessions: Mutex<HashMap<String, Session>>,
    failures: Mutex<HashMap<String, Vec<Instant>>>,
}

pub fn token() -> String {
    let mut b = [0u8; 32];
    rand::fill(&mut b[..]);
    hex::encode(b)
}

/// Compares without an early exit, so timing does not leak the token.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

pub fn cookie_value(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

impl Sessions {
    pub fn start(&self, operator: Operator) -> (String, Session) {
        let id = token();
        let session = Session {
            operator,
            csrf: token(),
            last_seen: Instant::now(),
        };
        let mut map = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, s| s.last_seen.elapsed() < IDLE);
        if map.len() >= MAX_ENTRIES
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.last_seen)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        map.insert(id.clone(), session.clone());
        (id, session)
    }

    pub fn get(&self, id: &str) -> Option<Session> {
        let mut map = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        match map.get_mut(id) {
            Some(s) if s.last_seen.elapsed() < IDLE => {
                s.last_seen = Instant::now();
                Some(s.clone())
            }
            Some(_) => {
                map.remove(id);
                None
            }
            None => None,
        }
    }

    pub fn end(&self, id: &str) {
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }

    /// Ends every session of an operator (after they are disabled).
    pub fn end_for(&self, name: &str) {
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, s| s.operator.name != name);
    }

    /// Whether logins for these keys (`name:…`, `addr:…`) are blocked by
    /// recent failures.
    pub fn limited(&self, keys: &[String]) -> bool {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        keys.iter().any(|k| match map.get_mut(k) {
            Some(v) => {
                v.retain(|t| t.elapsed() < WINDOW);
                let max = if k.starts_with("addr:") {
                    MAX_FAILURES_PER_ADDRESS
                } else {
                    MAX_FAILURES
                };
                v.len() >= max
            }
            None => false,
        })
    }

    pub fn failed(&self, keys: &[String]) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_ENTRIES {
            map.retain(|_, v| v.iter().any(|t| t.elapsed() < WINDOW));
        }
        for k in keys {
            if map.len() < MAX_ENTRIES || map.contains_key(k) {
                map.entry(k.clone()).or_default().push(Instant::now());
            }
        }
    }

    pub fn succeeded(&self, name_key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name_key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::Role;

    #[test]
    fn failures_block_after_the_limit_per_key() {
        let s = Sessions::default();
        let keys = vec!["name:li".to_string(), "addr:1".to_string()];
        for _ in 0..MAX_FAILURES {
            assert!(!s.limited(&keys));
            s.failed(&keys);
        }
        assert!(s.limited(&keys));
        assert!(
            !s.limited(&["addr:1".to_string()]),
            "an address may try more names"
        );
        assert!(!s.limited(&["name:other".to_string()]));
        for _ in MAX_FAILURES..MAX_FAILURES_PER_ADDRESS {
            s.failed(&["addr:1".to_string()]);
        }
        assert!(s.limited(&["addr:1".to_string()]));
    }

    #[test]
    fn sessions_end_and_tokens_compare() {
        let s = Sessions::default();
        let (id, sess) = s.start(Operator::new("li", Role::Reviewer));
        assert_eq!(s.get(&id).unwrap().csrf, sess.csrf);
        s.end_for("li");
        assert!(s.get(&id).is_none());
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "ab"));
    }
}
