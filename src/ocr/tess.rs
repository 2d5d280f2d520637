//! The few Tesseract calls the engine makes, on a handle this module owns.
//! leptess's wrapper recognises without a progress monitor, and a monitor is
//! what lets a read stop within its budget instead of running for minutes on
//! a hostile image; so recognition goes through the C API directly.

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::ptr::NonNull;
use std::time::{Duration, Instant};

use leptess::capi;

/// One `TessBaseAPI`, deleted on drop.
pub struct Tess {
    handle: NonNull<capi::TessBaseAPI>,
}

// The handle is used by one thread at a time (`&mut self` for every call
// that touches it); Tesseract keeps no thread affinity.
unsafe impl Send for Tess {}

/// How much one recognition may take: `cpu` of this thread's processor
/// time, and `wall` of clock time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub cpu: Duration,
    pub wall: Duration,
}

/// Why a recognition produced nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecognizeError {
    /// The image used up its processor time before every word was read:
    /// the image's cost.
    OverBudget,
    /// The clock ran out with processor time to spare: the machine did not
    /// give the thread its share, which says nothing about the image.
    Starved {
        cpu: Duration,
        wall: Duration,
    },
    Failed,
}

/// The processor time this thread has used.
pub fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write; the clock exists on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(
        u64::try_from(ts.tv_sec).unwrap_or(0),
        u32::try_from(ts.tv_nsec).unwrap_or(0),
    )
}

/// What the monitor's cancel callback checks between words; it runs on the
/// recognising thread, so the thread's processor clock is the read's.
struct Watch {
    cpu_start: Duration,
    started: Instant,
    budget: Budget,
    stopped: Option<RecognizeError>,
}

impl Watch {
    fn check(&mut self) -> bool {
        let cpu = thread_cpu_time().saturating_sub(self.cpu_start);
        if cpu >= self.budget.cpu {
            self.stopped = Some(RecognizeError::OverBudget);
        } else {
            let wall = self.started.elapsed();
            if wall >= self.budget.wall {
                self.stopped = Some(RecognizeError::Starved { cpu, wall });
            }
        }
        self.stopped.is_some()
    }
}

/// Tesseract's cancel callback: true stops the recognition.
unsafe extern "C" fn cancel(this: *mut c_void, _words: c_int) -> bool {
    // SAFETY: `this` is the `Watch` `recognize` registered, alive and not
    // otherwise borrowed for the length of the call that invokes us.
    let watch = unsafe { &mut *this.cast::<Watch>() };
    watch.check()
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

    /// Recognises the loaded image, giving up once either limit of `budget`
    /// is reached. Tesseract asks between words; layout analysis before
    /// them is bounded by the pixel limit instead.
    pub fn recognize(&mut self, budget: Budget) -> Result<(), RecognizeError> {
        let mut watch = Watch {
            cpu_start: thread_cpu_time(),
            started: Instant::now(),
            budget,
            stopped: None,
        };
        // Starved before it began (decoding and preparing took the time):
        // layout analysis, which runs before the first check, is not begun.
        if watch.check() {
            return Err(watch.stopped.unwrap_or(RecognizeError::Failed));
        }
        // SAFETY: the monitor is created, used for this one call and deleted;
        // `watch` outlives the call, and Tesseract calls `cancel` only from
        // within it, on this thread.
        let rc = unsafe {
            let monitor = capi::TessMonitorCreate();
            if monitor.is_null() {
                return Err(RecognizeError::Failed);
            }
            capi::TessMonitorSetCancelFunc(monitor, Some(cancel));
            capi::TessMonitorSetCancelThis(monitor, (&raw mut watch).cast());
            let rc = capi::TessBaseAPIRecognize(self.handle.as_ptr(), monitor);
            capi::TessMonitorDelete(monitor);
            rc
        };
        // Once stopped, Tesseract fakes out the words left: the page is not
        // whole, whatever the return code.
        match (watch.stopped, rc) {
            (Some(stopped), _) => Err(stopped),
            (None, 0) => Ok(()),
            (None, _) => Err(RecognizeError::Failed),
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
