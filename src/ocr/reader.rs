//! The engine pool as the pipeline's screenshot reader.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::OnceCell;

use super::{OcrConfig, OcrPool, ScreenshotError};
use crate::parse::ParsedScreenshot;
use crate::pipeline::{ReadError, ScreenshotReader};

#[async_trait::async_trait]
impl ScreenshotReader for OcrPool {
    async fn read(&self, image: Vec<u8>) -> Result<ParsedScreenshot, ReadError> {
        let started = Instant::now();
        let result = self.read_screenshot(image).await;
        crate::metrics::ocr_took(started.elapsed());
        result.map_err(read_error)
    }

    async fn read_line(&self, image: Vec<u8>) -> Result<super::LineReading, ReadError> {
        self.read_line(image).await.map_err(read_error)
    }
}

fn read_error(e: ScreenshotError) -> ReadError {
    match e {
        ScreenshotError::Unreadable { detail } => ReadError::Unreadable(detail),
        other => ReadError::Engine(other.to_string()),
    }
}

/// A pool started on the first screenshot: a worker that only ever sees
/// typed records never pays the ~60 MiB per engine, nor the second it takes
/// to load them.
pub struct LazyOcr {
    config: OcrConfig,
    pool: OnceCell<Result<Arc<OcrPool>, String>>,
}

impl LazyOcr {
    pub fn new(config: OcrConfig) -> LazyOcr {
        LazyOcr {
            config,
            pool: OnceCell::new(),
        }
    }

    async fn pool(&self) -> Result<Arc<OcrPool>, String> {
        self.pool
            .get_or_init(|| async {
                let config = self.config.clone();
                let threads = config.threads;
                let started = Instant::now();
                let pool = tokio::task::spawn_blocking(move || OcrPool::new(config))
                    .await
                    .map_err(|e| format!("starting the OCR engines panicked: {e}"))
                    .and_then(|r| {
                        r.map_err(|e| {
                            format!(
                                "{e} (install tesseract-ocr-chi-sim, or set CREDVERIFY_TESSDATA)"
                            )
                        })
                    });
                // A reader that was found but would not load is reported
                // by the pool; health says what the worker really has.
                crate::metrics::set_line_reader(pool.as_ref().is_ok_and(|p| p.has_line_reader()));
                match &pool {
                    Ok(_) => tracing::info!(
                        threads,
                        took_ms = started.elapsed().as_millis() as u64,
                        "OCR engines loaded"
                    ),
                    // Kept, not retried per job: a missing language pack
                    // needs an operator, and screenshot records wait
                    // unverified (retried) until one fixes it.
                    Err(e) => tracing::error!(error = %e, "OCR engines could not be loaded"),
                }
                pool.map(Arc::new)
            })
            .await
            .clone()
    }
}

#[async_trait::async_trait]
impl ScreenshotReader for LazyOcr {
    async fn read(&self, image: Vec<u8>) -> Result<ParsedScreenshot, ReadError> {
        let pool = self.pool().await.map_err(ReadError::Engine)?;
        pool.read(image).await
    }

    async fn read_line(&self, image: Vec<u8>) -> Result<super::LineReading, ReadError> {
        let pool = self.pool().await.map_err(ReadError::Engine)?;
        ScreenshotReader::read_line(&*pool, image).await
    }
}
