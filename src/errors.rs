//! Printing an error with its causes, each once.
//!
//! Our errors name what failed and keep the underlying error as their
//! `source()` instead of repeating it in their own message; whoever shows
//! an error to a person or a log prints the chain with [`Chain`]: `a: b: c`.

use std::fmt;

/// `error: its source: that one's source …`, each message once.
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut shown = self.0.to_string();
        let mut next = self.0.source();
        while let Some(cause) = next {
            let text = cause.to_string();
            // A wrapper that repeats its source's words adds nothing.
            if !shown.ends_with(&text) {
                write!(f, ": {text}")?;
                shown = text;
            }
            next = cause.source();
        }
        Ok(())
    }
}

/// The chain of `e` as one string (for a stored `last_error` or a message).
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    Chain(e).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] Middle);

    #[derive(Debug, thiserror::Error)]
    #[error("middle")]
    struct Middle(#[source] std::io::Error);

    #[test]
    fn each_cause_is_printed_once_in_order() {
        let e = Outer(Middle(std::io::Error::other("inner")));
        assert_eq!(chain(&e), "outer: middle: inner");
    }

    #[test]
    fn a_store_error_names_its_cause_once() {
        let e = crate::store::StoreError::from(sqlx::Error::PoolTimedOut);
        let text = chain(&e);
        let cause = sqlx::Error::PoolTimedOut.to_string();
        assert_eq!(text.matches(&cause).count(), 1, "{text}");
        assert!(text.starts_with("database error: "), "{text}");
    }
}
