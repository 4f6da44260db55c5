//! `tcpserve get`: the lesson's downloader, and the pieces its HTTP mode ([`super::http`])
//! shares with it: where a download goes ([`destination`]), the copy loop with its progress
//! line ([`copy`], [`Progress`]), and putting a finished file in place ([`put_in_place`]).
//!
//! The raw mode sends the bare file name, then half-closes (so tcpserve needs no quiet period
//! and the lesson's own server still works), and saves everything until the server closes. The
//! bytes go to a temporary file beside the destination, renamed into place only when the
//! transfer ended cleanly: a failed download never leaves a half file under the real name.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::ClientError;
use tcpserve::http::client::url::file_name;

/// How often the progress line is redrawn.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// What a finished download came to.
pub struct Saved {
    pub path: PathBuf,
    pub bytes: u64,
}

/// Where a download goes: `output` if given (inside it, if it is a directory, under `name`),
/// else `name` in the current directory. `None` if there is no usable name and no output file.
pub fn destination_for(name: Option<&OsStr>, output: Option<&Path>) -> Option<PathBuf> {
    match output {
        Some(dir) if dir.is_dir() => name.map(|n| dir.join(n)),
        Some(path) => Some(path.to_path_buf()),
        None => name.map(PathBuf::from),
    }
}

/// Where a raw download of `name` goes: [`destination_for`] the name's last component.
pub fn destination(name: &str, output: Option<&Path>) -> Option<PathBuf> {
    let base = name
        .rsplit('/')
        .next()
        .and_then(|b| file_name(b.as_bytes()));
    destination_for(base, output)
}

/// Downloads `name` over `stream` into `dest`.
pub fn download(
    stream: &mut TcpStream,
    name: &str,
    dest: &Path,
    force: bool,
    progress: bool,
) -> Result<Saved, ClientError> {
    if !force && dest.exists() {
        return Err(ClientError::Exists(dest.to_path_buf()));
    }
    let part = part_path(dest);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&part)
        .map_err(|error| ClientError::Output {
            path: part.clone(),
            error,
        })?;
    let result = receive(stream, name, &mut file, progress)
        .and_then(|bytes| put_in_place(file, &part, dest).map(|()| bytes));
    match result {
        Ok(bytes) => Ok(Saved {
            path: dest.to_path_buf(),
            bytes,
        }),
        Err(e) => {
            let _ = fs::remove_file(&part);
            Err(e)
        }
    }
}

/// Flushes `file` (written at `from`) to the disk and renames it to `to`, on the same file
/// system, so the name `to` only ever holds a whole file. `from` may be `to` itself (a rename
/// onto itself does nothing).
pub fn put_in_place(file: File, from: &Path, to: &Path) -> Result<(), ClientError> {
    file.sync_all().map_err(|error| ClientError::Output {
        path: from.to_path_buf(),
        error,
    })?;
    drop(file);
    fs::rename(from, to).map_err(|error| ClientError::Output {
        path: to.to_path_buf(),
        error,
    })
}

/// `.NAME.part-PID` beside the destination, so the rename stays on one file system.
fn part_path(dest: &Path) -> PathBuf {
    let file_name = dest.file_name().map(|n| n.to_string_lossy().into_owned());
    let part = format!(
        ".{}.part-{}",
        file_name.unwrap_or_else(|| "download".into()),
        std::process::id()
    );
    dest.with_file_name(part)
}

/// Sends the name and copies the reply into `out` until the server closes.
fn receive(
    stream: &mut TcpStream,
    name: &str,
    out: &mut File,
    progress: bool,
) -> Result<u64, ClientError> {
    let sending = |error| ClientError::Io {
        what: "sending the name",
        error,
    };
    stream.write_all(name.as_bytes()).map_err(sending)?;
    // Only a hint that the name is whole; if the server has already closed, the reads below
    // say how the transfer ended.
    let _ = stream.shutdown(Shutdown::Write);
    copy(stream, out, &mut Progress::new(progress, None, 0))
}

/// Copies `from` into `out` until `from` ends, counting on `progress`; returns the bytes
/// copied. The progress line, if drawn, is ended either way.
pub fn copy(
    from: &mut (impl Read + ?Sized),
    out: &mut File,
    progress: &mut Progress,
) -> Result<u64, ClientError> {
    let mut buf = vec![0u8; 256 * 1024];
    let result = loop {
        let n = match read_some(from, &mut buf, "receiving the file") {
            Ok(0) => break Ok(progress.got),
            Ok(n) => n,
            Err(e) => break Err(e),
        };
        if let Err(error) = out.write_all(&buf[..n]) {
            break Err(ClientError::Io {
                what: "writing the file",
                error,
            });
        }
        progress.add(n as u64);
    };
    progress.finish();
    result
}

/// One read into `buf`, retried if interrupted; an error says `what` was being received.
pub fn read_some(
    from: &mut (impl Read + ?Sized),
    buf: &mut [u8],
    what: &'static str,
) -> Result<usize, ClientError> {
    loop {
        match from.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            result => return result.map_err(|error| ClientError::Io { what, error }),
        }
    }
}

