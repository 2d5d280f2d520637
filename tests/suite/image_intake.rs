//! Uploads that are not good screenshots: each gets a clear reason, none a
//! panic. The bad files are made here, not committed.

use std::io::Cursor;

use credverify::domain::ReasonCode;
use credverify::ocr::intake::{self, Format, IntakeError, Limits};
use credverify::ocr::{OcrConfig, OcrPool, ScreenshotError};
use image::{DynamicImage, ImageBuffer, ImageFormat, Luma, Rgb};

fn png(img: &DynamicImage) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, ImageFormat::Png)
        .expect("encode png");
    out.into_inner()
}

fn small_png() -> Vec<u8> {
    png(&DynamicImage::ImageRgb8(ImageBuffer::from_pixel(
        40,
        20,
        Rgb([250, 250, 250]),
    )))
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A real small PNG whose header claims other dimensions (CRC fixed up, so
/// only the size is a lie).
fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = small_png();
    // Signature (8), length (4), "IHDR" (4), then width and height.
    bytes[16..20].copy_from_slice(&width.to_be_bytes());
    bytes[20..24].copy_from_slice(&height.to_be_bytes());
    let crc = crc32(&bytes[12..29]);
    bytes[29..33].copy_from_slice(&crc.to_be_bytes());
    bytes
}

/// A baseline JPEG with four components (CMYK, Adobe transform 0), 8×8
/// pixels of one colour: every block is DC difference 0 then end-of-block.
fn cmyk_jpeg() -> Vec<u8> {
    let mut j = vec![0xFF, 0xD8];
    let mut segment = |marker: u8, body: &[u8]| {
        j.extend([0xFF, marker]);
        j.extend(((body.len() + 2) as u16).to_be_bytes());
        j.extend(body);
    };
    segment(0xEE, b"Adobe\x00\x64\x00\x00\x00\x00\x00");
    let mut dqt = vec![0x00];
    dqt.extend([1u8; 64]);
    segment(0xDB, &dqt);
    let mut sof = vec![8, 0, 8, 0, 8, 4];
    for id in 1..=4u8 {
        sof.extend([id, 0x11, 0]);
    }
    segment(0xC0, &sof);
    for class in [0x00u8, 0x10] {
        let mut dht = vec![class, 1];
        dht.extend([0u8; 15]);
        dht.push(0x00);
        segment(0xC4, &dht);
    }
    let mut sos = vec![4];
    for id in 1..=4u8 {
        sos.extend([id, 0x00]);
    }
    sos.extend([0, 63, 0]);
    segment(0xDA, &sos);
    j.extend([0x00, 0xFF, 0xD9]);
    j
}

fn err(bytes: &[u8]) -> IntakeError {
    match intake::decode(bytes, &Limits::default()) {
        Ok(img) => panic!("decoded {}×{}", img.width(), img.height()),
        Err(e) => e,
    }
}

#[test]
fn bad_uploads_are_refused_with_a_clear_reason() {
    let png = small_png();
    let cases: Vec<(&str, Vec<u8>, IntakeError, &str)> = vec![
        ("empty", vec![], IntakeError::Empty, "empty file"),
        (
            "zip renamed .png",
            b"PK\x03\x04\x14\x00\x00\x00\x08\x00screenshot.png".to_vec(),
            IntakeError::NotAnImage("ZIP archive"),
            "not an image (ZIP archive)",
        ),
        (
            "text",
            "姓名: 王五\n在线验证码: ABCD\n".as_bytes().to_vec(),
            IntakeError::NotAnImage("text"),
            "not an image (text)",
        ),
        (
            "gif",
            b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;".to_vec(),
            IntakeError::Unsupported("GIF"),
            "GIF images are not accepted: upload a PNG, JPEG or WebP screenshot",
        ),
        (
            "truncated png",
            png[..png.len() / 2].to_vec(),
            IntakeError::Truncated(Format::Png),
            "truncated PNG: the file ends early (was the upload cut off?)",
        ),
        (
            "decompression bomb",
            png_claiming(30_000, 30_000),
            IntakeError::TooManyPixels {
                width: 30_000,
                height: 30_000,
                limit: 40_000_000,
            },
            "30000×30000 pixels exceeds the 40 MP limit",
        ),
    ];
    for (what, bytes, want, message) in cases {
        let got = err(&bytes);
        assert_eq!(got, want, "{what}");
        assert_eq!(got.to_string(), message, "{what}");
    }
}

#[test]
fn oversized_files_are_refused_before_decoding() {
    let limits = Limits {
        max_bytes: 100,
        ..Limits::default()
    };
    let got = intake::decode(&small_png(), &limits).map(|_| ());
    assert!(
        matches!(got, Err(IntakeError::TooLarge { limit: 100, .. })),
        "{got:?}"
    );
    let big = IntakeError::TooLarge {
        bytes: 20 * 1024 * 1024,
        limit: 15 * 1024 * 1024,
    };
    assert_eq!(big.to_string(), "20 MiB exceeds the 15 MiB limit");
}

#[test]
fn garbage_after_a_valid_signature_is_corrupt_not_a_panic() {
    let mut bytes = small_png();
    // Keep the signature and header, scramble the compressed data.
    for b in bytes.iter_mut().skip(41) {
        *b = b.wrapping_mul(31).wrapping_add(7);
    }
    let e = err(&bytes);
    assert!(
        matches!(
            e,
            IntakeError::Corrupt {
                format: Format::Png,
                ..
            } | IntakeError::Truncated(Format::Png)
        ),
        "{e:?}"
    );
    // Random bytes with a JPEG or WebP signature.
    for head in [
        &[0xFFu8, 0xD8, 0xFF, 0xE0][..],
        b"RIFF\x10\x00\x00\x00WEBPVP8 ",
    ] {
        let mut bytes = head.to_vec();
        bytes.extend((0..200u32).map(|i| (i * 37 % 251) as u8));
        let e = err(&bytes);
        assert!(
            e.to_string().contains(match head[0] {
                0xFF => "JPEG",
                _ => "WebP",
            }),
            "{e}"
        );
    }
}

#[test]
fn sixteen_bit_png_and_cmyk_jpeg_decode_or_are_refused_cleanly() {
    let deep = png(&DynamicImage::ImageLuma16(ImageBuffer::from_pixel(
        30,
        10,
        Luma([40_000u16]),
    )));
    let img = intake::decode(&deep, &Limits::default()).expect("16-bit PNG decodes");
    assert_eq!(img.dimensions(), (30, 10));
    assert!(img.get_pixel(5, 5).0[0] > 140, "16-bit values scaled to 8");

    match intake::decode(&cmyk_jpeg(), &Limits::default()) {
        Ok(img) => assert_eq!(img.dimensions(), (8, 8)),
        Err(e) => assert!(e.to_string().contains("JPEG"), "{e}"),
    }
}

#[test]
fn transparent_pixels_are_read_as_white_paper() {
    let clear = png(&DynamicImage::ImageRgba8(ImageBuffer::from_pixel(
        4,
        4,
        image::Rgba([0, 0, 0, 0]),
    )));
    let img = intake::decode(&clear, &Limits::default()).expect("decodes");
    assert_eq!(img.get_pixel(0, 0).0[0], 255);
}

#[test]
fn the_pool_maps_bad_uploads_to_image_unreadable() {
    let pool = OcrPool::new(OcrConfig {
        threads: 1,
        ..OcrConfig::default()
    })
    .expect("Tesseract with chi_sim");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    for bytes in [
        Vec::new(),
        b"PK\x03\x04rest".to_vec(),
        png_claiming(30_000, 30_000),
    ] {
        let e = rt
            .block_on(pool.read_screenshot(bytes))
            .expect_err("refused");
        assert!(matches!(e, ScreenshotError::Unreadable { .. }), "{e:?}");
        assert_eq!(e.reason(), Some(ReasonCode::ImageUnreadable));
    }
    // A blank page is an image, just not a CHSI result.
    let blank = small_png();
    let parsed = pool.read_screenshot_blocking(blank).expect("reads");
    assert_eq!(parsed.layout, None);
    assert!(parsed.fields.is_empty());
}
