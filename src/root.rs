//! Confinement: opening a client-named file, never anything outside the served root.
//!
//! Two layers. [`relative_path`] is a pure check of the name's bytes (no NUL, no `..`
//! component, not empty; a leading `/` means the root). Then the kernel resolves the path
//! against the root's directory descriptor: `openat2(2)` with `RESOLVE_BENEATH` refuses any
//! step that would leave it, through symlinks too. Where the kernel lacks `openat2` (before
//! 5.6), the file is opened with `openat(2)` and the real path of what was opened, read back from
//! `/proc/self/fd`, must lie beneath the root's real path: the check is on the very file that
//! will be sent, so a symlink swapped in between cannot fool it. Only regular files are served.

use std::ffi::{CStr, CString, OsStr};
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

const DT_REG: u8 = libc::DT_REG;
const DT_DIR: u8 = libc::DT_DIR;
const DT_LNK: u8 = libc::DT_LNK;
const DT_UNKNOWN: u8 = libc::DT_UNKNOWN;

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

/// A directory's entries, as [`Root::list`] read them.
#[derive(Debug)]
pub struct Listing {
    /// Directories first, then files, each by name byte by byte.
    pub entries: Vec<Entry>,
    /// The directory had more entries than were read.
    pub cut: bool,
}

/// One listed entry: a regular file or a directory inside the root.
#[derive(Debug)]
pub struct Entry {
    /// As the file system has it: any bytes but `/` and NUL, not always UTF-8.
    pub name: Box<[u8]>,
    pub dir: bool,
    /// In bytes (a directory's is the file system's figure, and not shown).
    pub size: u64,
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
        self.open_as(name, None)
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
        self.open_as(name, Some(resolver))
    }

    /// Opens a regular file, with the resolver given, or else the one that works here.
    fn open_as(&self, name: &[u8], resolver: Option<Resolver>) -> Result<Opened, Refusal> {
        let path = relative_path(name)?;
        let c_path = CString::new(path.as_os_str().as_bytes()).map_err(|_| Refusal::Nul)?;
        // Nonblocking so a FIFO cannot stall the open; no controlling terminal from a device.
        let flags = libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_NOCTTY;
        let fd = match resolver {
            Some(resolver) => self.resolve(&c_path, flags, resolver),
            None => self.beneath(&c_path, flags),
        }?;
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

    /// The entries of the directory a client named (`--listing`), confined as [`Root::open`]
    /// is: only what serving would accept is listed, namely regular files and directories
    /// inside the root, a symlink by what it leads to (and only if that is inside). Never
    /// listed: names starting with `.`, symlinks out of the root or into `/proc`, symlinks
    /// whose target, resolved from the root, has a component starting with `.` (`pub -> .git`,
    /// `cfg -> .env`), FIFOs, sockets, devices, and entries that vanish or cannot be inspected
    /// while being read. A directory any of whose components starts with `.`, in the name asked
    /// for or in its resolved path, is not listed at all (`NotFound`), so a listing never shows
    /// what a hidden directory holds. (Downloads do not apply this rule: a file reached through
    /// such a symlink is served, as a hidden name is.)
    ///
    /// At most `max` entries are read (`.` and `..` not counted, hidden ones counted): the
    /// bound on a listing's work, one `fstatat` per entry and a confined open per symlink.
    /// Past it [`Listing::cut`] says so, and what was read is a part in the directory's own
    /// order. Entries are sorted: directories first, then by name, byte by byte. Whether a
    /// file is readable is not checked: one the server cannot read is listed, and answers 403.
    pub fn list(&self, name: &[u8], max: usize) -> Result<Listing, Refusal> {
        let path = relative_path(name)?;
        let path = path.as_os_str().as_bytes();
        if path.split(|&b| b == b'/').any(hidden) {
            return Err(Refusal::NotFound);
        }
        let c_path = CString::new(path).map_err(|_| Refusal::Nul)?;
        let flags = libc::O_RDONLY | libc::O_CLOEXEC | libc::O_DIRECTORY | libc::O_NONBLOCK;
        let fd = self.beneath(&c_path, flags)?;
        // Reached through a symlink, the directory may be a hidden one: what counts is where
        // it is, not the name asked for.
        if self.resolves_hidden(&fd) {
            return Err(Refusal::NotFound);
        }
        let mut dir = sys::Dir::new(fd).map_err(open_refusal)?;
        let mut listing = Listing {
            entries: Vec::new(),
            cut: false,
        };
        // A symlink's path from the root, rebuilt for each: `path/name`.
        let mut link = path.to_vec();
        link.push(b'/');
        let dir_len = link.len();
        let mut read = 0;
        let dir_fd = dir.fd();
        while let Some(next) = dir.next_entry() {
            let (entry, d_type) = next.map_err(open_refusal)?;
            let bytes = entry.to_bytes();
            if bytes == b"." || bytes == b".." {
                continue;
            }
            if read == max {
                listing.cut = true;
                break;
            }
            read += 1;
            if bytes.starts_with(b".") || !matches!(d_type, DT_REG | DT_DIR | DT_LNK | DT_UNKNOWN) {
                continue;
            }
            let Ok(st) = sys::lstat_at(dir_fd, entry) else {
                continue;
            };
            let (mode, size, mtime) = if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
                link.truncate(dir_len);
                link.extend_from_slice(bytes);
                match self.link_target(&link) {
                    Some(meta) => (meta.mode(), meta.size(), meta.modified()),
                    None => continue,
                }
            } else {
                let mtime = crate::http::date::from_unix_seconds(st.st_mtime);
                (st.st_mode, st.st_size as u64, Ok(mtime))
            };
            let kind = mode & libc::S_IFMT;
            if kind != libc::S_IFREG && kind != libc::S_IFDIR {
                continue;
            }
            listing.entries.push(Entry {
                name: bytes.into(),
                dir: kind == libc::S_IFDIR,
                size,
                modified: mtime.unwrap_or(UNIX_EPOCH),
            });
        }
        // Directories first, then by name, byte by byte.
        crate::sort::heapsort(&mut listing.entries, |a, b| {
            (b.dir, &*a.name) < (a.dir, &*b.name)
        });
        Ok(listing)
    }

    /// What the symlink at `link` (a path from the root) leads to, if serving would follow it
    /// and a listing may show it: opened `O_PATH` through the same confinement as a download,
    /// and not hidden where it resolves (`pub -> .git` is not listed).
    fn link_target(&self, link: &[u8]) -> Option<std::fs::Metadata> {
        let c_link = CString::new(link).ok()?;
        let fd = self.beneath(&c_link, libc::O_PATH | libc::O_CLOEXEC).ok()?;
        if self.resolves_hidden(&fd) {
            return None;
        }
        File::from(fd).metadata().ok()
    }

    /// Whether `fd` (opened beneath the root) is, where it really is, at or under a hidden
    /// name: its real path, read back from `/proc/self/fd`, has a component past the root's
    /// that starts with `.`. A path that cannot be read back, or no longer lies beneath the
    /// root's real path (the root moved), counts as hidden: a listing fails closed.
    fn resolves_hidden(&self, fd: &OwnedFd) -> bool {
        let Ok(real) = real_path(fd) else {
            return true;
        };
        match real.strip_prefix(&self.real) {
            Ok(rest) => rest
                .as_os_str()
                .as_bytes()
                .split(|&b| b == b'/')
                .any(hidden),
            Err(_) => true,
        }
    }

    /// Opens `path` (relative to the root) with `flags`, confined to the root: `openat2`, or
    /// where the kernel lacks it (found once, then remembered), `openat` and a check of the
    /// real path.
    fn beneath(&self, path: &CStr, flags: libc::c_int) -> Result<OwnedFd, Refusal> {
        if !NO_OPENAT2.load(Ordering::Relaxed) {
            match self.resolve(path, flags, Resolver::Openat2) {
                Err(Refusal::Io(io::ErrorKind::Unsupported)) => {
                    log::info!("openat2(2) is not available: confining through real paths instead");
                    NO_OPENAT2.store(true, Ordering::Relaxed);
                }
                other => return other,
            }
        }
        self.resolve(path, flags, Resolver::RealPath)
    }

    /// Opens `path` with `flags` through `resolver`, confined to the root.
    fn resolve(
        &self,
        path: &CStr,
        flags: libc::c_int,
        resolver: Resolver,
    ) -> Result<OwnedFd, Refusal> {
        let dir = self.dir.as_raw_fd();
        let fd = match resolver {
            Resolver::Openat2 => sys::openat2_beneath(dir, path, flags),
            Resolver::RealPath => sys::openat(dir, path, flags),
        }
        .map_err(open_refusal)?;
        if resolver == Resolver::RealPath {
            self.check_beneath(&fd)?;
        }
        Ok(fd)
    }

    fn check_beneath(&self, fd: &OwnedFd) -> Result<(), Refusal> {
        match real_path(fd)?.strip_prefix(&self.real) {
            Ok(_) => Ok(()),
            Err(_) => Err(Refusal::OutsideRoot),
        }
    }
}

