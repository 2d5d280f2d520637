//! Checks on an upload's raw bytes before anything expensive happens: the
//! format from its magic bytes (never its name), the byte and pixel limits
//! (pixels from the header, before decoding, so a small file that claims a
//! huge image is refused without allocating it), then a decode that cannot
//! take the process down.

use std::fmt;
use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};

use image::{DynamicImage, GrayImage, ImageFormat, ImageReader, Luma};

/// How large an upload may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_bytes: usize,
    pub max_pixels: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 15 * 1024 * 1024,
            max_pixels: 40_000_000,
        }
    }
}

/// The formats a screenshot may come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Png,
    Jpeg,
    WebP,
}

impl Format {
    fn image_format(self) -> ImageFormat {
        match self {
            Format::Png => ImageFormat::Png,
            Format::Jpeg => ImageFormat::Jpeg,
            Format::WebP => ImageFormat::WebP,
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Png => "PNG",
            Format::Jpeg => "JPEG",
            Format::WebP => "WebP",
        })
    }
}

/// Why an upload is not a readable image. Each is the candidate's to fix, and
/// the message says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IntakeError {
    #[error("empty file")]
    Empty,
    #[error("{} exceeds the {} limit", mib(*.bytes), mib(*.limit))]
    TooLarge { bytes: usize, limit: usize },
    #[error("not an image ({0})")]
    NotAnImage(&'static str),
    #[error("{0} images are not accepted: upload a PNG, JPEG or WebP screenshot")]
    Unsupported(&'static str),
    #[error("{width}×{height} pixels exceeds the {} MP limit", .limit / 1_000_000)]
    TooManyPixels { width: u32, height: u32, limit: u64 },
    #[error("{format} image has no pixels ({width}×{height})")]
    NoPixels {
        format: Format,
        width: u32,
        height: u32,
    },
    #[error("truncated {0}: the file ends early (was the upload cut off?)")]
    Truncated(Format),
    #[error("corrupt {format}: {detail}")]
    Corrupt { format: Format, detail: String },
}

fn mib(bytes: usize) -> String {
    let m = bytes as f64 / (1024.0 * 1024.0);
    if m >= 10.0 {
        format!("{m:.0} MiB")
    } else {
        format!("{m:.1} MiB")
    }
}

/// The format of `bytes`, or what the bytes are instead.
pub fn sniff(bytes: &[u8]) -> Result<Format, IntakeError> {
    let starts = |magic: &[u8]| bytes.starts_with(magic);
    if bytes.is_empty() {
        return Err(IntakeError::Empty);
    }
    if starts(b"\x89PNG\r\n\x1a\n") {
        return Ok(Format::Png);
    }
    if starts(&[0xFF, 0xD8, 0xFF]) {
        return Ok(Format::Jpeg);
    }
    if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        return Ok(Format::WebP);
    }
    if starts(b"GIF87a") || starts(b"GIF89a") {
        return Err(IntakeError::Unsupported("GIF"));
    }
    if starts(b"BM") && bytes.len() >= 26 {
        return Err(IntakeError::Unsupported("BMP"));
    }
    if starts(b"II*\0") || starts(b"MM\0*") {
        return Err(IntakeError::Unsupported("TIFF"));
    }
    if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
        let brand = &bytes[8..12];
        if [&b"heic"[..], b"heix", b"mif1", b"msf1", b"hevc"].contains(&brand) {
            return Err(IntakeError::Unsupported("HEIC"));
        }
        if brand == b"avif" {
            return Err(IntakeError::Unsupported("AVIF"));
        }
        return Err(IntakeError::NotAnImage("a video or ISO media file"));
    }
    let what = if starts(b"PK\x03\x04") || starts(b"PK\x05\x06") {
        "ZIP archive"
    } else if starts(b"%PDF") {
        "PDF document"
    } else if starts(&[0x1F, 0x8B]) {
        "gzip archive"
    } else if starts(b"Rar!") {
        "RAR archive"
    } else if starts(b"7z\xBC\xAF\x27\x1C") {
        "7z archive"
    } else if starts(b"\x7FELF") || starts(b"MZ") {
        "a program"
    } else if looks_like_text(bytes) {
        "text"
    } else {
        "unknown format"
    };
    Err(IntakeError::NotAnImage(what))
}

fn looks_like_text(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(4096)];
    let valid = match std::str::from_utf8(head) {
        Ok(_) => head.len(),
        // A multi-byte character cut at the end of the window is still text.
        Err(e) => e.valid_up_to(),
    };
    valid + 4 >= head.len() && !head[..valid].contains(&0)
}

/// Whether the file carries its format's end marker. Decoders disagree on
/// what they do with a cut-off file; this tells the candidate plainly.
fn looks_truncated(format: Format, bytes: &[u8]) -> bool {
    let tail = &bytes[bytes.len().saturating_sub(4096)..];
    match format {
        Format::Png => !tail.windows(4).any(|w| w == b"IEND"),
        Format::Jpeg => !tail.windows(2).any(|w| w == [0xFF, 0xD9]),
        Format::WebP => {
            let declared = bytes
                .get(4..8)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_le_bytes)
                .map_or(0, |n| n as usize + 8);
            bytes.len() < declared
        }
    }
}

/// Check and decode an upload into a grayscale image.
pub fn decode(bytes: &[u8], limits: &Limits) -> Result<GrayImage, IntakeError> {
    let format = check(bytes, limits)?;
    let reader = || {
        let mut r = ImageReader::with_format(Cursor::new(bytes), format.image_format());
        let mut l = image::Limits::default();
        l.max_alloc = Some(limits.max_pixels.saturating_mul(8).max(64 << 20));
        r.limits(l);
        r
    };
    let corrupt = |detail: String| {
        if looks_truncated(format, bytes) {
            IntakeError::Truncated(format)
        } else {
            IntakeError::Corrupt { format, detail }
        }
    };
    let (width, height) = reader()
        .into_dimensions()
        .map_err(|e| corrupt(e.to_string()))?;
    if width == 0 || height == 0 {
        return Err(IntakeError::NoPixels {
            format,
            width,
            height,
        });
    }
    if u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(IntakeError::TooManyPixels {
            width,
            height,
            limit: limits.max_pixels,
        });
    }
    // Decoders are third-party code fed with hostile bytes: a panic in one is
    // a bad image, not a dead worker.
    let decoded = catch_unwind(AssertUnwindSafe(|| reader().decode()))
        .map_err(|_| corrupt("the decoder gave up on it".into()))?
        .map_err(|e| corrupt(e.to_string()))?;
    Ok(to_gray(decoded))
}

/// Check the bytes without decoding: cheap enough to do before queueing.
pub fn check(bytes: &[u8], limits: &Limits) -> Result<Format, IntakeError> {
    if bytes.is_empty() {
        return Err(IntakeError::Empty);
    }
    if bytes.len() > limits.max_bytes {
        return Err(IntakeError::TooLarge {
            bytes: bytes.len(),
            limit: limits.max_bytes,
        });
    }
    sniff(bytes)
}

/// Luminance, with transparent pixels laid on white (a transparent
/// background would otherwise turn black and swallow the text).
fn to_gray(img: DynamicImage) -> GrayImage {
    if !img.color().has_alpha() {
        return img.into_luma8();
    }
    let rgba = img.into_rgba8();
    let (w, h) = rgba.dimensions();
    GrayImage::from_fn(w, h, |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let luma = (299 * u32::from(r) + 587 * u32::from(g) + 114 * u32::from(b)) / 1000;
        let a = u32::from(a);
        Luma([((luma * a + 255 * (255 - a)) / 255) as u8])
    })
}
