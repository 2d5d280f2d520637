//! Secrets out of what people read: a URL's password and query string (where
//! tokens travel) masked before it is printed or logged.

/// `url` with its password and query replaced by `***`, and the user name
/// too unless it names a database role (a webhook's or a store's user name
/// is often a token); a string that does not parse as a URL is not printed
/// at all (it may be a secret mistyped).
pub fn url(raw: &str) -> String {
    let Ok(mut u) = url::Url::parse(raw) else {
        return "<unparseable URL>".to_string();
    };
    let database = matches!(u.scheme(), "postgres" | "postgresql" | "sqlite");
    if !database && !u.username().is_empty() {
        let _ = u.set_username("***");
    }
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
    labelled_names_masked(&out)
}

/// Labels a name follows on the service's pages.
const NAME_LABELS: &[&str] = &["姓名", "持证人"];

/// How the labels that follow a name on those pages begin.
const NEXT_LABELS: &[&str] = &[
    "证件",
    "身份证",
    "性别",
    "出生",
    "民族",
    "在线",
    "学校",
    "院校",
    "专业",
    "层次",
    "入学",
    "毕业",
    "学历",
    "学位",
    "证书",
];

/// Whoever a page names after a name label (`姓名：张三`, `姓名张三`) is
/// masked, whether or not it is the candidate: a page can name someone else.
fn labelled_names_masked(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let label = NAME_LABELS.iter().find(|l| {
            let l: Vec<char> = l.chars().collect();
            chars[i..].starts_with(&l)
        });
        let Some(label) = label else {
            out.push(chars[i]);
            i += 1;
            continue;
        };
        out.push_str(label);
        i += label.chars().count();
        while i < chars.len() && matches!(chars[i], ':' | '：' | ' ' | '\u{3000}') {
            out.push(chars[i]);
            i += 1;
        }
        // Names are 2–4 Han characters, longer ones joined by `·`; the
        // next label often follows with no space, so at most 4 before a dot,
        // and never into a label that follows (masking more is harmless).
        let start = i;
        let mut run = 0;
        while i < chars.len()
            && (crate::domain::text::is_cjk(chars[i]) || chars[i] == '·')
            && (run < 4 || chars[i] == '·')
            && !NEXT_LABELS.iter().any(|l| {
                let l: Vec<char> = l.chars().collect();
                chars[i..].starts_with(&l)
            })
        {
            run = if chars[i] == '·' { 0 } else { run + 1 };
            i += 1;
        }
        if i > start {
            out.push_str("**");
        }
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
        // Whoever the page names, candidate or not, with or without spaces.
        let page = "title `维护`, text `姓名:李四证件号码:***` 持证人： 买买提·艾力 考生姓名张三丰";
        let s = snippet(page, &[]);
        for name in ["李四", "买买提", "艾力", "张三丰"] {
            assert!(!s.contains(name), "{s}");
        }
        assert!(s.contains("证件号码") && s.contains("维护"), "{s}");
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
        assert_eq!(url("not a url s3cret"), "<unparseable URL>");
        assert_eq!(
            url("https://tok3n@hooks.example/in?sig=x"),
            "https://***@hooks.example/in?***"
        );
        assert_eq!(
            url("https://user:pw@hooks.example/in"),
            "https://***:***@hooks.example/in"
        );
    }
}
