//! OpenMP off for the calling thread.
//!
//! Debian's libtesseract is built with OpenMP (libgomp). With its default
//! thread count a screenshot took ~5× longer here than single-threaded: the
//! workers fight over two cores that the pool already keeps busy. Two fixes
//! work: `OMP_THREAD_LIMIT=1` in the process environment before it starts
//! (setting it from `main` is too late: libgomp reads it when loaded), or
//! `omp_set_max_active_levels(0)` on each thread that runs OCR, which is
//! what the pool does. The symbol is looked up at run time so nothing extra
//! has to be linked and a Tesseract built without OpenMP works unchanged.

use std::ffi::c_int;

/// Disable OpenMP parallel regions on this thread. Returns whether the
/// OpenMP runtime was found.
pub fn disable_for_this_thread() -> bool {
    // SAFETY: dlsym with RTLD_DEFAULT only looks a name up in the libraries
    // already loaded; a non-null result for this name is libgomp's
    // `void omp_set_max_active_levels(int)`.
    unsafe {
        let sym = libc::dlsym(libc::RTLD_DEFAULT, c"omp_set_max_active_levels".as_ptr());
        if sym.is_null() {
            return false;
        }
        let set: extern "C" fn(c_int) = std::mem::transmute(sym);
        set(0);
    }
    true
}
