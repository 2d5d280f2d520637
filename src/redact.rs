//! Secrets out of what people read: a URL's password and query string (where
//! tokens travel) masked before it is printed or logged.

/// `url` with its password and query replaced by `***`; a string that does
/// not parse as a URL is not printed at all (it may be a secret mistyped).
pub fn url(raw: &str) -> String {
    let Ok(mut u) = url::Url::parse(raw) else {
        return "<unparseable URL>".to_string();
    };
    if u.password().is_some() {
        let _ = u.set_password(Some("***"));
    }
    if u.query().is_some() {
        u.set_query(Some("***"));
    }
    if u.fragment().is_some() {
        u.set_fragment(None);
    }
    u.to_string()
}

#[cfg(test)]
mod tests {
    use super::url;

    #[test]
    fn passwords_and_queries_are_masked() {
        assert_eq!(
            url("postgres://app:s3cret@db:5432/cv?sslmode=require&password=x"),
            "postgres://app:***@db:5432/cv?***"
        );
        assert_eq!(url("sqlite:///var/lib/cv.db"), "sqlite:///var/lib/cv.db");
        assert_eq!(url("https://h/hook?token=abc#frag"), "https://h/hook?***");
        assert_eq!(url("postgres://app:pw@[broken"), "<unparseable URL>");
    }
}
