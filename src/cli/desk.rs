//! The review desk's commands beyond `review`/`revoke`/`rerun`: `withdraw`,
//! `screenshot`, `operator`, `console`. Each is a thin face of
//! [`crate::admin`].

use super::terminal::{say, say_err};
use std::io::{BufRead, IsTerminal};
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::admin::Operator;
use super::output::{CliError, SafeRows, print_json, table};
use crate::admin::{self, AdminError, AdminService, Role, Withdrawer, operators};
use crate::store::{Store, WithdrawOutcome};

impl From<AdminError> for CliError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Invalid(m) => CliError::usage(m),
            AdminError::NotFound(id) => CliError::not_found(format!("record {id} does not exist"))
                .hint("find record ids with `credverify list --candidate ID`"),
            AdminError::Store(s) => CliError::from(s),
            e @ AdminError::Stale { .. } => {
                CliError::refused(e.to_string()).hint("look again with `credverify show`")
            }
            e => CliError::refused(e.to_string()),
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct WithdrawArgs {
    /// The record to withdraw (must still be unverified).
    pub record: i64,
    /// The candidate whose record it is (must match the record).
    #[arg(long)]
    pub candidate: String,
    /// Why, for the event log (e.g. the candidate's request number).
    #[arg(long)]
    pub note: Option<String>,
    /// Acting for the candidate: your name goes into the event log instead of the candidate's.
    #[arg(long = "by")]
    pub by: Option<String>,
}

pub async fn withdraw(url: &str, args: WithdrawArgs) -> Result<(), CliError> {
    let store = Store::connect(url).await?;
    let service = AdminService::new(store.clone());
    let op = args
        .by
        .as_deref()
        .map(|n| admin::Operator::new(n.trim(), Role::Admin));
    let by = match &op {
        Some(op) if !op.name.is_empty() => Withdrawer::Operator(op),
        _ => Withdrawer::Candidate,
    };
    let outcome = service
        .withdraw(by, args.record, Some(&args.candidate), args.note.as_deref())
        .await
        .map_err(|e| match e {
            AdminError::NotFound(id) => CliError::not_found(format!(
                "record {id} does not exist for candidate {}",
                args.candidate
            ))
            .hint("check both with `credverify list --candidate ID`"),
            e => CliError::from(e),
        })?;
    store.close().await;
    match outcome {
        WithdrawOutcome::AlreadyWithdrawn => {
            say!("record {} was already withdrawn", args.record)
        }
        _ => say!(
            "record {} withdrawn 已撤回: it no longer counts toward candidate {}'s places",
            args.record,
            args.candidate
        ),
    }
    Ok(())
}

#[derive(Debug, Clone, Args)]
pub struct ScreenshotArgs {
    /// The record whose screenshot to export.
    pub record: i64,
    /// Where to write the image, byte for byte as uploaded (`-` for standard output).
    #[arg(short = 'o', long = "output")]
    pub output: PathBuf,
}

pub async fn screenshot(url: &str, args: ScreenshotArgs) -> Result<(), CliError> {
    let store = Store::connect(url).await?;
    let bytes = store.screenshot(args.record).await?;
    let exists = store.record(args.record).await?.is_some();
    store.close().await;
    let Some(bytes) = bytes else {
        return Err(if exists {
            CliError::not_found(format!("record {} has no screenshot", args.record))
                .hint("it was typed in, or its screenshot reference was never fetched")
        } else {
            CliError::not_found(format!("record {} does not exist", args.record))
        });
    };
    if args.output.as_os_str() == "-" {
        if std::io::stdout().is_terminal() {
            return Err(CliError::usage("refusing to write an image to a terminal")
                .hint("redirect it: `credverify screenshot 17 -o - > shot.png`"));
        }
        std::io::Write::write_all(&mut std::io::stdout(), &bytes)
            .map_err(|e| CliError::other(format!("cannot write: {e}")))?;
    } else {
        std::fs::write(&args.output, &bytes)
            .map_err(|e| CliError::other(format!("cannot write {}: {e}", args.output.display())))?;
        say_err!("{} bytes written to {}", bytes.len(), args.output.display());
    }
    Ok(())
}

