//! Which database a command uses: named on stderr (password, query and a
//! URL's user token masked), and never created implicitly except by
//! `migrate` — a forgotten `--database-url` would otherwise answer from a
//! new file in the home directory.

use std::path::PathBuf;

use super::output::CliError;
use super::{Cli, Command, LogFormat, terminal};

/// Whether the command works on the records database (and so must say which).
fn uses_database(command: &Command) -> bool {
    !matches!(
        command,
        Command::Sandbox(_) | Command::Demo(_) | Command::Ocr(_) | Command::Config(_)
    )
}

/// Names on stderr the database a command uses (password and query
/// masked), and refuses to create one nobody asked for: a forgotten
/// `--database-url` would otherwise make `submit` answer `"created": true`
/// from a new file in the home directory. `given`: the URL came from the
/// flag or the environment rather than the default.
pub(super) fn check(cli: &Cli, given: bool) -> Result<(), CliError> {
    if !uses_database(&cli.command) {
        return Ok(());
    }
    let shown = crate::redact::url(&cli.database_url);
    if cli.log_format == LogFormat::Json {
        // Stderr stays one JSON object per line, and the notice is written
        // whatever level the log filter lets through.
        let (level, message) = if given {
            ("INFO", "database")
        } else {
            ("WARN", "no --database-url given")
        };
        let line = serde_json::json!({
            "timestamp": chrono::Utc::now(),
            "level": level,
            "message": message,
            "database": shown,
            "target": "credverify::cli",
        });
        // serde_json escapes control characters; `safe` would break the JSON.
        eprintln!("{line}");
    } else if given {
        terminal::say_err!("credverify: database {shown}");
    } else {
        terminal::say_err!("credverify: no --database-url given; using {shown}");
    }
    if given {
        return Ok(());
    }
    let missing = sqlite_file(&cli.database_url).is_some_and(|p| !p.exists());
    if missing && !matches!(cli.command, Command::Migrate) {
        return Err(CliError::usage(format!(
            "no database at {shown}, and only `credverify migrate` creates one when no --database-url is given"
        ))
        .hint("pass --database-url (or set CREDVERIFY_DATABASE_URL), or run `credverify migrate` to create this one"));
    }
    Ok(())
}

/// The file a `sqlite:` URL names, if it names one.
fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}
