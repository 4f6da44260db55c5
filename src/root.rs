//! Confinement: opening a client-named file, never anything outside the served root.
//!
//! Two layers. [`relative_path`] is a pure check of the name's bytes (no NUL, no `..`
//! component, not empty; a leading `/` means the root). Then the kernel resolves the path
//! against the root's directory descriptor: `openat2(2)` with `RESOLVE_BENEATH` refuses any
//! step that would leave it, through symlinks too. Where the kernel lacks `openat2` (before
//! 5.6), the file is opened with `openat(2)` and the real path of what was opened, read back from
//! `/proc/self/fd`, must lie beneath the root's real path: the check is on the very file that
//! will be sent, so a symlink swapped in between cannot fool it. Only regular files are served.

use std::ffi::{CString, OsStr};
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::cache::SmallFiles;
use crate::content::{Content, Data};
use crate::sys;

/// The longest name a client may send, in bytes.
pub const MAX_NAME: usize = 4096;

/// Why a name was not served. Its `Display` is the access log's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Empty,
    Nul,
    TooLong,
    DotDot,
    /// Resolves (through a symlink) to something outside the root.
    OutsideRoot,
    NotFound,
    /// A directory: HTTP answers it with its `index.html`.
    Directory,
    /// Exists but is neither a regular file nor a directory; the word says what it is.
    NotRegular(&'static str),
    PermissionDenied,
    /// Any other failure to open or inspect it.
    Io(io::ErrorKind),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Empty => f.write_str("refused: empty name"),
            Refusal::Nul => f.write_str("refused: NUL byte in name"),
            Refusal::TooLong => write!(f, "refused: name longer than {MAX_NAME} bytes"),
            Refusal::DotDot => f.write_str("refused: '..' in name"),
            Refusal::OutsideRoot => f.write_str("refused: outside root"),
            Refusal::NotFound => f.write_str("not found"),
            Refusal::Directory => f.write_str("refused: a directory, not a regular file"),
            Refusal::NotRegular(what) => write!(f, "refused: {what}, not a regular file"),
            Refusal::PermissionDenied => f.write_str("refused: permission denied"),
            Refusal::Io(kind) => write!(f, "refused: {kind}"),
        }
    }
}

/// Checks a client's name and turns it into a path relative to the root.
pub fn relative_path(name: &[u8]) -> Result<&Path, Refusal> {
    if name.is_empty() {
        return Err(Refusal::Empty);
    }
    if name.len() > MAX_NAME {
        return Err(Refusal::TooLong);
    }
    if name.contains(&0) {
        return Err(Refusal::Nul);
    }
    if name.split(|&b| b == b'/').any(|part| part == b"..") {
        return Err(Refusal::DotDot);
    }
    let start = name.iter().position(|&b| b != b'/').unwrap_or(name.len());
    let rest = &name[start..];
    // "/" alone names the root itself.
    Ok(Path::new(OsStr::from_bytes(if rest.is_empty() {
        b"."
    } else {
        rest
    })))
}

/// How a path is resolved beneath the root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolver {
    Openat2,
    /// `openat(2)`, then a check of the opened file's real path.
    RealPath,
}

/// Set once `openat2` is found missing, so each open afterwards goes straight to the fallback.
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// A regular file opened for a client.
#[derive(Debug)]
pub struct Opened {
    pub file: File,
    pub size: u64,
    /// For `Last-Modified` and the `ETag`.
    pub modified: SystemTime,
}

/// The served directory.
#[derive(Debug)]
pub struct Root {
    dir: OwnedFd,
    real: PathBuf,
    recent: SmallFiles,
}