#[derive(Debug, Subcommand)]
pub enum OperatorCommand {
    /// Add an operator; the password is read from standard input (one line).
    Add {
        name: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        #[command(flatten)]
        operator: Operator,
    },
    /// List operators (never their passwords).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Disable an operator: they can no longer log in, and their sessions end.
    Disable {
        name: String,
        #[command(flatten)]
        operator: Operator,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| "expected reviewer or admin".to_string())
}

#[derive(Debug, Args)]
pub struct OperatorArgs {
    #[command(subcommand)]
    pub command: OperatorCommand,
}

pub async fn operator(url: &str, args: OperatorArgs) -> Result<(), CliError> {
    let store = Store::connect(url).await?;
    let result = match args.command {
        OperatorCommand::Add {
            name,
            role,
            operator,
        } => {
            let me = operator.admin()?;
            if std::io::stdin().is_terminal() {
                eprint!("password for {name} (input is shown; pipe it to hide it): ");
            }
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .take_line(&mut line)
                .map_err(|e| CliError::other(format!("cannot read the password: {e}")))?;
            let password = line.trim_end_matches(['\r', '\n']);
            operators::add(&store, &me, &name, role, password).await?;
            say!("operator {name} added as {}", role.as_str());
            Ok(())
        }
        OperatorCommand::List { json } => {
            let ops = operators::list(&store).await?;
            if json {
                print_json(&ops)
            } else {
                let mut t = table(&["name", "role", "created (UTC)", "disabled"]);
                for o in &ops {
                    t.add_safe_row(vec![
                        o.name.clone(),
                        o.role.clone(),
                        o.created_at.format("%Y-%m-%d %H:%M").to_string(),
                        o.disabled_at
                            .map(|d| d.format("%Y-%m-%d %H:%M").to_string())
                            .unwrap_or_default(),
                    ]);
                }
                say!("{t}");
                Ok(())
            }
        }
        OperatorCommand::Disable { name, operator } => {
            let me = operator.admin()?;
            operators::disable(&store, &me, &name).await?;
            say!("operator {name} disabled");
            Ok(())
        }
    };
    store.close().await;
    result
}

/// Reads one line, at most 4 KiB: a password, not a file.
trait TakeLine {
    fn take_line(&mut self, out: &mut String) -> std::io::Result<usize>;
}

impl<R: BufRead> TakeLine for R {
    fn take_line(&mut self, out: &mut String) -> std::io::Result<usize> {
        std::io::Read::take(self, 4096).read_line(out)
    }
}

#[derive(Debug, Clone, Args)]
pub struct ConsoleArgs {
    /// Where to listen. Keep it on localhost and put a TLS proxy in front for other machines.
    #[arg(
        long,
        env = "CREDVERIFY_CONSOLE_ADDR",
        default_value = "127.0.0.1:8080"
    )]
    pub addr: SocketAddr,
    /// Mark the session cookie Secure: set this when the console is reached over HTTPS (behind a TLS proxy).
    #[arg(long, env = "CREDVERIFY_CONSOLE_SECURE_COOKIES")]
    pub secure_cookies: bool,
}

pub async fn console(url: &str, args: ConsoleArgs) -> Result<(), CliError> {
    let store = Store::connect(url).await?;
    if store.operators().await?.is_empty() {
        say_err!(
            "no operators yet: add one with `credverify operator add NAME --role admin --by YOU`"
        );
    }
    let stop = tokio_util::sync::CancellationToken::new();
    let on_signal = stop.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        on_signal.cancel();
    });
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .map_err(|e| CliError::other(format!("cannot listen on {}: {e}", args.addr)))?;
    say_err!("review desk on http://{}/ (Ctrl-C to stop)", args.addr);
    crate::console::serve(
        store.clone(),
        listener,
        crate::console::ConsoleOptions {
            secure_cookies: args.secure_cookies,
        },
        stop,
    )
    .await
    .map_err(|e| CliError::other(format!("console on {}: {e}", args.addr)))?;
    store.close().await;
    Ok(())
}
