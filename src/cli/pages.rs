//! `credverify page`: what the verification service answered for a record
//! when the client could not recognise it — for the admin who reviews it.

use std::path::PathBuf;

use clap::Args;

use super::output::{CliError, print_json};
use crate::store::Store;

#[derive(Debug, Clone, Args)]
pub struct PageArgs {
    /// The record id (as printed by `submit` and `list`).
    pub record: i64,
    /// Save the page, byte for byte as received, to this file instead of printing it.
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
    /// Which kept page: 1 is the latest.
    #[arg(long, default_value_t = 1)]
    pub nth: usize,
    /// One JSON array: every kept page's details and text.
    #[arg(long)]
    pub json: bool,
}

/// Printable on a terminal (`terminal::safe`); a page's CRLF line ends
/// are line ends, a lone carriage return (which would overwrite a line) is
/// escaped.
fn terminal_safe(text: &str) -> String {
    super::terminal::safe(&text.replace("\r\n", "\n"))
}

#[derive(serde::Serialize)]
struct PageDocument<'a> {
    #[serde(flatten)]
    page: &'a crate::store::KeptPage,
    text: String,
}

pub async fn page(url: &str, args: PageArgs) -> Result<(), CliError> {
    let store = Store::connect(url).await?;
    let exists = store.record(args.record).await?.is_some();
    let pages = store.kept_pages(args.record).await?;
    store.close().await;
    if !exists {
        return Err(
            CliError::not_found(format!("record {} does not exist", args.record))
                .hint("find record ids with `credverify list --candidate ID`"),
        );
    }
    if args.json {
        let docs: Vec<PageDocument<'_>> = pages
            .iter()
            .map(|p| PageDocument {
                page: p,
                text: String::from_utf8_lossy(&p.body).into_owned(),
            })
            .collect();
        return print_json(&docs);
    }
    let Some(page) = pages.get(args.nth.saturating_sub(1)) else {
        return Err(CliError::other(format!(
            "record {} has {} kept page(s) of the verification service; there is no number {}",
            args.record,
            pages.len(),
            args.nth
        ))
        .hint("pages are kept when the service's answer is not recognised; `credverify show` lists them"));
    };
    eprintln!(
        "record {}: page {} of {}, fetched {}, HTTP {}, {} bytes{}; {}",
        args.record,
        args.nth,
        pages.len(),
        page.fetched_at.format("%Y-%m-%d %H:%M:%S UTC"),
        page.http_status,
        page.size,
        if page.truncated {
            " (only the start kept)"
        } else {
            ""
        },
        terminal_safe(&page.detail)
    );
    match &args.output {
        Some(path) => std::fs::write(path, &page.body)
            .map_err(|e| CliError::other(format!("cannot write {}: {e}", path.display())))?,
        None => print!("{}", terminal_safe(&String::from_utf8_lossy(&page.body))),
    }
    Ok(())
}
