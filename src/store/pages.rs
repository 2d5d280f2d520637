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

/// Pages kept per record; older ones are dropped.
pub const PAGES_KEPT: i64 = 3;
/// Compressed size a kept page may take. A report page is a few KiB; what
/// is beyond this is cut off (and marked so).
pub const MAX_KEPT_BYTES: usize = 256 * 1024;
/// A decompressed page is never larger than this (what the client reads).
const MAX_PAGE_BYTES: u64 = 4 * 1024 * 1024;

/// An answer of the service the client could not recognise, to keep.
#[derive(Debug, Clone, Copy)]
pub struct UnrecognisedAnswer<'a> {
    pub http_status: u16,
    /// What the client made of it.
    pub detail: &'a str,
    /// The answer as received; kept compressed, cut to [`MAX_KEPT_BYTES`].
    pub body: &'a [u8],
}

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
pub(super) fn compress_capped(body: &[u8]) -> (Vec<u8>, bool) {
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

pub(super) type Row = (i64, DateTime<Utc>, i32, String, i64, bool, Vec<u8>);

pub(super) fn from_row(
    (id, fetched_at, http_status, detail, size, truncated, gz): Row,
) -> KeptPage {
    KeptPage {
        id,
        fetched_at,
        http_status,
        detail,
        size,
        truncated,
        body: gunzip(&gz),
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