impl Root {
    /// Opens the root once at start-up; it must exist and be a directory.
    pub fn new(path: &Path) -> io::Result<Root> {
        let real = path.canonicalize()?;
        let dir = File::open(&real)?;
        if !dir.metadata()?.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                "not a directory",
            ));
        }
        Ok(Root {
            dir: dir.into(),
            real,
            recent: SmallFiles::default(),
        })
    }

    /// The same directory for another reactor worker: its descriptor shared, a cache of its
    /// own (so that workers share no lock).
    pub fn twin(&self) -> io::Result<Root> {
        Ok(Root {
            dir: self.dir.try_clone()?,
            real: self.real.clone(),
            recent: SmallFiles::default(),
        })
    }

    /// The root's absolute real path.
    pub fn path(&self) -> &Path {
        &self.real
    }

    /// Opens the regular file a client named, confined to the root.
    pub fn open(&self, name: &[u8]) -> Result<Opened, Refusal> {
        let resolver = if NO_OPENAT2.load(Ordering::Relaxed) {
            Resolver::RealPath
        } else {
            Resolver::Openat2
        };
        match self.open_with(name, resolver) {
            Err(Refusal::Io(io::ErrorKind::Unsupported)) => {
                log::info!("openat2(2) is not available: confining through real paths instead");
                NO_OPENAT2.store(true, Ordering::Relaxed);
                self.open_with(name, Resolver::RealPath)
            }
            other => other,
        }
    }

    /// What to serve for `name`: a small file's bytes as read under the same name less than
    /// [`crate::cache::TTL`] ago, or read now and kept (see [`crate::cache`] for what that
    /// trades), or a larger file, opened.
    pub fn content(&self, name: &[u8], now: Instant) -> Result<Content, Refusal> {
        if let Some(content) = self.recent.get(name, now) {
            return Ok(content);
        }
        let Opened {
            file,
            size,
            modified,
        } = self.open(name)?;
        if size > crate::cache::MAX_SIZE {
            let data = Data::File(file);
            return Ok(Content {
                size,
                modified,
                data,
            });
        }
        // A file that grew since `statx` is read as it was then long; one that shrank, whole.
        let mut bytes = Vec::with_capacity(size as usize);
        (&file)
            .take(size)
            .read_to_end(&mut bytes)
            .map_err(|e| Refusal::Io(e.kind()))?;
        let bytes: Arc<[u8]> = bytes.into();
        self.recent.put(name, &bytes, modified, now);
        Ok(Content {
            size: bytes.len() as u64,
            modified,
            data: Data::Bytes(bytes),
        })
    }

    /// [`Root::open`] with a chosen resolver (tests run both).
    pub fn open_with(&self, name: &[u8], resolver: Resolver) -> Result<Opened, Refusal> {
        let path = relative_path(name)?;
        let c_path = CString::new(path.as_os_str().as_bytes()).map_err(|_| Refusal::Nul)?;
        // Nonblocking so a FIFO cannot stall the open; no controlling terminal from a device.
        let flags = libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_NOCTTY;
        let dir = self.dir.as_raw_fd();
        let fd = match resolver {
            Resolver::Openat2 => sys::openat2_beneath(dir, &c_path, flags),
            Resolver::RealPath => sys::openat(dir, &c_path, flags),
        }
        .map_err(open_refusal)?;
        if resolver == Resolver::RealPath {
            self.check_beneath(&fd)?;
        }
        let file = File::from(fd);
        let meta = file.metadata().map_err(|e| Refusal::Io(e.kind()))?;
        let kind = meta.file_type();
        if kind.is_dir() {
            return Err(Refusal::Directory);
        }
        if !kind.is_file() {
            return Err(Refusal::NotRegular(describe(&kind)));
        }
        Ok(Opened {
            file,
            size: meta.size(),
            // Every Linux file system keeps an mtime; the epoch stands in should one not.
            modified: meta.modified().unwrap_or(UNIX_EPOCH),
        })
    }

    fn check_beneath(&self, fd: &OwnedFd) -> Result<(), Refusal> {
        let link = format!("/proc/self/fd/{}", fd.as_raw_fd());
        let real = std::fs::read_link(link).map_err(|e| Refusal::Io(e.kind()))?;
        if real == self.real || real.starts_with(&self.real) {
            Ok(())
        } else {
            Err(Refusal::OutsideRoot)
        }
    }
}

fn open_refusal(err: io::Error) -> Refusal {
    match err.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::ENOTDIR) => Refusal::NotFound,
        // A socket file, or a device with no driver behind it: open(2) cannot open either.
        Some(libc::ENXIO) | Some(libc::ENODEV) => Refusal::NotRegular("a socket or a device"),
        // RESOLVE_BENEATH: a step would have left the root. ELOOP: a magic link (/proc/...)
        // or a symlink loop, which only a path meant to escape would contain.
        Some(libc::EXDEV) | Some(libc::ELOOP) => Refusal::OutsideRoot,
        Some(libc::EACCES) | Some(libc::EPERM) => Refusal::PermissionDenied,
        Some(libc::ENAMETOOLONG) => Refusal::TooLong,
        Some(libc::ENOSYS) => Refusal::Io(io::ErrorKind::Unsupported),
        _ => Refusal::Io(err.kind()),
    }
}

fn describe(kind: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_block_device() || kind.is_char_device() {
        "a device"
    } else {
        "not a file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logging::Escaped;

    #[test]
    fn names_are_checked_before_the_kernel_sees_them() {
        let long = vec![b'a'; MAX_NAME + 1];
        let cases: &[(&[u8], Result<&str, Refusal>)] = &[
            (b"file.txt", Ok("file.txt")),
            (b"/file.txt", Ok("file.txt")),
            (b"///a/b", Ok("a/b")),
            (b"/", Ok(".")),
            (b"./a", Ok("./a")),
            (b"a..b", Ok("a..b")),
            (b"...", Ok("...")),
            (b"", Err(Refusal::Empty)),
            (b"..", Err(Refusal::DotDot)),
            (b"../x", Err(Refusal::DotDot)),
            (b"/../x", Err(Refusal::DotDot)),
            (b"a/../b", Err(Refusal::DotDot)),
            (b"a/..", Err(Refusal::DotDot)),
            (b"a\0b", Err(Refusal::Nul)),
            (&long, Err(Refusal::TooLong)),
        ];
        for (name, want) in cases {
            let got = relative_path(name).map(|p| p.to_str().unwrap());
            assert_eq!(&got, want, "{:?}", Escaped(name).to_string());
        }
    }
}