/// Where `fd` really is, read back from `/proc/self/fd`.
fn real_path(fd: &OwnedFd) -> Result<PathBuf, Refusal> {
    let link = format!("/proc/self/fd/{}", fd.as_raw_fd());
    std::fs::read_link(link).map_err(|e| Refusal::Io(e.kind()))
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

/// A name a listing never shows: a dot-file (`.` itself, the current directory, is not one).
fn hidden(part: &[u8]) -> bool {
    part.first() == Some(&b'.') && part != b"."
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

    /// A scratch directory, removed at the end of the test that made it.
    struct Scratch(PathBuf);

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn scratch(test: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("tcpserve-root-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("root/sub")).unwrap();
        std::fs::create_dir_all(dir.join("root/.hidden_dir")).unwrap();
        std::fs::create_dir_all(dir.join("outside")).unwrap();
        Scratch(dir)
    }

    #[test]
    fn a_listing_holds_what_serving_would_open_and_is_cut_at_its_bound() {
        use std::os::unix::fs::symlink;
        let dir = scratch("list");
        let root = dir.0.join("root");
        for name in ["b.txt", "a.txt", ".dot", "sub/x"] {
            std::fs::write(root.join(name), name).unwrap();
        }
        std::fs::write(dir.0.join("outside/secret"), "secret").unwrap();
        symlink("a.txt", root.join("link_in")).unwrap();
        symlink("sub", root.join("dir_in")).unwrap();
        symlink("../outside/secret", root.join("link_out")).unwrap();
        symlink("../outside", root.join("dir_out")).unwrap();
        symlink("/etc", root.join("abs")).unwrap();
        symlink("nowhere", root.join("dangling")).unwrap();
        // Symlinks to hidden things, and through a hidden directory.
        symlink(".hidden_dir", root.join("pub")).unwrap();
        symlink(".dot", root.join("cfg")).unwrap();
        std::fs::create_dir(root.join(".hidden_dir/inner")).unwrap();
        symlink("sub/../.hidden_dir/inner", root.join("deep")).unwrap();
        let fifo = CString::new(root.join("fifo").as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid C string.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
        let _socket = std::os::unix::net::UnixListener::bind(root.join("sock")).unwrap();

        let root = Root::new(&root).unwrap();
        let names = |listing: &Listing| -> Vec<(String, bool)> {
            let name = |e: &Entry| String::from_utf8(e.name.to_vec()).unwrap();
            listing.entries.iter().map(|e| (name(e), e.dir)).collect()
        };
        let all = root.list(b"/", 100).unwrap();
        let want = [
            ("dir_in", true),
            ("sub", true),
            ("a.txt", false),
            ("b.txt", false),
            ("link_in", false),
        ];
        let want: Vec<(String, bool)> = want.iter().map(|&(n, d)| (n.into(), d)).collect();
        assert_eq!(names(&all), want);
        assert!(!all.cut);
        // A symlink shows what it leads to.
        let link = all.entries.iter().find(|e| &*e.name == b"link_in").unwrap();
        assert_eq!(link.size, 5);

        // Sixteen entries (`.` and `..` aside): a bound of 16 reads them all, 15 does not.
        assert!(!root.list(b"/", 16).unwrap().cut);
        let part = root.list(b"/", 15).unwrap();
        assert!(part.cut && part.entries.len() <= 5);
        assert!(root.list(b"/", 0).unwrap().entries.is_empty());

        assert_eq!(
            names(&root.list(b"/sub/", 100).unwrap()),
            [("x".into(), false)]
        );
        assert_eq!(
            names(&root.list(b"/dir_in/", 100).unwrap()),
            [("x".into(), false)]
        );
        for refused in [
            &b"/.hidden_dir/"[..],
            b"/pub/",
            b"/deep/",
            b"/sub/../..",
            b"/dir_out/",
            b"/abs/",
            b"/a.txt/",
        ] {
            assert!(
                root.list(refused, 100).is_err(),
                "{}",
                refused.escape_ascii()
            );
        }
    }

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
