//! The few Tesseract calls the engine makes, on a handle this module owns.
//! leptess's wrapper recognises without a progress monitor, and a monitor is
//! what lets a read stop at a deadline instead of running for minutes on a
//! hostile image; so recognition goes through the C API directly.

use std::ffi::{CStr, CString, c_char};
use std::ptr::NonNull;
use std::time::Duration;

use leptess::capi;

/// One `TessBaseAPI`, deleted on drop.
pub struct Tess {
    handle: NonNull<capi::TessBaseAPI>,
}

// The handle is used by one thread at a time (`&mut self` for every call
// that touches it); Tesseract keeps no thread affinity.
unsafe impl Send for Tess {}

/// Why a recognition produced nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecognizeError {
    /// The deadline passed before every word was read.
    Deadline,
    Failed,
}

impl Tess {
    /// A handle with `lang` loaded, or `None` if the model is missing.
    pub fn new(datapath: Option<&str>, lang: &str) -> Option<Tess> {
        let datapath = match datapath {
            Some(p) => Some(CString::new(p).ok()?),
            None => None,
        };
        let lang = CString::new(lang).ok()?;
        // SAFETY: create returns a fresh handle (or null), owned from here on.
        let handle = NonNull::new(unsafe { capi::TessBaseAPICreate() })?;
        let tess = Tess { handle };
        let path_ptr = datapath.as_ref().map_or(std::ptr::null(), |p| p.as_ptr());
        // SAFETY: both strings are NUL-terminated and outlive the call.
        let rc = unsafe { capi::TessBaseAPIInit3(tess.handle.as_ptr(), path_ptr, lang.as_ptr()) };
        (rc == 0).then_some(tess)
    }

    pub fn set_variable(&mut self, name: &CStr, value: &CStr) -> bool {
        // SAFETY: valid handle; NUL-terminated strings Tesseract copies.
        unsafe {
            capi::TessBaseAPISetVariable(self.handle.as_ptr(), name.as_ptr(), value.as_ptr()) != 0
        }
    }

    /// Loads an 8-bit grayscale image (Tesseract copies the pixels).
    pub fn set_gray_image(&mut self, pixels: &[u8], width: u32, height: u32) -> bool {
        let (Ok(w), Ok(h)) = (i32::try_from(width), i32::try_from(height)) else {
            return false;
        };
        if pixels.len() != width as usize * height as usize || w == 0 || h == 0 {
            return false;
        }
        // SAFETY: `pixels` holds exactly `height` rows of `width` bytes.
        unsafe {
            capi::TessBaseAPISetImage(self.handle.as_ptr(), pixels.as_ptr(), w, h, 1, w);
            capi::TessBaseAPISetSourceResolution(self.handle.as_ptr(), 300);
        }
        true
    }

    /// Recognises the loaded image, giving up once `deadline` has passed.
    /// Tesseract checks the deadline between words; layout analysis before
    /// them is bounded by the pixel limit instead.
    pub fn recognize(&mut self, deadline: Duration) -> Result<(), RecognizeError> {
        // SAFETY: the monitor is created, used for this one call and deleted.
        unsafe {
            let monitor = capi::TessMonitorCreate();
            if monitor.is_null() {
                return Err(RecognizeError::Failed);
            }
            let ms = i32::try_from(deadline.as_millis())
                .unwrap_or(i32::MAX)
                .max(1);
            capi::TessMonitorSetDeadlineMSecs(monitor, ms);
            let started = std::time::Instant::now();
            let rc = capi::TessBaseAPIRecognize(self.handle.as_ptr(), monitor);
            capi::TessMonitorDelete(monitor);
            if started.elapsed() >= deadline {
                Err(RecognizeError::Deadline)
            } else if rc != 0 {
                Err(RecognizeError::Failed)
            } else {
                Ok(())
            }
        }
    }

    /// The page as hOCR; recognises first if that has not been done.
    pub fn hocr(&mut self) -> Option<String> {
        // SAFETY: valid handle; the returned text is ours to free.
        unsafe { take_text(capi::TessBaseAPIGetHOCRText(self.handle.as_ptr(), 0)) }
    }

    /// Tesseract's mean confidence in the words it read (0–100).
    pub fn mean_text_conf(&mut self) -> i32 {
        // SAFETY: valid handle.
        unsafe { capi::TessBaseAPIMeanTextConf(self.handle.as_ptr()) }
    }

    /// The page as plain text; recognises first if that has not been done.
    pub fn utf8(&mut self) -> Option<String> {
        // SAFETY: as for `hocr`.
        unsafe { take_text(capi::TessBaseAPIGetUTF8Text(self.handle.as_ptr())) }
    }
}

/// Copies and frees a string Tesseract allocated.
unsafe fn take_text(p: *mut c_char) -> Option<String> {
    if p.is_null() {
        return None;
    }
    // SAFETY: Tesseract returns a NUL-terminated string, freed exactly once.
    let text = unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned();
    unsafe { capi::TessDeleteText(p) };
    Some(text)
}

impl Drop for Tess {
    fn drop(&mut self) {
        // SAFETY: the handle was created by TessBaseAPICreate and is deleted once.
        unsafe { capi::TessBaseAPIDelete(self.handle.as_ptr()) }
    }
}
