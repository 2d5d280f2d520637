//! Answers of the verification service the client could not recognise:
//! kept (compressed, capped, the last few per record) so a person can see
//! what came back, and counted so a record whose answers keep coming back
//! unrecognised goes to a person instead of waiting for ever.

use std::io::{Read, Write};

use chrono::{DateTime, Utc};
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use serde::Serialize;

use super::{Store, StoreError};

/// Pages kept per record; older ones are dropped.
pub const PAGES_KEPT: i64 = 3;
/// Compressed size a kept page may take. A report page is a few KiB; what
/// is beyond this is cut off (and marked so).
pub const MAX_KEPT_BYTES: usize = 256 * 1024;
/// A decompressed page is never larger than this (what the client reads).
const MAX_PAGE_BYTES: u64 = 4 * 1024 * 1024;

/// One kept answer.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct KeptPage {
    pub id: i64,
    pub fetched_at: DateTime<Utc>,
    pub http_status: i32,
    /// What the client made of it.
    pub detail: String,
    /// Size of the answer as received, in bytes.
    pub size: i64,
    /// Only the start of the answer was kept.
    pub truncated: bool,
    #[serde(skip)]
    pub body: Vec<u8>,
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(bytes);
    enc.finish().unwrap_or_default()
}

/// The page compressed, cut to fit [`MAX_KEPT_BYTES`]: halves of the start
/// are tried until one fits (random bytes do not compress).
fn compress_capped(body: &[u8]) -> (Vec<u8>, bool) {
    let mut len = body.len();
    loop {
        let gz = gzip(&body[..len]);
        if gz.len() <= MAX_KEPT_BYTES || len == 0 {
            return (gz, len < body.len());
        }
        len /= 2;
    }
}

fn gunzip(gz: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    // A damaged row shows what could be read of it.
    let _ = GzDecoder::new(gz)
        .take(MAX_PAGE_BYTES)
        .read_to_end(&mut out);
    out
}

type Row = (i64, DateTime<Utc>, i32, String, i64, bool, Vec<u8>);

impl Store {
    /// Keeps an answer the client could not recognise and counts it against
    /// the record; returns how many such answers the record has had since
    /// the count was last cleared.
    pub async fn keep_unrecognised_page(
        &self,
        record_id: i64,
        http_status: u16,
        detail: &str,
        body: &[u8],
    ) -> Result<i64, StoreError> {
        let (gz, truncated) = compress_capped(body);
        let now = Utc::now();
        let count: i64 = super::on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO service_pages (record_id, fetched_at, http_status, detail, size, truncated, body_gz) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(record_id)
            .bind(now)
            .bind(i32::from(http_status))
            .bind(detail)
            .bind(body.len() as i64)
            .bind(truncated)
            .bind(&gz)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "DELETE FROM service_pages WHERE record_id = $1 AND id NOT IN \
                 (SELECT id FROM service_pages WHERE record_id = $1 ORDER BY id DESC LIMIT $2)",
            )
            .bind(record_id)
            .bind(PAGES_KEPT)
            .execute(&mut *tx)
            .await?;
            let count: i32 = sqlx::query_scalar(
                "UPDATE records SET unrecognised_answers = unrecognised_answers + 1 \
                 WHERE id = $1 RETURNING unrecognised_answers",
            )
            .bind(record_id)
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            i64::from(count)
        });
        Ok(count)
    }

    /// Starts the record's count of unrecognised answers again (it went to a
    /// person; a re-run gets the full allowance).
    pub async fn clear_unrecognised_count(&self, record_id: i64) -> Result<(), StoreError> {
        super::on_pool!(self, pool => {
            sqlx::query("UPDATE records SET unrecognised_answers = 0 WHERE id = $1")
                .bind(record_id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// The record's kept pages, newest first.
    pub async fn kept_pages(&self, record_id: i64) -> Result<Vec<KeptPage>, StoreError> {
        let rows: Vec<Row> = super::on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, fetched_at, http_status, detail, size, truncated, body_gz \
                 FROM service_pages WHERE record_id = $1 ORDER BY id DESC",
            )
            .bind(record_id)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(
                |(id, fetched_at, http_status, detail, size, truncated, gz)| KeptPage {
                    id,
                    fetched_at,
                    http_status,
                    detail,
                    size,
                    truncated,
                    body: gunzip(&gz),
                },
            )
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_round_trip_and_big_ones_are_cut_to_the_cap() {
        let page = "<html>学信网</html>".repeat(100).into_bytes();
        let (gz, truncated) = compress_capped(&page);
        assert!(!truncated);
        assert_eq!(gunzip(&gz), page);
        // Bytes that do not compress: only a start that fits is kept.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let noise: Vec<u8> = (0..1_000_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        let (gz, truncated) = compress_capped(&noise);
        assert!(truncated);
        assert!(gz.len() <= MAX_KEPT_BYTES);
        let back = gunzip(&gz);
        assert!(!back.is_empty() && noise.starts_with(&back));
    }
}
