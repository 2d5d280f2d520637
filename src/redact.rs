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

/// A snippet of outside text (an unrecognised page) fit for `last_error`
/// and the append-only event log: code-shaped runs (12+ letters/digits with
/// a digit: 在线验证码, ID and certificate numbers) and the given names are
/// masked. Raw pages belong in the page store, never in events.
pub fn snippet(text: &str, names: &[&str]) -> String {
    // Tokens: runs of ASCII letters/digits, and single other characters.
    let mut tokens: Vec<String> = Vec::new();
    for c in text.chars() {
        match tokens.last_mut() {
            Some(t)
                if c.is_ascii_alphanumeric() && t.chars().all(|x| x.is_ascii_alphanumeric()) =>
            {
                t.push(c)
            }
            _ => tokens.push(c.to_string()),
        }
    }
    let alnum = |t: &str| !t.is_empty() && t.chars().all(|c| c.is_ascii_alphanumeric());
    let has_digit = |t: &str| t.chars().any(|c| c.is_ascii_digit());
    let mut masked = vec![false; tokens.len()];
    for (i, t) in tokens.iter().enumerate() {
        if alnum(t) && t.len() >= 12 && has_digit(t) {
            masked[i] = true;
        }
        // A code printed in four groups of four: `A7K2 M9QX 4TB8 R5WZ`.
        let group = |k: usize| tokens.get(k).is_some_and(|g| alnum(g) && g.len() == 4);
        let sep = |k: usize| tokens.get(k).is_some_and(|g| g == " " || g == "-");
        if group(i)
            && sep(i + 1)
            && group(i + 2)
            && sep(i + 3)
            && group(i + 4)
            && sep(i + 5)
            && group(i + 6)
            && (i..=i + 6).step_by(2).any(|k| has_digit(&tokens[k]))
        {
            for m in masked.iter_mut().skip(i).take(7) {
                *m = true;
            }
        }
    }
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < tokens.len() {
        if masked[i] {
            out.push_str("***");
            while i < tokens.len() && masked[i] {
                i += 1;
            }
        } else {
            out.push_str(&tokens[i]);
            i += 1;
        }
    }
    for name in names.iter().filter(|n| n.chars().count() >= 2) {
        out = out.replace(name, "**");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{snippet, url};

    #[test]
    fn codes_ids_and_names_leave_snippets_masked() {
        let page = "维护中 姓名 王晓雯 证件号码 11010519990418002X 在线验证码 A7K2 M9QX 4TB8 R5WZ 请稍后 error 503";
        let s = snippet(page, &["王晓雯"]);
        for secret in ["王晓雯", "11010519990418002X", "A7K2", "R5WZ"] {
            assert!(!s.contains(secret), "{s}");
        }
        assert!(s.contains("维护中") && s.contains("error 503"), "{s}");
        let plain = "unrecognised page: nested 20002 deep";
        assert_eq!(snippet(plain, &["王晓雯"]), plain);
    }

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