/// The progress line on stderr: bytes and rate, and with a known length, a percentage and the
/// time left. Drawn only when `enabled` (stderr is a terminal), at most every 250 ms.
pub struct Progress {
    enabled: bool,
    /// The whole file's length, when the server said it.
    total: Option<u64>,
    /// Bytes the file held before this transfer (a resumed download).
    before: u64,
    /// Bytes this transfer has brought.
    got: u64,
    started: Instant,
    shown: Instant,
}

impl Progress {
    /// A transfer adding to `before` bytes already held, towards `total` if known.
    pub fn new(enabled: bool, total: Option<u64>, before: u64) -> Progress {
        let now = Instant::now();
        Progress {
            enabled,
            total,
            before,
            got: 0,
            started: now,
            shown: now,
        }
    }

    fn add(&mut self, n: u64) {
        self.got += n;
        if self.enabled && self.shown.elapsed() >= PROGRESS_EVERY {
            self.shown = Instant::now();
            eprint!("\r{}", self.line());
        }
    }

    fn finish(&self) {
        if self.enabled {
            eprintln!("\r{}", self.line());
        }
    }

    fn line(&self) -> String {
        progress_line(self.before, self.got, self.total, self.started.elapsed())
    }
}

/// `before + got` bytes held, `got` of them in `elapsed`, of `total` if known.
fn progress_line(before: u64, got: u64, total: Option<u64>, elapsed: Duration) -> String {
    let rate = got as f64 / elapsed.as_secs_f64().max(1e-3);
    let have = before + got;
    let Some(total) = total else {
        return format!("{} received, {}/s    ", human(have as f64), human(rate));
    };
    let percent = if total == 0 {
        100
    } else {
        (u128::from(have) * 100 / u128::from(total)) as u64
    };
    let left = total.saturating_sub(have) as f64;
    let eta = if left == 0.0 {
        "0:00".to_string()
    } else if rate >= 1.0 {
        clock(left / rate)
    } else {
        "--:--".to_string()
    };
    format!(
        "{percent:>3}% {} of {}, {}/s, ETA {eta}    ",
        human(have as f64),
        human(total as f64),
        human(rate)
    )
}

/// Seconds as `m:ss`, or `h:mm:ss` from an hour.
fn clock(secs: f64) -> String {
    let secs = secs.ceil().min(1e9) as u64;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// Bytes in binary units, e.g. `12.3 MiB`.
fn human(bytes: f64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0} {}", units[unit])
    } else {
        format!("{value:.1} {}", units[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_destination_is_the_names_last_component_unless_given() {
        let here = Path::new("/definitely/not/a/dir/out.bin");
        let cases: &[(&str, Option<&Path>, Option<&str>)] = &[
            ("a.txt", None, Some("a.txt")),
            ("sub/dir/b.bin", None, Some("b.bin")),
            ("/abs/c", None, Some("c")),
            ("dir/", None, None),
            ("..", None, None),
            ("x/.", None, None),
            ("dir/", Some(here), Some("/definitely/not/a/dir/out.bin")),
            ("a.txt", Some(Path::new("/")), Some("/a.txt")),
        ];
        for (name, output, want) in cases {
            let got = destination(name, *output);
            assert_eq!(got.as_deref(), want.map(Path::new), "{name} {output:?}");
        }
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human(512.0), "512 B");
        assert_eq!(human(1536.0), "1.5 KiB");
        assert_eq!(human(5.0 * 1024.0 * 1024.0 * 1024.0), "5.0 GiB");
    }

    #[test]
    fn the_progress_line_shows_what_is_known() {
        let sec = Duration::from_secs(1);
        let cases: &[(u64, u64, Option<u64>, Duration, &str)] = &[
            (0, 2048, None, sec, "2.0 KiB received, 2.0 KiB/s"),
            (
                0,
                512,
                Some(2048),
                sec,
                " 25% 512 B of 2.0 KiB, 512 B/s, ETA 0:03",
            ),
            // Resumed: the percentage counts what was there, the rate only what came.
            (
                1024,
                512,
                Some(2048),
                sec,
                " 75% 1.5 KiB of 2.0 KiB, 512 B/s, ETA 0:01",
            ),
            (0, 0, Some(0), sec, "100% 0 B of 0 B, 0 B/s, ETA 0:00"),
            (0, 0, Some(10), sec, "  0% 0 B of 10 B, 0 B/s, ETA --:--"),
            (
                0,
                1,
                Some(7201),
                sec,
                "  0% 1 B of 7.0 KiB, 1 B/s, ETA 2:00:00",
            ),
            (
                0,
                100,
                Some(100),
                sec,
                "100% 100 B of 100 B, 100 B/s, ETA 0:00",
            ),
        ];
        for (before, got, total, elapsed, want) in cases {
            let line = progress_line(*before, *got, *total, *elapsed);
            assert_eq!(line.trim_end(), *want);
        }
    }
}
