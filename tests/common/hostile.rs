//! The hostile-name fixtures shared by tests/files.rs and tests/models.rs: a scratch tree with
//! a secret outside the served root and every kind of trap inside it, and the table of names
//! (hostile ones and their positive controls) with what the server must make of each.
#![allow(dead_code)] // each test file uses its own subset

use std::collections::hash_map::RandomState;
use std::ffi::{CString, OsStr};
use std::fs;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use tcpserve::root::MAX_NAME;

use super::TempDir;

/// A random number, different in every call.
pub fn unique() -> u64 {
    RandomState::new().build_hasher().finish()
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A name as a test message shows it: escaped, and cut short.
pub fn shown(bytes: &[u8]) -> String {
    let s = bytes.escape_ascii().to_string();
    if s.len() > 60 {
        format!("{}... ({} bytes)", &s[..60], bytes.len())
    } else {
        s
    }
}

/// A scratch tree for the hostile names: `<tmp>/outside/secret.txt` holds a unique marker;
/// `<tmp>/root` is served, with ordinary files, symlinks leading in and out, loops, a FIFO, a
/// Unix socket and (where the sandbox allows `mknod`) a device node. Removed when dropped.
pub struct Tree {
    dir: TempDir,
    pub root: PathBuf,
    pub secret: PathBuf,
    pub marker: String,
    _socket: UnixListener,
}

impl Tree {
    pub fn new(test: &str) -> Tree {
        let dir = TempDir::new(test);
        let base = dir.path().to_path_buf();
        let marker = format!("TOP-SECRET-{:016x}", unique());
        fs::create_dir(base.join("outside")).unwrap();
        let secret = base.join("outside/secret.txt");
        fs::write(&secret, format!("{marker}: never to be served\n")).unwrap();
        let root = base.join("root");
        let sub = root.join("sub");
        fs::create_dir_all(&sub).unwrap();
        let files: &[(&[u8], &[u8])] = &[
            (b"inside.txt", b"an ordinary file inside the root\n"),
            (b"sub/nested.txt", b"a file one level down\n"),
            (
                b"sub/secret.txt",
                b"a decoy inside the root, not the secret\n",
            ),
            (b"\xc4\xe3\xba\xc3.txt", b"named in GBK\n"),
            ("你好.txt".as_bytes(), b"named in UTF-8\n"),
            (b"with space.txt", b"a space in the name\n"),
            (b"...", b"three dots is a name, not a parent\n"),
            (b"a..b", b"two dots inside a name\n"),
        ];
        for (rel, data) in files {
            fs::write(root.join(OsStr::from_bytes(rel)), data).unwrap();
        }
        let links: &[(&str, &Path)] = &[
            ("link_out", Path::new("../outside/secret.txt")),
            ("abs_out", &secret),
            ("dir_out", Path::new("../outside")),
            ("link_in", Path::new("inside.txt")),
            ("etc", Path::new("/etc")),
            ("proc_root", Path::new("/proc/self/root")),
            ("loop1", Path::new("loop2")),
            ("loop2", Path::new("loop1")),
            ("dev_zero", Path::new("/dev/zero")),
            ("sub/link_out", Path::new("../../outside/secret.txt")),
            ("sub/up", Path::new("..")),     // the root itself: inside
            ("sub/up2", Path::new("../..")), // the scratch dir: outside
        ];
        for (link, target) in links {
            symlink(target, root.join(link)).unwrap();
        }
        let fifo = CString::new(root.join("fifo").as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid C string.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0, "mkfifo");
        let socket = UnixListener::bind(root.join("sock")).expect("bind a Unix socket");
        // A device node inside the root (not through a symlink): needs CAP_MKNOD, which a
        // sandbox may withhold; without it the name is simply not found, refused all the same.
        let zero = CString::new(root.join("zero").as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid C string; makedev(1, 5) is /dev/zero.
        let made =
            unsafe { libc::mknod(zero.as_ptr(), libc::S_IFCHR | 0o644, libc::makedev(1, 5)) };
        if made != 0 {
            eprintln!(
                "no device node inside the root (mknod: {}); the \"zero\" row tests a missing name",
                io::Error::last_os_error()
            );
        }
        Tree {
            dir,
            root,
            secret,
            marker,
            _socket: socket,
        }
    }

    /// The directory holding `root` and `outside`.
    pub fn base(&self) -> &Path {
        self.dir.path()
    }

    /// The content of a file inside the root.
    pub fn content(&self, rel: &[u8]) -> Vec<u8> {
        fs::read(self.root.join(OsStr::from_bytes(rel))).expect("an inside file")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// Closed without a byte.
    Refused,
    /// Exactly the content of this file inside the root.
    Served(&'static [u8]),
}

pub struct Row {
    /// What the client sends.
    pub payload: Vec<u8>,
    /// The name the server's framing takes from the payload, once the client has shut down
    /// its sending side or gone quiet.
    pub name: Vec<u8>,
    pub want: Want,
}

/// A row whose payload is `name` and a newline.
fn line(name: impl AsRef<[u8]>, want: Want) -> Row {
    let name = name.as_ref().to_vec();
    Row {
        payload: [&name[..], b"\n"].concat(),
        name,
        want,
    }
}

/// A row whose payload is sent as given; the name is what the framing makes of it.
fn raw(payload: impl AsRef<[u8]>, name: impl AsRef<[u8]>, want: Want) -> Row {
    Row {
        payload: payload.as_ref().to_vec(),
        name: name.as_ref().to_vec(),
        want,
    }
}

/// The hostile names and their positive controls.
pub fn hostile_rows(tree: &Tree) -> Vec<Row> {
    use Want::*;
    let secret = tree.secret.as_os_str().as_bytes();
    vec![
        // Traversal, spelled every way.
        line("../outside/secret.txt", Refused),
        line("/../outside/secret.txt", Refused),
        line("//../outside/secret.txt", Refused),
        line("sub/../../outside/secret.txt", Refused),
        line("./../outside/secret.txt", Refused),
        line("sub/up/../outside/secret.txt", Refused),
        line("..", Refused),
        line("../", Refused),
        line("/..", Refused),
        line("sub/..", Refused),
        line("sub/../inside.txt", Refused), // `..` is refused even where it would stay inside
        line("....//outside", Refused),
        line("..\\outside\\secret.txt", Refused),
        line("%2e%2e/outside/secret.txt", Refused), // the raw protocol does not percent-decode
        line("%2e%2e%2foutside%2fsecret.txt", Refused),
        line(b"\xff\xfe/../outside/secret.txt", Refused),
        // An absolute name means the root: never the real file.
        line("/etc/passwd", Refused), // root/etc -> /etc: an absolute symlink
        line(secret, Refused),
        line([b"/proc/self/root", secret].concat(), Refused),
        // Symlinks that lead out.
        line("link_out", Refused),
        line("abs_out", Refused),
        line("dir_out", Refused),
        line("dir_out/secret.txt", Refused),
        line("sub/link_out", Refused),
        line("sub/up2/outside/secret.txt", Refused),
        line("etc", Refused),
        line("etc/passwd", Refused),
        line("proc_root/etc/passwd", Refused),
        line([b"proc_root", secret].concat(), Refused),
        line("loop1", Refused),
        line("loop2/x", Refused),
        line("dev_zero", Refused),
        // Not regular files.
        line("fifo", Refused),
        line("sock", Refused),
        line("zero", Refused),
        line("sub", Refused),
        line("sub/", Refused),
        line("sub/up", Refused),
        line("/", Refused),
        line(".", Refused),
        // Bytes that make no name.
        line(b"inside.txt\0../x", Refused),
        line(b"\0", Refused),
        line(b"\x01\x02inside.txt", Refused),
        line(b"\x1b[31m", Refused),
        line(b"\xc4\xe3\xba\xc3", Refused), // GBK for 你好: no file of that name
        line(vec![b'a'; 5000], Refused),
        line(vec![b'a'; MAX_NAME + 1], Refused),
        raw(vec![b'a'; MAX_NAME + 1], vec![b'a'; MAX_NAME + 1], Refused),
        line(vec![b'a'; MAX_NAME], Refused), // within the limit, too long for the kernel
        line("", Refused),
        raw("\r\n", "", Refused),
        raw("", "", Refused), // nothing at all
        line("inside.txt/", Refused),
        line("link_in/", Refused),
        raw("inside.txt\r", "inside.txt\r", Refused), // a CR is dropped only before LF
        line(" inside.txt", Refused),
        line("inside.txt ", Refused),
        // What follows the terminator is ignored, whatever it says.
        raw(
            "inside.txt\n../outside/secret.txt\n",
            "inside.txt",
            Served(b"inside.txt"),
        ),
        raw(
            "../outside/secret.txt\ninside.txt\n",
            "../outside/secret.txt",
            Refused,
        ),
        // Positive controls: names that stay inside are served.
        line("inside.txt", Served(b"inside.txt")),
        line("/inside.txt", Served(b"inside.txt")),
        line("//inside.txt", Served(b"inside.txt")),
        line("./inside.txt", Served(b"inside.txt")),
        raw("inside.txt\r\n", "inside.txt", Served(b"inside.txt")),
        line("link_in", Served(b"inside.txt")),
        line("sub/./nested.txt", Served(b"sub/nested.txt")),
        line("sub//nested.txt", Served(b"sub/nested.txt")),
        line("sub/up/inside.txt", Served(b"inside.txt")), // a symlink up that stays beneath
        line("sub/secret.txt", Served(b"sub/secret.txt")),
        line(b"\xc4\xe3\xba\xc3.txt", Served(b"\xc4\xe3\xba\xc3.txt")),
        line("你好.txt", Served("你好.txt".as_bytes())),
        line("with space.txt", Served(b"with space.txt")),
        line("...", Served(b"...")),
        line("a..b", Served(b"a..b")),
    ]
}
