//! `credverify config`: every setting with its effective value and where it
//! came from (flag, environment, default), read back from clap so the list
//! can never drift from the flags themselves.

use super::terminal::say;
use std::collections::BTreeMap;

use clap::CommandFactory;
use clap::parser::ValueSource;
use serde::Serialize;

use super::Cli;
use super::output::{CliError, SafeRows, print_json, table};

#[derive(Serialize)]
struct Setting {
    value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    env: Option<String>,
    source: &'static str,
}

fn is_secret(id: &str) -> bool {
    id.contains("secret") || id.contains("password")
}

/// A URL setting (or a comma-separated list of them) as shown: userinfo
/// and query masked, an unparseable one not shown at all.
fn mask_urls(value: &str) -> String {
    value
        .split(',')
        .map(crate::redact::url)
        .collect::<Vec<_>>()
        .join(",")
}

pub fn show(json: bool) -> Result<(), CliError> {
    let mut cmd = Cli::command();
    let matches = cmd
        .try_get_matches_from_mut(std::env::args_os())
        .map_err(|e| CliError::usage(e.to_string()))?;
    let mut settings = BTreeMap::new();
    let mut collect = |cmd: &clap::Command, m: &clap::ArgMatches| {
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if matches!(id, "json" | "help" | "version" | "drain") {
                continue;
            }
            let source = m.value_source(id);
            let raw: Vec<String> = m
                .get_raw(id)
                .map(|vals| vals.map(|v| v.to_string_lossy().into_owned()).collect())
                .unwrap_or_default();
            let mut value = raw.join(",");
            if is_secret(id) && !value.is_empty() {
                value = "********".into();
            } else if id.contains("url") && !value.is_empty() {
                value = mask_urls(&value);
            }
            let source = match source {
                Some(ValueSource::CommandLine) => "flag",
                Some(ValueSource::EnvVariable) => "environment",
                Some(ValueSource::DefaultValue) => "default",
                Some(_) => "other",
                None => "unset",
            };
            let env = arg.get_env().map(|e| e.to_string_lossy().into_owned());
            settings.insert(
                arg.get_long().unwrap_or(id).to_string(),
                Setting { value, env, source },
            );
        }
    };
    collect(&cmd, &matches);
    if let Some((name, sub)) = matches.subcommand()
        && let Some(sub_cmd) = cmd.find_subcommand(name)
    {
        collect(sub_cmd, sub);
    }
    if json {
        return print_json(&settings);
    }
    let mut t = table(&["setting", "value", "environment variable", "from"]);
    for (name, s) in &settings {
        t.add_safe_row(vec![
            format!("--{name}"),
            s.value.clone(),
            s.env.clone().unwrap_or_default(),
            s.source.to_string(),
        ]);
    }
    say!("{t}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_and_queries_in_urls_are_masked() {
        assert_eq!(
            mask_urls("postgres://cv:hunter2@db:5432/cv?password=x"),
            "postgres://cv:***@db:5432/cv?***"
        );
        assert_eq!(mask_urls("sqlite:///tmp/x.db"), "sqlite:///tmp/x.db");
        assert_eq!(
            mask_urls("https://a/x?t=1,https://b/y"),
            "https://a/x?***,https://b/y"
        );
    }
}
