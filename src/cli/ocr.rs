//! `credverify ocr IMAGE... [--json]`: what the worker would read from
//! screenshots, without a database. For checking an upload a candidate
//! disputes, and for measuring the reader on new samples.

use super::terminal::{say, say_err};
use std::path::PathBuf;

use clap::Args;
use futures::StreamExt;

use super::OcrArgs;
use super::output::CliError;
use crate::ocr::{OcrPool, ScreenshotError, output};

#[derive(Debug, Clone, Args)]
pub struct OcrCmdArgs {
    /// Screenshots to read (PNG, JPEG or WebP; the format is taken from the bytes).
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<PathBuf>,
    /// One JSON object per image per line, in the order given:
    /// {"image", "kind", "layout", "fields", "confidence"} or {"image", "error", "detail"};
    /// "confidence" holds the reader's confidence (0–100) in each value of "fields".
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub ocr: OcrArgs,
}

pub async fn ocr(args: OcrCmdArgs) -> Result<(), CliError> {
    let config = args.ocr.config();
    let pool = tokio::task::spawn_blocking(move || OcrPool::new(config))
        .await
        .map_err(|e| CliError::other(format!("starting the OCR engines: {e}")))?
        .map_err(|e| {
            CliError::other(format!("cannot load Tesseract: {e}"))
                .hint("install tesseract-ocr-chi-sim (scripts/setup-system), or set --tessdata")
        })?;
    let bar = super::admin::progress(args.images.len() as u64, args.json || args.images.len() < 3);
    bar.set_message("images");
    // As many in flight as there are engines; results printed in order.
    let results = futures::stream::iter(args.images.iter().map(|path| {
        let pool = &pool;
        let bar = &bar;
        async move {
            let result = match tokio::fs::read(path).await {
                Ok(bytes) => pool.read_screenshot(bytes).await,
                Err(e) => Err(ScreenshotError::Unreadable {
                    detail: format!("cannot read the file: {e}"),
                }),
            };
            bar.inc(1);
            result
        }
    }))
    .buffered(pool.threads().max(1) * 2)
    .collect::<Vec<_>>()
    .await;
    bar.finish_and_clear();

    let mut failed = 0;
    for (path, result) in args.images.iter().zip(results) {
        let image = path.display().to_string();
        match (&result, args.json) {
            (Ok(parsed), true) => println!("{}", output::json_line(&image, parsed)),
            // What OCR read, a file name: outside text on a terminal.
            (Ok(parsed), false) => say!("{}\n", output::table(&image, parsed)),
            (Err(e), true) => println!("{}", output::json_error_line(&image, e)),
            (Err(e), false) => say_err!("{image}: {e}\n"),
        }
        failed += usize::from(result.is_err());
    }
    pool.shutdown();
    if failed > 0 {
        return Err(CliError::other(format!(
            "{failed} of {} image(s) could not be read",
            args.images.len()
        ))
        .hint("upload a PNG, JPEG or WebP screenshot of the CHSI page"));
    }
    Ok(())
}
