//! Opening files named by outside input without being led astray: regular
//! files only (a FIFO or a device would block a reader for good or never
//! end), never through a symlink, beneath a given root even while someone
//! swaps directories under it, and never more than a limit read.

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Why a file was not read.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Flags for every open: no controlling terminal, no blocking on a FIFO's
/// missing writer, and a final symlink refused (ELOOP).
const FLAGS: libc::c_int =
    libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOCTTY | libc::O_NONBLOCK | libc::O_NOFOLLOW;

/// Opens `rel` beneath the directory `root`, refusing `..`, absolute paths
/// and symlinks anywhere on the way (`openat2` with `RESOLVE_BENEATH |
/// RESOLVE_NO_SYMLINKS`): the kernel resolves the path, so a directory
/// swapped for a symlink mid-way cannot lead outside.
pub fn open_beneath(root: &File, rel: &Path) -> Result<File, OpenError> {
    let path = CString::new(rel.as_os_str().as_bytes())
        .map_err(|_| OpenError::Refused("the path contains a NUL byte".into()))?;
    // SAFETY: `open_how` is plain data; zero is a valid value of every field.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = FLAGS as u64;
    how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: the path is NUL-terminated, `how` lives across the call and
    // its size is passed; a returned descriptor is owned by the `File`.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root.as_raw_fd(),
            path.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        let e = io::Error::last_os_error();
        return Err(match e.raw_os_error() {
            Some(libc::ENOENT) => OpenError::NotFound,
            Some(libc::EXDEV) => OpenError::Refused("the path leads outside the root".into()),
            Some(libc::ELOOP) => OpenError::Refused("the path goes through a symlink".into()),
            _ => OpenError::Io(e),
        });
    }
    // SAFETY: a fresh descriptor nobody else owns.
    let file = unsafe { File::from_raw_fd(fd as libc::c_int) };
    regular_only(&file)?;
    Ok(file)
}

/// Opens a path the operator named (the CLI's `--screenshot`): regular files
/// only (a symlink is followed, and judged by what it leads to).
pub fn open_regular(path: &Path) -> Result<File, OpenError> {
    let cpath = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| OpenError::Refused("the path contains a NUL byte".into()))?;
    // Follows symlinks (an operator's path may be one) but never blocks:
    // the descriptor is judged by what it is, not by its name.
    let flags = FLAGS & !libc::O_NOFOLLOW;
    // SAFETY: NUL-terminated path; a returned descriptor is owned by the `File`.
    let fd = unsafe { libc::open(cpath.as_ptr(), flags) };
    if fd < 0 {
        let e = io::Error::last_os_error();
        return Err(if e.kind() == io::ErrorKind::NotFound {
            OpenError::NotFound
        } else {
            OpenError::Io(e)
        });
    }
    // SAFETY: a fresh descriptor nobody else owns.
    let file = unsafe { File::from_raw_fd(fd) };
    regular_only(&file)?;
    not_a_pseudo_file(&file)?;
    Ok(file)
}

/// Files of /proc and /sys look regular but are the kernel talking:
/// `/proc/self/environ` holds the process's secrets.
fn not_a_pseudo_file(file: &File) -> Result<(), OpenError> {
    const PROC_SUPER_MAGIC: i64 = 0x9fa0;
    const SYSFS_MAGIC: i64 = 0x6265_6572;
    // SAFETY: `statfs` is plain data filled in by the kernel.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid descriptor and a pointer to a live struct.
    if unsafe { libc::fstatfs(file.as_raw_fd(), &mut st) } != 0 {
        return Err(OpenError::Io(io::Error::last_os_error()));
    }
    #[allow(clippy::unnecessary_cast)]
    let kind = st.f_type as i64;
    if kind == PROC_SUPER_MAGIC || kind == SYSFS_MAGIC {
        return Err(OpenError::Refused(
            "a kernel pseudo-file (/proc, /sys), not an upload".into(),
        ));
    }
    Ok(())
}

fn regular_only(file: &File) -> Result<(), OpenError> {
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(OpenError::Refused(
            "not a regular file (a directory, FIFO, socket or device)".into(),
        ));
    }
    Ok(())
}

/// Whether the file has other names: a hard link placed under a root can
/// name a file that lives anywhere else on the same filesystem.
pub fn has_other_links(file: &File) -> io::Result<bool> {
    Ok(file.metadata()?.nlink() > 1)
}

/// Reads at most `limit` bytes; `Ok(None)` if there is more.
pub fn read_capped(file: impl Read, limit: u64) -> io::Result<Option<Vec<u8>>> {
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= limit).then_some(bytes))
}
