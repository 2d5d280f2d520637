//! `credverify config`: every setting with its effective value and where it
//! came from (flag, environment, default), read back from clap so the list
//! can never drift from the flags themselves.

use std::collections::BTreeMap;

use clap::CommandFactory;
use clap::parser::ValueSource;
use serde::Serialize;

use super::Cli;
use super::output::{CliError, print_json, table};

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

/// `postgres://user:pw@host/db` with the password masked.
fn mask_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("********"));
            u.to_string()
        }
        _ => url.to_string(),
    }
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
            } else if id == "database_url" {
                value = mask_url(&value);
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
        t.add_row(vec![
            format!("--{name}"),
            s.value.clone(),
            s.env.clone().unwrap_or_default(),
            s.source.to_string(),
        ]);
    }
    println!("{t}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_urls_are_masked() {
        assert_eq!(
            mask_url("postgres://cv:hunter2@db:5432/cv"),
            "postgres://cv:********@db:5432/cv"
        );
        assert_eq!(mask_url("sqlite:///tmp/x.db"), "sqlite:///tmp/x.db");
    }
}
